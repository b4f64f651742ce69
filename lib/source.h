/* source.h - the ops table every measurement source implements, and the helpers a probe uses. */
/* SPDX-License-Identifier: MIT */
#ifndef NRG_SOURCE_H
#define NRG_SOURCE_H

#include "nrg.h"

struct nrg_source;

struct nrg_source_ops {
	const char *name;    /* "nvml", "rapl", "hwmon", "estimate" */
	const char *summary; /* one line: what it measures */
	/* Discover devices and channels with nrg__add_device()/nrg__add_channel().
	 * Returns 0 when at least one device was found; otherwise a negative errno after
	 * nrg__status() has said why and how to fix it (-ENOENT absent, -EACCES denied, ...).
	 * On failure the source must have released everything it allocated. */
	int (*probe)(struct nrg_source *src);
	/* Read every channel of this source into vals[0 .. src->n_channels-1], stamping each value
	 * with nrg_now_us() taken right at its read. Channels marked slow are read only when `slow`;
	 * otherwise they are left invalid. A failed read leaves that value invalid (never 0).
	 * Returns 0, or a negative errno if nothing could be read. Called from one thread at a time. */
	int (*read)(struct nrg_source *src, bool slow, struct nrg_value *vals);
	/* Release everything (may be NULL). */
	void (*close)(struct nrg_source *src);
	/* Power limits (may be NULL: the source controls none). limit_get reads the limit the
	 * hardware enforces now for global device index dev, µW. limit_set asks for uw (no
	 * journal here: lib/limit.c journals first); -ERANGE outside the device's range, -EPERM
	 * without the privilege, -ENOTSUP when the device has no limit control. Return 0 or -errno. */
	int (*limit_get)(struct nrg_source *src, int dev, int64_t *uw);
	int (*limit_set)(struct nrg_source *src, int dev, int64_t uw);
};

struct nrg_source {
	const struct nrg_source_ops *ops;
	nrg_session *s;
	struct nrg_source_status st;
	void *priv;        /* the source's own state */
	int first_channel; /* global index of this source's first channel */
	int n_channels;
};

/* Add a device found by this source; returns its global device index or -errno.
 * The session copies *d; an id already taken in the session gets "-2", "-3", ... appended. */
int nrg__add_device(struct nrg_source *src, const struct nrg_device_info *d);
/* Add a channel of device `dev` (global index); returns its index local to the source
 * (0 .. n_channels-1), which is its slot in read()'s vals, or -errno. */
int nrg__add_channel(struct nrg_source *src, const struct nrg_channel_info *c);
/* Mutable device (to update its note when a device is lost, say). */
struct nrg_device_info *nrg__device(struct nrg_source *src, int dev);

/* Set the probe's state, reason and fix (printf-style; fix may be NULL). */
void nrg__status(struct nrg_source *src, enum nrg_source_state state, int err, const char *fix,
		 const char *reason_fmt, ...) __attribute__((format(printf, 5, 6)));

const struct nrg_options *nrg__options(const struct nrg_source *src);
/* Build sysfs_root + path (printf-style) into buf. Returns 0 or -ENAMETOOLONG. */
int nrg__path(const struct nrg_source *src, char *buf, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Whether a device of this kind measured (not estimated) was already found by an earlier source. */
bool nrg__have_measured(const struct nrg_source *src, enum nrg_kind kind);

extern const struct nrg_source_ops nrg_nvml_ops;
extern const struct nrg_source_ops nrg_rapl_ops;
extern const struct nrg_source_ops nrg_hwmon_ops;
extern const struct nrg_source_ops nrg_estimate_ops;

#endif
