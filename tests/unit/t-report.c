/* t-report.c - the report's energy reconstruction on synthetic stored runs with known truth. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "block.h"
#include "session.h"
#include "store.h"
#include "tap.h"

#define T0 5000000000ull /* synthetic monotonic origin, µs */

/* True power (µW) at time t: 250 W with a 100 W square wave of 700 ms period. */
static double truth_power(uint64_t t)
{
	return ((t - T0) % 700000 < 350000 ? 350e6 : 250e6);
}

/* True energy (µJ) from T0 to t, exactly. */
static double truth_energy(uint64_t t)
{
	uint64_t d = t - T0, periods = d / 700000, rem = d % 700000;
	double e = (double)periods * (350e6 * 0.35 + 250e6 * 0.35);

	e += rem < 350000 ? 350e6 * (double)rem * 1e-6 : 350e6 * 0.35 + 250e6 * (double)(rem - 350000) * 1e-6;
	return e;
}

struct sim {
	uint64_t *t;
	int64_t *v;
	bool *valid;
	size_t n, cap;
};

static void add(struct sim *s, uint64_t t, int64_t v, bool valid)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->t = realloc(s->t, s->cap * sizeof *s->t);
		s->v = realloc(s->v, s->cap * sizeof *s->v);
		s->valid = realloc(s->valid, s->cap * sizeof *s->valid);
	}
	s->t[s->n] = t;
	s->v[s->n] = v;
	s->valid[s->n] = valid;
	s->n++;
}

/* Sampling instants: every interval (with a little jitter) from a, and every 1 ms for
 * dense_us after each of the brackets b0 and b1 (what nrg run's settle does). */
static void instants(struct sim *s, uint64_t a, uint64_t z, uint64_t interval, uint64_t b0, uint64_t b1,
		     uint64_t dense_us)
{
	uint64_t next = a;

	for (uint64_t t = a; t <= z; t += 1000) {
		bool dense = (t >= b0 && t < b0 + dense_us) || (t >= b1 && t < b1 + dense_us);

		if (t == b0 || t == b1 || dense || t >= next) {
			add(s, t + (t >= next ? (t / 1000) % 3 * 100 : 0), 0, true);
			if (t >= next)
				next += interval;
		}
	}
}

static nrg_store *st;

static void store_channel(int64_t run, int chan, const struct nrg_channel_info *ci, const struct sim *s)
{
	struct nrg_block *b = calloc(1, sizeof *b);
	static uint8_t buf[1 << 16];
	struct nrg_block_row row;

	nrg_block_init(b, ci, 400000);
	nrg_store_batch_begin(st);
	for (size_t i = 0; i < s->n; i++)
		if (nrg_block_push(b, s->t[i], s->v[i], s->valid[i])) {
			nrg_block_encode(b, chan, buf, sizeof buf, &row);
			nrg_store_put_block(st, run, &row);
			nrg_block_next(b);
		}
	if (nrg_block_encode(b, chan, buf, sizeof buf, &row))
		nrg_store_put_block(st, run, &row);
	nrg_store_batch_commit(st);
	free(b);
}

static struct nrg_device_info dev(const char *id, enum nrg_kind kind)
{
	struct nrg_device_info d = { .kind = kind, .role = NRG_ROLE_COMPONENT, .parent = -1, .visible = true,
				     .rated_uw = -1, .limit_min_uw = -1, .limit_max_uw = -1, .limit_default_uw = -1 };

	snprintf(d.id, sizeof d.id, "%s", id);
	snprintf(d.source, sizeof d.source, "test");
	return d;
}

int main(void)
{
	char path[] = "/tmp/nrg-t-report-XXXXXX", db[64], err[256];
	struct nrg_device_info devs[4];
	struct nrg_channel_info chans[5] = { 0 };
	nrg_session se = { 0 };
	struct nrg_run_info ri = { .exit_status = -1 };
	int64_t run;
	const uint64_t b0 = T0 + 1234567, b1 = b0 + 3000000; /* a 3 s run */
	double uj, want;
	struct sim gpu = { 0 }, rapl = { 0 }, pw = { 0 }, lost = { 0 };

	if (!mkdtemp(path))
		return 1;
	snprintf(db, sizeof db, "%s/t.db", path);
	if (nrg_store_open(&st, db, err, sizeof err) < 0) {
		printf("# %s\n", err);
		return 1;
	}
	devs[0] = dev("gpu0", NRG_KIND_GPU);
	devs[1] = dev("cpu0", NRG_KIND_CPU);
	devs[2] = dev("gpu1", NRG_KIND_GPU);
	devs[3] = dev("gpu2", NRG_KIND_GPU);
	chans[0] = (struct nrg_channel_info){ .device = 0, .quantity = NRG_Q_ENERGY, .name = "energy", .update_us = 100000 };
	chans[1] = (struct nrg_channel_info){ .device = 1, .quantity = NRG_Q_ENERGY, .name = "energy",
					      .range_uj = 262143328850ull, .update_us = 1000 };
	chans[2] = (struct nrg_channel_info){ .device = 2, .quantity = NRG_Q_POWER, .name = "power", .preferred = true };
	chans[3] = (struct nrg_channel_info){ .device = 3, .quantity = NRG_Q_ENERGY, .name = "energy", .update_us = 100000 };
	chans[4] = (struct nrg_channel_info){ .device = 0, .quantity = NRG_Q_POWER, .name = "power", .preferred = true,
					      .window_us = 25000, .update_us = 100000 };
	se.dev = devs;
	se.n_dev = 4;
	se.chan = chans;
	se.n_chan = 5;
	ri.command_json = NULL;
	snprintf(ri.state, sizeof ri.state, "running");
	ok(nrg_store_run_create(st, &se, &ri, &run) == 0, "run created");

	/* gpu0: an NVML-like counter in mJ, updated every 100 ms at a phase of 37 ms, non-zero start,
	 * sampled every 100 ms with dense sampling after both brackets. */
	instants(&gpu, T0 - 2000000, b1 + 2000000, 100000, b0, b1, 300000);
	for (size_t i = 0; i < gpu.n; i++) {
		uint64_t t = gpu.t[i], tick = T0 + 37000 + (t - T0 - 37000) / 100000 * 100000;

		if (t < T0 + 37000)
			tick = T0;
		gpu.v[i] = 987654321000ll + (int64_t)(truth_energy(tick) / 1000) * 1000;
	}
	/* the same GPU's 25 ms-window power, sampled with the counter */
	for (size_t i = 0; i < gpu.n; i++)
		add(&pw, gpu.t[i], (int64_t)truth_power(gpu.t[i]), true);
	store_channel(run, 0, &chans[0], &gpu);
	store_channel(run, 4, &chans[4], &pw);
	ok(nrg_channel_energy_between(st, run, 0, b0, b1, &uj) == 0, "gpu0 counter energy");
	want = truth_energy(b1) - truth_energy(b0);
	is_near(uj / want, 1.0, 0.005, "a 100 ms-tick counter gives the bracket's energy within 0.5%% (%.3f J vs %.3f J)",
		uj * 1e-6, want * 1e-6);

	/* cpu0: RAPL-like, 1 ms updates, 32-bit wrap during the run, sampled every 10 ms. */
	instants(&rapl, T0, b1 + 500000, 10000, b0, b1, 300000);
	for (size_t i = 0; i < rapl.n; i++) {
		uint64_t tick = rapl.t[i] / 1000 * 1000;
		double e = truth_energy(tick) / 4 + 262143328850.0 - 400000000.0; /* wraps after ~1.6 s */

		rapl.v[i] = (int64_t)((uint64_t)e % 262143328850ull);
	}
	store_channel(run, 1, &chans[1], &rapl);
	ok(nrg_channel_energy_between(st, run, 1, b0, b1, &uj) == 0, "cpu0 counter energy");
	is_near(uj / (want / 4), 1.0, 0.005, "a wrapping 1 ms counter within 0.5%% (%.3f J vs %.3f J)", uj * 1e-6,
		want / 4 * 1e-6);

	/* gpu1: power only (a GPU without an energy counter), a ramp integrates exactly. */
	for (uint64_t t = b0 - 500000; t <= b1 + 500000; t += 100000)
		add(&lost, t, (int64_t)(100e6 + (double)((int64_t)t - (int64_t)b0) * 20.0), true); /* +20 W/s */
	store_channel(run, 2, &chans[2], &lost);
	ok(nrg_channel_energy_between(st, run, 2, b0, b1, &uj) == 0, "gpu1 power energy");
	is_near(uj, 100e6 * 3 + 20.0 * 3e6 * 3 / 2, 1, "a linear power ramp integrates exactly (trapezoid)");

	/* gpu2: the counter is lost 1.5 s into the run: the energy up to then, and coverage shows it. */
	struct sim g2 = { 0 };
	for (size_t i = 0; i < gpu.n; i++)
		add(&g2, gpu.t[i], gpu.v[i], gpu.t[i] < b0 + 1500000);
	store_channel(run, 3, &chans[3], &g2);
	ok(nrg_store_run_finish(st, run, b0, b1, 1700000000000000ll, 0) == 0, "run finished");

	struct nrg_report *rep = NULL;
	ok(nrg_report_build(st, run, &rep, err, sizeof err) == 0, "report built");
	if (rep) {
		is_i64(rep->n_devices, 4, "four devices");
		is_i64(rep->devices[0].method, NRG_METHOD_COUNTER, "gpu0 method is counter");
		ok(rep->devices[0].has_power_energy, "gpu0 also has integrated power");
		is_near(rep->devices[0].power_energy_j / rep->devices[0].energy_j, 1.0, 0.05,
			"integrated power agrees with the counter");
		is_near(rep->devices[0].sensor_coverage, 0.25, 1e-9, "25 ms window per 100 ms: 25%% observed");
		is_i64(rep->devices[2].method, NRG_METHOD_POWER, "gpu1 method is power");
		ok(rep->devices[3].has_energy && rep->devices[3].coverage < 0.6 && rep->devices[3].coverage > 0.4,
		   "a lost GPU covers about half the run (%.2f)", rep->devices[3].coverage);
		ok(rep->devices[3].why[0] != 0, "and the report says why: %s", rep->devices[3].why);
		is_near(rep->devices[3].energy_j * 1e6 / (truth_energy(b0 + 1500000) - truth_energy(b0)), 1.0, 0.06,
			"its energy is what it drew until lost");
		is_near(rep->gpu_j, rep->devices[0].energy_j + rep->devices[2].energy_j + rep->devices[3].energy_j, 1e-6,
			"GPU sum");
		ok(!rep->has_remainder, "no node meter: the remainder is unmeasured, not 0");
		is_near(rep->duration_s, 3.0, 1e-9, "duration from the brackets");
	}
	nrg_report_free(rep);
	nrg_store_close(st);
	unlink(db);
	char wal[80];
	snprintf(wal, sizeof wal, "%s-wal", db);
	unlink(wal);
	snprintf(wal, sizeof wal, "%s-shm", db);
	unlink(wal);
	rmdir(path);
	free(gpu.t); free(gpu.v); free(gpu.valid);
	free(rapl.t); free(rapl.v); free(rapl.valid);
	free(pw.t); free(pw.v); free(pw.valid);
	free(lost.t); free(lost.v); free(lost.valid);
	free(g2.t); free(g2.v); free(g2.valid);
	return done_testing();
}
