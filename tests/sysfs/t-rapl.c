/* t-rapl.c - the rapl source on a fake powercap tree: composition, reading, wrap, permissions. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "counter.h"
#include "fake-tree.h"
#include "nrg.h"
#include "tap.h"

#define MODEL "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz"

static const struct nrg_source_status *source(nrg_session *s, const char *name)
{
	for (size_t i = 0; i < nrg_source_count(s); i++)
		if (strcmp(nrg_source_get(s, i)->name, name) == 0)
			return nrg_source_get(s, i);
	return NULL;
}

static int device(nrg_session *s, const char *id)
{
	for (size_t i = 0; i < nrg_device_count(s); i++)
		if (strcmp(nrg_device_get(s, i)->id, id) == 0)
			return (int)i;
	return -1;
}

/* The one channel of device dev named name, or -1. */
static int channel(nrg_session *s, int dev, const char *name)
{
	for (size_t i = 0; i < nrg_channel_count(s); i++)
		if (nrg_channel_get(s, i)->device == dev && strcmp(nrg_channel_get(s, i)->name, name) == 0)
			return (int)i;
	return -1;
}

static nrg_session *open_rapl(const char *root, const char *sources)
{
	struct nrg_options o = { .sources = sources, .sysfs_root = root };
	char err[256] = "";
	nrg_session *s = NULL;
	int r = nrg_session_open(&s, &o, err, sizeof(err));

	if (!ok(r == 0 && s, "session opens (%s)", sources))
		printf("#   %d %s\n", r, err);
	return s;
}

static void check_device(nrg_session *s, const char *id, enum nrg_kind kind, enum nrg_role role,
			 const char *parent)
{
	int d = device(s, id);
	const struct nrg_device_info *di;

	if (!ok(d >= 0, "device %s exists", id))
		return;
	di = nrg_device_get(s, (size_t)d);
	is_i64(di->kind, kind, "%s kind %s", id, nrg_kind_name(kind));
	is_i64(di->role, role, "%s role %s", id, nrg_role_name(role));
	is_i64(di->parent, parent ? device(s, parent) : -1, "%s parent %s", id, parent ? parent : "none");
	is_str(di->source, "rapl", "%s source", id);
	ok(!di->estimated, "%s is measured", id);
	if (kind != NRG_KIND_OTHER)
		is_str(di->vendor, "intel", "%s vendor from /proc/cpuinfo", id);
	ok(channel(s, d, "energy") >= 0, "%s has an energy channel", id);
}

static void test_composition(const char *root)
{
	nrg_session *s = open_rapl(root, "rapl");
	const struct nrg_source_status *st;
	const struct nrg_device_info *di;
	int c;

	if (!s)
		return;
	st = source(s, "rapl");
	ok(st && st->state == NRG_SOURCE_FOUND, "rapl FOUND");
	is_i64(nrg_device_count(s), fk_n_zones, "one device per zone");
	is_i64(nrg_channel_count(s), fk_n_zones, "one channel per zone");
	check_device(s, "cpu0", NRG_KIND_CPU, NRG_ROLE_COMPONENT, NULL);
	check_device(s, "cpu1", NRG_KIND_CPU, NRG_ROLE_COMPONENT, NULL);
	check_device(s, "dram0", NRG_KIND_DRAM, NRG_ROLE_COMPONENT, NULL);
	check_device(s, "dram1", NRG_KIND_DRAM, NRG_ROLE_COMPONENT, NULL);
	check_device(s, "core0", NRG_KIND_CPU, NRG_ROLE_PART, "cpu0");
	check_device(s, "uncore0", NRG_KIND_CPU, NRG_ROLE_PART, "cpu0");
	check_device(s, "core1", NRG_KIND_CPU, NRG_ROLE_PART, "cpu1");
	check_device(s, "uncore1", NRG_KIND_CPU, NRG_ROLE_PART, "cpu1");
	check_device(s, "psys", NRG_KIND_OTHER, NRG_ROLE_OTHER, NULL);
	check_device(s, "cpu0-mmio", NRG_KIND_CPU, NRG_ROLE_DUPLICATE, "cpu0");

	if (device(s, "cpu0") >= 0) {
		di = nrg_device_get(s, (size_t)device(s, "cpu0"));
		ok(strstr(di->name, "package-0") && strstr(di->name, MODEL), "cpu0 name has zone and model: '%s'",
		   di->name);
		is_i64(di->rated_uw, 270000000, "cpu0 rated power from constraint_0_max_power_uw");
		ok(di->caps & NRG_CAP_ENERGY, "cpu0 has the energy capability");
		c = channel(s, device(s, "cpu0"), "energy");
		ok(c >= 0 && nrg_channel_get(s, (size_t)c)->quantity == NRG_Q_ENERGY, "cpu0 energy is NRG_Q_ENERGY");
		ok(c >= 0 && nrg_channel_get(s, (size_t)c)->range_uj == FK_RANGE_UJ,
		   "cpu0 range_uj = max_energy_range_uj");
		ok(c >= 0 && nrg_channel_get(s, (size_t)c)->update_us == 1000, "cpu0 update period 1 ms");
	}
	if (device(s, "dram0") >= 0) {
		di = nrg_device_get(s, (size_t)device(s, "dram0"));
		ok(strstr(di->note, "not included in the package"), "dram0 note says it is not in the package");
	}
	if (device(s, "psys") >= 0) {
		di = nrg_device_get(s, (size_t)device(s, "psys"));
		ok(strstr(di->note, "never summed"), "psys note says it is never summed");
	}
	nrg_session_close(s);

	/* With rapl present the estimate stays off. */
	s = open_rapl(root, "rapl,estimate");
	if (s) {
		st = source(s, "estimate");
		ok(st && st->state == NRG_SOURCE_DISABLED, "estimate DISABLED next to rapl");
		ok(st && strstr(st->reason, "measured CPU"), "estimate reason: '%s'", st ? st->reason : "");
		is_i64(device(s, "cpu0") >= 0 ? nrg_device_get(s, (size_t)device(s, "cpu0"))->estimated : 1, 0,
		       "cpu0 comes from rapl, not the estimate");
		nrg_session_close(s);
	}
}

/* Read while the writer moves the counters; check the energy through nrg_counter. */
static void test_sampling(const char *root)
{
	enum { STEPS = 400, STEP_US = 1000 };
	struct nrg_counter ctr[64];
	struct nrg_value *v;
	struct fk_writer w;
	nrg_session *s = open_rapl(root, "rapl");
	size_t nch;
	int moving = 0, discarded = 0, reads = 0, r, c0;

	if (!s)
		return;
	nch = nrg_channel_count(s);
	c0 = channel(s, device(s, "cpu0"), "energy");
	if (c0 < 0)
		c0 = 0;
	v = calloc(nch, sizeof(*v));
	for (size_t i = 0; i < nch; i++)
		nrg_counter_init(&ctr[i], nrg_channel_get(s, i)->range_uj);
	if (!ok(fk_writer_start(&w, root, STEP_US, STEPS) == 0, "writer starts")) {
		nrg_session_close(s);
		free(v);
		return;
	}
	/* Baseline before the writer moves anything: exactly the start values. */
	is_i64(nrg_session_read(s, true, v), 0, "first read");
	for (size_t i = 0; i < nch; i++) {
		const struct nrg_device_info *di = nrg_device_get(s, (size_t)nrg_channel_get(s, i)->device);
		ok(v[i].valid && v[i].t_us > 0, "%s: first value valid and stamped", di->id);
		nrg_counter_update(&ctr[i], (uint64_t)v[i].v);
	}
	ok(v[c0].valid && (uint64_t)v[c0].v == FK_RANGE_UJ - 40000000ull, "cpu0 starts 40 J below the wrap");

	fk_writer_go(&w);
	while (!fk_writer_done(&w) && reads < 200000) {
		uint64_t s1 = fk_writer_seq(&w), s2;
		bool all = true;
		r = nrg_session_read(s, false, v);
		s2 = fk_writer_seq(&w);
		reads++;
		if (r != 0 || s1 != s2 || (s1 & 1)) {
			discarded++; /* a write overlapped this read: its values may be torn */
			continue;
		}
		for (size_t i = 0; i < nch; i++)
			all = all && v[i].valid;
		if (!all) {
			discarded++;
			continue;
		}
		for (size_t i = 0; i < nch; i++)
			nrg_counter_update(&ctr[i], (uint64_t)v[i].v);
		if (ctr[c0].total > 0 && ctr[c0].total < 80000000ull)
			moving++;
		usleep(300);
	}
	is_i64(fk_writer_wait(&w), 0, "writer finished cleanly");
	is_i64(nrg_session_read(s, true, v), 0, "final read after the writer stopped");
	for (size_t i = 0; i < nch; i++)
		if (v[i].valid)
			nrg_counter_update(&ctr[i], (uint64_t)v[i].v);
	ok(moving > 10, "values read while the counters moved (%d samples, %d discarded)", moving, discarded);

	for (int z = 0; z < fk_n_zones; z++) {
		/* Match channels to zones by the zone directory at the end of the device path. */
		double want = (double)fk_zones[z].power_uw * STEP_US / 1e6 * STEPS;
		for (size_t i = 0; i < nch; i++) {
			const struct nrg_device_info *di = nrg_device_get(s, (size_t)nrg_channel_get(s, i)->device);
			const char *slash = strrchr(di->path, '/');
			if (!slash || strcmp(slash + 1, fk_zones[z].dir) != 0)
				continue;
			is_near((double)ctr[i].total, want, want * 0.005, "%s (%s): energy added by the writer",
				di->id, fk_zones[z].dir);
		}
	}
	r = channel(s, device(s, "cpu0"), "energy");
	if (ok(r >= 0, "cpu0 energy channel")) {
		is_i64(ctr[r].wraps, 1, "cpu0 wrapped once past max_energy_range_uj");
		is_i64(ctr[r].resets + ctr[r].backwards, 0, "cpu0: no resets or steps back");
	}
	free(v);
	nrg_session_close(s);
}

/* Run the probe as `nobody` on a tree whose energy_uj files are mode 000. */
static void test_denied(const char *base)
{
	char root[PATH_MAX];
	int pfd[2];
	pid_t pid;
	struct {
		int state, err;
		char reason[256], fix[256];
	} res;
	int st = 0;

	snprintf(root, sizeof(root), "%s/denied", base);
	if (fk_build_powercap(root, 0) < 0 || fk_write_cpuinfo(root, "GenuineIntel", MODEL, 1, 2) < 0) {
		ok(0, "build the denied tree");
		return;
	}
	if (pipe(pfd) < 0) {
		ok(0, "pipe");
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct nrg_options o = { .sources = "rapl", .sysfs_root = root };
		nrg_session *s = NULL;
		const struct nrg_source_status *ss;
		close(pfd[0]);
		memset(&res, 0, sizeof(res));
		if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
			_exit(77);
		if (geteuid() == 0)
			_exit(77);
		if (nrg_session_open(&s, &o, NULL, 0) < 0)
			_exit(3);
		ss = source(s, "rapl");
		res.state = ss->state;
		res.err = ss->err;
		snprintf(res.reason, sizeof(res.reason), "%s", ss->reason);
		snprintf(res.fix, sizeof(res.fix), "%s", ss->fix);
		if (write(pfd[1], &res, sizeof(res)) != (ssize_t)sizeof(res))
			_exit(4);
		nrg_session_close(s);
		_exit(0);
	}
	close(pfd[1]);
	memset(&res, 0, sizeof(res));
	{
		ssize_t n = read(pfd[0], &res, sizeof(res));
		close(pfd[0]);
		waitpid(pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
			printf("# cannot drop privileges to nobody: skipping the DENIED case\n");
			ok(1, "# SKIP DENIED needs a non-root user");
			return;
		}
		if (!ok(n == (ssize_t)sizeof(res), "the unprivileged probe reported"))
			return;
	}
	is_i64(res.state, NRG_SOURCE_DENIED, "mode 000 energy_uj as nobody: DENIED");
	is_i64(res.err, -EACCES, "DENIED err is -EACCES");
	ok(strstr(res.reason, "energy_uj") != NULL, "reason names the file: '%s'", res.reason);
	ok(strstr(res.fix, "run as root") && strstr(res.fix, "chmod a+r"), "fix says how: '%s'", res.fix);
}

static void test_absent(const char *base)
{
	char root[PATH_MAX];
	nrg_session *s;

	snprintf(root, sizeof(root), "%s/empty", base);
	fk_mkdirs(root);
	s = open_rapl(root, "rapl");
	if (s) {
		const struct nrg_source_status *st = source(s, "rapl");
		ok(st && st->state == NRG_SOURCE_ABSENT, "no powercap directory: ABSENT");
		ok(st && strstr(st->reason, "no RAPL zones"), "absent reason: '%s'", st ? st->reason : "");
		ok(st && strstr(st->fix, "modprobe intel_rapl_msr"), "absent fix: '%s'", st ? st->fix : "");
		is_i64(nrg_device_count(s), 0, "no devices");
		nrg_session_close(s);
	}
}

int main(void)
{
	char base[] = "/tmp/nrg-t-rapl-XXXXXX", root[PATH_MAX];

	if (!mkdtemp(base))
		skip_all("cannot create a temporary directory");
	chmod(base, 0755); /* the DENIED case runs as nobody */
	snprintf(root, sizeof(root), "%s/ok", base);
	if (fk_build_powercap(root, 0444) < 0 || fk_write_cpuinfo(root, "GenuineIntel", MODEL, 2, 2) < 0) {
		fk_rmtree(base);
		skip_all("cannot build the fake powercap tree");
	}
	test_composition(root);
	test_sampling(root);
	test_denied(base);
	test_absent(base);
	fk_rmtree(base);
	return done_testing();
}
