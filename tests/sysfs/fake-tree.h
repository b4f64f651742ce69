/* fake-tree.h - build fake powercap, hwmon and /proc trees for the sysfs source tests. */
/* SPDX-License-Identifier: MIT */
#ifndef NRG_FAKE_TREE_H
#define NRG_FAKE_TREE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define FK_RANGE_UJ 262143328850ull /* a realistic max_energy_range_uj */

/* One RAPL zone of the fake powercap tree. */
struct fk_zone {
	const char *dir;     /* "intel-rapl:0", "intel-rapl:0:2", "intel-rapl-mmio:0" */
	const char *parent;  /* directory of the parent zone for sub-zones, or NULL */
	const char *name;    /* "package-0", "dram", ... */
	uint64_t start_uj;   /* initial energy_uj */
	uint64_t power_uw;   /* constant power the writer adds */
	uint64_t max_power_uw; /* constraint_0_max_power_uw, 0 = no constraint files */
};

/* The standard layout: 2 packages with core/uncore/dram, psys, and an MMIO duplicate of
 * package-0. Package 0 starts 40 J below the wrap so the writer wraps it. */
extern const struct fk_zone fk_zones[];
extern const int fk_n_zones;

/* mkdir -p. Returns 0 or -errno. */
int fk_mkdirs(const char *path);
/* Write a whole file (created 0644 unless mode != 0). Returns 0 or -errno. */
int fk_write(const char *path, mode_t mode, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* rm -rf (best effort). */
void fk_rmtree(const char *path);

/* Build <root>/sys/class/powercap with fk_zones, the zones living in
 * <root>/sys/devices/virtual/powercap and linked from the class directory as on a real system.
 * With root "" (a tmpfs mounted on the real /sys/class) the zones live in
 * /sys/class/nrg-fake-devices/powercap instead.
 * energy_mode is the mode of every energy_uj (0444 normally, 0 to deny). Returns 0 or -errno. */
int fk_build_powercap(const char *root, mode_t energy_mode);
/* Write <root>/proc/cpuinfo: `sockets` sockets x `per_socket` CPUs of the given model. */
int fk_write_cpuinfo(const char *root, const char *vendor, const char *model, int sockets, int per_socket);
/* Write <root>/proc/stat in place (the reader keeps its fd open) with an aggregate line. */
int fk_write_stat(const char *root, uint64_t user, uint64_t system, uint64_t idle, uint64_t iowait,
		  uint64_t steal, uint64_t guest);
/* Build a hwmon class under <classdir> (e.g. "/sys/class" inside a mount namespace):
 *  hwmon0 power_meter (ACPI device ACPI000D:00): power1_average, power1_average_interval
 *  hwmon1 amdgpu (PCI 0000:03:00.0): power1_average, power1_input, energy1_input, temp1_input
 *  hwmon2 fakepsu (virtual, no device link): power1_input
 *  hwmon3 i915 (PCI 0000:00:02.0): energy1_input
 *  hwmon4 coretemp (virtual): temp1_input only -> must be ignored
 * Returns 0 or -errno. */
int fk_build_hwmon(const char *classdir);

/* The writer: a child process that advances every zone's energy_uj at its power_uw in steps of
 * step_us, for `steps` steps, after the parent calls fk_writer_go(). Every step's writes are
 * bracketed by an odd/even sequence number in shared memory so the reader can discard a
 * sample that overlapped a write. */
struct fk_writer {
	pid_t pid;
	struct fk_shared *sh;
	bool reaped; /* the child was waited for */
	int status;  /* its exit status once reaped */
};
int fk_writer_start(struct fk_writer *w, const char *root, uint32_t step_us, int steps);
void fk_writer_go(struct fk_writer *w);
/* The sequence number (even when no write is in progress). */
uint64_t fk_writer_seq(const struct fk_writer *w);
/* Whether the writer finished its steps or died. */
bool fk_writer_done(struct fk_writer *w);
/* Wait for the writer to finish; returns its exit status (0 = fine). */
int fk_writer_wait(struct fk_writer *w);

#endif
