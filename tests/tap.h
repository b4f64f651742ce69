/* tap.h - a tiny TAP test harness for the unit tests (plan, ok, is_*, skip, done). */
/* SPDX-License-Identifier: MIT */
#ifndef NRG_TAP_H
#define NRG_TAP_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_fail;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
static inline int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#include <stdarg.h>
static inline int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	printf("%sok %d - ", pass ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass) {
		tap_fail++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return pass;
}

#define is_i64(got, want, ...)                                                              \
	do {                                                                                \
		long long g_ = (long long)(got), w_ = (long long)(want);                    \
		if (!ok(g_ == w_, __VA_ARGS__))                                             \
			printf("#   got %lld, want %lld\n", g_, w_);                         \
	} while (0)

/* |got - want| <= tol */
#define is_near(got, want, tol, ...)                                                        \
	do {                                                                                \
		double g_ = (double)(got), w_ = (double)(want);                             \
		if (!ok(fabs(g_ - w_) <= (tol), __VA_ARGS__))                               \
			printf("#   got %.9g, want %.9g (tolerance %.3g)\n", g_, w_, (double)(tol)); \
	} while (0)

#define is_str(got, want, ...)                                                              \
	do {                                                                                \
		const char *g_ = (got), *w_ = (want);                                       \
		if (!ok(g_ && w_ && strcmp(g_, w_) == 0, __VA_ARGS__))                      \
			printf("#   got '%s', want '%s'\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
	} while (0)

static inline void skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	exit(77);
}

/* Print the plan and return the exit status for main(). */
static inline int done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_fail ? 1 : 0;
}

#endif
