/* estimate.c - the "estimate" source: CPU power modelled from /proc/stat utilisation and rated power. */
/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpuinfo.h"
#include "nrg-config.h"
#include "source.h"

/*
 * This is a model, not a measurement, and every device it creates says so (estimated = true,
 * and the note). It exists only so that a node without RAPL (a VM, an ARM server) still gets a
 * rough CPU figure; it is disabled as soon as an earlier source found a measured CPU.
 *
 * Model: P = TDP x (0.3 + 0.7 x u), where TDP is the rated power of all sockets (per-socket
 * rated power from cpu-tdp.tsv or NRG_CPU_TDP_W, times the number of distinct "physical id"s
 * in /proc/cpuinfo) and u the busy fraction of all CPUs between two reads of /proc/stat
 * (user+nice+system+irq+softirq+steal over all ticks; iowait counts as idle). The 30 % floor
 * stands for idle power, which is large on servers; both constants are rough and the error
 * of the model can be tens of percent.
 *
 * One device "cpu0" stands for all sockets together: /proc/stat's aggregate line does not
 * split by socket, so per-socket devices would only split one number.
 *
 * Reads: the first read only sets the baseline and is invalid. /proc/stat advances in ticks
 * (USER_HZ, usually 100 Hz per CPU), so a utilisation is only computed once at least one tick
 * per CPU has passed since the baseline; a read before that repeats the previous estimate
 * (or is invalid if there is none yet) and keeps the baseline.
 */

/* ---- cpu-tdp.tsv -------------------------------------------------------------------------- */

static bool is_word(char c)
{
	return isalnum((unsigned char)c) != 0;
}

/* Whether pattern occurs in model, case-insensitively, not inside a longer word: the
 * characters around the match must not be letters or digits (so "i7-12700" does not match
 * "i7-12700K"). */
static bool match_pattern(const char *model, const char *pat, size_t plen)
{
	size_t mlen = strlen(model);

	if (plen == 0 || plen > mlen)
		return false;
	for (size_t i = 0; i + plen <= mlen; i++) {
		if (strncasecmp(model + i, pat, plen) != 0)
			continue;
		if (i > 0 && is_word(model[i - 1]) && is_word(pat[0]))
			continue;
		if (is_word(model[i + plen]) && is_word(pat[plen - 1]))
			continue;
		return true;
	}
	return false;
}

int nrg_tdp_lookup(const char *table, const char *model, double *watts, char *pattern, size_t n)
{
	const char *p = table, *best = NULL;
	size_t best_len = 0;
	double best_w = 0;

	if (!table || !model || !*model)
		return -ENOENT;
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		const char *end = nl ? nl : p + strlen(p);
		const char *tab = memchr(p, '\t', (size_t)(end - p));
		const char *line = p;

		p = nl ? nl + 1 : NULL;
		if (line[0] == '#' || !tab || tab == line)
			continue;
		{
			char num[32], *e;
			const char *t2 = memchr(tab + 1, '\t', (size_t)(end - tab - 1));
			size_t nlen = (size_t)((t2 ? t2 : end) - (tab + 1));
			size_t plen = (size_t)(tab - line);
			double w;

			if (nlen == 0 || nlen >= sizeof(num))
				continue;
			memcpy(num, tab + 1, nlen);
			num[nlen] = '\0';
			while (nlen > 0 && isspace((unsigned char)num[nlen - 1]))
				num[--nlen] = '\0';
			errno = 0;
			w = strtod(num, &e);
			if (errno || e == num || *e || !isfinite(w) || w <= 0 || w > 10000)
				continue;
			if (plen > best_len && match_pattern(model, line, plen)) {
				best = line;
				best_len = plen;
				best_w = w;
			}
		}
	}
	if (!best)
		return -ENOENT;
	*watts = best_w;
	if (pattern && n > 0)
		snprintf(pattern, n, "%.*s", (int)best_len, best);
	return 0;
}

int nrg_tdp_lookup_file(const char *path, const char *model, double *watts, char *pattern, size_t n)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int r;

	if (!f)
		return -errno;
	for (;;) {
		size_t got;
		if (cap - len < 4096) {
			char *nb;
			if (cap > (1u << 24)) {
				free(buf);
				fclose(f);
				return -EFBIG;
			}
			nb = realloc(buf, cap ? cap * 2 : 8192);
			if (!nb) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = nb;
			cap = cap ? cap * 2 : 8192;
		}
		got = fread(buf + len, 1, cap - len - 1, f);
		len += got;
		if (got == 0)
			break;
	}
	r = ferror(f) ? -EIO : 0;
	fclose(f);
	if (r == 0) {
		buf[len] = '\0';
		r = nrg_tdp_lookup(buf, model, watts, pattern, n);
	}
	free(buf);
	return r;
}

/* ---- the source ---------------------------------------------------------------------------- */

struct estimate {
	int fd;                     /* <root>/proc/stat, kept open */
	double tdp_uw;              /* rated power of all sockets, µW */
	uint64_t min_ticks;         /* ticks needed before a new utilisation is computed */
	struct nrg_cpu_times base;  /* baseline snapshot */
	bool have_base;
	bool have_last;
	int64_t last_uw;
};

static int read_times(int fd, struct nrg_cpu_times *t)
{
	char buf[1024];
	ssize_t r;

	do
		r = pread(fd, buf, sizeof(buf) - 1, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	buf[r] = '\0';
	return nrg_proc_stat_parse(buf, t);
}

/* Rated power per socket in W from NRG_CPU_TDP_W, cpu-tdp.tsv; 0 or -errno with status set. */
static int find_tdp(struct nrg_source *src, const char *model, double *w, char *from, size_t n)
{
	const char *env = getenv("NRG_CPU_TDP_W");
	const char *dir = nrg__options(src)->data_dir;
	char path[512], pattern[96];
	int r;

	if (env && *env) {
		char *e;
		errno = 0;
		*w = strtod(env, &e);
		if (errno || e == env || *e || !isfinite(*w) || *w <= 0 || *w > 10000) {
			nrg__status(src, NRG_SOURCE_ERROR, -EINVAL, "set it to the rated watts per socket, e.g. 205",
				    "NRG_CPU_TDP_W='%.40s' is not a power in watts", env);
			return -EINVAL;
		}
		snprintf(from, n, "configured");
		return 0;
	}
	if (!dir || !*dir)
		dir = getenv("NRG_DATA_DIR");
	if (!dir || !*dir)
		dir = NRG_DATADIR;
	if (snprintf(path, sizeof(path), "%s/cpu-tdp.tsv", dir) >= (int)sizeof(path)) {
		nrg__status(src, NRG_SOURCE_ERROR, -ENAMETOOLONG, NULL, "data directory path too long");
		return -ENAMETOOLONG;
	}
	r = nrg_tdp_lookup_file(path, model, w, pattern, sizeof(pattern));
	if (r == -ENOENT && access(path, R_OK) == 0) {
		nrg__status(src, NRG_SOURCE_ABSENT, -ENOENT, "set [rated] cpu_watts in the config",
			    "CPU model '%.100s' not in cpu-tdp.tsv", model);
		return r;
	}
	if (r < 0) {
		nrg__status(src, NRG_SOURCE_ABSENT, r, "set [rated] cpu_watts in the config",
			    "cannot read %.180s: %s", path, strerror(-r));
		return r;
	}
	snprintf(from, n, "cpu-tdp.tsv '%s'", pattern);
	return 0;
}

static void estimate_close(struct nrg_source *src)
{
	struct estimate *e = src->priv;

	if (!e)
		return;
	if (e->fd >= 0)
		close(e->fd);
	free(e);
	src->priv = NULL;
}

static int estimate_probe(struct nrg_source *src)
{
	struct nrg_cpuinfo ci;
	struct nrg_device_info d;
	struct nrg_channel_info c;
	struct estimate *e;
	char path[512], from[128];
	double w;
	int r, sockets;

	if (nrg__options(src)->no_estimate) {
		nrg__status(src, NRG_SOURCE_DISABLED, -ECANCELED, NULL, "disabled by option");
		return -ECANCELED;
	}
	if (nrg__have_measured(src, NRG_KIND_CPU)) {
		nrg__status(src, NRG_SOURCE_DISABLED, -ECANCELED, NULL, "a measured CPU source was found");
		return -ECANCELED;
	}
	r = nrg__path(src, path, sizeof(path), "/proc/cpuinfo");
	if (r == 0)
		r = nrg_cpuinfo_read(path, &ci);
	if (r == 0 && !ci.model[0])
		r = -ENODATA;
	if (r < 0) {
		nrg__status(src, NRG_SOURCE_ABSENT, r, NULL, "no CPU model name in /proc/cpuinfo (%s)", strerror(-r));
		return r;
	}
	r = find_tdp(src, ci.model, &w, from, sizeof(from));
	if (r < 0)
		return r;
	sockets = ci.sockets > 0 ? ci.sockets : 1;

	e = calloc(1, sizeof(*e));
	if (!e) {
		nrg__status(src, NRG_SOURCE_ERROR, -ENOMEM, NULL, "out of memory");
		return -ENOMEM;
	}
	e->fd = -1;
	r = nrg__path(src, path, sizeof(path), "/proc/stat");
	if (r == 0) {
		e->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (e->fd < 0)
			r = -errno;
	}
	if (r == 0) {
		struct nrg_cpu_times t;
		r = read_times(e->fd, &t);
	}
	if (r < 0) {
		if (e->fd >= 0)
			close(e->fd);
		free(e);
		nrg__status(src, NRG_SOURCE_ERROR, r, NULL, "cannot read /proc/stat: %s", strerror(-r));
		return r;
	}
	e->tdp_uw = w * 1e6 * sockets;
	e->min_ticks = ci.cpus > 0 ? (uint64_t)ci.cpus : 1;
	src->priv = e;

	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "cpu0");
	d.kind = NRG_KIND_CPU;
	d.role = NRG_ROLE_COMPONENT;
	d.parent = -1;
	snprintf(d.vendor, sizeof(d.vendor), "%s", nrg_cpuinfo_vendor(&ci));
	snprintf(d.name, sizeof(d.name), "%s", ci.model);
	snprintf(d.source, sizeof(d.source), "estimate");
	d.visible = true;
	d.estimated = true;
	d.caps = NRG_CAP_UTIL;
	d.rated_uw = (int64_t)llround(e->tdp_uw);
	d.limit_min_uw = d.limit_max_uw = d.limit_default_uw = -1;
	snprintf(d.note, sizeof(d.note),
		 "estimated: P = TDP x (0.3 + 0.7 x utilisation) from /proc/stat; not a measurement "
		 "(TDP %g W x %d socket%s, %s)", w, sockets, sockets == 1 ? "" : "s", from);
	r = nrg__add_device(src, &d);
	if (r >= 0) {
		memset(&c, 0, sizeof(c));
		c.device = r;
		c.quantity = NRG_Q_POWER;
		snprintf(c.name, sizeof(c.name), "power");
		c.update_us = 10000; /* /proc/stat ticks at USER_HZ, usually 100 Hz */
		c.preferred = true;
		r = nrg__add_channel(src, &c);
	}
	if (r < 0) {
		estimate_close(src);
		nrg__status(src, NRG_SOURCE_ERROR, r, NULL, "adding the estimate device failed: %s", strerror(-r));
		return r;
	}
	nrg__status(src, NRG_SOURCE_FOUND, 0, "install a measured source (RAPL) for real figures",
		    "no measured CPU: estimating from utilisation and %g W rated power", w * sockets);
	return 0;
}

static int estimate_read(struct nrg_source *src, bool slow, struct nrg_value *vals)
{
	struct estimate *e = src->priv;
	struct nrg_cpu_times t;
	int r;

	(void)slow;
	r = read_times(e->fd, &t);
	vals[0].t_us = nrg_now_us();
	vals[0].valid = false;
	vals[0].v = 0;
	if (r < 0)
		return r;
	if (!e->have_base || t.total < e->base.total || t.idle < e->base.idle) {
		/* First read, or the counters went backwards: start over from here. */
		e->base = t;
		e->have_base = true;
		e->have_last = false;
		return -ENODATA;
	}
	if (t.total - e->base.total >= e->min_ticks) {
		double u = nrg_cpu_util(&e->base, &t);
		if (u >= 0) {
			e->last_uw = (int64_t)llround(e->tdp_uw * (0.3 + 0.7 * u));
			e->have_last = true;
			e->base = t;
		}
	}
	if (!e->have_last)
		return -ENODATA;
	vals[0].v = e->last_uw;
	vals[0].valid = true;
	return 0;
}

const struct nrg_source_ops nrg_estimate_ops = {
	.name = "estimate",
	.summary = "CPU power estimated from utilisation and the model's rated power (labelled estimate)",
	.probe = estimate_probe,
	.read = estimate_read,
	.close = estimate_close,
};
