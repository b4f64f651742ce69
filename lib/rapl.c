/* rapl.c - the "rapl" source: CPU package, core/uncore, DRAM and psys energy from powercap sysfs. */
/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpuinfo.h"
#include "source.h"
#include "sysfs.h"

/*
 * Layout (Documentation/power/powercap/powercap.rst): every RAPL zone is a class device in
 * /sys/class/powercap named intel-rapl:P (a top-level zone: package-N or psys) or
 * intel-rapl:P:C (a sub-zone of P: core, uncore, dram). The MMIO interface of newer Intel
 * client parts adds intel-rapl-mmio:P zones that show a package a second time. AMD parts use
 * the same intel-rapl names. energy_uj is a µJ counter wrapping at max_energy_range_uj.
 *
 * Composition, so that nothing is counted twice:
 *  - package-N            -> "cpuN"   CPU   COMPONENT
 *  - dram under package N -> "dramN"  DRAM  COMPONENT (not part of the package's energy, even
 *                                               though sysfs nests the zone under it)
 *  - core/uncore under N  -> "coreN"/"uncoreN" CPU PART, parent cpuN
 *  - psys                 -> "psys"   OTHER OTHER (platform: package and more; never summed)
 *  - intel-rapl-mmio:P named like an intel-rapl package -> DUPLICATE of that package
 */

#define POWERCAP "/sys/class/powercap"

enum zone_iface { IFACE_MSR, IFACE_MMIO };

struct zone {
	enum zone_iface iface;
	int top, sub;          /* intel-rapl:top[:sub]; sub = -1 for a top-level zone */
	char dir[64];          /* directory name in /sys/class/powercap */
	char name[32];         /* contents of `name` */
	uint64_t range;        /* max_energy_range_uj, 0 if unreadable */
	int64_t rated_uw;      /* constraint_0_max_power_uw or _power_limit_uw, -1 if unknown */
	int enabled;           /* `enabled`, -1 if unreadable */
	int fd;                /* energy_uj, kept open; -1 when not readable */
	int err;               /* negative errno of opening or reading energy_uj */
	int dev;               /* global device index once added, else -1 */
};

struct rapl {
	int n;
	int *fds; /* one per channel, in channel order */
};

static int parse_zone_dir(const char *d, struct zone *z)
{
	const char *p;
	char *end;
	long a, b = -1;

	if (strncmp(d, "intel-rapl-mmio:", 16) == 0) {
		z->iface = IFACE_MMIO;
		p = d + 16;
	} else if (strncmp(d, "intel-rapl:", 11) == 0) {
		z->iface = IFACE_MSR;
		p = d + 11;
	} else {
		return -EINVAL;
	}
	if (*p < '0' || *p > '9')
		return -EINVAL;
	a = strtol(p, &end, 10);
	if (*end == ':') {
		p = end + 1;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		b = strtol(p, &end, 10);
	}
	if (*end != '\0' || a > 4096 || b > 4096)
		return -EINVAL;
	z->top = (int)a;
	z->sub = (int)b;
	return 0;
}

/* Read the attributes of zone z; open its energy_uj. */
static void load_zone(struct nrg_source *src, struct zone *z)
{
	char path[512];
	uint64_t v;

	z->range = 0;
	z->rated_uw = -1;
	z->enabled = -1;
	z->fd = -1;
	z->dev = -1;
	z->name[0] = '\0';
	if (nrg__path(src, path, sizeof(path), POWERCAP "/%s/name", z->dir) == 0)
		nrg_sysfs_read_str(path, z->name, sizeof(z->name));
	if (nrg__path(src, path, sizeof(path), POWERCAP "/%s/max_energy_range_uj", z->dir) == 0 &&
	    nrg_sysfs_read_u64(path, &v) == 0)
		z->range = v;
	if (nrg__path(src, path, sizeof(path), POWERCAP "/%s/constraint_0_max_power_uw", z->dir) == 0 &&
	    nrg_sysfs_read_u64(path, &v) == 0 && v > 0 && v < INT64_MAX)
		z->rated_uw = (int64_t)v;
	if (z->rated_uw < 0 &&
	    nrg__path(src, path, sizeof(path), POWERCAP "/%s/constraint_0_power_limit_uw", z->dir) == 0 &&
	    nrg_sysfs_read_u64(path, &v) == 0 && v > 0 && v < INT64_MAX)
		z->rated_uw = (int64_t)v;
	if (nrg__path(src, path, sizeof(path), POWERCAP "/%s/enabled", z->dir) == 0 &&
	    nrg_sysfs_read_u64(path, &v) == 0)
		z->enabled = v != 0;

	z->err = nrg__path(src, path, sizeof(path), POWERCAP "/%s/energy_uj", z->dir);
	if (z->err < 0)
		return;
	z->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (z->fd < 0) {
		z->err = -errno;
		return;
	}
	/* Some kernels let the open through and fail the read: check one read now. */
	z->err = nrg_sysfs_pread_u64(z->fd, &v);
	if (z->err < 0) {
		close(z->fd);
		z->fd = -1;
	}
}

static int zone_cmp(const void *a, const void *b)
{
	const struct zone *x = a, *y = b;

	if (x->iface != y->iface)
		return x->iface < y->iface ? -1 : 1;
	if ((x->sub < 0) != (y->sub < 0))
		return x->sub < 0 ? -1 : 1; /* top-level zones first: children need their parent */
	if (x->top != y->top)
		return x->top < y->top ? -1 : 1;
	return x->sub < y->sub ? -1 : x->sub > y->sub;
}

/* N of "package-N", or -1. */
static int package_number(const char *name)
{
	uint64_t v;

	if (strncmp(name, "package-", 8) != 0 || nrg_parse_u64(name + 8, &v) < 0 || v > 4096)
		return -1;
	return (int)v;
}

static struct zone *find_top(struct zone *z, int n, enum zone_iface iface, int top)
{
	for (int i = 0; i < n; i++)
		if (z[i].iface == iface && z[i].top == top && z[i].sub < 0)
			return &z[i];
	return NULL;
}

/* The intel-rapl package zone whose name equals `name`, or NULL. */
static struct zone *find_msr_package(struct zone *z, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (z[i].iface == IFACE_MSR && z[i].sub < 0 && z[i].dev >= 0 &&
		    strcmp(z[i].name, name) == 0)
			return &z[i];
	return NULL;
}


static int add_zone(struct nrg_source *src, struct rapl *r, struct zone *zs, int nz, struct zone *z,
		    const struct nrg_cpuinfo *ci)
{
	struct nrg_device_info d;
	struct nrg_channel_info c;
	struct zone *parent = NULL;
	int pkg, num, rc;
	const char *model = ci->model[0] ? ci->model : "CPU";

	memset(&d, 0, sizeof(d));
	d.parent = -1;
	d.visible = true;
	d.rated_uw = -1;
	d.limit_min_uw = d.limit_max_uw = d.limit_default_uw = -1;
	d.caps = NRG_CAP_ENERGY;
	snprintf(d.vendor, sizeof(d.vendor), "%s", nrg_cpuinfo_vendor(ci));
	snprintf(d.source, sizeof(d.source), "rapl");
	nrg__path(src, d.path, sizeof(d.path), POWERCAP "/%s", z->dir);

	if (z->sub >= 0) {
		parent = find_top(zs, nz, z->iface, z->top);
		if (!parent || parent->dev < 0)
			return 0; /* the parent zone is unusable: skip rather than guess */
	}
	pkg = package_number(parent ? parent->name : z->name);
	num = pkg >= 0 ? pkg : z->top;

	if (z->iface == IFACE_MMIO && z->sub < 0 && pkg >= 0 && (parent = find_msr_package(zs, nz, z->name))) {
		snprintf(d.id, sizeof(d.id), "cpu%d-mmio", num);
		d.kind = NRG_KIND_CPU;
		d.role = NRG_ROLE_DUPLICATE;
		d.parent = parent->dev;
		snprintf(d.name, sizeof(d.name), "%s (MMIO): %s", z->name, model);
		snprintf(d.note, sizeof(d.note),
			 "the same package as %s read through the MMIO interface; not summed", parent->dir);
	} else if (z->sub < 0 && pkg >= 0) {
		snprintf(d.id, sizeof(d.id), "cpu%d", num);
		d.kind = NRG_KIND_CPU;
		d.role = NRG_ROLE_COMPONENT;
		snprintf(d.name, sizeof(d.name), "%s: %s", z->name, model);
		d.rated_uw = z->rated_uw;
		if (z->rated_uw > 0)
			d.caps |= NRG_CAP_POWER_LIMIT;
		if (z->enabled == 0)
			snprintf(d.note, sizeof(d.note), "power limiting disabled on this zone");
	} else if (z->sub < 0 && strcmp(z->name, "psys") == 0) {
		snprintf(d.id, sizeof(d.id), "psys");
		d.kind = NRG_KIND_OTHER;
		d.role = NRG_ROLE_OTHER;
		snprintf(d.name, sizeof(d.name), "psys (platform)");
		snprintf(d.note, sizeof(d.note),
			 "platform domain: covers the CPU packages and more of the SoC/platform; "
			 "overlaps them, never summed");
	} else if (strcmp(z->name, "dram") == 0) {
		/* Usually nested under its package; some systems list it as a zone of its own, numbered
		 * then in the order of such zones. */
		if (z->sub < 0) {
			num = 0;
			for (size_t k = 0; k < nrg_device_count(src->s); k++)
				num += nrg_device_get(src->s, k)->kind == NRG_KIND_DRAM;
		}
		snprintf(d.id, sizeof(d.id), "dram%d", num);
		d.kind = NRG_KIND_DRAM;
		d.role = NRG_ROLE_COMPONENT;
		if (z->sub >= 0)
			snprintf(d.name, sizeof(d.name), "DRAM of package-%d", num);
		else
			snprintf(d.name, sizeof(d.name), "DRAM (%s)", z->dir);
		snprintf(d.note, sizeof(d.note), "%s", z->sub >= 0 ? "memory energy; not included in the package "
			 "energy although sysfs nests this zone under the package" : "memory energy");
		d.rated_uw = z->rated_uw;
	} else if (z->sub >= 0) {
		/* core, uncore (graphics on clients) and anything else nested: inside the package. */
		snprintf(d.id, sizeof(d.id), "%.20s%d", z->name[0] ? z->name : "zone", num);
		d.kind = NRG_KIND_CPU;
		d.role = NRG_ROLE_PART;
		d.parent = parent->dev;
		snprintf(d.name, sizeof(d.name), "%s of package-%d", z->name[0] ? z->name : z->dir, num);
		snprintf(d.note, sizeof(d.note), "contained in the energy of package-%d (%s); not summed",
			 num, parent->dir);
	} else {
		/* A top-level zone of unknown type. */
		snprintf(d.id, sizeof(d.id), "rapl-%.20s", z->name[0] ? z->name : z->dir);
		d.kind = NRG_KIND_OTHER;
		d.role = NRG_ROLE_OTHER;
		snprintf(d.name, sizeof(d.name), "%s", z->name[0] ? z->name : z->dir);
		snprintf(d.note, sizeof(d.note), "RAPL zone of unknown scope; not summed");
	}

	rc = nrg__add_device(src, &d);
	if (rc < 0)
		return rc;
	z->dev = rc;

	memset(&c, 0, sizeof(c));
	c.device = z->dev;
	c.quantity = NRG_Q_ENERGY;
	snprintf(c.name, sizeof(c.name), "energy");
	c.range_uj = z->range;
	c.update_us = 1000; /* RAPL updates about every millisecond (time unit 976 µs) */
	rc = nrg__add_channel(src, &c);
	if (rc < 0)
		return rc;
	if (rc != r->n)
		return -EINVAL;
	r->fds[r->n++] = z->fd;
	z->fd = -1; /* now owned by r */
	return 0;
}

static void free_zones(struct zone *zs, int n)
{
	for (int i = 0; i < n; i++)
		if (zs[i].fd >= 0)
			close(zs[i].fd);
	free(zs);
}

static void rapl_close(struct nrg_source *src)
{
	struct rapl *r = src->priv;

	if (!r)
		return;
	for (int i = 0; i < r->n; i++)
		if (r->fds[i] >= 0)
			close(r->fds[i]);
	free(r->fds);
	free(r);
	src->priv = NULL;
}

static int rapl_probe(struct nrg_source *src)
{
	char path[512];
	struct nrg_cpuinfo ci;
	struct zone *zs = NULL;
	struct rapl *r = NULL;
	struct dirent *e;
	int nz = 0, cap = 0, readable = 0, rc = 0;
	const struct zone *denied = NULL, *failed = NULL;
	DIR *dir;

	rc = nrg__path(src, path, sizeof(path), POWERCAP);
	if (rc < 0) {
		nrg__status(src, NRG_SOURCE_ERROR, rc, NULL, "sysfs root prefix too long");
		return rc;
	}
	dir = opendir(path);
	if (dir) {
		while ((e = readdir(dir)) != NULL) {
			struct zone z;
			memset(&z, 0, sizeof(z));
			if (parse_zone_dir(e->d_name, &z) < 0 || strlen(e->d_name) >= sizeof(z.dir))
				continue;
			if (nz == cap) {
				int ncap = cap ? cap * 2 : 16;
				struct zone *nzs = realloc(zs, (size_t)ncap * sizeof(*zs));
				if (!nzs) {
					closedir(dir);
					free_zones(zs, nz);
					nrg__status(src, NRG_SOURCE_ERROR, -ENOMEM, NULL, "out of memory");
					return -ENOMEM;
				}
				zs = nzs;
				cap = ncap;
			}
			snprintf(z.dir, sizeof(z.dir), "%s", e->d_name);
			zs[nz++] = z;
		}
		closedir(dir);
	}
	/* Sub-zones are listed in the class directory on a real system, but also live inside their
	 * package's directory: take those too when the class directory does not list them. */
	for (int i = 0, top_n = nz; i < top_n; i++) {
		char sub[600];

		if (zs[i].sub >= 0 || nrg__path(src, sub, sizeof(sub), POWERCAP "/%s", zs[i].dir) < 0 ||
		    !(dir = opendir(sub)))
			continue;
		while ((e = readdir(dir)) != NULL) {
			struct zone z;
			bool listed = false;

			memset(&z, 0, sizeof(z));
			if (parse_zone_dir(e->d_name, &z) < 0 || z.sub < 0 ||
			    strlen(zs[i].dir) + 1 + strlen(e->d_name) >= sizeof(z.dir))
				continue;
			for (int k = 0; k < nz; k++)
				if (!strcmp(zs[k].dir, e->d_name))
					listed = true;
			if (listed)
				continue;
			if (nz == cap) {
				int ncap = cap ? cap * 2 : 16;
				struct zone *nzs = realloc(zs, (size_t)ncap * sizeof(*zs));

				if (!nzs)
					break;
				zs = nzs;
				cap = ncap;
			}
			snprintf(z.dir, sizeof(z.dir), "%s/%s", zs[i].dir, e->d_name);
			zs[nz++] = z;
		}
		closedir(dir);
	}
	if (nz == 0) {
		free(zs);
		nrg__status(src, NRG_SOURCE_ABSENT, -ENOENT, "modprobe intel_rapl_msr",
			    "no RAPL zones in /sys/class/powercap: not an Intel/AMD CPU, a VM without RAPL, "
			    "or the intel_rapl_msr module is not loaded");
		return -ENOENT;
	}
	qsort(zs, (size_t)nz, sizeof(*zs), zone_cmp);
	for (int i = 0; i < nz; i++) {
		load_zone(src, &zs[i]);
		if (zs[i].fd >= 0)
			readable++;
		else if (zs[i].err == -EACCES || zs[i].err == -EPERM)
			denied = denied ? denied : &zs[i];
		else
			failed = failed ? failed : &zs[i];
	}
	if (readable == 0) {
		const struct zone *z = denied ? denied : failed;
		rc = z->err;
		if (denied)
			nrg__status(src, NRG_SOURCE_DENIED, rc,
				    "run as root, or grant read access (e.g. chmod a+r "
				    "/sys/class/powercap/intel-rapl:*/energy_uj, or a udev rule)",
				    "cannot read " POWERCAP "/%s/energy_uj: %s (root-only since Linux 5.10, "
				    "CVE-2020-8694)", z->dir, strerror(-rc));
		else
			nrg__status(src, NRG_SOURCE_ERROR, rc, NULL, "cannot read " POWERCAP "/%s/energy_uj: %s",
				    z->dir, strerror(-rc));
		free_zones(zs, nz);
		return rc;
	}

	nrg__path(src, path, sizeof(path), "/proc/cpuinfo");
	if (nrg_cpuinfo_read(path, &ci) < 0)
		nrg_cpuinfo_init(&ci);

	r = calloc(1, sizeof(*r));
	if (r)
		r->fds = calloc((size_t)nz, sizeof(int));
	if (!r || !r->fds) {
		free(r);
		free_zones(zs, nz);
		nrg__status(src, NRG_SOURCE_ERROR, -ENOMEM, NULL, "out of memory");
		return -ENOMEM;
	}
	src->priv = r;
	/* zone_cmp put intel-rapl top-level zones first, then their sub-zones, then MMIO zones. */
	for (int i = 0; i < nz && rc == 0; i++)
		if (zs[i].fd >= 0)
			rc = add_zone(src, r, zs, nz, &zs[i], &ci);
	free_zones(zs, nz);
	if (rc < 0) {
		rapl_close(src);
		nrg__status(src, NRG_SOURCE_ERROR, rc, NULL, "adding RAPL devices failed: %s", strerror(-rc));
		return rc;
	}
	if (r->n == 0) {
		rapl_close(src);
		nrg__status(src, NRG_SOURCE_ABSENT, -ENOENT, NULL, "no usable RAPL zone in " POWERCAP);
		return -ENOENT;
	}
	nrg__status(src, NRG_SOURCE_FOUND, 0, NULL, "%d RAPL zone%s in " POWERCAP "%s", r->n,
		    r->n == 1 ? "" : "s", denied ? " (some zones not readable)" : "");
	return 0;
}

static int rapl_read(struct nrg_source *src, bool slow, struct nrg_value *vals)
{
	struct rapl *r = src->priv;
	int good = 0, err = -EIO;

	(void)slow;
	for (int i = 0; i < r->n; i++) {
		uint64_t v = 0;
		int rc = nrg_sysfs_pread_u64(r->fds[i], &v);
		vals[i].t_us = nrg_now_us();
		vals[i].valid = rc == 0 && v <= INT64_MAX;
		vals[i].v = vals[i].valid ? (int64_t)v : 0;
		if (vals[i].valid)
			good++;
		else if (rc < 0)
			err = rc;
	}
	return good > 0 || r->n == 0 ? 0 : err;
}

/* ---- power limits (CPU package zones, long-term constraint) -------------------------------- */

/* The constraint file `attr` of package device dev. Returns 0, -ENOTSUP if dev is no package. */
static int limit_path(struct nrg_source *src, int dev, const char *attr, char *buf, size_t n)
{
	const struct nrg_device_info *d = nrg__device(src, dev);
	int w;

	if (!d || strcmp(d->source, "rapl") || d->kind != NRG_KIND_CPU ||
	    d->role != NRG_ROLE_COMPONENT || !d->path[0])
		return -ENOTSUP;
	w = snprintf(buf, n, "%s/%s", d->path, attr);
	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

static int rapl_limit_get(struct nrg_source *src, int dev, int64_t *uw)
{
	char path[512];
	uint64_t v;
	int r = limit_path(src, dev, "constraint_0_power_limit_uw", path, sizeof(path));

	if (r == 0)
		r = nrg_sysfs_read_u64(path, &v);
	if (r == -ENOENT)
		return -ENOTSUP;
	if (r == 0 && v > INT64_MAX)
		r = -ERANGE;
	if (r == 0)
		*uw = (int64_t)v;
	return r;
}

static int rapl_limit_set(struct nrg_source *src, int dev, int64_t uw)
{
	char path[512], num[32];
	uint64_t max = 0;
	ssize_t w;
	int fd, len, r = limit_path(src, dev, "constraint_0_max_power_uw", path, sizeof(path));

	if (r < 0)
		return r;
	if (uw <= 0 || (nrg_sysfs_read_u64(path, &max) == 0 && max > 0 && (uint64_t)uw > max))
		return -ERANGE;
	if ((r = limit_path(src, dev, "constraint_0_power_limit_uw", path, sizeof(path))) < 0)
		return r;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOTSUP : errno == EACCES || errno == EPERM ? -EPERM : -errno;
	len = snprintf(num, sizeof(num), "%lld\n", (long long)uw);
	w = write(fd, num, (size_t)len);
	if (w == len)
		r = 0;
	else if (w < 0)
		r = errno == EACCES || errno == EPERM ? -EPERM : -errno;
	else
		r = -EIO;
	close(fd);
	return r;
}

const struct nrg_source_ops nrg_rapl_ops = {
	.name = "rapl",
	.summary = "CPU packages and DRAM through RAPL (powercap)",
	.probe = rapl_probe,
	.read = rapl_read,
	.close = rapl_close,
	.limit_get = rapl_limit_get,
	.limit_set = rapl_limit_set,
};
