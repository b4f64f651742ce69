/* t-visible.c - CUDA_VISIBLE_DEVICES parsing: indices, UUID prefixes, MIG entries, invalid stops. */
/* SPDX-License-Identifier: MIT */
#include "nvml-min.h"
#include "tap.h"

static const char *const U0 = "GPU-8e2f41c7-3f1a-4b6e-9c2d-7a5e0b1c0000";
static const char *const U1 = "GPU-5b0d9e23-3f1a-4b6e-9c2d-7a5e0b1c0001";
static const char *const U2 = "GPU-c41a7f60-3f1a-4b6e-9c2d-7a5e0b1c0002";
static const char *const U3 = "GPU-19e6b2d8-3f1a-4b6e-9c2d-7a5e0b1c0003";

/* Visibility of GPUs 0..3 as a 4-character mask string, e.g. "1010". */
static const char *mask(const char *cvd, unsigned n_gpus)
{
	static char m[5];
	const char *u[4] = { U0, U1, U2, U3 };

	for (unsigned i = 0; i < 4; i++)
		m[i] = nrg_nvml_visible_n(cvd, i, u[i], n_gpus) ? '1' : '0';
	m[4] = '\0';
	return m;
}

int main(void)
{
	static const struct { const char *cvd; unsigned n; const char *want; } rows[] = {
		{ NULL, 4, "1111" },                   /* unset: all */
		{ "", 4, "0000" },                     /* empty: none */
		{ "  ", 4, "0000" },
		{ "0", 4, "1000" },
		{ "2,0", 4, "1010" },
		{ " 1 , 3 ", 4, "0101" },              /* spaces around entries */
		{ "1,-1,2", 4, "0100" },               /* a negative index stops the list */
		{ "-1", 4, "0000" },                   /* the usual "hide all" */
		{ "0,x,1", 4, "1000" },                /* garbage stops the list */
		{ "0,,1", 4, "1000" },                 /* an empty entry stops the list */
		{ "1,7,2", 4, "0100" },                /* an index past the GPUs stops it (count known) */
		{ "1,7,2", 0, "0110" },                /* count unknown: 7 just matches nothing */
		{ "3a", 4, "0000" },                   /* malformed number */
		{ "GPU-8e2f", 4, "1000" },             /* UUID prefix */
		{ "gpu-c41a7f60", 4, "0010" },         /* case-insensitive */
		{ "GPU-5b0d9e23-3f1a-4b6e-9c2d-7a5e0b1c0001", 4, "0100" }, /* full UUID */
		{ "GPU-ffff,0", 4, "1000" },           /* a UUID that matches nothing is still valid */
		{ "GPU-", 4, "0000" },                 /* "GPU-" alone is invalid */
		{ "3,GPU-8e2f", 4, "1001" },
		{ "MIG-GPU-19e6b2d8-3f1a-4b6e-9c2d-7a5e0b1c0003/1/0", 4, "0001" }, /* MIG: parent visible */
		{ "MIG-0a1b2c3d-aaaa-bbbb-cccc-000000000000,1", 4, "0100" }, /* unmappable MIG UUID */
		{ "GPU-8e2f41c7-3f1a-4b6e-9c2d-7a5e0b1c0000-extra", 4, "0000" }, /* longer than the UUID */
	};

	for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
		is_str(mask(rows[i].cvd, rows[i].n), rows[i].want, "CUDA_VISIBLE_DEVICES=%s%s%s (n=%u)",
		       rows[i].cvd ? "'" : "", rows[i].cvd ? rows[i].cvd : "(unset)", rows[i].cvd ? "'" : "",
		       rows[i].n);
	ok(nrg_nvml_visible("0", 0, NULL) == 1, "no UUID: index still matches");
	ok(nrg_nvml_visible("GPU-8e2f", 0, NULL) == 0, "no UUID: a UUID entry matches nothing");
	ok(nrg_nvml_visible("GPU-8e2f", 0, "") == 0, "empty UUID: a UUID entry matches nothing");
	return done_testing();
}
