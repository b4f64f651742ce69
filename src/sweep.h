/* sweep.h - what nrg sweep and nrg model share: reading back the JSON nrg wrote for a sweep. */
/* SPDX-License-Identifier: MIT */
#ifndef NRG_SWEEP_H
#define NRG_SWEEP_H

#include <stdbool.h>
#include <stddef.h>

/* The string literals of a JSON text written by nrg (an array of strings, or an object of
 * string values: keys and values alternate), unescaped, in order. *out is a malloc'd
 * NULL-terminated array of malloc'd strings (free with sweep_strings_free); *n their number.
 * Returns 0, -EINVAL for a malformed literal, or -ENOMEM. */
int sweep_json_strings(const char *json, char ***out, size_t *n);
void sweep_strings_free(char **v);
/* The number at top-level key `key` of a flat JSON object nrg wrote; false when absent. */
bool sweep_spec_num(const char *json, const char *key, double *out);
/* The string at key `key` (malloc'd, unescaped), or NULL when absent or null. */
char *sweep_spec_str(const char *json, const char *key);
/* "NAME=v NAME2=w" from a params object, into buf. */
void sweep_params_text(const char *params_json, char *buf, size_t n);

#endif
