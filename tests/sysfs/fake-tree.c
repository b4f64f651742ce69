/* fake-tree.c - build fake powercap, hwmon and /proc trees and run a counter writer for the tests. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake-tree.h"

#define W(x) ((uint64_t)(x) * 1000000ull) /* watts -> µW; joules -> µJ */

const struct fk_zone fk_zones[] = {
	{ "intel-rapl:0", NULL, "package-0", FK_RANGE_UJ - W(40), W(200), W(270) },
	{ "intel-rapl:0:0", "intel-rapl:0", "core", 123456789, W(120), 0 },
	{ "intel-rapl:0:1", "intel-rapl:0", "uncore", 2345678, W(10), 0 },
	{ "intel-rapl:0:2", "intel-rapl:0", "dram", 98765432100ull, W(30), 0 },
	{ "intel-rapl:1", NULL, "package-1", 5000000000ull, W(150), W(270) },
	{ "intel-rapl:1:0", "intel-rapl:1", "core", 111, W(100), 0 },
	{ "intel-rapl:1:1", "intel-rapl:1", "uncore", 222, W(8), 0 },
	{ "intel-rapl:1:2", "intel-rapl:1", "dram", 333333, W(25), 0 },
	{ "intel-rapl:2", NULL, "psys", 444444444, W(400), 0 },
	{ "intel-rapl-mmio:0", NULL, "package-0", FK_RANGE_UJ - W(40), W(200), W(270) },
};
const int fk_n_zones = (int)(sizeof(fk_zones) / sizeof(fk_zones[0]));

int fk_mkdirs(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int fk_write(const char *path, mode_t mode, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int fd, n, r = 0;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -E2BIG;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)n) != n)
		r = -EIO;
	if (mode && fchmod(fd, mode) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void fk_rmtree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Where the zone directories live, and the same relative to <root>/sys/class/powercap. With an
 * empty root (a tmpfs mounted on the real /sys/class) they go inside that tmpfs instead of the
 * real /sys/devices, which cannot be written. */
static const char *devs_rel(const char *root)
{
	return root[0] ? "../../devices/virtual/powercap" : "../nrg-fake-devices/powercap";
}

static int devs_dir(char *buf, size_t n, const char *root)
{
	int r = root[0] ? snprintf(buf, n, "%s/sys/devices/virtual/powercap", root)
			: snprintf(buf, n, "/sys/class/nrg-fake-devices/powercap");
	return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : 0;
}

static int zone_dir(char *buf, size_t n, const char *root, const struct fk_zone *z)
{
	char base[PATH_MAX];
	const char *ctl = strncmp(z->dir, "intel-rapl-mmio", 15) == 0 ? "intel-rapl-mmio" : "intel-rapl";
	int r = devs_dir(base, sizeof(base), root);

	if (r < 0)
		return r;
	if (z->parent)
		r = snprintf(buf, n, "%s/%s/%s/%s", base, ctl, z->parent, z->dir);
	else
		r = snprintf(buf, n, "%s/%s/%s", base, ctl, z->dir);
	return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : 0;
}

/* Append suffix to the path in buf[n]. */
static void path_append(char *buf, size_t n, const char *suffix)
{
	size_t len = strlen(buf);

	snprintf(buf + len, n - len, "%s", suffix);
}

int fk_build_powercap(const char *root, mode_t energy_mode)
{
	char dir[PATH_MAX], path[PATH_MAX + 64], link[PATH_MAX];
	int r;

	snprintf(dir, sizeof(dir), "%s/sys/class/powercap", root);
	if ((r = fk_mkdirs(dir)) < 0)
		return r;
	/* The control types, as on a real system (no energy_uj: not zones). */
	if ((r = devs_dir(dir, sizeof(dir) - 32, root)) < 0)
		return r;
	path_append(dir, sizeof(dir), "/intel-rapl");
	if ((r = fk_mkdirs(dir)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/enabled", dir);
	fk_write(path, 0, "1\n");
	snprintf(link, sizeof(link), "%s/sys/class/powercap/intel-rapl", root);
	snprintf(path, sizeof(path), "%s/intel-rapl", devs_rel(root));
	if (symlink(path, link) < 0)
		return -errno;
	if ((r = devs_dir(dir, sizeof(dir) - 32, root)) < 0)
		return r;
	path_append(dir, sizeof(dir), "/intel-rapl-mmio");
	if ((r = fk_mkdirs(dir)) < 0)
		return r;
	for (int i = 0; i < fk_n_zones; i++) {
		const struct fk_zone *z = &fk_zones[i];
		if ((r = zone_dir(dir, sizeof(dir), root, z)) < 0 || (r = fk_mkdirs(dir)) < 0)
			return r;
		snprintf(path, sizeof(path), "%s/name", dir);
		if ((r = fk_write(path, 0, "%s\n", z->name)) < 0)
			return r;
		snprintf(path, sizeof(path), "%s/energy_uj", dir);
		if ((r = fk_write(path, 0, "%llu\n", (unsigned long long)z->start_uj)) < 0)
			return r;
		if (chmod(path, energy_mode) < 0)
			return -errno;
		snprintf(path, sizeof(path), "%s/max_energy_range_uj", dir);
		if ((r = fk_write(path, 0, "%llu\n", FK_RANGE_UJ)) < 0)
			return r;
		snprintf(path, sizeof(path), "%s/enabled", dir);
		if ((r = fk_write(path, 0, "%d\n", 1)) < 0)
			return r;
		if (z->max_power_uw) {
			snprintf(path, sizeof(path), "%s/constraint_0_name", dir);
			fk_write(path, 0, "long_term\n");
			snprintf(path, sizeof(path), "%s/constraint_0_max_power_uw", dir);
			fk_write(path, 0, "%llu\n", (unsigned long long)z->max_power_uw);
			snprintf(path, sizeof(path), "%s/constraint_0_power_limit_uw", dir);
			fk_write(path, 0, "%llu\n", (unsigned long long)z->max_power_uw);
		}
		/* Every zone is a class device of its own, linked flat from /sys/class/powercap. */
		snprintf(link, sizeof(link), "%s/sys/class/powercap/%s", root, z->dir);
		snprintf(path, sizeof(path), "%s/%s%s%s/%s", devs_rel(root),
			 strncmp(z->dir, "intel-rapl-mmio", 15) == 0 ? "intel-rapl-mmio" : "intel-rapl",
			 z->parent ? "/" : "", z->parent ? z->parent : "", z->dir);
		if (symlink(path, link) < 0)
			return -errno;
	}
	return 0;
}

int fk_write_cpuinfo(const char *root, const char *vendor, const char *model, int sockets, int per_socket)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	char *text = NULL;
	size_t len = 0;
	FILE *m;
	int r, cpu = 0;

	snprintf(dir, sizeof(dir), "%s/proc", root);
	if ((r = fk_mkdirs(dir)) < 0)
		return r;
	m = open_memstream(&text, &len);
	if (!m)
		return -ENOMEM;
	for (int s = 0; s < sockets; s++)
		for (int c = 0; c < per_socket; c++, cpu++)
			fprintf(m,
				"processor\t: %d\nvendor_id\t: %s\ncpu family\t: 6\nmodel\t\t: 106\n"
				"model name\t: %s\nstepping\t: 6\nphysical id\t: %d\ncore id\t\t: %d\n"
				"cpu cores\t: %d\nflags\t\t: fpu vme de pse tsc msr\n\n",
				cpu, vendor, model, s, c, per_socket);
	fclose(m);
	snprintf(path, sizeof(path), "%s/cpuinfo", dir);
	r = fk_write(path, 0, "%s", text);
	free(text);
	return r;
}

int fk_write_stat(const char *root, uint64_t user, uint64_t system, uint64_t idle, uint64_t iowait,
		  uint64_t steal, uint64_t guest)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	int r;

	snprintf(dir, sizeof(dir), "%s/proc", root);
	if ((r = fk_mkdirs(dir)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/stat", dir);
	/* user nice system idle iowait irq softirq steal guest guest_nice; guest is part of user */
	return fk_write(path, 0,
			"cpu  %llu 0 %llu %llu %llu 0 0 %llu %llu 0\n"
			"cpu0 1 0 1 1 0 0 0 0 0 0\nintr 12345\nctxt 999\nbtime 1700000000\n",
			(unsigned long long)(user + guest), (unsigned long long)system, (unsigned long long)idle,
			(unsigned long long)iowait, (unsigned long long)steal, (unsigned long long)guest);
}

/* One hwmon directory <classdir>/hwmon<N> with its device link (dev_sub "pci"/"acpi" and the
 * device name), or no device link when dev_name is NULL. */
static int hwmon_dir(const char *classdir, int n, const char *name, const char *dev_sub, const char *dev_name,
		     char *out, size_t outn)
{
	char path[PATH_MAX + 64], devdir[PATH_MAX];
	int r;

	snprintf(out, outn, "%s/hwmon/hwmon%d", classdir, n);
	if ((r = fk_mkdirs(out)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/name", out);
	if ((r = fk_write(path, 0, "%s\n", name)) < 0)
		return r;
	if (!dev_name)
		return 0;
	/* The device lives elsewhere; its `subsystem` link names the bus, which is all libsensors
	 * looks at to classify it (the link target need not exist). */
	snprintf(devdir, sizeof(devdir), "%s/nrg-fake-devices/%s/%s", classdir, dev_sub, dev_name);
	if ((r = fk_mkdirs(devdir)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/subsystem", devdir);
	if (symlink(strcmp(dev_sub, "pci") == 0 ? "../../../../bus/pci" : "../../../../bus/acpi", path) < 0 &&
	    errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/device", out);
	if (symlink(devdir, path) < 0)
		return -errno;
	return 0;
}

int fk_build_hwmon(const char *classdir)
{
	char d[PATH_MAX], p[PATH_MAX + 64];
	int r;

	if ((r = hwmon_dir(classdir, 0, "power_meter", "acpi", "ACPI000D:00", d, sizeof(d))) < 0)
		return r;
	snprintf(p, sizeof(p), "%s/power1_average", d);
	fk_write(p, 0, "%d\n", 345600000); /* 345.6 W */
	snprintf(p, sizeof(p), "%s/power1_average_interval", d);
	fk_write(p, 0, "%d\n", 1000); /* ms */
	snprintf(p, sizeof(p), "%s/power1_model_number", d);
	fk_write(p, 0, "FAKE-PM\n");

	if ((r = hwmon_dir(classdir, 1, "amdgpu", "pci", "0000:03:00.0", d, sizeof(d))) < 0)
		return r;
	snprintf(p, sizeof(p), "%s/power1_average", d);
	fk_write(p, 0, "%d\n", 187000000);
	snprintf(p, sizeof(p), "%s/power1_input", d);
	fk_write(p, 0, "%d\n", 191000000);
	snprintf(p, sizeof(p), "%s/power1_cap", d);
	fk_write(p, 0, "%d\n", 300000000);
	snprintf(p, sizeof(p), "%s/energy1_input", d);
	fk_write(p, 0, "%llu\n", 123456789012ull);
	snprintf(p, sizeof(p), "%s/temp1_input", d);
	fk_write(p, 0, "%d\n", 54000);

	if ((r = hwmon_dir(classdir, 2, "fakepsu", NULL, NULL, d, sizeof(d))) < 0)
		return r;
	snprintf(p, sizeof(p), "%s/power1_input", d);
	fk_write(p, 0, "%d\n", 512250000);
	snprintf(p, sizeof(p), "%s/power1_label", d);
	fk_write(p, 0, "PSU input\n");

	if ((r = hwmon_dir(classdir, 3, "i915", "pci", "0000:00:02.0", d, sizeof(d))) < 0)
		return r;
	snprintf(p, sizeof(p), "%s/energy1_input", d);
	fk_write(p, 0, "%llu\n", 9876543ull);

	if ((r = hwmon_dir(classdir, 4, "coretemp", NULL, NULL, d, sizeof(d))) < 0)
		return r;
	snprintf(p, sizeof(p), "%s/temp1_input", d);
	fk_write(p, 0, "%d\n", 41000);
	return 0;
}

/* ---- the writer ------------------------------------------------------------------------------ */

struct fk_shared {
	uint64_t seq;
	int go;
	int done;
};

static void sleep_until(struct timespec *t, uint32_t step_us)
{
	t->tv_nsec += (long)step_us * 1000;
	while (t->tv_nsec >= 1000000000L) {
		t->tv_nsec -= 1000000000L;
		t->tv_sec++;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, t, NULL) == EINTR)
		;
}

static int writer_main(struct fk_shared *sh, const char *root, uint32_t step_us, int steps)
{
	int fd[64];
	uint64_t val[64];
	char dir[PATH_MAX], path[PATH_MAX + 16];
	struct timespec t;

	for (int i = 0; i < fk_n_zones; i++) {
		if (zone_dir(dir, sizeof(dir), root, &fk_zones[i]) < 0)
			return 2;
		snprintf(path, sizeof(path), "%s/energy_uj", dir);
		chmod(path, 0644); /* sysfs has it read-only; the writer (its owner) needs to write */
		fd[i] = open(path, O_WRONLY | O_CLOEXEC);
		if (fd[i] < 0)
			return 3;
		val[i] = fk_zones[i].start_uj;
	}
	while (!__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE))
		usleep(100);
	clock_gettime(CLOCK_MONOTONIC, &t);
	for (int s = 0; s < steps; s++) {
		sleep_until(&t, step_us);
		__atomic_add_fetch(&sh->seq, 1, __ATOMIC_ACQ_REL); /* odd: writing */
		for (int i = 0; i < fk_n_zones; i++) {
			char buf[32];
			int n;
			val[i] += fk_zones[i].power_uw * step_us / 1000000u;
			if (val[i] >= FK_RANGE_UJ)
				val[i] -= FK_RANGE_UJ; /* the counter wraps to 0 past max_energy_range_uj */
			n = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)val[i]);
			if (ftruncate(fd[i], 0) < 0 || pwrite(fd[i], buf, (size_t)n, 0) != n)
				return 4;
		}
		__atomic_add_fetch(&sh->seq, 1, __ATOMIC_ACQ_REL); /* even: stable */
	}
	__atomic_store_n(&sh->done, 1, __ATOMIC_RELEASE);
	return 0;
}

int fk_writer_start(struct fk_writer *w, const char *root, uint32_t step_us, int steps)
{
	w->sh = mmap(NULL, sizeof(*w->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (w->sh == MAP_FAILED)
		return -errno;
	memset(w->sh, 0, sizeof(*w->sh));
	w->reaped = false;
	w->status = 0;
	fflush(stdout);
	w->pid = fork();
	if (w->pid < 0)
		return -errno;
	if (w->pid == 0)
		_exit(writer_main(w->sh, root, step_us, steps));
	return 0;
}

void fk_writer_go(struct fk_writer *w)
{
	__atomic_store_n(&w->sh->go, 1, __ATOMIC_RELEASE);
}

uint64_t fk_writer_seq(const struct fk_writer *w)
{
	return __atomic_load_n(&w->sh->seq, __ATOMIC_ACQUIRE);
}

static void reap(struct fk_writer *w, int st)
{
	w->reaped = true;
	w->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

bool fk_writer_done(struct fk_writer *w)
{
	int st = 0;

	if (__atomic_load_n(&w->sh->done, __ATOMIC_ACQUIRE) || w->reaped)
		return true;
	if (waitpid(w->pid, &st, WNOHANG) == w->pid) {
		reap(w, st);
		return true;
	}
	return false;
}

int fk_writer_wait(struct fk_writer *w)
{
	int st = 0;

	if (!w->reaped) {
		if (waitpid(w->pid, &st, 0) < 0)
			return -errno;
		reap(w, st);
	}
	munmap(w->sh, sizeof(*w->sh));
	return w->status;
}
