/* limit.c - power limits: set and read back through the sources, journal every change, restore. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "session.h"

#define GRANULARITY_UW 1000000 /* 1 W: what a device may round a request to */
#define NEED_ROOT "setting power limits needs root (or CAP_SYS_ADMIN): run nrg as root"


/* mkdir -p of dir (mode 0755 for each created level). */
static int mkdirs(const char *dir)
{
	char buf[512];
	size_t n = strlen(dir);

	if (n >= sizeof buf)
		return -ENAMETOOLONG;
	memcpy(buf, dir, n + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = c;
			if (!c)
				return 0;
		}
	}
}

/* The journal's path (see nrg.h); with `create`, make its directory. Returns 0 or -errno. */
static int journal_path(char *buf, size_t n, bool create)
{
	const char *env = getenv("NRG_JOURNAL"), *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char dir[400];
	int w, r;

	if (env && *env) {
		w = snprintf(buf, n, "%s", env);
		return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
	}
	if (access("/run", W_OK) == 0) {
		if (create && mkdir("/run/nrg", 0755) < 0 && errno != EEXIST)
			return -errno;
		w = snprintf(buf, n, "/run/nrg/limits.journal");
		return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
	}
	if (xdg && *xdg)
		w = snprintf(dir, sizeof dir, "%s/nrg", xdg);
	else if (home && *home)
		w = snprintf(dir, sizeof dir, "%s/.local/state/nrg", home);
	else
		return -ENOENT;
	if (w < 0 || (size_t)w >= sizeof dir)
		return -ENAMETOOLONG;
	if (create && (r = mkdirs(dir)) < 0)
		return r;
	w = snprintf(buf, n, "%s/limits.journal", dir);
	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

/* Read the journal at path: one entry per device (the first original wins), device/current
 * unset (-1). A missing file gives 0 entries. Returns 0 or -errno. */
static int journal_read(const char *path, struct nrg_limit_entry **out, size_t *n)
{
	FILE *f = fopen(path, "re");
	struct nrg_limit_entry *e = NULL;
	size_t cnt = 0, cap = 0;
	char line[512];

	*out = NULL;
	*n = 0;
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (fgets(line, sizeof line, f)) {
		struct nrg_limit_entry x = { .device = -1, .current_uw = -1 };
		char num[32], *end;
		bool seen = false;
		long long v;

		if (sscanf(line, "%15s %159s %31s", x.source, x.key, num) != 3)
			continue; /* a torn last line (crash while writing) or garbage: skip */
		errno = 0;
		v = strtoll(num, &end, 10);
		if (errno || *end || v <= 0)
			continue;
		x.original_uw = v;
		for (size_t i = 0; i < cnt && !seen; i++)
			seen = !strcmp(e[i].source, x.source) && !strcmp(e[i].key, x.key);
		if (seen)
			continue; /* a later line is one of nrg's own intermediate limits */
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct nrg_limit_entry *ne = realloc(e, ncap * sizeof *e);

			if (!ne) {
				free(e);
				fclose(f);
				return -ENOMEM;
			}
			e = ne;
			cap = ncap;
		}
		e[cnt++] = x;
	}
	fclose(f);
	*out = e;
	*n = cnt;
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char dir[512];
	const char *slash = strrchr(path, '/');
	int fd, r = 0;

	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else
		snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Append one line and fsync it. *old_size gets the size before (to take the line back). */
static int journal_append(const char *path, const char *line, off_t *old_size)
{
	size_t len = strlen(line);
	struct stat st;
	ssize_t w;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644), r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*old_size = st.st_size;
	w = write(fd, line, len);
	if (w < 0)
		r = -errno;
	else if ((size_t)w != len)
		r = -EIO;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && st.st_size == 0)
		fsync_dir_of(path); /* a new file: make its name durable too (best effort) */
	return r;
}

/* Take back what journal_append added: truncate to old_size, or remove an emptied journal. */
static void journal_undo(const char *path, off_t old_size)
{
	if (old_size == 0)
		unlink(path);
	else if (truncate(path, old_size) == 0) {
		int fd = open(path, O_WRONLY | O_CLOEXEC);

		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
}

/* Replace the journal with the given entries (none: remove it). Returns 0 or -errno. */
static int journal_rewrite(const char *path, const struct nrg_limit_entry *e, size_t n)
{
	char tmp[560];
	FILE *f;
	int fd, r = 0;

	if (n == 0)
		return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		r = -errno;
		close(fd);
		unlink(tmp);
		return r;
	}
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s %s %" PRId64 "\n", e[i].source, e[i].key, e[i].original_uw);
	if (fflush(f) != 0 || fsync(fd) < 0)
		r = -errno;
	if (fclose(f) != 0 && r == 0)
		r = -EIO;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	else
		fsync_dir_of(path);
	return r;
}

/* The source that registered device dev, or NULL. */
static struct nrg_source *source_of(nrg_session *s, int dev)
{
	for (size_t i = 0; i < s->n_src; i++) {
		struct nrg_source *src = &s->src[i];

		if (src->st.state == NRG_SOURCE_FOUND && dev >= src->st.first_device &&
		    dev < src->st.first_device + src->st.n_devices)
			return src;
	}
	return NULL;
}

/* The journal key of a device: GPU UUID, or the powercap zone path without the sysfs root. */
static int device_key(nrg_session *s, const struct nrg_device_info *d, char *key, size_t n)
{
	const char *root = s->opt.sysfs_root ? s->opt.sysfs_root : "";
	const char *k = NULL;
	size_t rl = strlen(root);

	if (!strcmp(d->source, "nvml"))
		k = d->uuid;
	else if (!strcmp(d->source, "rapl"))
		k = strncmp(d->path, root, rl) == 0 ? d->path + rl : d->path;
	if (!k || !*k || strpbrk(k, " \t\n") || strlen(k) >= n)
		return -ENOTSUP;
	snprintf(key, n, "%s", k);
	return 0;
}

/* Resolve device to its source with limit control. Returns 0 or -errno with err set. */
static int limit_source(nrg_session *s, int device, struct nrg_source **out, char *err, size_t errlen)
{
	struct nrg_source *src;

	if (!s || device < 0 || (size_t)device >= s->n_dev) {
		nrg__seterr(err, errlen, "no device %d in this session", device);
		return -EINVAL;
	}
	src = source_of(s, device);
	if (!src || !src->ops->limit_get || !src->ops->limit_set) {
		nrg__seterr(err, errlen, "%s has no power limit control", s->dev[device].id);
		return -ENOTSUP;
	}
	*out = src;
	return 0;
}

static void op_error(nrg_session *s, int device, int r, const char *what, char *err, size_t errlen)
{
	const struct nrg_device_info *d = &s->dev[device];

	if (r == -EPERM || r == -EACCES)
		nrg__seterr(err, errlen, NEED_ROOT);
	else if (r == -ENOTSUP)
		nrg__seterr(err, errlen, "%s (%s) has no power limit control", d->id, d->name);
	else
		nrg__seterr(err, errlen, "cannot %s the power limit of %s: %s", what, d->id, strerror(-r));
}

int nrg_limit_get(nrg_session *s, int device, int64_t *uw, char *err, size_t errlen)
{
	struct nrg_source *src;
	int r = limit_source(s, device, &src, err, errlen);

	if (r < 0)
		return r;
	r = src->ops->limit_get(src, device, uw);
	if (r < 0) {
		op_error(s, device, r, "read", err, errlen);
		return r == -EACCES ? -EPERM : r;
	}
	return 0;
}

static int64_t diff(int64_t a, int64_t b) { return a > b ? a - b : b - a; }

int nrg_limit_set(nrg_session *s, int device, int64_t uw, char *err, size_t errlen)
{
	const struct nrg_device_info *d;
	struct nrg_source *src;
	char path[512], key[160], line[256];
	int64_t orig = -1, now = -1;
	off_t old_size = 0;
	int r = limit_source(s, device, &src, err, errlen);

	if (r < 0)
		return r;
	d = &s->dev[device];
	if ((d->limit_min_uw > 0 && uw < d->limit_min_uw) || (d->limit_max_uw > 0 && uw > d->limit_max_uw) ||
	    uw <= 0) {
		nrg__seterr(err, errlen, "%.3f W is outside the range of %s (%.0f to %.0f W)", (double)uw / 1e6,
		       d->id, (double)d->limit_min_uw / 1e6, (double)d->limit_max_uw / 1e6);
		return -ERANGE;
	}
	if ((r = device_key(s, d, key, sizeof key)) < 0) {
		nrg__seterr(err, errlen, "%s has no stable identity (UUID or zone path) to journal its limit", d->id);
		return r;
	}
	if ((r = src->ops->limit_get(src, device, &orig)) < 0) {
		op_error(s, device, r, "read", err, errlen);
		return r == -EACCES ? -EPERM : r;
	}
	if ((r = journal_path(path, sizeof path, true)) < 0) {
		nrg__seterr(err, errlen, "cannot find a place for the limit journal: %s (set NRG_JOURNAL)",
		       strerror(-r));
		return r;
	}
	snprintf(line, sizeof line, "%s %s %" PRId64 "\n", src->ops->name, key, orig);
	if ((r = journal_append(path, line, &old_size)) < 0) {
		nrg__seterr(err, errlen, "cannot write the limit journal %s: %s; the limit was not changed", path,
		       strerror(-r));
		return r;
	}
	r = src->ops->limit_set(src, device, uw);
	if (r < 0) {
		/* Nothing changed: take the journal line back so no restore is asked for. */
		if (src->ops->limit_get(src, device, &now) == 0 && now == orig)
			journal_undo(path, old_size);
		if (r == -ERANGE)
			nrg__seterr(err, errlen, "%.3f W is outside the range %s accepts", (double)uw / 1e6, d->id);
		else
			op_error(s, device, r, "set", err, errlen);
		return r == -EACCES ? -EPERM : r;
	}
	if ((r = src->ops->limit_get(src, device, &now)) < 0) {
		op_error(s, device, r, "read back", err, errlen);
		return r == -EACCES ? -EPERM : r;
	}
	if (diff(now, uw) > GRANULARITY_UW) {
		nrg__seterr(err, errlen, "%s enforces %.3f W instead of the %.3f W asked for", d->id,
		       (double)now / 1e6, (double)uw / 1e6);
		return -EIO;
	}
	return 0;
}

/* Find the session device of a journal entry (same source, same key), or -1. */
static int entry_device(nrg_session *s, const struct nrg_limit_entry *e)
{
	char key[160];

	for (size_t i = 0; i < s->n_dev; i++)
		if (!strcmp(s->dev[i].source, e->source) && device_key(s, &s->dev[i], key, sizeof key) == 0 &&
		    !strcmp(key, e->key))
			return (int)i;
	return -1;
}

int nrg_limit_journal(nrg_session *s, struct nrg_limit_entry **out, size_t *n, char *err, size_t errlen)
{
	char path[512];
	int r = journal_path(path, sizeof path, false);

	*out = NULL;
	*n = 0;
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	if ((r = journal_read(path, out, n)) < 0) {
		nrg__seterr(err, errlen, "cannot read the limit journal %s: %s", path, strerror(-r));
		return r;
	}
	for (size_t i = 0; s && i < *n; i++) {
		struct nrg_limit_entry *e = &(*out)[i];
		struct nrg_source *src;

		e->device = entry_device(s, e);
		if (e->device >= 0 && (src = source_of(s, e->device)) && src->ops->limit_get &&
		    src->ops->limit_get(src, e->device, &e->current_uw) < 0)
			e->current_uw = -1;
	}
	return 0;
}

int nrg_limit_restore(nrg_session *s, unsigned *restored, char *err, size_t errlen)
{
	struct nrg_limit_entry *e = NULL;
	char path[512];
	size_t n = 0, left = 0;
	int r, first = 0;

	*restored = 0;
	if ((r = journal_path(path, sizeof path, false)) < 0)
		return r == -ENOENT ? 0 : r;
	if ((r = journal_read(path, &e, &n)) < 0) {
		nrg__seterr(err, errlen, "cannot read the limit journal %s: %s", path, strerror(-r));
		return r;
	}
	if (n == 0) {
		free(e);
		return journal_rewrite(path, NULL, 0); /* an empty or unreadable-lines journal: drop it */
	}
	for (size_t i = 0; i < n; i++) {
		int dev = entry_device(s, &e[i]);
		struct nrg_source *src = dev >= 0 ? source_of(s, dev) : NULL;
		int64_t now = -1;

		if (!src || !src->ops->limit_set || !src->ops->limit_get) {
			r = -ENODEV;
			if (!first)
				nrg__seterr(err, errlen, "%s %s (journaled in %s) is not found now; its limit was not "
				       "restored", e[i].source, e[i].key, path);
		} else if ((r = src->ops->limit_set(src, dev, e[i].original_uw)) < 0 ||
			   (r = src->ops->limit_get(src, dev, &now)) < 0) {
			if (!first)
				op_error(s, dev, r, "restore", err, errlen);
		} else if (diff(now, e[i].original_uw) > GRANULARITY_UW) {
			r = -EIO;
			if (!first)
				nrg__seterr(err, errlen, "%s enforces %.3f W after restoring %.3f W", s->dev[dev].id,
				       (double)now / 1e6, (double)e[i].original_uw / 1e6);
		}
		if (r < 0) {
			if (!first)
				first = r == -EACCES ? -EPERM : r;
			e[left++] = e[i]; /* keep it journaled */
		} else {
			(*restored)++;
		}
	}
	r = journal_rewrite(path, e, left);
	free(e);
	if (first)
		return first;
	if (r < 0)
		nrg__seterr(err, errlen, "limits restored, but the journal %s could not be removed: %s", path,
		       strerror(-r));
	return r;
}

bool nrg_limit_pending(char *what, size_t n)
{
	struct nrg_limit_entry *e = NULL;
	char path[512];
	size_t cnt = 0, o = 0;

	if (what && n)
		what[0] = '\0';
	if (journal_path(path, sizeof path, false) < 0 || journal_read(path, &e, &cnt) < 0)
		return false;
	for (size_t i = 0; what && i < cnt && o < n; i++) {
		int w = snprintf(what + o, n - o, "%s%s", i ? ", " : "", e[i].key);

		if (w < 0)
			break;
		o += (size_t)w;
	}
	free(e);
	return cnt > 0;
}
