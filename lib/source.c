/* source.c - the table of measurement sources, in probe order. */
/* SPDX-License-Identifier: MIT */
#include "source.h"
#include "session.h"

/* Order matters: the estimate runs last so it can see whether a measured CPU was found. */
const struct nrg_source_ops *const nrg_sources[] = {
	&nrg_nvml_ops,
	&nrg_rapl_ops,
	&nrg_hwmon_ops,
	&nrg_estimate_ops,
};
const size_t nrg_n_sources = sizeof nrg_sources / sizeof *nrg_sources;
