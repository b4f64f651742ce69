/* cli.h - what the nrg commands share: settings, messages, JSON writer, report rendering. */
/* SPDX-License-Identifier: MIT */
#ifndef NRG_CLI_H
#define NRG_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "json.h"
#include "nrg.h"

/* Exit statuses of nrg itself (a wrapped command's own status passes through). */
#define NRG_EXIT_USAGE 2
#define NRG_EXIT_FAIL 125 /* nrg failed before the command ran */

/* Settings: built-in defaults < /etc/nrg.conf < user config < environment < options. */
struct nrg_settings {
	uint64_t interval_us;
	char *db;
	char *sources, *no_sources, *gpus;
	bool no_estimate;
	/* report factors; < 0 when unset */
	double grid_g_per_kwh, price_per_kwh, pue;
	char *currency;
	/* rated powers (W) for the runtime x rated guess and the estimate; < 0 when unset */
	double rated_node_w, rated_cpu_w;
	char *loaded[4]; /* config files read, for --verbose */
};

/* Fill s with defaults, then read the system and user config files and the environment.
 * Returns 0, or -1 after printing an error naming file:line and the fix. */
int settings_load(struct nrg_settings *s, const char *prog);
void settings_free(struct nrg_settings *s);
/* Replace *slot with a copy of v (NULL clears). */
void settings_set(char **slot, const char *v);

/* Parse "100ms", "1s", "500us", "2.5s"; a bare number is milliseconds. 0 or -1 if invalid. */
int parse_duration_us(const char *s, uint64_t *out);
/* Parse a non-negative decimal number. 0 or -1. */
int parse_double(const char *s, double *out);

/* Messages on stderr, git style: "nrg: error: ...", "hint: ...". */
void die_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
void error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Report rendering. */
void render_report_text(FILE *f, const struct nrg_report *r, const struct nrg_settings *s);
/* The report factors of the settings (borrowed strings: valid while s is). */
struct nrg_factors factors_of(const struct nrg_settings *s);
/* How the text report shows regions: every one (all) or siblings of the same name grouped when
 * there are many; the first and last epochs to leave out of the per-epoch summary. */
void render_regions_view(bool all, size_t skip_first, size_t skip_last);
/* Open the store named by the settings, printing a message with the fix on failure. */
nrg_store *open_store(const struct nrg_settings *s);
/* Resolve a RUN argument ("latest", an id, or NULL = latest). 0 or -1 after a message. */
int resolve_run(nrg_store *st, const char *arg, int64_t *id);

int cmd_run(int argc, char **argv, struct nrg_settings *s);
int cmd_list(int argc, char **argv, struct nrg_settings *s);
int cmd_runs(int argc, char **argv, struct nrg_settings *s);
int cmd_report(int argc, char **argv, struct nrg_settings *s);
int cmd_export(int argc, char **argv, struct nrg_settings *s);
int cmd_mark(int argc, char **argv, struct nrg_settings *s);
int cmd_restore(int argc, char **argv, struct nrg_settings *s);
int cmd_sweep(int argc, char **argv, struct nrg_settings *s);
int cmd_model(int argc, char **argv, struct nrg_settings *s);

#endif
