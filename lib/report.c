/* report.c - a run's report from its stored samples: per-device energy, power, coverage, composition. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

#define NEIGHBOURHOOD_US 5000000u /* samples loaded either side of a point evaluation */

/* Decoded readings of one channel over a time span. */
struct series {
	enum nrg_quantity q;
	size_t n, cap;
	uint64_t *t;
	int64_t *v;
	bool *valid;
	double *cum;
};

static void series_free(struct series *s)
{
	free(s->t);
	free(s->v);
	free(s->valid);
	free(s->cum);
	memset(s, 0, sizeof *s);
}

static int series_add_block(const struct nrg_block_row *row, void *ctx)
{
	struct series *s = ctx;
	int n;

	if (s->n + row->n > s->cap) {
		size_t cap = (s->n + row->n) * 2;
		uint64_t *t = realloc(s->t, cap * sizeof *t);
		int64_t *v = t ? realloc(s->v, cap * sizeof *v) : NULL;
		bool *va = v ? realloc(s->valid, cap * sizeof *va) : NULL;
		double *c = va ? realloc(s->cum, cap * sizeof *c) : NULL;

		if (t)
			s->t = t;
		if (v)
			s->v = v;
		if (va)
			s->valid = va;
		if (!c)
			return -ENOMEM;
		s->cum = c;
		s->cap = cap;
	}
	n = nrg_block_decode(row, s->q, s->t + s->n, s->v + s->n, s->valid + s->n, s->cum + s->n,
			     s->cap - s->n);
	if (n < 0)
		return n;
	s->n += (size_t)n;
	return 0;
}

static int series_load(nrg_store *st, int64_t run, int chan, enum nrg_quantity q, uint64_t t0,
		       uint64_t t1, struct series *s)
{
	memset(s, 0, sizeof *s);
	s->q = q;
	return nrg_store_blocks(st, run, chan, t0, t1, series_add_block, s);
}

/* Estimated instant of the counter update first seen at index k: the update happened in
 * (t[p], t[k]] where p is the previous valid reading; with a known update period U a change
 * seen after a long gap most likely happened within the last U before t[k]. */
static void tick_bounds(const struct series *s, size_t p, bool have_p, size_t k, uint32_t update_us,
			double *lo, double *hi, double *est)
{
	double gap = have_p ? (double)(s->t[k] - s->t[p]) : INFINITY;
	double w = update_us && (double)update_us < gap ? (double)update_us : gap;

	*hi = (double)s->t[k];
	*lo = have_p ? (double)s->t[p] : -INFINITY;
	*est = isfinite(w) ? *hi - w / 2 : *hi;
}

/* Median spacing of counter updates observed precisely (both bounds within 2 ms), or 0. */
static double tick_period(const struct series *s, uint32_t update_us)
{
	double prev = NAN, d[64];
	size_t nd = 0, last = 0;
	bool have_last = false;

	for (size_t i = 0; i < s->n && nd < 64; i++) {
		if (!s->valid[i])
			continue;
		if (have_last && s->v[i] != s->v[last]) {
			double lo, hi, est;

			tick_bounds(s, last, true, i, update_us, &lo, &hi, &est);
			if (hi - lo <= 2000) {
				if (!isnan(prev))
					d[nd++] = est - prev;
				prev = est;
			} else {
				prev = NAN;
			}
		}
		last = i;
		have_last = true;
	}
	if (!nd)
		return 0;
	for (size_t i = 1; i < nd; i++)
		for (size_t j = i; j > 0 && d[j - 1] > d[j]; j--) {
			double x = d[j];
			d[j] = d[j - 1];
			d[j - 1] = x;
		}
	return d[nd / 2];
}

/*
 * Cumulative energy (µJ) at time t of an energy-counter channel. A counter holds the energy up
 * to its last update, which may be up to one update period old when read; the curve through
 * the update instants is interpolated linearly, so a bracket between two updates gets the
 * share of the next update's energy that fell before it. Returns false with no reading at all.
 */
static bool counter_at(const struct series *s, uint64_t t, uint32_t update_us, double *out)
{
	size_t i = SIZE_MAX, j = SIZE_MAX, k, p = 0, jp = 0;
	bool have_p = false;
	double lo_p, hi_p, est_p, lo_n, hi_n, est_n, T, f;

	for (size_t x = 0; x < s->n; x++)
		if (s->valid[x] && s->t[x] <= t)
			i = x;
	if (i == SIZE_MAX) {
		for (size_t x = 0; x < s->n; x++)
			if (s->valid[x]) {
				*out = (double)s->v[x];
				return true;
			}
		return false;
	}
	/* first reading showing the value held at t */
	k = i;
	for (size_t x = i; x-- > 0;) {
		if (!s->valid[x])
			continue;
		if (s->v[x] != s->v[i]) {
			p = x;
			have_p = true;
			break;
		}
		k = x;
	}
	/* first reading after t showing the next value */
	jp = i;
	for (size_t x = i + 1; x < s->n; x++) {
		if (!s->valid[x])
			continue;
		if (s->v[x] != s->v[i]) {
			j = x;
			break;
		}
		jp = x;
	}
	if (j == SIZE_MAX) {
		*out = (double)s->v[i];
		return true;
	}
	tick_bounds(s, p, have_p, k, update_us, &lo_p, &hi_p, &est_p);
	tick_bounds(s, jp, true, j, update_us, &lo_n, &hi_n, &est_n);
	T = tick_period(s, update_us);
	/* Where the earlier update was seen coarsely, place it one period before the next. */
	if (T > 0 && hi_p - lo_p > 2 * (hi_n - lo_n) && hi_n - hi_p < T) {
		double cand = est_n - T;

		est_p = cand < lo_p ? lo_p : cand > hi_p ? hi_p : cand;
	}
	if (!have_p && !(T > 0))
		est_p = (double)s->t[k];
	if (est_n <= est_p) {
		*out = (double)s->v[i];
		return true;
	}
	f = ((double)t - est_p) / (est_n - est_p);
	f = f < 0 ? 0 : f > 1 ? 1 : f;
	*out = (double)s->v[i] + f * (double)(s->v[j] - s->v[i]);
	return true;
}

static size_t next_valid(const struct series *s, size_t i)
{
	for (size_t x = i + 1; x < s->n; x++)
		if (s->valid[x])
			return x;
	return SIZE_MAX;
}

static size_t prev_valid(const struct series *s, size_t i)
{
	for (size_t x = i; x-- > 0;)
		if (s->valid[x])
			return x;
	return SIZE_MAX;
}

/* Cumulative energy (µJ) at time t of a power channel (trapezoid integral). */
static bool power_at(const struct series *s, uint64_t t, double *out)
{
	size_t i = SIZE_MAX, j = SIZE_MAX;

	for (size_t x = 0; x < s->n; x++) {
		if (!s->valid[x])
			continue;
		if (s->t[x] <= t) {
			i = x;
		} else {
			j = x;
			break;
		}
	}
	if (i == SIZE_MAX && j == SIZE_MAX)
		return false;
	/* Before the first or after the last reading, hold that reading's power for up to two
	 * sampling periods (a rate read over the interval before it, as the estimate's, is first
	 * valid one period after the start); further away the energy is not known. */
	if (i == SIZE_MAX) {
		size_t k = next_valid(s, j);
		uint64_t d = s->t[j] - t;

		*out = s->cum[j];
		if (k != SIZE_MAX && d <= 2 * (s->t[k] - s->t[j]))
			*out -= (double)s->v[j] * (double)d * 1e-6;
		return true;
	}
	if (j == SIZE_MAX) {
		size_t k = prev_valid(s, i);
		uint64_t d = t - s->t[i];

		*out = s->cum[i];
		if (k != SIZE_MAX && d <= 2 * (s->t[i] - s->t[k]))
			*out += (double)s->v[i] * (double)d * 1e-6;
		return true;
	}
	if (s->t[j] == s->t[i]) {
		*out = s->cum[i];
		return true;
	}
	double f = (double)(t - s->t[i]) / (double)(s->t[j] - s->t[i]);
	double p_t = (double)s->v[i] + f * (double)(s->v[j] - s->v[i]);

	*out = s->cum[i] + ((double)s->v[i] + p_t) * 0.5 * (double)(t - s->t[i]) * 1e-6;
	return true;
}

static int channel_at(nrg_store *st, int64_t run, int chan, const struct nrg_channel_info *ci,
		      uint64_t t, double *out)
{
	struct series s;
	uint64_t a = t > NEIGHBOURHOOD_US ? t - NEIGHBOURHOOD_US : 0;
	int r = series_load(st, run, chan, ci->quantity, a, t + NEIGHBOURHOOD_US, &s);
	bool ok;

	if (r < 0) {
		series_free(&s);
		return r;
	}
	ok = ci->quantity == NRG_Q_ENERGY ? counter_at(&s, t, ci->update_us, out) : power_at(&s, t, out);
	series_free(&s);
	return ok ? 0 : -ENODATA;
}

static int energy_between(nrg_store *st, int64_t run, int chan, const struct nrg_channel_info *ci,
			  uint64_t t0, uint64_t t1, double *uj)
{
	double e0, e1;
	int r;

	if (ci->quantity != NRG_Q_ENERGY && ci->quantity != NRG_Q_POWER)
		return -EINVAL;
	/* A power reading averaged over a trailing window W and refreshed every U describes the
	 * power about (W + U)/2 earlier (NVML's 1 s average lags by about half a second): integrate
	 * the readings over the span shifted by that lag. The end of the series clamps the shift. */
	if (ci->quantity == NRG_Q_POWER && ci->window_us) {
		uint64_t lag = ((uint64_t)ci->window_us + ci->update_us) / 2;

		t0 += lag;
		t1 += lag;
	}
	if ((r = channel_at(st, run, chan, ci, t0, &e0)) < 0 || (r = channel_at(st, run, chan, ci, t1, &e1)) < 0)
		return r;
	*uj = e1 - e0;
	return 0;
}

int nrg_channel_energy_between(nrg_store *st, int64_t run_id, int channel, uint64_t t0_us,
			       uint64_t t1_us, double *uj)
{
	struct nrg_device_info *devs = NULL;
	struct nrg_channel_info *chans = NULL;
	size_t nd = 0, nc = 0;
	int r = nrg_store_run_layout(st, run_id, &devs, &nd, &chans, &nc);

	if (r >= 0)
		r = channel < 0 || (size_t)channel >= nc ? -EINVAL
			: energy_between(st, run_id, channel, &chans[channel], t0_us, t1_us, uj);
	free(devs);
	free(chans);
	return r;
}

/* Readings statistics of a channel inside [t0, t1]. */
struct chan_stats {
	uint64_t n_valid;
	bool have_max;
	int64_t v_max;
	uint64_t covered_us;
	bool have_span;
	uint64_t first_valid, last_valid;
	uint64_t t0, t1;
	uint64_t max_gap;    /* longer intervals between readings are not covered */
	bool have_prev;      /* the last valid reading seen, inside the span or before it */
	uint64_t prev_t;
};

static int stats_block(const struct nrg_block_row *row, void *ctx)
{
	struct chan_stats *cs = ctx;
	bool whole = row->t_first >= cs->t0 && row->t_last <= cs->t1;
	struct series s = { .q = NRG_Q_POWER }; /* values only: cum is not used here */
	int r;

	if (whole) {
		/* The summary answers for a block inside the span, without decoding it. */
		if (row->n_valid) {
			if (!cs->have_max || row->v_max > cs->v_max)
				cs->v_max = row->v_max;
			cs->have_max = true;
		}
		cs->n_valid += row->n_valid;
		cs->covered_us += row->covered_us;
		if (row->n_valid == row->n) {
			if (!cs->have_span)
				cs->first_valid = row->t_first;
			cs->have_span = true;
			cs->last_valid = row->t_last;
			cs->have_prev = true;
			cs->prev_t = row->t_last;
			return 0;
		}
		if (!row->n_valid)
			return 0;
	}
	/* A block cut by the span, or with missing readings: look at each reading. */
	if ((r = series_add_block(row, &s)) < 0) {
		series_free(&s);
		return r;
	}
	for (size_t i = 0; i < s.n; i++) {
		if (!s.valid[i])
			continue;
		if (s.t[i] >= cs->t0 && s.t[i] <= cs->t1) {
			if (!cs->have_span)
				cs->first_valid = s.t[i];
			cs->have_span = true;
			cs->last_valid = s.t[i];
		}
		if (!whole) {
			if (s.t[i] >= cs->t0 && s.t[i] <= cs->t1) {
				cs->n_valid++;
				if (!cs->have_max || s.v[i] > cs->v_max)
					cs->v_max = s.v[i];
				cs->have_max = true;
			}
			/* the interval from the previous reading, clipped to the span */
			if (cs->have_prev && s.t[i] - cs->prev_t <= cs->max_gap) {
				uint64_t a = cs->prev_t > cs->t0 ? cs->prev_t : cs->t0;
				uint64_t b = s.t[i] < cs->t1 ? s.t[i] : cs->t1;

				if (b > a)
					cs->covered_us += b - a;
			}
		}
		cs->have_prev = true;
		cs->prev_t = s.t[i];
	}
	if (whole && row->n_valid) {
		cs->have_prev = true;
		cs->prev_t = row->t_last; /* approximate: the last valid reading of the block */
	}
	series_free(&s);
	return 0;
}

static int stats_one(const struct nrg_block_row *row, void *ctx);

/* Summaries first; a block that the span cuts or that has missing readings is decoded. */
struct stats_pass {
	struct chan_stats *cs;
	nrg_store *st;
	int64_t run;
	int chan;
	int64_t seq; /* the block being fetched with its readings */
};

static int stats_one(const struct nrg_block_row *row, void *ctx)
{
	struct stats_pass *p = ctx;

	return row->seq == p->seq ? stats_block(row, p->cs) : 0;
}

static int stats_summary(const struct nrg_block_row *row, void *ctx)
{
	struct stats_pass *p = ctx;
	bool whole = row->t_first >= p->cs->t0 && row->t_last <= p->cs->t1;

	if (whole && (row->n_valid == row->n || !row->n_valid))
		return stats_block(row, p->cs);
	/* fetch this block with its readings (the span of one block) */
	p->seq = row->seq;
	return nrg_store_blocks(p->st, p->run, p->chan, row->t_first, row->t_last, stats_one, p);
}

static int chan_stats(nrg_store *st, int64_t run, int chan, uint64_t t0, uint64_t t1, uint64_t max_gap,
		      struct chan_stats *cs)
{
	struct stats_pass p = { cs, st, run, chan, -1 };

	memset(cs, 0, sizeof *cs);
	cs->t0 = t0;
	cs->t1 = t1;
	cs->max_gap = max_gap;
	return nrg_store_block_summaries(st, run, chan, t0, t1, stats_summary, &p);
}

/* The channel of device d with this quantity (preferred power channel first), or -1. */
static int find_channel(const struct nrg_channel_info *chans, size_t nc, int d, enum nrg_quantity q)
{
	int any = -1;

	for (size_t c = 0; c < nc; c++) {
		if (chans[c].device != d || chans[c].quantity != q)
			continue;
		if (q != NRG_Q_POWER || chans[c].preferred)
			return (int)c;
		if (any < 0)
			any = (int)c;
	}
	return any;
}

static void device_report(nrg_store *st, int64_t run, const struct nrg_channel_info *chans, size_t nc,
			  int d, uint64_t t0, uint64_t t1, uint64_t max_gap, struct nrg_device_report *dr)
{
	int ce = find_channel(chans, nc, d, NRG_Q_ENERGY), cp = find_channel(chans, nc, d, NRG_Q_POWER);
	double dur = (double)(t1 - t0);
	struct chan_stats se = { 0 }, sp = { 0 };
	double uj;
	bool have_sp = false;

	dr->sensor_coverage = 1;
	if (cp >= 0 && chan_stats(st, run, cp, t0, t1, max_gap, &sp) == 0 && sp.n_valid) {
		have_sp = true;
		dr->has_peak = true;
		dr->peak_power_w = (double)sp.v_max * 1e-6;
		if (chans[cp].window_us && chans[cp].update_us && chans[cp].window_us < chans[cp].update_us)
			dr->sensor_coverage = (double)chans[cp].window_us / chans[cp].update_us;
		if (energy_between(st, run, cp, &chans[cp], t0, t1, &uj) == 0) {
			dr->has_power_energy = true;
			dr->power_energy_j = uj * 1e-6;
		}
	}
	if (ce >= 0 && chan_stats(st, run, ce, t0, t1, max_gap, &se) == 0 && se.n_valid >= 2 &&
	    energy_between(st, run, ce, &chans[ce], t0, t1, &uj) == 0) {
		dr->method = NRG_METHOD_COUNTER;
		dr->has_energy = true;
		dr->energy_j = uj * 1e-6;
		dr->samples = se.n_valid;
		dr->coverage = dur > 0 ? (double)(se.last_valid - se.first_valid) / dur : 1;
	} else if (have_sp && dr->has_power_energy) {
		dr->method = dr->info.estimated ? NRG_METHOD_ESTIMATE : NRG_METHOD_POWER;
		dr->has_energy = true;
		dr->energy_j = dr->power_energy_j;
		dr->has_power_energy = false;
		dr->samples = sp.n_valid;
		dr->coverage = dur > 0 ? (double)sp.covered_us / dur : 1;
	}
	if (dr->coverage > 1)
		dr->coverage = 1;
	if (dr->has_energy && dur > 0) {
		dr->has_avg = true;
		dr->avg_power_w = dr->energy_j / (dur * 1e-6);
	}
	if (!dr->has_energy)
		snprintf(dr->why, sizeof dr->why, "%s", ce < 0 && cp < 0 ? "no energy or power channel"
			 : "no valid readings during the run");
	else if (dr->coverage < 0.98)
		snprintf(dr->why, sizeof dr->why, "readings cover %.0f%% of the run", dr->coverage * 100);
}

int nrg_report_build(nrg_store *st, int64_t run_id, struct nrg_report **out, char *err, size_t errlen)
{
	struct nrg_report *rep = calloc(1, sizeof *rep);
	struct nrg_device_info *devs = NULL;
	struct nrg_channel_info *chans = NULL;
	size_t nd = 0, nc = 0;
	uint64_t t0, t1;
	double comp_meas = 0, comp_est = 0, rated_uw = 0;
	bool any_rated = false;
	int r;

	*out = NULL;
	if (!rep)
		return -ENOMEM;
	if ((r = nrg_store_run_get(st, run_id, &rep->run)) < 0) {
		snprintf(err, errlen, "run %lld not found in the database", (long long)run_id);
		free(rep);
		return r;
	}
	if ((r = nrg_store_run_layout(st, run_id, &devs, &nd, &chans, &nc)) < 0) {
		snprintf(err, errlen, "cannot read the devices of run %lld", (long long)run_id);
		nrg_report_free(rep);
		return r;
	}
	t0 = rep->run.start_mono_us;
	t1 = rep->run.end_mono_us;
	if (!t1 || t1 < t0) {
		/* Never finished (killed): report up to the last stored reading. */
		uint64_t last = t0;

		for (size_t c = 0; c < nc; c++) {
			struct chan_stats cs;

			if (chan_stats(st, run_id, (int)c, t0, UINT64_MAX / 2, UINT64_MAX, &cs) == 0 && cs.have_span &&
			    cs.last_valid > last)
				last = cs.last_valid;
		}
		t1 = last;
	}
	rep->duration_s = (double)(t1 - t0) * 1e-6;
	rep->devices = calloc(nd ? nd : 1, sizeof *rep->devices);
	if (!rep->devices) {
		free(devs);
		free(chans);
		nrg_report_free(rep);
		return -ENOMEM;
	}
	rep->n_devices = nd;
	for (size_t d = 0; d < nd; d++) {
		struct nrg_device_report *dr = &rep->devices[d];

		dr->info = devs[d];
		device_report(st, run_id, chans, nc, (int)d, t0, t1, 4 * (rep->run.interval_us ? rep->run.interval_us : 100000), dr);
		if (devs[d].role == NRG_ROLE_WHOLE && dr->has_energy && !rep->node_measured) {
			rep->node_measured = true;
			rep->node_j = dr->energy_j;
		}
		if (devs[d].role != NRG_ROLE_COMPONENT)
			continue;
		if (devs[d].rated_uw > 0) {
			rated_uw += (double)devs[d].rated_uw;
			any_rated = true;
		}
		if (!dr->has_energy)
			continue;
		if (devs[d].estimated)
			comp_est += dr->energy_j;
		else
			comp_meas += dr->energy_j;
		switch (devs[d].kind) {
		case NRG_KIND_GPU:
			rep->has_gpu = true;
			rep->gpu_j += dr->energy_j;
			if (!devs[d].visible)
				rep->gpu_idle_j += dr->energy_j;
			break;
		case NRG_KIND_CPU: rep->has_cpu = true; rep->cpu_j += dr->energy_j; break;
		case NRG_KIND_DRAM: rep->has_dram = true; rep->dram_j += dr->energy_j; break;
		default: break;
		}
	}
	if (rep->node_measured) {
		rep->has_node = true;
		rep->has_remainder = true;
		rep->remainder_j = rep->node_j - comp_meas - comp_est;
		rep->measured_j = rep->node_j;
		rep->estimated_j = 0;
	} else if (comp_meas + comp_est > 0 || nd) {
		rep->has_node = comp_meas + comp_est > 0;
		rep->node_j = comp_meas + comp_est;
		rep->measured_j = comp_meas;
		rep->estimated_j = comp_est;
	}
	rep->has_rated = any_rated;
	rep->rated_guess_j = rated_uw * 1e-6 * rep->duration_s;
	free(devs);
	free(chans);
	*out = rep;
	return 0;
}

void nrg_report_free(struct nrg_report *r)
{
	if (!r)
		return;
	nrg_run_info_free(&r->run);
	free(r->devices);
	free(r);
}
