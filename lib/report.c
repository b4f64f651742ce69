/* report.c - a run's report from its stored samples: per-device energy, power, coverage, composition, regions. */
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
 * period: tick_period(s, update_us) if the caller knows it already, else NAN.
 */
static bool counter_at(const struct series *s, uint64_t t, uint32_t update_us, double period, double *out)
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
	T = isnan(period) ? tick_period(s, update_us) : period;
	/* Updates come every period T: where one of the two was seen coarsely and the other
	 * precisely, place the coarse one a period away from the precise one, if that fits what
	 * was seen of it (else more than one update lies between, or they are irregular). */
	if (T > 0 && hi_p - lo_p > 2 * (hi_n - lo_n)) {
		double cand = est_n - T;

		if (cand > lo_p - 500 && cand <= hi_p + 500)
			est_p = cand < lo_p ? lo_p : cand > hi_p ? hi_p : cand;
	} else if (T > 0 && hi_n - lo_n > 2 * (hi_p - lo_p) && have_p) {
		double cand = est_p + T;

		if (cand > lo_n - 500 && cand <= hi_n + 500)
			est_n = cand < lo_n ? lo_n : cand > hi_n ? hi_n : cand;
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
	ok = ci->quantity == NRG_Q_ENERGY ? counter_at(&s, t, ci->update_us, NAN, out) : power_at(&s, t, out);
	series_free(&s);
	return ok ? 0 : -ENODATA;
}

/* A power reading averaged over a trailing window W and refreshed every U describes the power
 * about (W + U)/2 earlier (NVML's 1 s average lags by about half a second): the readings are
 * integrated over the span shifted by that lag. The end of the series clamps the shift. */
static uint64_t power_lag(const struct nrg_channel_info *ci)
{
	return ci->quantity == NRG_Q_POWER && ci->window_us ? ((uint64_t)ci->window_us + ci->update_us) / 2 : 0;
}

static int energy_between(nrg_store *st, int64_t run, int chan, const struct nrg_channel_info *ci,
			  uint64_t t0, uint64_t t1, double *uj)
{
	double e0, e1;
	int r;

	if (ci->quantity != NRG_Q_ENERGY && ci->quantity != NRG_Q_POWER)
		return -EINVAL;
	t0 += power_lag(ci);
	t1 += power_lag(ci);
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

/* ---- regions --------------------------------------------------------------------------------
 *
 * Regions come from the run's events. BEGIN opens a region; its parent is the innermost region
 * open on the same (pid, tid), else in the same pid, else none. END closes the innermost open
 * region of that name on the same (pid, tid), else in the same pid, else anywhere (a shell's
 * `nrg mark` speaks from another process); an END matching nothing is counted and ignored.
 * UNITS go to the innermost open region on the same (pid, tid), else the same pid, else the
 * innermost open anywhere; a region keeps the unit of its first UNITS event and ignores amounts
 * in another unit. At the end, a region with no units of its own gets the sum of its children's
 * (so an epoch gets the samples of its batches); one with units of its own keeps them. Regions
 * still open at the end of the run close there (closed = false).
 *
 * Energies are taken as the run's: a device's primary channel (the counter when the device
 * report used it, else the power channel), and the node as the run's total (the whole-node
 * meter when there is one, else the sum of the components). Many regions make many point
 * evaluations, so each primary channel is decoded once and every evaluation sees the same
 * blocks (±5 s) as a single energy_between() would: the numbers are the same either way.
 */

/* A channel's whole decoded series with its block bounds. */
struct chan_cache {
	bool tried, ok;
	struct series s;
	size_t nb, bcap;
	uint64_t *bt0, *bt1; /* each block's first and last reading time */
	size_t *bstart;      /* index in s of each block's first reading; bstart[nb] == s.n */
	struct { size_t x, y; double T; } memo[64]; /* tick_period() of views (blocks x..y-1) */
};

static int cache_block(const struct nrg_block_row *row, void *ctx)
{
	struct chan_cache *c = ctx;
	int r;

	if (c->nb + 2 > c->bcap) {
		size_t cap = c->bcap ? c->bcap * 2 : 64;
		uint64_t *a = realloc(c->bt0, cap * sizeof *a);
		uint64_t *b = a ? realloc(c->bt1, cap * sizeof *b) : NULL;
		size_t *x = b ? realloc(c->bstart, cap * sizeof *x) : NULL;

		if (a)
			c->bt0 = a;
		if (b)
			c->bt1 = b;
		if (!x)
			return -ENOMEM;
		c->bstart = x;
		c->bcap = cap;
	}
	c->bt0[c->nb] = row->t_first;
	c->bt1[c->nb] = row->t_last;
	c->bstart[c->nb] = c->s.n;
	if ((r = series_add_block(row, &c->s)) < 0)
		return r;
	c->bstart[++c->nb] = c->s.n;
	return 0;
}

static void cache_free(struct chan_cache *c)
{
	series_free(&c->s);
	free(c->bt0);
	free(c->bt1);
	free(c->bstart);
	memset(c, 0, sizeof *c);
}

/* The readings of the blocks overlapping [a, b], as nrg_store_blocks() would return them: a
 * view into the cache (not to be freed); *bx, *by get the block range. */
static struct series cache_view(const struct chan_cache *c, uint64_t a, uint64_t b, size_t *bx, size_t *by)
{
	struct series v = { .q = c->s.q };
	size_t lo = 0, hi = c->nb, x, y;

	while (lo < hi) { /* first block ending at or after a */
		size_t m = lo + (hi - lo) / 2;

		if (c->bt1[m] < a)
			lo = m + 1;
		else
			hi = m;
	}
	x = lo;
	hi = c->nb;
	while (lo < hi) { /* first block starting after b */
		size_t m = lo + (hi - lo) / 2;

		if (c->bt0[m] <= b)
			lo = m + 1;
		else
			hi = m;
	}
	y = lo;
	*bx = x;
	*by = y;
	if (y <= x)
		return v;
	v.t = c->s.t + c->bstart[x];
	v.v = c->s.v + c->bstart[x];
	v.valid = c->s.valid + c->bstart[x];
	v.cum = c->s.cum + c->bstart[x];
	v.n = c->bstart[y] - c->bstart[x];
	return v;
}

/* First index of the cached series with t >= a. */
static size_t cache_lower(const struct chan_cache *c, uint64_t a)
{
	size_t lo = 0, hi = c->s.n;

	while (lo < hi) {
		size_t m = lo + (hi - lo) / 2;

		if (c->s.t[m] < a)
			lo = m + 1;
		else
			hi = m;
	}
	return lo;
}

struct rctx {
	nrg_store *st;
	int64_t run;
	struct nrg_report *rep;
	const struct nrg_channel_info *chans;
	size_t nc;
	struct chan_cache *cache; /* per channel */
	int *primary;             /* per device: the channel its energy comes from, or -1 */
	int *peak;                /* per device: its preferred power channel, or -1 */
	int meter;                /* the device giving the node's energy, or -1: sum of components */
	uint64_t t0, t1;
};

static struct chan_cache *rctx_cache(struct rctx *x, int chan)
{
	struct chan_cache *c = &x->cache[chan];

	if (!c->tried) {
		c->tried = true;
		c->s.q = x->chans[chan].quantity;
		c->ok = nrg_store_blocks(x->st, x->run, chan, 0, UINT64_MAX / 2, cache_block, c) == 0;
		if (!c->ok)
			cache_free(c);
		c->tried = true;
	}
	return c->ok ? c : NULL;
}

static bool cached_at(struct chan_cache *c, const struct nrg_channel_info *ci, uint64_t t, double *out)
{
	size_t x = 0, y = 0, h;
	struct series v = cache_view(c, t > NEIGHBOURHOOD_US ? t - NEIGHBOURHOOD_US : 0, t + NEIGHBOURHOOD_US, &x, &y);

	if (ci->quantity != NRG_Q_ENERGY)
		return power_at(&v, t, out);
	/* The counter's tick period depends on the view only: keep it for the next point. */
	h = (x * 31 + y) % (sizeof c->memo / sizeof *c->memo);
	if (c->memo[h].y == 0 || c->memo[h].x != x || c->memo[h].y != y) {
		c->memo[h].x = x;
		c->memo[h].y = y;
		c->memo[h].T = tick_period(&v, ci->update_us);
	}
	return counter_at(&v, t, ci->update_us, c->memo[h].T, out);
}

/* Energy (µJ) of device d over [a, b], as energy_between() on its primary channel. */
static bool device_between(struct rctx *x, int d, uint64_t a, uint64_t b, double *uj)
{
	int ch = x->primary[d];
	struct chan_cache *c = ch >= 0 ? rctx_cache(x, ch) : NULL;
	uint64_t lag;
	double e0, e1;

	if (!c)
		return false;
	lag = power_lag(&x->chans[ch]);
	if (!cached_at(c, &x->chans[ch], a + lag, &e0) || !cached_at(c, &x->chans[ch], b + lag, &e1))
		return false;
	*uj = e1 - e0;
	return true;
}

/* Whether device d makes up the node's energy (the meter, or a component without one). */
static bool composes_node(const struct rctx *x, size_t d)
{
	if (x->meter >= 0)
		return (int)d == x->meter;
	return x->rep->devices[d].info.role == NRG_ROLE_COMPONENT && x->primary[d] >= 0;
}

/* The node's energy (J) over [a, b], composed as the run's total. */
static bool node_between(struct rctx *x, uint64_t a, uint64_t b, double *j)
{
	bool any = false;
	double uj;

	*j = 0;
	for (size_t d = 0; d < x->rep->n_devices; d++)
		if (composes_node(x, d) && device_between(x, (int)d, a, b, &uj)) {
			*j += uj * 1e-6;
			any = true;
		}
	return any;
}

/* Valid readings of a cached channel in [a, b] and the highest of them. */
static uint64_t cache_range(const struct chan_cache *c, uint64_t a, uint64_t b, bool *have_max, int64_t *vmax)
{
	uint64_t n = 0;

	*have_max = false;
	for (size_t i = cache_lower(c, a); i < c->s.n && c->s.t[i] <= b; i++) {
		if (!c->s.valid[i])
			continue;
		n++;
		if (!*have_max || c->s.v[i] > *vmax)
			*vmax = c->s.v[i];
		*have_max = true;
	}
	return n;
}

/* How finely the channel's curve resolves the instant t (µs): the longer of the sensor's
 * update period and the gap between the valid readings either side of t. */
static double resolution_at(const struct chan_cache *c, const struct nrg_channel_info *ci, uint64_t t)
{
	size_t k = cache_lower(c, t), i = k, j = k;
	double gap;

	while (j < c->s.n && !c->s.valid[j])
		j++;
	while (i > 0 && !c->s.valid[i - 1])
		i--;
	if (i == 0 || j >= c->s.n)
		gap = INFINITY;
	else
		gap = (double)(c->s.t[j] - c->s.t[i - 1]);
	return gap > ci->update_us ? gap : (double)ci->update_us;
}

/* Open-region matching: the innermost open region named `name` (NULL: any) on the same
 * (pid, tid), else in the same pid, else (when anywhere) in any process. Returns its
 * position in the open list, or -1. */
static long find_open(const size_t *open, size_t nopen, const struct nrg_region_report *rg, const char *name,
		      int32_t pid, int32_t tid, bool anywhere)
{
	for (int pass = 0; pass < (anywhere ? 3 : 2); pass++)
		for (size_t k = nopen; k-- > 0;) {
			const struct nrg_region_report *o = &rg[open[k]];

			if (name && strcmp(o->name, name))
				continue;
			if ((pass == 0 && (o->pid != pid || o->tid != tid)) || (pass == 1 && o->pid != pid))
				continue;
			return (long)k;
		}
	return -1;
}

/* Energy (J) of the node over the union of the intervals [a[i], b[i]] (sorted by a). */
static bool union_energy(struct rctx *x, const uint64_t *a, const uint64_t *b, size_t n, double *j)
{
	bool any = false;
	double e;

	*j = 0;
	for (size_t i = 0; i < n;) {
		uint64_t s = a[i], z = b[i];

		for (i++; i < n && a[i] <= z; i++)
			if (b[i] > z)
				z = b[i];
		if (z > s && node_between(x, s, z, &e)) {
			*j += e;
			any = true;
		}
	}
	return any;
}

struct ival {
	uint64_t a, b;
	int64_t key;
	size_t idx;
};

static int ival_cmp(const void *p, const void *q)
{
	const struct ival *x = p, *y = q;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Node energy over the union of the given intervals (any order). */
static bool ivals_energy(struct rctx *x, struct ival *iv, size_t n, uint64_t *a, uint64_t *b, double *j)
{
	for (size_t i = 0; i < n; i++)
		iv[i].key = 0;
	qsort(iv, n, sizeof *iv, ival_cmp);
	for (size_t i = 0; i < n; i++) {
		a[i] = iv[i].a;
		b[i] = iv[i].b;
	}
	return union_energy(x, a, b, n, j);
}

/* Energy, power, uncertainty of region i over [a, b]. */
static void region_measure(struct rctx *x, struct nrg_region_report *rg, uint64_t a, uint64_t b)
{
	const struct nrg_report *rep = x->rep;
	double dur = (double)(b - a), bound = 0, worst_res = 0;
	int worst_dev = -1, few_dev = -1;
	uint64_t few_n = 0;

	for (size_t d = 0; d < rep->n_devices; d++) {
		struct nrg_region_device *rd = &rg->devices[d];
		int ch = x->primary[d], pk = x->peak[d];
		const struct chan_cache *c = ch >= 0 ? rctx_cache(x, ch) : NULL;
		const struct chan_cache *cp = pk >= 0 ? rctx_cache(x, pk) : NULL;
		bool have_max;
		int64_t vmax = 0;
		double uj;

		rd->device = (int)d;
		if (cp) {
			cache_range(cp, a, b, &have_max, &vmax);
			if (have_max) {
				rd->has_peak = true;
				rd->peak_power_w = (double)vmax * 1e-6;
			}
		}
		if (!c)
			continue;
		rd->samples = cache_range(c, a, b, &have_max, &vmax);
		if (device_between(x, (int)d, a, b, &uj)) {
			rd->has_energy = true;
			rd->energy_j = uj * 1e-6;
		}
		if (!composes_node(x, d) || !rd->has_energy)
			continue;
		/* Each boundary is placed on the device's curve by interpolating across one
		 * resolution step r; the error is at most about half the energy of that step, P x r/2
		 * (and no more than over the region's own span). P: the larger of the device's
		 * average power over the run and over the region. */
		double p = rep->devices[d].has_avg ? rep->devices[d].avg_power_w : 0;
		double r0 = resolution_at(c, &x->chans[ch], a), r1 = resolution_at(c, &x->chans[ch], b);
		double r = r0 > r1 ? r0 : r1;

		if (dur > 0 && rd->energy_j / (dur * 1e-6) > p)
			p = rd->energy_j / (dur * 1e-6);
		bound += p * ((r0 < dur ? r0 : dur) + (r1 < dur ? r1 : dur)) / 2 * 1e-6;
		if (r > worst_res) {
			worst_res = r;
			worst_dev = (int)d;
		}
		if (rd->samples < 2 && (few_dev < 0 || rd->samples < few_n)) {
			few_dev = (int)d;
			few_n = rd->samples;
		}
	}
	if (x->meter >= 0) {
		rg->has_energy = rg->devices[x->meter].has_energy;
		rg->energy_j = rg->devices[x->meter].energy_j;
	} else {
		for (size_t d = 0; d < rep->n_devices; d++)
			if (composes_node(x, d) && rg->devices[d].has_energy) {
				rg->has_energy = true;
				rg->energy_j += rg->devices[d].energy_j;
			}
	}
	rg->edp_js = rg->energy_j * dur * 1e-6;
	rg->uncertainty_j = bound;
	if (!rg->has_energy) {
		snprintf(rg->why, sizeof rg->why, "no device has energy here");
	} else if (dur <= 0) {
		rg->uncertain = true;
		snprintf(rg->why, sizeof rg->why, "zero duration");
	} else if (isfinite(worst_res) && dur < 2 * worst_res) {
		rg->uncertain = true;
		snprintf(rg->why, sizeof rg->why, "shorter than 2 sensor updates (%.0f ms on %s)", worst_res / 1000,
			 rep->devices[worst_dev].info.id);
	} else if (few_dev >= 0) {
		rg->uncertain = true;
		snprintf(rg->why, sizeof rg->why, "%llu reading%s of %s inside", (unsigned long long)few_n,
			 few_n == 1 ? "" : "s", rep->devices[few_dev].info.id);
	} else if (!isfinite(worst_res)) {
		rg->uncertain = true;
		snprintf(rg->why, sizeof rg->why, "at the edge of %s's readings", rep->devices[worst_dev].info.id);
	}
	if (!isfinite(rg->uncertainty_j))
		rg->uncertainty_j = rg->energy_j;
}

/* Match the run's events into regions and marks (no energies yet). */
static int regions_from_events(struct nrg_report *rep, const struct nrg_event *ev, size_t n, uint64_t t0,
			       uint64_t t1, uint64_t **ts, uint64_t **te, bool **own)
{
	struct nrg_region_report *rg = NULL;
	size_t nr = 0, cap = 0, nopen = 0, nm = 0, *open = NULL;
	struct nrg_mark_report *mk = NULL;
	uint64_t *a = NULL, *b = NULL;
	bool *ou = NULL;
	int r = -ENOMEM;

	for (size_t i = 0; i < n; i++) {
		if (ev[i].type == NRG_EV_BEGIN)
			cap++;
		else if (ev[i].type == NRG_EV_MARK)
			nm++;
	}
	rg = calloc(cap ? cap : 1, sizeof *rg);
	open = calloc(cap ? cap : 1, sizeof *open);
	a = calloc(cap ? cap : 1, sizeof *a);
	b = calloc(cap ? cap : 1, sizeof *b);
	ou = calloc(cap ? cap : 1, sizeof *ou);
	mk = calloc(nm ? nm : 1, sizeof *mk);
	if (!rg || !open || !a || !b || !ou || !mk)
		goto fail;
	nm = 0;
	for (size_t i = 0; i < n; i++) {
		const struct nrg_event *e = &ev[i];
		uint64_t t = e->t_us < t0 ? t0 : e->t_us > t1 ? t1 : e->t_us;
		long k;

		switch (e->type) {
		case NRG_EV_BEGIN: {
			struct nrg_region_report *g = &rg[nr];

			snprintf(g->name, sizeof g->name, "%s", e->name);
			g->kind = e->kind;
			g->pid = e->pid;
			g->tid = e->tid;
			g->epoch = e->epoch;
			g->step = e->step;
			k = find_open(open, nopen, rg, NULL, e->pid, e->tid, false);
			g->parent = k < 0 ? -1 : (int)open[k];
			g->depth = k < 0 ? 0 : rg[open[k]].depth + 1;
			a[nr] = b[nr] = t;
			g->devices = calloc(rep->n_devices ? rep->n_devices : 1, sizeof *g->devices);
			if (!g->devices)
				goto fail;
			g->n_devices = rep->n_devices;
			open[nopen++] = nr++;
			break;
		}
		case NRG_EV_END:
			k = find_open(open, nopen, rg, e->name, e->pid, e->tid, true);
			if (k < 0) {
				rep->events_unmatched++;
				break;
			}
			rg[open[k]].closed = true;
			b[open[k]] = t;
			memmove(open + k, open + k + 1, (nopen - (size_t)k - 1) * sizeof *open);
			nopen--;
			break;
		case NRG_EV_UNITS: {
			struct nrg_region_report *g;

			k = find_open(open, nopen, rg, NULL, e->pid, e->tid, true);
			if (k < 0) {
				rep->events_unmatched++;
				break;
			}
			g = &rg[open[k]];
			if (!g->has_units) {
				snprintf(g->unit, sizeof g->unit, "%s", e->unit);
				g->has_units = ou[open[k]] = true;
			}
			if (!strcmp(g->unit, e->unit))
				g->units += e->units;
			break;
		}
		case NRG_EV_MARK:
			snprintf(mk[nm].name, sizeof mk[nm].name, "%s", e->name);
			mk[nm].t_s = (double)(t - t0) * 1e-6;
			mk[nm].pid = e->pid;
			mk[nm].tid = e->tid;
			nm++;
			break;
		}
	}
	for (size_t k = 0; k < nopen; k++)
		b[open[k]] = t1;
	/* Units flow up to ancestors without units of their own: children come after their parent,
	 * so walking backwards hands each parent its children's final sums. */
	for (size_t i = nr; i-- > 0;) {
		int p = rg[i].parent;

		if (p < 0 || ou[p] || !rg[i].has_units)
			continue;
		if (!rg[p].has_units) {
			rg[p].has_units = true;
			snprintf(rg[p].unit, sizeof rg[p].unit, "%s", rg[i].unit);
		}
		if (!strcmp(rg[p].unit, rg[i].unit))
			rg[p].units += rg[i].units;
	}
	for (size_t i = 0; i < nr; i++) {
		rg[i].start_s = (double)(a[i] - t0) * 1e-6;
		rg[i].end_s = (double)(b[i] - t0) * 1e-6;
	}
	rep->regions = rg;
	rep->n_regions = nr;
	rep->marks = mk;
	rep->n_marks = nm;
	*ts = a;
	*te = b;
	*own = ou;
	free(open);
	return 0;
fail:
	for (size_t i = 0; rg && i < nr; i++)
		free(rg[i].devices);
	free(rg);
	free(open);
	free(a);
	free(b);
	free(ou);
	free(mk);
	return r;
}

/* Kind totals, unattributed energy and the epoch table. */
static int regions_totals(struct rctx *x, const uint64_t *ts, const uint64_t *te)
{
	struct nrg_report *rep = x->rep;
	size_t n = rep->n_regions, m, ne = 0;
	struct ival *iv = calloc(n ? n : 1, sizeof *iv);
	uint64_t *a = calloc(n ? n : 1, sizeof *a), *b = calloc(n ? n : 1, sizeof *b);
	double j;

	if (!iv || !a || !b) {
		free(iv);
		free(a);
		free(b);
		return -ENOMEM;
	}
	/* by kind, and all kinds: top-level regions, overlapping time counted once */
	for (int k = 0; k < 5; k++) {
		m = 0;
		for (size_t i = 0; i < n; i++)
			if (rep->regions[i].depth == 0 && (k == 4 || (int)rep->regions[i].kind == k))
				iv[m++] = (struct ival){ ts[i], te[i], 0, i };
		if (!ivals_energy(x, iv, m, a, b, &j))
			j = 0;
		if (k < 4)
			rep->kind_j[k] = j;
		else
			rep->unattributed_j = rep->node_j - j;
	}
	rep->has_kinds = n > 0 && rep->has_node;
	/* epochs: the outermost regions carrying an epoch number */
	m = 0;
	for (size_t i = 0; i < n; i++) {
		bool outer = rep->regions[i].epoch >= 0;

		for (int p = rep->regions[i].parent; outer && p >= 0; p = rep->regions[p].parent)
			if (rep->regions[p].epoch >= 0)
				outer = false;
		if (outer)
			iv[m++] = (struct ival){ ts[i], te[i], rep->regions[i].epoch, i };
	}
	qsort(iv, m, sizeof *iv, ival_cmp);
	for (size_t i = 0; i < m; i++)
		if (!i || iv[i].key != iv[i - 1].key)
			ne++;
	rep->epochs = calloc(ne ? ne : 1, sizeof *rep->epochs);
	if (!rep->epochs) {
		free(iv);
		free(a);
		free(b);
		return -ENOMEM;
	}
	rep->n_epochs = ne;
	for (size_t i = 0, e = 0; i < m; e++) {
		struct nrg_epoch_report *ep = &rep->epochs[e];
		size_t k = 0;
		uint64_t lo = iv[i].a, hi = iv[i].b;

		ep->epoch = iv[i].key;
		for (; i < m && iv[i].key == ep->epoch; i++, k++) {
			const struct nrg_region_report *rg = &rep->regions[iv[i].idx];

			a[k] = iv[i].a;
			b[k] = iv[i].b;
			lo = iv[i].a < lo ? iv[i].a : lo;
			hi = iv[i].b > hi ? iv[i].b : hi;
			ep->uncertain |= rg->uncertain;
			if (rg->has_units && !ep->has_units) {
				ep->has_units = true;
				snprintf(ep->unit, sizeof ep->unit, "%s", rg->unit);
			}
			if (rg->has_units && !strcmp(rg->unit, ep->unit))
				ep->units += rg->units;
		}
		ep->n_regions = k;
		ep->start_s = (double)(lo - x->t0) * 1e-6;
		ep->end_s = (double)(hi - x->t0) * 1e-6;
		ep->has_energy = union_energy(x, a, b, k, &ep->energy_j);
	}
	free(iv);
	free(a);
	free(b);
	return 0;
}

/* Regions, marks, kind totals and epochs of the run into rep (devices already reported). */
static int report_regions(nrg_store *st, int64_t run, struct nrg_report *rep, const struct nrg_channel_info *chans,
			  size_t nc, uint64_t t0, uint64_t t1)
{
	struct nrg_event *ev = NULL;
	size_t n = 0;
	uint64_t *ts = NULL, *te = NULL;
	bool *own = NULL;
	struct rctx x = { st, run, rep, chans, nc, NULL, NULL, NULL, -1, t0, t1 };
	int r;

	rep->events_lost = rep->run.events_lost;
	if ((r = nrg_store_events(st, run, &ev, &n)) < 0)
		return r;
	r = regions_from_events(rep, ev, n, t0, t1, &ts, &te, &own);
	free(ev);
	if (r < 0 || !rep->n_regions)
		goto out;
	x.cache = calloc(nc ? nc : 1, sizeof *x.cache);
	x.primary = calloc(rep->n_devices ? rep->n_devices : 1, sizeof *x.primary);
	x.peak = calloc(rep->n_devices ? rep->n_devices : 1, sizeof *x.peak);
	if (!x.cache || !x.primary || !x.peak) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t d = 0; d < rep->n_devices; d++) {
		const struct nrg_device_report *dr = &rep->devices[d];

		x.peak[d] = find_channel(chans, nc, (int)d, NRG_Q_POWER);
		x.primary[d] = !dr->has_energy ? -1
			: dr->method == NRG_METHOD_COUNTER ? find_channel(chans, nc, (int)d, NRG_Q_ENERGY) : x.peak[d];
		if (x.meter < 0 && rep->node_measured && dr->info.role == NRG_ROLE_WHOLE && dr->has_energy)
			x.meter = (int)d;
	}
	for (size_t i = 0; i < rep->n_regions; i++)
		region_measure(&x, &rep->regions[i], ts[i], te[i]);
	r = regions_totals(&x, ts, te);
out:
	for (size_t c = 0; x.cache && c < nc; c++)
		cache_free(&x.cache[c]);
	free(x.cache);
	free(x.primary);
	free(x.peak);
	free(ts);
	free(te);
	free(own);
	return r;
}

int nrg_report_epoch_summary(const struct nrg_report *r, size_t skip_first, size_t skip_last,
			     struct nrg_epoch_summary *out)
{
	size_t lo = skip_first, hi = r->n_epochs > skip_last ? r->n_epochs - skip_last : 0;
	double sum = 0, sq = 0, units = 0;
	bool all_units = true;

	memset(out, 0, sizeof *out);
	out->first = out->last = -1;
	for (size_t i = lo; i < hi; i++) {
		const struct nrg_epoch_report *e = &r->epochs[i];

		if (!e->has_energy)
			continue;
		if (!out->n)
			out->first = e->epoch;
		out->last = e->epoch;
		out->n++;
		sum += e->energy_j;
		all_units &= e->has_units && e->units > 0;
		units += e->units;
	}
	if (!out->n)
		return -ENODATA;
	out->mean_j = sum / (double)out->n;
	for (size_t i = lo; i < hi; i++)
		if (r->epochs[i].has_energy)
			sq += (r->epochs[i].energy_j - out->mean_j) * (r->epochs[i].energy_j - out->mean_j);
	out->stddev_j = out->n > 1 ? sqrt(sq / (double)(out->n - 1)) : 0;
	if (all_units) {
		out->has_units = true;
		out->units = units;
		out->j_per_unit = sum / units;
	}
	return 0;
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
	if ((r = report_regions(st, run_id, rep, chans, nc, t0, t1)) < 0) {
		snprintf(err, errlen, "cannot read the regions of run %lld", (long long)run_id);
		free(devs);
		free(chans);
		nrg_report_free(rep);
		return r;
	}
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
	for (size_t i = 0; r->regions && i < r->n_regions; i++)
		free(r->regions[i].devices);
	free(r->regions);
	free(r->marks);
	free(r->epochs);
	free(r);
}
