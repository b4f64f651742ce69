/* cpuinfo.h - parsers for /proc/cpuinfo, /proc/stat and the CPU rated-power table (cpu-tdp.tsv). */
/* SPDX-License-Identifier: MIT */
#ifndef NRG_CPUINFO_H
#define NRG_CPUINFO_H

#include <stddef.h>
#include <stdint.h>

#define NRG_CPUINFO_MAX_SOCKETS 64

struct nrg_cpuinfo {
	char vendor_id[32];  /* "GenuineIntel", "AuthenticAMD", ... or "" */
	char model[128];     /* first "model name", or "" */
	int cpus;            /* "processor" entries (logical CPUs) */
	int sockets;         /* distinct "physical id" values; 0 when the file has none */
	uint64_t socket_ids[NRG_CPUINFO_MAX_SOCKETS];
};

/* Clear *ci before feeding lines with nrg_cpuinfo_line(). */
void nrg_cpuinfo_init(struct nrg_cpuinfo *ci);
/* Feed one line of /proc/cpuinfo (len bytes, newline optional). Unknown keys are ignored. */
void nrg_cpuinfo_line(struct nrg_cpuinfo *ci, const char *line, size_t len);
/* Parse a whole /proc/cpuinfo text. Returns 0, or -ENODATA if nothing recognisable was found. */
int nrg_cpuinfo_parse(const char *text, struct nrg_cpuinfo *ci);
/* Read and parse the file at path. Returns 0 or -errno (-ENODATA as above). */
int nrg_cpuinfo_read(const char *path, struct nrg_cpuinfo *ci);
/* "intel", "amd" or "" from vendor_id. The string is static. */
const char *nrg_cpuinfo_vendor(const struct nrg_cpuinfo *ci);

/* Aggregate CPU time from the first ("cpu ") line of /proc/stat, in USER_HZ ticks. */
struct nrg_cpu_times {
	uint64_t idle;  /* idle + iowait */
	uint64_t total; /* user + nice + system + idle + iowait + irq + softirq + steal */
};
/* Parse the aggregate line at the start of text. Returns 0 or -EINVAL / -ERANGE. */
int nrg_proc_stat_parse(const char *text, struct nrg_cpu_times *out);
/* Busy fraction (0..1) between two snapshots, or -1 when no time passed or the counters went
 * backwards. */
double nrg_cpu_util(const struct nrg_cpu_times *prev, const struct nrg_cpu_times *cur);

/* Look up a CPU model in the text of a cpu-tdp.tsv table: lines "pattern<TAB>watts<TAB>note",
 * '#' comments and blank lines ignored, pattern matched as a case-insensitive substring of
 * model, the longest matching pattern wins (the first of equal length). On a match writes the
 * rated power per socket to *watts and the pattern to pattern[n] (may be NULL) and returns 0;
 * -ENOENT if no row matches. Malformed rows are skipped. */
int nrg_tdp_lookup(const char *table, const char *model, double *watts, char *pattern, size_t n);
/* Same, reading the table from a file. Returns 0, -ENOENT, or -errno of opening it. */
int nrg_tdp_lookup_file(const char *path, const char *model, double *watts, char *pattern, size_t n);

#endif
