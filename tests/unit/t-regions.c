/* t-regions.c - regions in the report: matching, tree, units, energies, kinds, epochs, uncertainty. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "block.h"
#include "session.h"
#include "store.h"
#include "tap.h"

#define T0 7000000000ull /* the run's start on a synthetic monotonic clock, µs */
#define S(x) ((uint64_t)((x) * 1e6 + 0.5))
#define CPU_W 40.0
#define NODE_EXTRA_W 60.0 /* what the node meter sees beyond the GPU and the CPU */

/* The GPU's true power (W), piecewise constant over seconds since T0. */
static const struct seg { double a, b, w; } gpu_segs[] = {
	{ -3, 1, 50 }, { 1, 3, 400 }, { 3, 5, 300 }, { 5, 7, 320 }, { 7, 9, 250 }, { 9, 10, 300 },
	{ 10, 12, 200 }, { 12, 13, 50 }, { 13, 15, 150 }, { 15, 18, 350 }, { 18, 23, 50 },
};

static double gpu_w(double t)
{
	for (size_t i = 0; i < sizeof gpu_segs / sizeof *gpu_segs; i++)
		if (t >= gpu_segs[i].a && t < gpu_segs[i].b)
			return gpu_segs[i].w;
	return 50;
}

/* True GPU energy (J) over [a, b] seconds. */
static double gpu_j(double a, double b)
{
	double e = 0;

	for (size_t i = 0; i < sizeof gpu_segs / sizeof *gpu_segs; i++) {
		double lo = a > gpu_segs[i].a ? a : gpu_segs[i].a, hi = b < gpu_segs[i].b ? b : gpu_segs[i].b;

		if (hi > lo)
			e += (hi - lo) * gpu_segs[i].w;
	}
	return e;
}

/* True node energy (J) over [a, b]: GPU + CPU (+ the meter's extra when there is one). */
static double node_j(double a, double b, bool meter)
{
	return gpu_j(a, b) + (CPU_W + (meter ? NODE_EXTRA_W : 0)) * (b - a);
}

static nrg_store *st;

static void store_channel(int64_t run, int chan, const struct nrg_channel_info *ci, const uint64_t *t,
			  const int64_t *v, size_t n)
{
	struct nrg_block *b = calloc(1, sizeof *b);
	static uint8_t buf[1 << 16];
	struct nrg_block_row row;

	nrg_block_init(b, ci, 400000);
	nrg_store_batch_begin(st);
	for (size_t i = 0; i < n; i++)
		if (nrg_block_push(b, t[i], v[i], true)) {
			nrg_block_encode(b, chan, buf, sizeof buf, &row);
			nrg_store_put_block(st, run, &row);
			nrg_block_next(b);
		}
	if (nrg_block_encode(b, chan, buf, sizeof buf, &row))
		nrg_store_put_block(st, run, &row);
	nrg_store_batch_commit(st);
	free(b);
}

static struct nrg_device_info dev(const char *id, enum nrg_kind kind, enum nrg_role role)
{
	struct nrg_device_info d = { .kind = kind, .role = role, .parent = -1, .visible = true,
				     .rated_uw = -1, .limit_min_uw = -1, .limit_max_uw = -1, .limit_default_uw = -1 };

	snprintf(d.id, sizeof d.id, "%s", id);
	snprintf(d.source, sizeof d.source, "test");
	return d;
}

static struct nrg_event evs[256];
static size_t nev;

static void ev(double t, enum nrg_event_type type, int32_t pid, int32_t tid, const char *name,
	       enum nrg_region_kind kind, int64_t epoch, int64_t step, double units, const char *unit)
{
	struct nrg_event *e = &evs[nev++];

	*e = (struct nrg_event){ .t_us = T0 + S(t), .pid = pid, .tid = tid, .type = type, .kind = kind,
				 .epoch = epoch, .step = step, .units = units };
	snprintf(e->name, sizeof e->name, "%s", name ? name : "");
	snprintf(e->unit, sizeof e->unit, "%s", unit ? unit : "");
}

#define BEGIN(t, pid, tid, name, kind, epoch, step) \
	ev(t, NRG_EV_BEGIN, pid, tid, name, NRG_REGION_##kind, epoch, step, 0, NULL)
#define END(t, pid, tid, name) ev(t, NRG_EV_END, pid, tid, name, NRG_REGION_OTHER, -1, -1, 0, NULL)
#define UNITS(t, pid, tid, n, unit) ev(t, NRG_EV_UNITS, pid, tid, NULL, NRG_REGION_OTHER, -1, -1, n, unit)

/* The workload's events: see the region indices in main(). */
static void events(void)
{
	nev = 0;
	BEGIN(1.0, 100, 100, "train", TRAIN, -1, -1);
	for (int e = 1; e <= 4; e++) {
		double s = 1 + 2.0 * (e - 1);

		BEGIN(s, 100, 100, "epoch", TRAIN, e, -1);
		for (int b = 0; b < 4; b++) {
			BEGIN(s + 0.5 * b, 100, 100, "batch", TRAIN, e, b);
			/* epoch 4's units come from the loader thread: same pid, other tid */
			UNITS(s + 0.5 * b + 0.25, 100, e == 4 ? 101 : 100, 16, "samples");
			END(s + 0.5 * (b + 1), 100, 100, "batch");
		}
		END(s + 2, 100, 100, "epoch");
	}
	BEGIN(9.2, 100, 101, "prefetch", OTHER, -1, -1);
	END(9.4, 100, 101, "prefetch");
	ev(9.5, NRG_EV_MARK, 100, 100, "checkpoint", NRG_REGION_OTHER, -1, -1, 0, NULL);
	END(10.0, 100, 100, "train");
	BEGIN(10.0, 100, 100, "eval", EVAL, -1, -1);
	UNITS(10.1, 100, 100, 1000, "samples");
	BEGIN(10.5, 100, 100, "eval-step", EVAL, -1, 0);
	UNITS(10.7, 100, 100, 10, "samples");
	END(11.0, 100, 100, "eval-step");
	END(11.0, 100, 100, "nothing"); /* matches no region */
	END(12.0, 100, 100, "eval");
	BEGIN(12.2, 300, 300, "stage", OTHER, -1, -1); /* `nrg mark` from a shell: begin ... */
	END(12.8, 301, 301, "stage");                  /* ... and end from another process */
	BEGIN(13.0, 100, 100, "infer", INFER, -1, -1);
	UNITS(14.0, 100, 100, 5000, "tokens");
	END(15.0, 100, 100, "infer");
	BEGIN(15.0, 201, 201, "rank", TRAIN, -1, -1); /* two ranks, overlapping */
	BEGIN(15.5, 202, 202, "rank", TRAIN, -1, -1);
	END(17.5, 201, 201, "rank"); /* closes rank 0's, though rank 1's is the innermost open */
	END(18.0, 202, 202, "rank");
	BEGIN(18.2, 100, 100, "blip", OTHER, -1, -1); /* 50 ms: shorter than the GPU counter's 100 ms */
	END(18.25, 100, 100, "blip");
	BEGIN(19.0, 100, 100, "tail", OTHER, -1, -1); /* never closed */
}

enum { R_TRAIN = 0, R_PREFETCH = 21, R_EVAL, R_EVAL_STEP, R_STAGE, R_INFER, R_RANK0, R_RANK1, R_BLIP, R_TAIL,
       N_REGIONS };
static int r_epoch(int e) { return 1 + (e - 1) * 5; }
static int r_batch(int e, int b) { return r_epoch(e) + 1 + b; }

/* Store a 20 s run: gpu0 (100 ms counter + power), cpu0 (1 ms counter), and with `meter` a node
 * meter (power). */
static int64_t make_run(bool meter)
{
	struct nrg_device_info devs[3] = { dev("gpu0", NRG_KIND_GPU, NRG_ROLE_COMPONENT),
					   dev("cpu0", NRG_KIND_CPU, NRG_ROLE_COMPONENT),
					   dev("node", NRG_KIND_NODE, NRG_ROLE_WHOLE) };
	struct nrg_channel_info chans[4] = {
		{ .device = 0, .quantity = NRG_Q_ENERGY, .name = "energy", .update_us = 100000 },
		{ .device = 0, .quantity = NRG_Q_POWER, .name = "power", .preferred = true },
		{ .device = 1, .quantity = NRG_Q_ENERGY, .name = "energy", .update_us = 1000 },
		{ .device = 2, .quantity = NRG_Q_POWER, .name = "power", .preferred = true },
	};
	nrg_session se = { .dev = devs, .n_dev = meter ? 3 : 2, .chan = chans, .n_chan = meter ? 4 : 3 };
	struct nrg_run_info ri = { .exit_status = -1 };
	size_t cap = 30000, n;
	uint64_t *t = calloc(cap, sizeof *t);
	int64_t *v = calloc(cap, sizeof *v);
	int64_t run;

	snprintf(ri.state, sizeof ri.state, "running");
	if (nrg_store_run_create(st, &se, &ri, &run) < 0)
		return -1;
	/* gpu0 counter: updated every 100 ms at a phase of 37 ms, read every 20 ms */
	n = 0;
	for (uint64_t x = T0 - S(2); x <= T0 + S(22); x += 20000, n++) {
		uint64_t tick = x < T0 + 37000 ? x : T0 + 37000 + (x - T0 - 37000) / 100000 * 100000;

		t[n] = x;
		v[n] = 5000000000ll + (int64_t)(gpu_j(-3, ((double)tick - (double)T0) * 1e-6) * 1e6);
	}
	store_channel(run, 0, &chans[0], t, v, n);
	for (size_t i = 0; i < n; i++)
		v[i] = (int64_t)(gpu_w(((double)t[i] - (double)T0) * 1e-6) * 1e6);
	store_channel(run, 1, &chans[1], t, v, n);
	/* cpu0: a 1 ms counter at 40 W, read every 10 ms */
	n = 0;
	for (uint64_t x = T0 - S(2); x <= T0 + S(22); x += 10000, n++) {
		t[n] = x;
		v[n] = (int64_t)((double)(x - (T0 - S(3))) * CPU_W);
	}
	store_channel(run, 2, &chans[2], t, v, n);
	if (meter) {
		for (size_t i = 0; i < n; i++)
			v[i] = (int64_t)((gpu_w(((double)t[i] - (double)T0) * 1e-6) + CPU_W + NODE_EXTRA_W) * 1e6);
		store_channel(run, 3, &chans[3], t, v, n);
	}
	events();
	nrg_store_put_events(st, run, evs, nev);
	nrg_store_run_finish(st, run, T0, T0 + S(20), 1700000000000000ll, 0);
	free(t);
	free(v);
	return run;
}

/* Region energy (J) within 2% of the truth, and within the region's own uncertainty bound. */
static void near_truth(const struct nrg_report *r, int i, double a, double b, bool meter)
{
	double want = node_j(a, b, meter), got = r->regions[i].energy_j;

	is_near(got / want, 1.0, 0.02, "%s %d: %.2f J vs %.2f J true", r->regions[i].name, i, got, want);
	ok(fabs(got - want) <= r->regions[i].uncertainty_j, "%s %d: error %.2f J within its bound %.2f J",
	   r->regions[i].name, i, fabs(got - want), r->regions[i].uncertainty_j);
}

int main(void)
{
	char path[] = "/tmp/nrg-t-regions-XXXXXX", db[64], err[256] = "";
	struct nrg_report *r = NULL;
	struct nrg_epoch_summary es;
	int64_t run;
	double uj;

	if (!mkdtemp(path))
		return 1;
	snprintf(db, sizeof db, "%s/t.db", path);
	if (nrg_store_open(&st, db, err, sizeof err) < 0) {
		printf("# %s\n", err);
		return 1;
	}

	/* ---- no node meter: the node is the sum of the components ---- */
	run = make_run(false);
	ok(run > 0, "run stored");
	ok(nrg_report_build(st, run, &r, err, sizeof err) == 0, "report built (%s)", err);
	if (!r)
		return done_testing();
	is_i64(r->n_regions, N_REGIONS, "every BEGIN is a region");
	if (r->n_regions != N_REGIONS)
		return done_testing();

	/* the tree */
	is_str(r->regions[R_TRAIN].name, "train", "regions in start order");
	is_i64(r->regions[R_TRAIN].parent, -1, "train is top-level");
	is_i64(r->regions[r_epoch(3)].parent, R_TRAIN, "an epoch's parent is train");
	is_i64(r->regions[r_epoch(3)].depth, 1, "at depth 1");
	is_i64(r->regions[r_batch(3, 2)].parent, r_epoch(3), "a batch's parent is its epoch");
	is_i64(r->regions[r_batch(3, 2)].depth, 2, "at depth 2");
	is_i64(r->regions[r_batch(3, 2)].step, 2, "with its step");
	is_i64(r->regions[R_PREFETCH].parent, R_TRAIN, "another thread's region nests in its process's open one");
	is_i64(r->regions[R_EVAL_STEP].parent, R_EVAL, "eval-step in eval");
	is_i64(r->regions[R_RANK1].parent, -1, "another process's region does not nest");
	is_near(r->regions[R_RANK0].end_s, 17.5, 1e-9, "END closes the same process's region, not the innermost");
	is_near(r->regions[R_RANK1].end_s, 18.0, 1e-9, "and the other rank's at its own END");
	ok(r->regions[R_STAGE].closed, "a region begun and ended by two processes closes");
	is_near(r->regions[R_STAGE].end_s, 12.8, 1e-9, "at the other process's END");
	ok(!r->regions[R_TAIL].closed, "a region never ended is not closed");
	is_near(r->regions[R_TAIL].end_s, 20.0, 1e-9, "and ends with the run");
	is_i64(r->events_unmatched, 1, "an END matching nothing is counted");
	is_i64(r->n_marks, 1, "one mark");
	if (r->n_marks == 1) {
		is_str(r->marks[0].name, "checkpoint", "the mark's name");
		is_near(r->marks[0].t_s, 9.5, 1e-9, "the mark's time");
	}

	/* units */
	is_near(r->regions[r_batch(2, 1)].units, 16, 1e-9, "a batch's own units");
	is_near(r->regions[r_batch(4, 1)].units, 16, 1e-9, "units from another thread of the process");
	is_near(r->regions[r_epoch(2)].units, 64, 1e-9, "an epoch without units of its own sums its batches");
	is_near(r->regions[R_TRAIN].units, 256, 1e-9, "and train sums its epochs");
	is_str(r->regions[R_TRAIN].unit, "samples", "in the children's unit");
	is_near(r->regions[R_EVAL].units, 1000, 1e-9, "a region with units of its own keeps them");
	is_near(r->regions[R_EVAL_STEP].units, 10, 1e-9, "the innermost open region gets the units");
	is_str(r->regions[R_INFER].unit, "tokens", "infer counts tokens");
	ok(!r->regions[R_BLIP].has_units, "a region without units has none (not 0)");

	/* energies */
	near_truth(r, R_TRAIN, 1, 10, false);
	near_truth(r, r_epoch(1), 1, 3, false);
	near_truth(r, r_batch(3, 2), 6, 6.5, false);
	near_truth(r, R_EVAL, 10, 12, false);
	near_truth(r, R_INFER, 13, 15, false);
	near_truth(r, R_RANK0, 15, 17.5, false);
	near_truth(r, R_STAGE, 12.2, 12.8, false);
	near_truth(r, R_TAIL, 19, 20, false);
	ok(nrg_channel_energy_between(st, run, 0, T0 + S(5), T0 + S(7), &uj) == 0, "gpu0 energy over epoch 3");
	is_near(r->regions[r_epoch(3)].devices[0].energy_j, uj * 1e-6, 1e-6,
		"a region's device energy is the channel's energy_between (cached decode, same numbers)");
	is_near(r->regions[r_epoch(3)].energy_j,
		r->regions[r_epoch(3)].devices[0].energy_j + r->regions[r_epoch(3)].devices[1].energy_j, 1e-9,
		"no meter: the region's energy is the components' sum");
	is_near(r->regions[R_TRAIN].devices[0].peak_power_w, 400, 1e-6, "the GPU's peak in train");
	is_near(r->regions[R_EVAL].devices[0].peak_power_w, 200, 1e-6, "and in eval");
	is_near(r->regions[R_TRAIN].edp_js, r->regions[R_TRAIN].energy_j * 9, 1e-6, "EDP = energy x duration");
	is_near(r->regions[R_INFER].energy_j / r->regions[R_INFER].units, node_j(13, 15, false) / 5000, 0.001,
		"J per token");

	/* uncertainty */
	ok(r->regions[R_BLIP].uncertain, "a 50 ms region on a 100 ms counter is uncertain: %s", r->regions[R_BLIP].why);
	ok(strstr(r->regions[R_BLIP].why, "gpu0") != NULL, "and says which sensor");
	ok(fabs(r->regions[R_BLIP].energy_j - node_j(18.2, 18.25, false)) <= r->regions[R_BLIP].uncertainty_j,
	   "its error (%.3f J) is within the bound (%.3f J)", fabs(r->regions[R_BLIP].energy_j - node_j(18.2, 18.25, false)),
	   r->regions[R_BLIP].uncertainty_j);
	ok(!r->regions[r_batch(1, 0)].uncertain, "a 500 ms batch is not uncertain (%s)", r->regions[r_batch(1, 0)].why);
	ok(!r->regions[R_TRAIN].uncertain, "nor train");
	ok(r->regions[R_TRAIN].uncertainty_j > 0 && r->regions[R_TRAIN].uncertainty_j < 0.02 * r->regions[R_TRAIN].energy_j,
	   "train's bound is small (%.2f J)", r->regions[R_TRAIN].uncertainty_j);

	/* totals by kind: overlapping ranks counted once */
	ok(r->has_kinds, "kinds");
	is_near(r->kind_j[NRG_REGION_TRAIN] / (node_j(1, 10, false) + node_j(15, 18, false)), 1, 0.01,
		"train = train region + the union of the two ranks (%.1f J)", r->kind_j[NRG_REGION_TRAIN]);
	is_near(r->kind_j[NRG_REGION_EVAL], r->regions[R_EVAL].energy_j, 1e-6, "eval");
	is_near(r->kind_j[NRG_REGION_INFER], r->regions[R_INFER].energy_j, 1e-6, "infer");
	is_near(r->kind_j[NRG_REGION_OTHER],
		r->regions[R_STAGE].energy_j + r->regions[R_BLIP].energy_j + r->regions[R_TAIL].energy_j, 1e-6,
		"other: top-level only (prefetch is inside train)");
	double outside = node_j(0, 1, false) + node_j(12, 12.2, false) + node_j(12.8, 13, false) +
			 node_j(18, 18.2, false) + node_j(18.25, 19, false);
	is_near(r->unattributed_j, outside, 0.01 * r->node_j, "unattributed: %.1f J (true %.1f J)", r->unattributed_j,
		outside);
	is_near(r->unattributed_j + r->kind_j[0] + r->kind_j[1] + r->kind_j[2] + r->kind_j[3], r->node_j, 1e-6,
		"kinds + unattributed = node (no two kinds overlap here)");

	/* epochs */
	is_i64(r->n_epochs, 4, "four epochs (batches carry the epoch too, counted once)");
	if (r->n_epochs == 4) {
		is_i64(r->epochs[0].epoch, 1, "epoch 1 first");
		is_near(r->epochs[2].energy_j, r->regions[r_epoch(3)].energy_j, 1e-6, "epoch 3's energy is its region's");
		is_near(r->epochs[2].units, 64, 1e-9, "with its samples");
	}
	ok(nrg_report_epoch_summary(r, 0, 0, &es) == 0, "summary of all epochs");
	is_i64(es.n, 4, "four");
	is_near(es.mean_j / ((node_j(1, 9, false)) / 4), 1, 0.01, "mean of all (%.1f J)", es.mean_j);
	ok(nrg_report_epoch_summary(r, 1, 1, &es) == 0, "summary skipping the first and the last");
	is_i64(es.n, 2, "two left");
	is_i64(es.first, 2, "from epoch 2");
	is_i64(es.last, 3, "to epoch 3");
	is_near(es.mean_j / ((node_j(3, 7, false)) / 2), 1, 0.01, "mean of epochs 2 and 3 (%.1f J)", es.mean_j);
	is_near(es.stddev_j, 28.28, 5, "their stddev (%.2f J)", es.stddev_j);
	ok(es.has_units, "per sample");
	is_near(es.j_per_unit / (node_j(3, 7, false) / 128), 1, 0.01, "J per sample (%.3f)", es.j_per_unit);
	ok(nrg_report_epoch_summary(r, 2, 2, &es) == -ENODATA, "skipping every epoch leaves nothing");
	nrg_report_free(r);
	r = NULL;

	/* ---- with a node meter: regions take the meter's energy ---- */
	run = make_run(true);
	ok(nrg_report_build(st, run, &r, err, sizeof err) == 0, "report with a node meter");
	if (r && r->n_regions == N_REGIONS) {
		ok(r->node_measured, "node measured");
		near_truth(r, R_TRAIN, 1, 10, true);
		is_near(r->regions[R_EVAL].energy_j, r->regions[R_EVAL].devices[2].energy_j, 1e-9,
			"the region's energy is the meter's");
		is_near(r->kind_j[NRG_REGION_TRAIN] / (node_j(1, 10, true) + node_j(15, 18, true)), 1, 0.01,
			"kinds from the meter");
	}
	nrg_report_free(r);

	nrg_store_close(st);
	unlink(db);
	char aux[80];
	snprintf(aux, sizeof aux, "%s-wal", db);
	unlink(aux);
	snprintf(aux, sizeof aux, "%s-shm", db);
	unlink(aux);
	rmdir(path);
	return done_testing();
}
