/* t-estimate.c - the estimate source on a fake /proc: when it appears, its label, its power model. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "fake-tree.h"
#include "nrg.h"
#include "tap.h"

#define MODEL "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz" /* 270 W in cpu-tdp.tsv */

static const struct nrg_source_status *source(nrg_session *s, const char *name)
{
	for (size_t i = 0; i < nrg_source_count(s); i++)
		if (strcmp(nrg_source_get(s, i)->name, name) == 0)
			return nrg_source_get(s, i);
	return NULL;
}

static nrg_session *open_root(const char *root, const char *sources, bool no_estimate)
{
	struct nrg_options o = { .sources = sources, .sysfs_root = root, .no_estimate = no_estimate };
	nrg_session *s = NULL;
	char err[256] = "";

	if (!ok(nrg_session_open(&s, &o, err, sizeof(err)) == 0 && s, "session opens on %s", root))
		printf("#   %s\n", err);
	return s;
}

/* The estimate's power after writing a /proc/stat with these counters. */
static struct nrg_value read_after(nrg_session *s, const char *root, uint64_t user, uint64_t sys, uint64_t idle,
				   uint64_t iowait, uint64_t steal, uint64_t guest)
{
	struct nrg_value v[4];

	memset(v, 0, sizeof(v));
	fk_write_stat(root, user, sys, idle, iowait, steal, guest);
	nrg_session_read(s, false, v);
	return v[0];
}

static void test_model(const char *root)
{
	nrg_session *s = open_root(root, "rapl,estimate", false);
	const struct nrg_source_status *st;
	const struct nrg_device_info *di;
	const struct nrg_channel_info *ci;
	struct nrg_value v;
	const double tdp = 2 * 270e6; /* two sockets */

	if (!s)
		return;
	st = source(s, "rapl");
	ok(st && st->state == NRG_SOURCE_ABSENT, "rapl ABSENT (no powercap in the fake root)");
	st = source(s, "estimate");
	if (!ok(st && st->state == NRG_SOURCE_FOUND, "estimate FOUND: %s %s", st ? st->reason : "",
		st ? st->fix : "")) {
		nrg_session_close(s);
		return;
	}
	is_i64(nrg_device_count(s), 1, "one device for all sockets");
	is_i64(nrg_channel_count(s), 1, "one channel");
	di = nrg_device_get(s, 0);
	is_str(di->id, "cpu0", "id cpu0");
	is_i64(di->kind, NRG_KIND_CPU, "kind CPU");
	is_i64(di->role, NRG_ROLE_COMPONENT, "role COMPONENT");
	ok(di->estimated, "labelled estimated");
	is_str(di->source, "estimate", "source estimate");
	is_str(di->name, MODEL, "name is the model");
	is_str(di->vendor, "intel", "vendor");
	is_i64(di->rated_uw, 540000000, "rated = 2 sockets x 270 W");
	ok(strstr(di->note, "estimated") && strstr(di->note, "not a measurement"), "note: '%s'", di->note);
	ci = nrg_channel_get(s, 0);
	is_str(ci->name, "power", "channel power");
	is_i64(ci->quantity, NRG_Q_POWER, "NRG_Q_POWER");
	ok(ci->preferred, "preferred");

	v = read_after(s, root, 1000, 500, 10000, 500, 0, 0);
	ok(!v.valid, "the first read only sets the baseline");
	/* +100 busy of +400 ticks: u = 0.25 */
	v = read_after(s, root, 1075, 525, 10250, 550, 0, 0);
	ok(v.valid && v.t_us > 0, "second read valid");
	is_near(v.v, tdp * (0.3 + 0.7 * 0.25), 1, "25 %% busy: TDP x (0.3 + 0.7 x 0.25)");
	/* +400 busy (user incl. guest, steal) of +400: u = 1 */
	v = read_after(s, root, 1075 + 300, 525 + 50, 10250, 550, 50, 100);
	is_near(v.v, tdp, 1, "100 %% busy: TDP");
	/* all idle; iowait counts as idle */
	v = read_after(s, root, 1075 + 300, 525 + 50, 10250 + 300, 550 + 100, 50, 100);
	is_near(v.v, tdp * 0.3, 1, "idle (iowait idle too): 0.3 x TDP");
	/* fewer ticks than CPUs (4): keep the last estimate, keep the baseline */
	v = read_after(s, root, 1075 + 302, 525 + 50, 10250 + 300, 550 + 100, 50, 100);
	ok(v.valid, "too few ticks: still valid");
	is_near(v.v, tdp * 0.3, 1, "too few ticks: repeats the last estimate");
	/* two more busy ticks: 4 busy of 4 since the kept baseline */
	v = read_after(s, root, 1075 + 304, 525 + 50, 10250 + 300, 550 + 100, 50, 100);
	is_near(v.v, tdp, 1, "the baseline was kept: 4 busy of 4 ticks");
	/* counters going backwards (a new /proc): start over, invalid */
	v = read_after(s, root, 10, 10, 10, 0, 0, 0);
	ok(!v.valid, "counters going backwards restart the baseline");
	nrg_session_close(s);
}

static void test_states(const char *base, const char *root)
{
	char other[PATH_MAX];
	const struct nrg_source_status *st;
	nrg_session *s;

	s = open_root(root, "estimate", true);
	if (s) {
		st = source(s, "estimate");
		ok(st && st->state == NRG_SOURCE_DISABLED, "no_estimate: DISABLED");
		ok(st && strstr(st->reason, "disabled by option"), "reason '%s'", st ? st->reason : "");
		is_i64(nrg_device_count(s), 0, "no device");
		nrg_session_close(s);
	}

	setenv("NRG_CPU_TDP_W", "100", 1);
	s = open_root(root, "estimate", false);
	if (s) {
		ok(nrg_device_count(s) == 1 && nrg_device_get(s, 0)->rated_uw == 200000000,
		   "NRG_CPU_TDP_W=100 overrides the table: 2 x 100 W");
		nrg_session_close(s);
	}
	setenv("NRG_CPU_TDP_W", "lots", 1);
	s = open_root(root, "estimate", false);
	if (s) {
		st = source(s, "estimate");
		ok(st && st->state == NRG_SOURCE_ERROR && nrg_device_count(s) == 0, "a bad NRG_CPU_TDP_W is an error");
		nrg_session_close(s);
	}
	unsetenv("NRG_CPU_TDP_W");

	/* An unknown model: no estimate rather than a made-up one. */
	snprintf(other, sizeof(other), "%s/unknown", base);
	fk_write_cpuinfo(other, "AuthenticAMD", "AMD Imaginary 1234 Processor", 1, 4);
	fk_write_stat(other, 1, 1, 1, 1, 0, 0);
	s = open_root(other, "estimate", false);
	if (s) {
		st = source(s, "estimate");
		ok(st && st->state == NRG_SOURCE_ABSENT, "unknown model: ABSENT");
		ok(st && strstr(st->reason, "CPU model 'AMD Imaginary 1234 Processor' not in cpu-tdp.tsv"), "reason '%s'",
		   st ? st->reason : "");
		ok(st && strstr(st->fix, "set [rated] cpu_watts in the config"), "fix '%s'", st ? st->fix : "");
		is_i64(nrg_device_count(s), 0, "no device");
		nrg_session_close(s);
	}

	/* With a measured CPU (rapl on a fake powercap tree) the estimate stays off. */
	snprintf(other, sizeof(other), "%s/withrapl", base);
	fk_build_powercap(other, 0444);
	fk_write_cpuinfo(other, "GenuineIntel", MODEL, 1, 2);
	fk_write_stat(other, 1, 1, 1, 1, 0, 0);
	s = open_root(other, "rapl,estimate", false);
	if (s) {
		st = source(s, "estimate");
		ok(st && st->state == NRG_SOURCE_DISABLED, "with rapl: estimate DISABLED");
		ok(st && strstr(st->reason, "a measured CPU source was found"), "reason '%s'", st ? st->reason : "");
		nrg_session_close(s);
	}
}

int main(void)
{
	char base[] = "/tmp/nrg-t-estimate-XXXXXX", root[PATH_MAX];

	if (!getenv("NRG_DATA_DIR"))
		skip_all("NRG_DATA_DIR is not set (run through meson test)");
	unsetenv("NRG_CPU_TDP_W");
	if (!mkdtemp(base))
		skip_all("cannot create a temporary directory");
	snprintf(root, sizeof(root), "%s/node", base);
	if (fk_write_cpuinfo(root, "GenuineIntel", MODEL, 2, 2) < 0 || fk_write_stat(root, 1, 1, 1, 1, 0, 0) < 0 ||
	    fk_mkdirs(root) < 0) {
		fk_rmtree(base);
		skip_all("cannot build the fake /proc");
	}
	test_model(root);
	test_states(base, root);
	fk_rmtree(base);
	return done_testing();
}
