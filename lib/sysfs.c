/* sysfs.c - small readers for sysfs/procfs files, strict number parsing, /proc/cpuinfo and /proc/stat parsers. */
/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpuinfo.h"
#include "sysfs.h"

int nrg_parse_u64(const char *buf, uint64_t *out)
{
	const char *p = buf;
	uint64_t v = 0;

	if (!buf || !out)
		return -EINVAL;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	for (; *p; p++)
		if (!isspace((unsigned char)*p))
			return -EINVAL;
	*out = v;
	return 0;
}

int nrg_sysfs_read_str(const char *path, char *buf, size_t n)
{
	size_t len = 0;
	int fd, err = 0;

	if (!path || !buf || n == 0)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r;
		if (len == n - 1) {
			/* Full: one more byte tells whether the file is longer than the buffer. */
			char extra;
			do
				r = read(fd, &extra, 1);
			while (r < 0 && errno == EINTR);
			if (r == 1 && extra == '\n') {
				/* Only a final newline may follow a full buffer. */
				do
					r = read(fd, &extra, 1);
				while (r < 0 && errno == EINTR);
			}
			if (r > 0)
				err = -E2BIG;
			else if (r < 0)
				err = -errno;
			break;
		}
		r = read(fd, buf + len, n - 1 - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (err < 0) {
		buf[0] = '\0';
		return err;
	}
	buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	return len > INT_MAX ? -E2BIG : (int)len;
}

int nrg_sysfs_read_u64(const char *path, uint64_t *out)
{
	char buf[64];
	int r = nrg_sysfs_read_str(path, buf, sizeof(buf));

	if (r < 0)
		return r == -E2BIG ? -EINVAL : r;
	return nrg_parse_u64(buf, out);
}

int nrg_sysfs_pread_u64(int fd, uint64_t *out)
{
	char buf[64];
	ssize_t r;

	do
		r = pread(fd, buf, sizeof(buf) - 1, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ENODATA;
	buf[r] = '\0';
	return nrg_parse_u64(buf, out);
}

/* ---- /proc/cpuinfo ------------------------------------------------------------------------- */

/* The value of a "key<TAB>: value" line if its key is `key`, else NULL. */
static const char *cpuinfo_value(const char *line, const char *key)
{
	size_t k = strlen(key);
	const char *p;

	if (strncmp(line, key, k) != 0)
		return NULL;
	p = line + k;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != ':')
		return NULL;
	p++;
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Copy at most `len` bytes of src into dst[n], trimming trailing whitespace. */
static void copy_trimmed(char *dst, size_t n, const char *src, size_t len)
{
	while (len > 0 && isspace((unsigned char)src[len - 1]))
		len--;
	if (len >= n)
		len = n - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

void nrg_cpuinfo_init(struct nrg_cpuinfo *ci)
{
	memset(ci, 0, sizeof(*ci));
}

void nrg_cpuinfo_line(struct nrg_cpuinfo *ci, const char *line, size_t len)
{
	char tmp[256];
	const char *v;
	uint64_t id;
	int i;

	copy_trimmed(tmp, sizeof(tmp), line, len);
	if ((v = cpuinfo_value(tmp, "processor")) != NULL) {
		ci->cpus++;
	} else if ((v = cpuinfo_value(tmp, "vendor_id")) != NULL) {
		if (!ci->vendor_id[0])
			copy_trimmed(ci->vendor_id, sizeof(ci->vendor_id), v, strlen(v));
	} else if ((v = cpuinfo_value(tmp, "model name")) != NULL) {
		if (!ci->model[0])
			copy_trimmed(ci->model, sizeof(ci->model), v, strlen(v));
	} else if ((v = cpuinfo_value(tmp, "physical id")) != NULL) {
		if (nrg_parse_u64(v, &id) < 0)
			return;
		for (i = 0; i < ci->sockets; i++)
			if (ci->socket_ids[i] == id)
				return;
		if (ci->sockets < NRG_CPUINFO_MAX_SOCKETS)
			ci->socket_ids[ci->sockets++] = id;
	}
}

int nrg_cpuinfo_parse(const char *text, struct nrg_cpuinfo *ci)
{
	const char *p = text;

	nrg_cpuinfo_init(ci);
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		nrg_cpuinfo_line(ci, p, len);
		p = nl ? nl + 1 : NULL;
	}
	return ci->cpus > 0 || ci->model[0] || ci->vendor_id[0] ? 0 : -ENODATA;
}

int nrg_cpuinfo_read(const char *path, struct nrg_cpuinfo *ci)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f;

	nrg_cpuinfo_init(ci);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while ((len = getline(&line, &cap, f)) >= 0)
		nrg_cpuinfo_line(ci, line, (size_t)len);
	free(line);
	fclose(f);
	return ci->cpus > 0 || ci->model[0] || ci->vendor_id[0] ? 0 : -ENODATA;
}

const char *nrg_cpuinfo_vendor(const struct nrg_cpuinfo *ci)
{
	if (strcmp(ci->vendor_id, "GenuineIntel") == 0)
		return "intel";
	if (strcmp(ci->vendor_id, "AuthenticAMD") == 0 || strcmp(ci->vendor_id, "HygonGenuine") == 0)
		return "amd";
	return "";
}

/* ---- /proc/stat ---------------------------------------------------------------------------- */

int nrg_proc_stat_parse(const char *text, struct nrg_cpu_times *out)
{
	uint64_t f[10] = { 0 };
	const char *p = text;
	int i, n = 0;

	/* The aggregate line: "cpu  user nice system idle iowait irq softirq steal guest guest_nice"
	 * (proc(5)), in USER_HZ ticks. Older kernels have fewer columns; at least 4 are required. */
	if (!text || strncmp(p, "cpu", 3) != 0 || (p[3] != ' ' && p[3] != '\t'))
		return -EINVAL;
	p += 3;
	for (i = 0; i < 10; i++) {
		char *end;
		unsigned long long v;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\n' || *p == '\0')
			break;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		errno = 0;
		v = strtoull(p, &end, 10);
		if (errno == ERANGE)
			return -ERANGE;
		if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\0')
			return -EINVAL;
		f[i] = v;
		n++;
		p = end;
	}
	if (n < 4)
		return -EINVAL;
	/* guest and guest_nice are already counted in user and nice: leave them out. */
	out->idle = f[3] + f[4];
	out->total = f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7];
	return 0;
}

double nrg_cpu_util(const struct nrg_cpu_times *prev, const struct nrg_cpu_times *cur)
{
	uint64_t dt, di;

	if (cur->total <= prev->total || cur->idle < prev->idle)
		return -1.0;
	dt = cur->total - prev->total;
	di = cur->idle - prev->idle;
	if (di > dt)
		return -1.0;
	return (double)(dt - di) / (double)dt;
}
