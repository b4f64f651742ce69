/* session.c - a measurement session: probe the sources, hold their devices and channels, read. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "session.h"

uint64_t nrg_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Whether name appears in the comma-separated list. */
static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

/* Check that every name in list is a known source. */
static int check_list(const char *list, char *err, size_t errlen)
{
	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		bool known = false;

		for (size_t i = 0; i < nrg_n_sources; i++)
			if (strlen(nrg_sources[i]->name) == len && strncmp(p, nrg_sources[i]->name, len) == 0)
				known = true;
		if (!known && len) {
			if (err)
				snprintf(err, errlen, "unknown source '%.*s' (known: nvml, rapl, hwmon, estimate)",
					 (int)len, p);
			return -EINVAL;
		}
		p = e ? e + 1 : NULL;
	}
	return 0;
}

static char *dup_opt(nrg_session *s, int slot, const char *v)
{
	if (!v)
		return NULL;
	s->opt_strings[slot] = strdup(v);
	return s->opt_strings[slot];
}

int nrg_session_open(nrg_session **out, const struct nrg_options *opt, char *err, size_t errlen)
{
	struct nrg_options o = opt ? *opt : (struct nrg_options){ 0 };
	nrg_session *s;
	int r;

	*out = NULL;
	if ((r = check_list(o.sources, err, errlen)) < 0 || (r = check_list(o.no_sources, err, errlen)) < 0)
		return r;
	if (!o.sysfs_root)
		o.sysfs_root = getenv("NRG_SYSFS_ROOT");
	if (!o.nvml_lib)
		o.nvml_lib = getenv("NRG_NVML_LIB");
	if (!o.data_dir)
		o.data_dir = getenv("NRG_DATA_DIR");
	s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->opt.sources = dup_opt(s, 0, o.sources);
	s->opt.no_sources = dup_opt(s, 1, o.no_sources);
	s->opt.gpus = dup_opt(s, 2, o.gpus);
	s->opt.sysfs_root = dup_opt(s, 3, o.sysfs_root ? o.sysfs_root : "");
	s->opt.nvml_lib = dup_opt(s, 4, o.nvml_lib);
	s->opt.data_dir = dup_opt(s, 5, o.data_dir);
	s->opt.no_estimate = o.no_estimate;
	s->src = calloc(nrg_n_sources, sizeof *s->src);
	if (!s->src || !s->opt.sysfs_root) {
		nrg_session_close(s);
		return -ENOMEM;
	}
	s->n_src = nrg_n_sources;
	for (size_t i = 0; i < nrg_n_sources; i++) {
		struct nrg_source *src = &s->src[i];
		size_t n_dev = s->n_dev, n_chan = s->n_chan;

		src->ops = nrg_sources[i];
		src->s = s;
		src->st.name = src->ops->name;
		src->st.summary = src->ops->summary;
		src->first_channel = (int)s->n_chan;
		src->st.first_device = (int)s->n_dev;
		if ((s->opt.sources && !in_list(s->opt.sources, src->ops->name)) ||
		    in_list(s->opt.no_sources, src->ops->name)) {
			nrg__status(src, NRG_SOURCE_DISABLED, 0, "enable it with --source", "not selected");
			continue;
		}
		s->probing = src;
		r = src->ops->probe(src);
		s->probing = NULL;
		if (r < 0 || s->n_dev == n_dev) {
			/* Roll back whatever a failed probe registered. */
			s->n_dev = n_dev;
			s->n_chan = n_chan;
			src->n_channels = 0;
			if (src->st.state == NRG_SOURCE_FOUND)
				nrg__status(src, NRG_SOURCE_ABSENT, r < 0 ? r : -ENOENT, NULL, "no device found");
			continue;
		}
		src->st.state = NRG_SOURCE_FOUND;
		src->st.err = 0;
		src->st.n_devices = (int)(s->n_dev - n_dev);
		if (!src->st.reason[0])
			snprintf(src->st.reason, sizeof src->st.reason, "%d device(s)", src->st.n_devices);
	}
	*out = s;
	return 0;
}

void nrg_session_close(nrg_session *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_src; i++)
		if (s->src[i].st.state == NRG_SOURCE_FOUND && s->src[i].ops->close)
			s->src[i].ops->close(&s->src[i]);
	for (size_t i = 0; i < sizeof s->opt_strings / sizeof *s->opt_strings; i++)
		free(s->opt_strings[i]);
	free(s->src);
	free(s->dev);
	free(s->chan);
	free(s);
}

size_t nrg_source_count(const nrg_session *s) { return s->n_src; }
const struct nrg_source_status *nrg_source_get(const nrg_session *s, size_t i)
{
	return i < s->n_src ? &s->src[i].st : NULL;
}
size_t nrg_device_count(const nrg_session *s) { return s->n_dev; }
const struct nrg_device_info *nrg_device_get(const nrg_session *s, size_t i)
{
	return i < s->n_dev ? &s->dev[i] : NULL;
}
size_t nrg_channel_count(const nrg_session *s) { return s->n_chan; }
const struct nrg_channel_info *nrg_channel_get(const nrg_session *s, size_t i)
{
	return i < s->n_chan ? &s->chan[i] : NULL;
}

int nrg_session_read(nrg_session *s, bool slow, struct nrg_value *vals)
{
	int got = 0;

	for (size_t i = 0; i < s->n_src; i++) {
		struct nrg_source *src = &s->src[i];
		struct nrg_value *v = vals + src->first_channel;

		if (src->st.state != NRG_SOURCE_FOUND || !src->n_channels)
			continue;
		for (int c = 0; c < src->n_channels; c++)
			v[c] = (struct nrg_value){ 0 };
		if (src->ops->read(src, slow, v) == 0)
			got++;
	}
	return got ? 0 : -ENODATA;
}

/* ---- helpers for probes (source.h) ---- */

static int grow(void **p, size_t *cap, size_t need, size_t size, size_t max)
{
	void *np;
	size_t ncap;

	if (need <= *cap)
		return 0;
	if (need > max)
		return -E2BIG;
	ncap = *cap ? *cap * 2 : 16;
	if (ncap > max)
		ncap = max;
	np = realloc(*p, ncap * size);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

static bool id_taken(const nrg_session *s, const char *id)
{
	for (size_t i = 0; i < s->n_dev; i++)
		if (strcmp(s->dev[i].id, id) == 0)
			return true;
	return false;
}

int nrg__add_device(struct nrg_source *src, const struct nrg_device_info *d)
{
	nrg_session *s = src->s;
	int r = grow((void **)&s->dev, &s->cap_dev, s->n_dev + 1, sizeof *s->dev, NRG_MAX_DEVICES);
	struct nrg_device_info *nd;

	if (r < 0)
		return r;
	nd = &s->dev[s->n_dev];
	*nd = *d;
	/* ids are unique in a session: a clash gets "-2", "-3", ... */
	for (int k = 2; id_taken(s, nd->id) && k < 1000; k++)
		snprintf(nd->id, sizeof nd->id, "%.24s-%d", d->id, k);
	if (!nd->source[0])
		snprintf(nd->source, sizeof nd->source, "%s", src->ops->name);
	return (int)s->n_dev++;
}

int nrg__add_channel(struct nrg_source *src, const struct nrg_channel_info *c)
{
	nrg_session *s = src->s;
	int r;

	if (c->device < 0 || (size_t)c->device >= s->n_dev)
		return -EINVAL;
	r = grow((void **)&s->chan, &s->cap_chan, s->n_chan + 1, sizeof *s->chan, NRG_MAX_CHANNELS);
	if (r < 0)
		return r;
	s->chan[s->n_chan++] = *c;
	return src->n_channels++;
}

struct nrg_device_info *nrg__device(struct nrg_source *src, int dev)
{
	return dev >= 0 && (size_t)dev < src->s->n_dev ? &src->s->dev[dev] : NULL;
}

void nrg__status(struct nrg_source *src, enum nrg_source_state state, int err, const char *fix,
		 const char *reason_fmt, ...)
{
	va_list ap;

	src->st.state = state;
	src->st.err = err;
	va_start(ap, reason_fmt);
	vsnprintf(src->st.reason, sizeof src->st.reason, reason_fmt, ap);
	va_end(ap);
	snprintf(src->st.fix, sizeof src->st.fix, "%s", fix ? fix : "");
}

const struct nrg_options *nrg__options(const struct nrg_source *src)
{
	return &src->s->opt;
}

int nrg__path(const struct nrg_source *src, char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	int a = snprintf(buf, n, "%s", src->s->opt.sysfs_root), b;

	if (a < 0 || (size_t)a >= n)
		return -ENAMETOOLONG;
	va_start(ap, fmt);
	b = vsnprintf(buf + a, n - (size_t)a, fmt, ap);
	va_end(ap);
	return b < 0 || (size_t)b >= n - (size_t)a ? -ENAMETOOLONG : 0;
}

bool nrg__have_measured(const struct nrg_source *src, enum nrg_kind kind)
{
	for (size_t i = 0; i < src->s->n_dev; i++)
		if (src->s->dev[i].kind == kind && !src->s->dev[i].estimated &&
		    src->s->dev[i].role == NRG_ROLE_COMPONENT)
			return true;
	return false;
}
