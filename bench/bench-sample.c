/* bench-sample.c - cost per sample against the raw read, and the recorder's CPU and jitter. */
/* SPDX-License-Identifier: MIT */
/*
 * usage: bench-sample FAKE_NVML_LIB [SECONDS_PER_RATE]
 * Builds a fake powercap tree (2 packages with core/uncore/dram, psys, an MMIO duplicate) in a
 * temporary directory read through NRG_SYSFS_ROOT, and loads the fake NVML (4 GPUs). On this
 * hardware-less machine these are tmpfs files and a simulated library: the figures are nrg's own
 * cost on top of the read, not the cost of a real RAPL MSR read or a real NVML driver call.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../tests/sysfs/fake-tree.h"
#include "nrg.h"
#include "sysfs.h"

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec * 1e-6;
}

/* ns per nrg_session_read of a session with only `sources`, and its channel count. */
static double session_read_ns(const char *sources, size_t *nchan, size_t *ndev)
{
	struct nrg_options o = { .sources = sources };
	nrg_session *s;
	struct nrg_value *v;
	char err[256];
	int iters = 20000;
	double t0;

	if (nrg_session_open(&s, &o, err, sizeof err) < 0 || !nrg_channel_count(s)) {
		fprintf(stderr, "bench-sample: no %s channels\n", sources);
		exit(1);
	}
	*nchan = nrg_channel_count(s);
	*ndev = nrg_device_count(s);
	v = calloc(*nchan, sizeof *v);
	for (int i = 0; i < 1000; i++)
		nrg_session_read(s, false, v);
	t0 = now_ns();
	for (int i = 0; i < iters; i++)
		nrg_session_read(s, false, v);
	t0 = (now_ns() - t0) / iters;
	free(v);
	nrg_session_close(s);
	return t0;
}

int main(int argc, char **argv)
{
	char root[] = "/tmp/nrg-bench-XXXXXX", path[512], db[600], err[256];
	double secs = argc > 2 ? atof(argv[2]) : 5;
	size_t nchan, ndev;

	if (argc < 2) {
		fprintf(stderr, "usage: bench-sample FAKE_NVML_LIB [SECONDS_PER_RATE]\n");
		return 2;
	}
	if (!mkdtemp(root) || fk_build_powercap(root, 0444) < 0 || fk_write_cpuinfo(root, "GenuineIntel",
			"Intel(R) Xeon(R) Platinum 8480+", 2, 2) < 0) {
		fprintf(stderr, "bench-sample: cannot build the fake tree\n");
		return 1;
	}
	setenv("NRG_SYSFS_ROOT", root, 1);
	setenv("NRG_NVML_LIB", argv[1], 1);
	unsetenv("NRG_FAKE_NVML");

	printf("== cost of one reading\n");
	/* raw: pread + parse of one energy_uj with the fd kept open */
	snprintf(path, sizeof path, "%s/sys/class/powercap/intel-rapl:0/energy_uj", root);
	int fd = open(path, O_RDONLY);
	uint64_t val;
	double t0 = now_ns();
	for (int i = 0; i < 200000; i++)
		nrg_sysfs_pread_u64(fd, &val);
	printf("raw pread+parse of energy_uj (tmpfs)        %8.0f ns\n", (now_ns() - t0) / 200000);
	close(fd);
	double rapl_ns = session_read_ns("rapl", &nchan, &ndev);
	printf("nrg rapl source, all %zu zones              %8.0f ns  (%.0f ns per zone)\n", nchan, rapl_ns,
	       rapl_ns / (double)nchan);

	/* raw NVML: the energy counter and power of one GPU through the library directly */
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	int (*init)(void) = h ? (int (*)(void))dlsym(h, "nvmlInit_v2") : NULL;
	int (*get)(unsigned, void **) = h ? (int (*)(unsigned, void **))dlsym(h, "nvmlDeviceGetHandleByIndex_v2") : NULL;
	int (*energy)(void *, unsigned long long *) =
		h ? (int (*)(void *, unsigned long long *))dlsym(h, "nvmlDeviceGetTotalEnergyConsumption") : NULL;
	int (*power)(void *, unsigned *) = h ? (int (*)(void *, unsigned *))dlsym(h, "nvmlDeviceGetPowerUsage") : NULL;
	if (init && get && energy && power && init() == 0) {
		void *dev;
		unsigned long long e;
		unsigned p;

		get(0, &dev);
		t0 = now_ns();
		for (int i = 0; i < 200000; i++) {
			energy(dev, &e);
			power(dev, &p);
		}
		printf("raw NVML energy+power calls, 1 GPU (fake)   %8.0f ns\n", (now_ns() - t0) / 200000);
	}
	double nvml_ns = session_read_ns("nvml", &nchan, &ndev);
	printf("nrg nvml source, %zu GPUs, %zu channels      %8.0f ns  (%.0f ns per GPU)\n", ndev, nchan, nvml_ns,
	       nvml_ns / (double)ndev);

	printf("\n== recorder: CPU of the sampling + writer threads, wake-up lateness (nvml+rapl)\n");
	printf("%8s %10s %12s %12s %12s %8s\n", "rate", "CPU %core", "read us/tick", "late mean us", "late max us", "missed");
	snprintf(db, sizeof db, "%s/bench.db", root);
	const unsigned rates[] = { 10, 100, 1000 };
	for (size_t k = 0; k < 3; k++) {
		struct nrg_options o = { .sources = "nvml,rapl" };
		nrg_session *s;
		nrg_store *st;
		nrg_recorder *rec;
		struct nrg_run_info ri = { .exit_status = -1 };
		struct nrg_recorder_stats rs;
		int64_t run;
		double c0, w0;

		nrg_session_open(&s, &o, err, sizeof err);
		if (nrg_store_open(&st, db, err, sizeof err) < 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		snprintf(ri.state, sizeof ri.state, "running");
		nrg_store_run_create(st, s, &ri, &run);
		c0 = cpu_s();
		w0 = now_ns();
		nrg_recorder_start(&rec, s, st, run, 1000000 / rates[k], err, sizeof err);
		struct timespec ts = { (time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9) };
		nanosleep(&ts, NULL);
		nrg_recorder_get_stats(rec, &rs);
		nrg_recorder_stop(rec);
		double cpu = (cpu_s() - c0) / ((now_ns() - w0) * 1e-9);
		printf("%6u Hz %9.2f%% %12.1f %12.1f %12.1f %8llu\n", rates[k], cpu * 100,
		       rs.ticks ? (double)rs.read_ns_total / (double)rs.ticks / 1000 : 0,
		       rs.ticks ? (double)rs.lateness_ns_total / (double)rs.ticks / 1000 : 0,
		       (double)rs.lateness_ns_max / 1000, (unsigned long long)rs.missed_ticks);
		nrg_run_info_free(&ri);
		nrg_store_close(st);
		nrg_session_close(s);
	}
	printf("(ROOT=%s for the side-by-side Python sampler)\n", root);
	if (!getenv("BENCH_KEEP"))
		fk_rmtree(root);
	return 0;
}
