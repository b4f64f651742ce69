/* json.h - a small streaming JSON writer (internal to libnrg and the CLI). */
/* SPDX-License-Identifier: MIT */
#ifndef NRG_JSON_H
#define NRG_JSON_H

#include <stdbool.h>
#include <stdio.h>

/* Minimal streaming JSON writer with correct string escaping. */
struct nrg_json {
	FILE *f;
	int depth;
	bool first[32];
	bool pretty;
};
void nrg_json_begin(struct nrg_json *j, FILE *f, bool pretty);
void nrg_json_obj(struct nrg_json *j, const char *key);   /* open an object (key NULL inside arrays) */
void nrg_json_arr(struct nrg_json *j, const char *key);
void nrg_json_end_obj(struct nrg_json *j);
void nrg_json_end_arr(struct nrg_json *j);
void nrg_json_str(struct nrg_json *j, const char *key, const char *v); /* v NULL -> null */
void nrg_json_num(struct nrg_json *j, const char *key, double v);      /* non-finite -> null */
void nrg_json_int(struct nrg_json *j, const char *key, long long v);
void nrg_json_bool(struct nrg_json *j, const char *key, bool v);
void nrg_json_null(struct nrg_json *j, const char *key);
void nrg_json_done(struct nrg_json *j); /* final newline */
/* The JSON string literal of s (quoted, escaped) into a malloc'd string. */
char *nrg_json_quote(const char *s);

#endif
