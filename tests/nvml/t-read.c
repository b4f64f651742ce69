/* t-read.c - reading the NVML source against the fake's truth: ticks, units, lost GPUs, errors. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <time.h>

#include "nvml-test.h"

#define MAX_READS 400

typedef double (*truth_fn)(unsigned, unsigned long long, unsigned long long);
typedef unsigned long long (*init_fn)(void);

static truth_fn truth;
static init_fn init_time;

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Milliseconds since the fake's nvmlInit. */
static double rel_ms(uint64_t t)
{
	return ((double)t - (double)init_time()) / 1000.0;
}

struct series {
	int chan;
	size_t n;
	struct nrg_value v[MAX_READS];
	double rel[MAX_READS]; /* ms since nvmlInit at the read */
};

/* Read the session every `step_ms` until `until_ms` after nvmlInit, recording the listed channels. */
static size_t record(nrg_session *s, struct series **ser, size_t nser, unsigned step_ms, double until_ms,
		     int *bad_stamp, int *zero_values)
{
	size_t nch = nrg_channel_count(s), reads = 0;
	struct nrg_value *vals = calloc(nch, sizeof *vals);

	for (size_t k = 0; k < nser; k++)
		ser[k]->n = 0;
	while (vals && reads < MAX_READS) {
		uint64_t before = nrg_now_us(), after;

		nrg_session_read(s, false, vals);
		after = nrg_now_us();
		for (size_t c = 0; c < nch; c++) {
			const struct nrg_channel_info *ci = nrg_channel_get(s, c);

			if (!vals[c].valid)
				continue;
			if (vals[c].t_us < before || vals[c].t_us > after)
				(*bad_stamp)++;
			if (vals[c].v == 0 && (ci->quantity == NRG_Q_ENERGY || ci->quantity == NRG_Q_POWER))
				(*zero_values)++;
		}
		for (size_t k = 0; k < nser; k++) {
			if (ser[k]->chan < 0)
				continue;
			ser[k]->v[reads] = vals[ser[k]->chan];
			ser[k]->rel[reads] = rel_ms(before);
			ser[k]->n = reads + 1;
		}
		reads++;
		if (rel_ms(after) >= until_ms)
			break;
		sleep_ms(step_ms);
	}
	free(vals);
	return reads;
}

static size_t count_valid(const struct series *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += s->v[i].valid;
	return n;
}

/* Distance in µs from t to the nearest multiple of tick. */
static uint64_t to_boundary(uint64_t t, uint64_t tick)
{
	uint64_t r = t % tick;

	return r < tick - r ? r : tick - r;
}

static void default_run(void)
{
	static struct series e0, p0, i0, p2, e3, p3;
	struct series *all[] = { &e0, &p0, &i0, &p2, &e3, &p3 };
	int bad_stamp = 0, zero = 0, d0, d2, d3;
	nrg_session *s = open_nvml(NULL);

	if (!s)
		return;
	d0 = find_dev(s, "gpu0");
	d2 = find_dev(s, "gpu2");
	d3 = find_dev(s, "gpu3");
	e0.chan = find_chan(s, d0, "energy");
	p0.chan = find_chan(s, d0, "power");
	i0.chan = find_chan(s, d0, "power_instant");
	p2.chan = find_chan(s, d2, "power");
	e3.chan = find_chan(s, d3, "energy");
	p3.chan = find_chan(s, d3, "power");
	ok(e0.chan >= 0 && p0.chan >= 0 && i0.chan >= 0 && p2.chan >= 0 && e3.chan >= 0 && p3.chan >= 0,
	   "channels found");
	if (e0.chan < 0 || p0.chan < 0 || i0.chan < 0 || p2.chan < 0 || e3.chan < 0 || p3.chan < 0) {
		nrg_session_close(s);
		return;
	}

	size_t reads = record(s, all, 6, 20, 2000, &bad_stamp, &zero);
	ok(reads >= 10, "%zu reads over 2 s", reads);
	is_i64(bad_stamp, 0, "every value is stamped within its read");
	is_i64(zero, 0, "no energy or power value is 0");

	/* gpu0 energy counter: valid, monotonic, moves by whole ticks, matches the truth */
	is_i64(count_valid(&e0), e0.n, "gpu0 energy valid at every read");
	size_t steps = 0, small_steps = 0, backwards = 0, not_mj = 0;
	for (size_t i = 1; i < e0.n; i++) {
		int64_t d = e0.v[i].v - e0.v[i - 1].v;

		backwards += d < 0;
		if (d > 0) {
			steps++;
			/* one 100 ms tick at >= 200 W is >= 20 J; counter truncation costs < 1 mJ */
			small_steps += d < 20000000 - 1000;
		}
		not_mj += e0.v[i].v % 1000 != 0;
	}
	is_i64(backwards, 0, "gpu0 energy never goes backwards");
	ok(steps >= 5, "gpu0 energy advanced %zu times in 2 s", steps);
	is_i64(small_steps, 0, "gpu0 energy moves by whole 100 ms ticks only (>= 20 J each)");
	is_i64(not_mj, 0, "energy values are whole mJ converted to µJ");

	uint64_t tf = e0.v[0].t_us, tl = e0.v[e0.n - 1].t_us, tick = 100000;
	double got_j = (double)(e0.v[e0.n - 1].v - e0.v[0].v) * 1e-6;
	double want_j = truth(0, tf / tick * tick, tl / tick * tick);
	bool near_edge = to_boundary(tf, tick) < 2000 || to_boundary(tl, tick) < 2000;
	is_near(got_j, want_j, near_edge ? 45.0 : 0.01,
		"gpu0 counter delta equals the true energy between the ticks read (%.3f J)", want_j);
	is_near(got_j, truth(0, tf, tl), 85.0, "gpu0 counter delta is within two ticks of the true energy");

	/* power: µW in the square wave's range */
	size_t out_of_range = 0, hi = 0, lo = 0;
	for (size_t i = 0; i < p0.n; i++)
		out_of_range += !p0.v[i].valid || p0.v[i].v < 200000000 || p0.v[i].v > 400000000;
	is_i64(out_of_range, 0, "gpu0 average power valid and within 200-400 W (in µW)");
	out_of_range = 0;
	for (size_t i = 0; i < i0.n; i++) {
		out_of_range += !i0.v[i].valid || i0.v[i].v < 200000000 || i0.v[i].v > 400000000;
		hi += i0.v[i].valid && i0.v[i].v >= 390000000;
		lo += i0.v[i].valid && i0.v[i].v <= 210000000;
	}
	is_i64(out_of_range, 0, "gpu0 instant power valid and within 200-400 W");
	ok(hi > 0 && lo > 0, "gpu0 instant power sees both halves of the square wave (%zu high, %zu low)", hi, lo);

	/* gpu2 has no counter but its power reads */
	is_i64(count_valid(&p2), p2.n, "gpu2 power valid at every read");

	/* gpu3 is lost 1.5 s after nvmlInit */
	ok(e3.v[0].valid && p3.v[0].valid, "gpu3 readable at first (%.0f ms after init)", e3.rel[0]);
	ok(!e3.v[e3.n - 1].valid && !p3.v[p3.n - 1].valid, "gpu3 values invalid at the end (%.0f ms)",
	   e3.rel[e3.n - 1]);
	size_t back_to_life = 0, valid_late = 0;
	bool gone = false;
	for (size_t i = 0; i < e3.n; i++) {
		if (!e3.v[i].valid)
			gone = true;
		else if (gone)
			back_to_life++;
		valid_late += e3.v[i].valid && e3.rel[i] > 1600;
	}
	is_i64(back_to_life, 0, "a lost GPU stays lost");
	is_i64(valid_late, 0, "no gpu3 value after it was lost");
	const struct nrg_device_info *d = nrg_device_get(s, (size_t)d3);
	ok(d && !strncmp(d->note, "lost at ", 8), "gpu3 note says lost: '%s'", d ? d->note : "");
	d = nrg_device_get(s, (size_t)d0);
	ok(d && strncmp(d->note, "lost", 4) != 0, "gpu0 is not marked lost");

	/* slow gauges: read only with slow = true */
	size_t nch = nrg_channel_count(s);
	struct nrg_value *vals = calloc(nch, sizeof *vals);
	int cu = find_chan(s, d0, "util"), cc = find_chan(s, d0, "sm_clock"), ct = find_chan(s, d0, "temp"),
	    cl = find_chan(s, d0, "power_limit");
	if (vals && cu >= 0 && cc >= 0 && ct >= 0 && cl >= 0) {
		nrg_session_read(s, false, vals);
		ok(!vals[cu].valid && !vals[cc].valid && !vals[ct].valid && !vals[cl].valid,
		   "slow gauges left invalid on a fast read");
		ok(vals[e0.chan].valid, "the fast energy channel is read on a fast read");
		nrg_session_read(s, true, vals);
		ok(vals[cu].valid && (vals[cu].v == 30 || vals[cu].v == 100), "util %% read (%lld)",
		   (long long)vals[cu].v);
		ok(vals[cc].valid && (vals[cc].v == 1410 || vals[cc].v == 1980), "SM clock MHz (%lld)",
		   (long long)vals[cc].v);
		ok(vals[ct].valid && (vals[ct].v == 45000 || vals[ct].v == 65000), "temperature in m°C (%lld)",
		   (long long)vals[ct].v);
		ok(vals[cl].valid && vals[cl].v == 700000000, "enforced limit in µW (%lld)", (long long)vals[cl].v);
	} else {
		ok(0, "gauge channels present");
	}
	free(vals);
	nrg_session_close(s);
}

static void injected_errors(void)
{
	static struct series e0, i0, p0, p1;
	struct series *all[] = { &e0, &i0, &p0, &p1 };
	int bad_stamp = 0, zero = 0;
	nrg_session *s;

	fake_config("gpus 2\n"
		    "gpu 0 fail=energy@300- fail=instant@300-\n"
		    "gpu 1 energy=0 noinstant=1 fail=power@300-600\n");
	s = open_nvml(NULL);
	if (!s)
		return;
	int d0 = find_dev(s, "gpu0"), d1 = find_dev(s, "gpu1");
	e0.chan = find_chan(s, d0, "energy");
	i0.chan = find_chan(s, d0, "power_instant");
	p0.chan = find_chan(s, d0, "power");
	p1.chan = find_chan(s, d1, "power");
	if (!ok(e0.chan >= 0 && i0.chan >= 0 && p0.chan >= 0 && p1.chan >= 0, "channels found")) {
		nrg_session_close(s);
		return;
	}
	record(s, all, 4, 10, 900, &bad_stamp, &zero);
	is_i64(zero, 0, "failed reads never give 0");
	ok(e0.v[0].valid && !e0.v[e0.n - 1].valid, "gpu0 energy valid before the failure, invalid during it");
	ok(i0.v[0].valid && !i0.v[i0.n - 1].valid, "gpu0 instant power valid before, invalid during");
	is_i64(count_valid(&p0), p0.n, "gpu0 average power unaffected");

	/* gpu1 power: valid, then invalid inside [300, 600) ms, then valid again */
	size_t bad_in = 0, bad_out = 0, valid_after = 0;
	for (size_t i = 0; i < p1.n; i++) {
		bool inside = p1.rel[i] >= 310 && p1.rel[i] < 590;
		bool outside = p1.rel[i] < 290 || p1.rel[i] > 610;

		bad_in += inside && !p1.v[i].valid;
		bad_out += outside && !p1.v[i].valid;
		valid_after += p1.rel[i] > 610 && p1.v[i].valid;
	}
	ok(bad_in > 0, "gpu1 power invalid during the error window (%zu reads)", bad_in);
	is_i64(bad_out, 0, "gpu1 power valid outside the error window");
	ok(valid_after > 0, "gpu1 power recovers after the window: a transient error is not a loss");
	for (int i = 0; i < 2; i++) {
		const struct nrg_device_info *d = nrg_device_get(s, (size_t)(i ? d1 : d0));

		ok(d && strncmp(d->note, "lost", 4) != 0, "%s not marked lost by UNKNOWN errors",
		   d ? d->id : "?");
	}
	const struct nrg_device_info *d = nrg_device_get(s, (size_t)d1);
	ok(d && strstr(d->note, "no energy counter: energy from integrated power"), "gpu1 note: %s",
	   d ? d->note : "");
	nrg_session_close(s);
	fake_config(NULL);
}

static void all_lost(void)
{
	nrg_session *s;
	struct nrg_value *vals;
	int r = 0;

	fake_config("gpus 1\ngpu 0 lost_after_ms=100\n");
	s = open_nvml(NULL);
	if (!s)
		return;
	vals = calloc(nrg_channel_count(s), sizeof *vals);
	ok(vals && nrg_session_read(s, false, vals) == 0, "readable before the loss");
	while (vals && rel_ms(nrg_now_us()) < 150)
		sleep_ms(10);
	if (vals)
		r = nrg_session_read(s, true, vals);
	ok(r < 0, "reading a session whose only GPU is lost fails (%d)", r);
	size_t valid = 0;
	for (size_t c = 0; vals && c < nrg_channel_count(s); c++)
		valid += vals[c].valid;
	is_i64(valid, 0, "no valid value from a lost GPU");
	free(vals);
	nrg_session_close(s);
	fake_config(NULL);
}

int main(int argc, char **argv)
{
	test_init(argc, argv);
	truth = (truth_fn)fake_sym("fake_nvml_true_energy_j");
	init_time = (init_fn)fake_sym("fake_nvml_init_time_us");
	if (!truth || !init_time)
		skip_all("the fake NVML library's test hooks cannot be found");
	/* the hook itself: constant 300 W + square wave over whole periods = 300 W x time */
	is_near(truth(0, 0, 700000), 210.0, 1e-9, "truth: one whole period of gpu0 at 300 W average");
	is_near(truth(0, 0, 350000), 140.0, 1e-9, "truth: the high half-period at 400 W");
	ok(truth(99, 0, 1) != truth(99, 0, 1), "truth: NAN for a GPU that does not exist");
	default_run();
	injected_errors();
	all_lost();
	return done_testing();
}
