/* names.c - the names of the public enums, as used in text and JSON output. */
/* SPDX-License-Identifier: MIT */
#include "nrg.h"

const char *nrg_kind_name(enum nrg_kind k)
{
	static const char *const n[] = { "gpu", "cpu", "dram", "node", "other" };
	return (unsigned)k < sizeof n / sizeof *n ? n[k] : "other";
}

const char *nrg_role_name(enum nrg_role r)
{
	static const char *const n[] = { "component", "part", "whole", "duplicate", "other" };
	return (unsigned)r < sizeof n / sizeof *n ? n[r] : "other";
}

const char *nrg_method_name(enum nrg_method m)
{
	static const char *const n[] = { "none", "counter", "power", "estimate" };
	return (unsigned)m < sizeof n / sizeof *n ? n[m] : "none";
}

const char *nrg_quantity_unit(enum nrg_quantity q)
{
	static const char *const n[] = { "uJ", "uW", "%", "MHz", "mC", "uW" };
	return (unsigned)q < sizeof n / sizeof *n ? n[q] : "";
}

const char *nrg_source_state_name(enum nrg_source_state st)
{
	static const char *const n[] = { "found", "absent", "denied", "error", "disabled", "unbuilt" };
	return (unsigned)st < sizeof n / sizeof *n ? n[st] : "error";
}
