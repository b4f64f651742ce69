/* hwmon.c - the "hwmon" source: power and energy sensors of hwmon chips, read through libsensors. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nrg-config.h"
#include "source.h"
#include "sysfs.h"

#if HAVE_SENSORS
#include <sensors/error.h>
#include <sensors/sensors.h>

/*
 * libsensors scans /sys/class/hwmon once in sensors_init() and keeps the chips in global state,
 * so one initialisation is shared by every session of the process and released with the last
 * (refcount under a mutex). libsensors always reads the real /sys: the sysfs_root option cannot
 * redirect it (tests mount fake trees at the real paths in a private mount namespace instead).
 * libsensors converts hwmon's µW and µJ to W and J; we convert back to µW and µJ here, the only
 * place where this source's units change.
 *
 * Classification by chip prefix (the hwmon `name`):
 *  - power_meter (acpi_power_meter): the whole node -> "node", NODE, WHOLE
 *  - amdgpu: an AMD GPU -> "amdgpuN", GPU, COMPONENT
 *  - i915, xe: an Intel GPU -> "intelgpuN", GPU, COMPONENT
 *  - anything else with power/energy channels -> "hwmon-<chip>-<feature>", OTHER, OTHER
 */

static pthread_mutex_t sensors_lock = PTHREAD_MUTEX_INITIALIZER;
static int sensors_users;

static void quiet_parse_error_wfn(const char *err, const char *file, int line)
{
	(void)err;
	(void)file;
	(void)line;
}

static void quiet_parse_error(const char *err, int line)
{
	(void)err;
	(void)line;
}

/* Initialise libsensors once per process. Returns 0 or a negative libsensors error. */
static int sensors_get(void)
{
	int r = 0;

	pthread_mutex_lock(&sensors_lock);
	if (sensors_users == 0) {
		/* The library must not print: silence config parse errors during init. */
		void (*old_wfn)(const char *, const char *, int) = sensors_parse_error_wfn;
		void (*old_pe)(const char *, int) = sensors_parse_error;
		sensors_parse_error_wfn = quiet_parse_error_wfn;
		sensors_parse_error = quiet_parse_error;
		r = sensors_init(NULL); /* a missing config file is not an error */
		sensors_parse_error_wfn = old_wfn;
		sensors_parse_error = old_pe;
	}
	if (r == 0)
		sensors_users++;
	pthread_mutex_unlock(&sensors_lock);
	return r;
}

static void sensors_put(void)
{
	pthread_mutex_lock(&sensors_lock);
	if (sensors_users > 0 && --sensors_users == 0)
		sensors_cleanup();
	pthread_mutex_unlock(&sensors_lock);
}

struct hchan {
	const sensors_chip_name *chip;
	int subfeature; /* subfeature number for sensors_get_value */
	enum nrg_quantity q;
};

struct hwmon {
	int n, cap;
	struct hchan *ch; /* in channel order */
	bool have_sensors;
};

enum chip_class { CHIP_NODE, CHIP_AMDGPU, CHIP_INTELGPU, CHIP_OTHER };

static enum chip_class classify(const char *prefix)
{
	if (strcmp(prefix, "power_meter") == 0)
		return CHIP_NODE;
	if (strcmp(prefix, "amdgpu") == 0)
		return CHIP_AMDGPU;
	if (strcmp(prefix, "i915") == 0 || strcmp(prefix, "xe") == 0)
		return CHIP_INTELGPU;
	return CHIP_OTHER;
}

static bool chip_has_power(const sensors_chip_name *chip)
{
	const sensors_feature *f;
	int nr = 0;

	while ((f = sensors_get_features(chip, &nr)) != NULL)
		if (f->type == SENSORS_FEATURE_POWER || f->type == SENSORS_FEATURE_ENERGY)
			return true;
	return false;
}

/* Detected chips with power or energy features, sorted by their sysfs path (hwmonN order) so
 * that ids do not depend on directory order. Returns the count; *out is malloc'd. */
static int cmp_chip(const void *a, const void *b)
{
	const sensors_chip_name *x = *(const sensors_chip_name *const *)a;
	const sensors_chip_name *y = *(const sensors_chip_name *const *)b;
	const char *p = x->path ? x->path : "", *q = y->path ? y->path : "";
	size_t lp = strlen(p), lq = strlen(q);

	/* hwmon2 before hwmon10: shorter first, then lexical */
	if (lp != lq)
		return lp < lq ? -1 : 1;
	return strcmp(p, q);
}

static int list_chips(const sensors_chip_name ***out)
{
	const sensors_chip_name *chip, **v = NULL;
	int nr = 0, n = 0, cap = 0;

	while ((chip = sensors_get_detected_chips(NULL, &nr)) != NULL) {
		if (!chip_has_power(chip))
			continue;
		if (n == cap) {
			int ncap = cap ? cap * 2 : 8;
			const sensors_chip_name **nv = realloc(v, (size_t)ncap * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = ncap;
		}
		v[n++] = chip;
	}
	if (n > 1)
		qsort(v, (size_t)n, sizeof(*v), cmp_chip);
	*out = v;
	return n;
}

static int add_chan(struct nrg_source *src, struct hwmon *h, const struct nrg_channel_info *c,
		    const sensors_chip_name *chip, int subfeature)
{
	int r;

	if (h->n == h->cap) {
		int ncap = h->cap ? h->cap * 2 : 16;
		struct hchan *nc = realloc(h->ch, (size_t)ncap * sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		h->ch = nc;
		h->cap = ncap;
	}
	r = nrg__add_channel(src, c);
	if (r < 0)
		return r;
	if (r != h->n)
		return -EINVAL;
	h->ch[h->n].chip = chip;
	h->ch[h->n].subfeature = subfeature;
	h->ch[h->n].q = c->quantity;
	h->n++;
	return 0;
}

/* Averaging interval of powerK_average in µs from <chip path>/powerK_average_interval (ms). */
static uint32_t average_window_us(const sensors_chip_name *chip, const char *feature)
{
	char path[512];
	uint64_t ms;

	if (!chip->path || snprintf(path, sizeof(path), "%s/%s_average_interval", chip->path, feature) >=
				   (int)sizeof(path))
		return 0;
	if (nrg_sysfs_read_u64(path, &ms) < 0 || ms == 0 || ms > UINT32_MAX / 1000)
		return 0;
	return (uint32_t)(ms * 1000);
}

/* Feature number K of "powerK"/"energyK" (1-based), or 0. */
static int feature_number(const char *name)
{
	const char *p = name;
	uint64_t v;

	while (*p && (*p < '0' || *p > '9'))
		p++;
	return nrg_parse_u64(p, &v) == 0 && v < 1000 ? (int)v : 0;
}

/* Channel name: "power" / "energy" for feature 1, "power2" ... for others, plus a suffix. */
static void chan_name(char *buf, size_t n, const char *base, int k, const char *suffix)
{
	if (k <= 1)
		snprintf(buf, n, "%s%s", base, suffix);
	else
		snprintf(buf, n, "%s%d%s", base, k, suffix);
}

/* Add the channels of one power or energy feature to device dev. `preferred` marks the main
 * power channel of the device. Returns the number of channels added or -errno. */
static int add_feature(struct nrg_source *src, struct hwmon *h, const sensors_chip_name *chip,
		       const sensors_feature *f, int dev, bool preferred, int k)
{
	const sensors_subfeature *avg, *inp, *en;
	struct nrg_channel_info c;
	int r, added = 0;

	memset(&c, 0, sizeof(c));
	c.device = dev;
	if (f->type == SENSORS_FEATURE_ENERGY) {
		en = sensors_get_subfeature(chip, f, SENSORS_SUBFEATURE_ENERGY_INPUT);
		if (!en || !(en->flags & SENSORS_MODE_R))
			return 0;
		c.quantity = NRG_Q_ENERGY;
		c.range_uj = 0; /* hwmon energy counters are 64-bit accumulators in the drivers */
		chan_name(c.name, sizeof(c.name), "energy", k, "");
		r = add_chan(src, h, &c, chip, en->number);
		return r < 0 ? r : 1;
	}
	avg = sensors_get_subfeature(chip, f, SENSORS_SUBFEATURE_POWER_AVERAGE);
	inp = sensors_get_subfeature(chip, f, SENSORS_SUBFEATURE_POWER_INPUT);
	if (avg && !(avg->flags & SENSORS_MODE_R))
		avg = NULL;
	if (inp && !(inp->flags & SENSORS_MODE_R))
		inp = NULL;
	c.quantity = NRG_Q_POWER;
	if (avg) {
		chan_name(c.name, sizeof(c.name), "power", k, "");
		c.window_us = average_window_us(chip, f->name);
		c.preferred = preferred;
		if ((r = add_chan(src, h, &c, chip, avg->number)) < 0)
			return r;
		added++;
	}
	if (inp) {
		chan_name(c.name, sizeof(c.name), "power", k, avg ? "_instant" : "");
		c.window_us = 0;
		c.preferred = preferred && !avg;
		if ((r = add_chan(src, h, &c, chip, inp->number)) < 0)
			return r;
		added++;
	}
	return added;
}


static void base_device(struct nrg_device_info *d, const sensors_chip_name *chip)
{
	char link[512], target[256];
	ssize_t n;

	memset(d, 0, sizeof(*d));
	d->parent = -1;
	d->visible = true;
	d->rated_uw = -1;
	d->limit_min_uw = d->limit_max_uw = d->limit_default_uw = -1;
	snprintf(d->source, sizeof(d->source), "hwmon");
	snprintf(d->path, sizeof(d->path), "%s", chip->path ? chip->path : "");
	if (chip->bus.type == SENSORS_BUS_TYPE_PCI && chip->path &&
	    snprintf(link, sizeof(link), "%s/device", chip->path) < (int)sizeof(link) &&
	    (n = readlink(link, target, sizeof(target) - 1)) > 0) {
		const char *slash;
		target[n] = '\0';
		slash = strrchr(target, '/');
		snprintf(d->bus_id, sizeof(d->bus_id), "%s", slash ? slash + 1 : target);
	}
}

/* Add one chip: one device for a known chip, one device per feature for other chips. */
static int add_chip(struct nrg_source *src, struct hwmon *h, const sensors_chip_name *chip, int *n_node,
		    int *n_amd, int *n_intel)
{
	enum chip_class cls = classify(chip->prefix);
	struct nrg_device_info d;
	const sensors_feature *f;
	int nr = 0, dev = -1, r, total = 0;
	bool preferred_done = false;

	if (cls != CHIP_OTHER) {
		base_device(&d, chip);
		if (cls == CHIP_NODE) {
			if (*n_node == 0) {
				snprintf(d.id, sizeof(d.id), "node");
				d.role = NRG_ROLE_WHOLE;
				snprintf(d.note, sizeof(d.note), "ACPI power meter (acpi_power_meter): whole node");
			} else {
				snprintf(d.id, sizeof(d.id), "node%d", *n_node);
				d.role = NRG_ROLE_OTHER;
				snprintf(d.note, sizeof(d.note),
					 "another ACPI power meter: scope unknown, not summed");
			}
			(*n_node)++;
			d.kind = NRG_KIND_NODE;
			snprintf(d.name, sizeof(d.name), "ACPI power meter");
		} else if (cls == CHIP_AMDGPU) {
			snprintf(d.id, sizeof(d.id), "amdgpu%d", (*n_amd)++);
			d.kind = NRG_KIND_GPU;
			d.role = NRG_ROLE_COMPONENT;
			snprintf(d.vendor, sizeof(d.vendor), "amd");
			snprintf(d.name, sizeof(d.name), "AMD GPU (amdgpu)");
		} else {
			snprintf(d.id, sizeof(d.id), "intelgpu%d", (*n_intel)++);
			d.kind = NRG_KIND_GPU;
			d.role = NRG_ROLE_COMPONENT;
			snprintf(d.vendor, sizeof(d.vendor), "intel");
			snprintf(d.name, sizeof(d.name), "Intel GPU (%s)", chip->prefix);
		}
		dev = nrg__add_device(src, &d);
		if (dev < 0)
			return dev;
	}

	while ((f = sensors_get_features(chip, &nr)) != NULL) {
		int k;
		if (f->type != SENSORS_FEATURE_POWER && f->type != SENSORS_FEATURE_ENERGY)
			continue;
		k = feature_number(f->name);
		if (cls == CHIP_OTHER) {
			char *label = sensors_get_label(chip, f);
			base_device(&d, chip);
			snprintf(d.id, sizeof(d.id), "hwmon-%.14s-%.10s", chip->prefix, f->name);
			d.kind = NRG_KIND_OTHER;
			d.role = NRG_ROLE_OTHER;
			snprintf(d.name, sizeof(d.name), "%s %s", chip->prefix, label ? label : f->name);
			free(label);
			snprintf(d.note, sizeof(d.note), "hwmon sensor of unknown scope; not summed");
			dev = nrg__add_device(src, &d);
			if (dev < 0)
				return dev;
			preferred_done = false;
		}
		r = add_feature(src, h, chip, f, dev, !preferred_done && f->type == SENSORS_FEATURE_POWER, k);
		if (r < 0)
			return r;
		if (r > 0 && f->type == SENSORS_FEATURE_POWER)
			preferred_done = true;
		total += r;
		if (dev >= 0) {
			struct nrg_device_info *di = nrg__device(src, dev);
			if (f->type == SENSORS_FEATURE_ENERGY)
				di->caps |= NRG_CAP_ENERGY;
			else if (sensors_get_subfeature(chip, f, SENSORS_SUBFEATURE_POWER_AVERAGE))
				di->caps |= NRG_CAP_POWER_AVG;
			else
				di->caps |= NRG_CAP_POWER_INSTANT;
		}
	}
	return total;
}

static void hwmon_close(struct nrg_source *src)
{
	struct hwmon *h = src->priv;

	if (!h)
		return;
	free(h->ch);
	if (h->have_sensors)
		sensors_put();
	free(h);
	src->priv = NULL;
}

static int hwmon_probe(struct nrg_source *src)
{
	const sensors_chip_name **chips = NULL;
	struct hwmon *h;
	int n, r, n_node = 0, n_amd = 0, n_intel = 0;

	r = sensors_get();
	if (r != 0) {
		nrg__status(src, NRG_SOURCE_ERROR, -EIO, "check that /sys is mounted (sysfs)",
			    "libsensors could not scan /sys/class/hwmon: %s", sensors_strerror(r));
		return -EIO;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		sensors_put();
		nrg__status(src, NRG_SOURCE_ERROR, -ENOMEM, NULL, "out of memory");
		return -ENOMEM;
	}
	h->have_sensors = true;
	src->priv = h;

	n = list_chips(&chips);
	if (n < 0) {
		hwmon_close(src);
		nrg__status(src, NRG_SOURCE_ERROR, n, NULL, "out of memory");
		return n;
	}
	for (int i = 0; i < n; i++) {
		r = add_chip(src, h, chips[i], &n_node, &n_amd, &n_intel);
		if (r < 0) {
			free(chips);
			hwmon_close(src);
			nrg__status(src, NRG_SOURCE_ERROR, r, NULL, "adding hwmon devices failed: %s",
				    strerror(-r));
			return r;
		}
	}
	free(chips);
	if (h->n == 0) {
		hwmon_close(src);
		nrg__status(src, NRG_SOURCE_ABSENT, -ENOENT,
			    "for a node meter: modprobe acpi_power_meter (needs ACPI power meter firmware support)",
			    "no hwmon chip with readable power or energy sensors in /sys/class/hwmon");
		return -ENOENT;
	}
	nrg__status(src, NRG_SOURCE_FOUND, 0, NULL, "%d power/energy channel%s on %d hwmon chip%s", h->n,
		    h->n == 1 ? "" : "s", n, n == 1 ? "" : "s");
	return 0;
}

static int hwmon_read(struct nrg_source *src, bool slow, struct nrg_value *vals)
{
	struct hwmon *h = src->priv;
	int good = 0;

	(void)slow;
	for (int i = 0; i < h->n; i++) {
		double v = 0;
		int r = sensors_get_value(h->ch[i].chip, h->ch[i].subfeature, &v);
		double scaled = v * 1e6; /* W -> µW, J -> µJ */

		vals[i].t_us = nrg_now_us();
		vals[i].valid = r == 0 && isfinite(scaled) && scaled >= 0 && scaled < 9.2e18;
		vals[i].v = vals[i].valid ? (int64_t)llround(scaled) : 0;
		good += vals[i].valid;
	}
	return good > 0 || h->n == 0 ? 0 : -EIO;
}

#else /* !HAVE_SENSORS */

static int hwmon_probe(struct nrg_source *src)
{
	nrg__status(src, NRG_SOURCE_UNBUILT, -ENOTSUP, "rebuild with libsensors (libsensors-dev) installed",
		    "built without libsensors");
	return -ENOTSUP;
}

static int hwmon_read(struct nrg_source *src, bool slow, struct nrg_value *vals)
{
	(void)src;
	(void)slow;
	(void)vals;
	return -ENOTSUP;
}

static void hwmon_close(struct nrg_source *src)
{
	(void)src;
}

#endif

const struct nrg_source_ops nrg_hwmon_ops = {
	.name = "hwmon",
	.summary = "power and energy sensors in hwmon (ACPI power meter, amdgpu, Intel GPU, ...)",
	.probe = hwmon_probe,
	.read = hwmon_read,
	.close = hwmon_close,
};
