/* t-block.c - sample blocks: lossless round trips, summaries, cross-block integrals, size, corruption. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "block.h"
#include "../tap.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* xorshift64: deterministic pseudo-random numbers for synthetic signals */
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* uniform in [-a, a] */
static int64_t jitter(int64_t a)
{
	return a ? (int64_t)(rnd() % (uint64_t)(2 * a + 1)) - a : 0;
}

struct reading {
	uint64_t t;
	int64_t raw;
	bool valid;
};

typedef void (*gen_fn)(size_t i, struct reading *r);

/* 100 Hz grid with a few µs of scheduling jitter */
static uint64_t tick(size_t i)
{
	return 5000000 + (uint64_t)i * 10000 + (uint64_t)(jitter(30) + 30);
}

static void g_const(size_t i, struct reading *r) { *r = (struct reading){ tick(i), 100000000, true }; }
static void g_ramp(size_t i, struct reading *r) { *r = (struct reading){ 1000 + i * 1000, (int64_t)i * 1000, true }; }
static void g_nvml(size_t i, struct reading *r)
{
	/* NVML reports mW, updated about every 100 ms: steps of whole mW, repeated in between */
	static int64_t mw = 250000;
	if (i % 10 == 0)
		mw = 250000 + jitter(20000);
	*r = (struct reading){ tick(i), mw * 1000, true };
}
static void g_wrap32(size_t i, struct reading *r)
{
	/* RAPL-like µJ counter that wraps at 2^32 about a third of the way in */
	uint64_t range = UINT64_C(1) << 32;
	uint64_t raw = (range - 300000000u + (uint64_t)i * 1000003u) % range;
	*r = (struct reading){ tick(i), (int64_t)raw, true };
}
static void g_holes(size_t i, struct reading *r)
{
	bool valid = !(i < 3 || (i >= 40 && i < 47) || i == 60 || i >= 97);
	*r = (struct reading){ tick(i), 50000000 + (int64_t)(i % 7) * 1000000, valid };
}
static void g_all_missing(size_t i, struct reading *r) { *r = (struct reading){ tick(i), 0, false }; }
static void g_extreme(size_t i, struct reading *r)
{
	static const int64_t v[] = { INT64_MIN, INT64_MAX, 0, -1, INT64_MIN + 1, 1 };
	*r = (struct reading){ tick(i), v[i % 6], i % 5 != 4 };
}
static void g_temp(size_t i, struct reading *r) { *r = (struct reading){ tick(i), -20000 + (int64_t)(i % 13) * 500, true }; }
static void g_backwards(size_t i, struct reading *r)
{
	/* timestamps that step back now and then (must still round-trip exactly) */
	*r = (struct reading){ 1000000 + (uint64_t)i * 10000 - (i % 5 == 3 ? 15000 : 0), 3000000, true };
}
static void g_energy_holes(size_t i, struct reading *r)
{
	*r = (struct reading){ tick(i), 7000000 + (int64_t)i * 123457, i % 9 != 8 };
}

struct rcase {
	const char *name;
	enum nrg_quantity q;
	uint64_t range;
	size_t n;
	gen_fn gen;
};

static const struct rcase cases[] = {
	{ "constant power", NRG_Q_POWER, 0, 100, g_const },
	{ "ramp", NRG_Q_POWER, 0, 500, g_ramp },
	{ "nvml mW power", NRG_Q_POWER, 0, 700, g_nvml },
	{ "32-bit counter wrap", NRG_Q_ENERGY, UINT64_C(1) << 32, 1000, g_wrap32 },
	{ "invalid start/middle/end", NRG_Q_POWER, 0, 100, g_holes },
	{ "one reading", NRG_Q_POWER, 0, 1, g_const },
	{ "one invalid reading", NRG_Q_POWER, 0, 1, g_all_missing },
	{ "all missing", NRG_Q_POWER, 0, 50, g_all_missing },
	{ "full block", NRG_Q_POWER, 0, NRG_BLOCK_MAX, g_nvml },
	{ "extreme values", NRG_Q_UTIL, 0, 300, g_extreme },
	{ "negative temperatures", NRG_Q_TEMP, 0, 200, g_temp },
	{ "timestamps stepping back", NRG_Q_POWER, 0, 100, g_backwards },
	{ "energy with holes", NRG_Q_ENERGY, 0, 400, g_energy_holes },
};

static struct nrg_block blk;
static uint8_t buf[64 + NRG_BLOCK_MAX * 20];
static uint64_t dt_[NRG_BLOCK_MAX];
static int64_t dv[NRG_BLOCK_MAX];
static bool dvalid[NRG_BLOCK_MAX];
static double dcum[NRG_BLOCK_MAX];

static uint64_t span(uint64_t a, uint64_t b) { return b > a ? b - a : 0; }

static void run_case(const struct rcase *c, uint64_t max_gap)
{
	struct nrg_channel_info ci = { .quantity = c->q, .range_uj = c->range };
	struct reading r[NRG_BLOCK_MAX];
	int64_t want_v[NRG_BLOCK_MAX];
	struct nrg_block_row row;
	double trap = 0;
	uint64_t covered = 0, last_raw = 0, total = 0, pt = 0;
	int64_t pv = 0, vmin = 0, vmax = 0;
	uint32_t nv = 0;
	bool full_early = false, have = false;
	size_t len;
	int n;

	nrg_block_init(&blk, &ci, max_gap);
	for (size_t i = 0; i < c->n; i++) {
		bool full;

		c->gen(i, &r[i]);
		full = nrg_block_push(&blk, r[i].t, r[i].raw, r[i].valid);
		if (full && i + 1 < c->n)
			full_early = true;
		if (i + 1 == c->n)
			ok(full == (c->n == NRG_BLOCK_MAX), "%s: push reports full only at NRG_BLOCK_MAX", c->name);
		want_v[i] = 0;
		if (!r[i].valid)
			continue;
		/* independent expectations */
		if (c->q == NRG_Q_ENERGY) {
			uint64_t raw = (uint64_t)r[i].raw;
			if (have)
				total += raw >= last_raw ? raw - last_raw : c->range - last_raw + raw;
			last_raw = raw;
			want_v[i] = (int64_t)total;
		} else {
			want_v[i] = r[i].raw;
		}
		if (have) {
			if (c->q == NRG_Q_POWER)
				trap += ((double)pv + (double)want_v[i]) / 2 * (double)span(pt, r[i].t) / 1e6;
			if (span(pt, r[i].t) <= max_gap)
				covered += span(pt, r[i].t);
		}
		if (!nv || want_v[i] < vmin)
			vmin = want_v[i];
		if (!nv || want_v[i] > vmax)
			vmax = want_v[i];
		nv++;
		have = true;
		pt = r[i].t;
		pv = want_v[i];
	}
	ok(!full_early, "%s: push does not report full early", c->name);
	ok(nrg_block_bound(&blk) <= sizeof buf, "%s: bound fits the test buffer", c->name);
	len = nrg_block_encode(&blk, 7, buf, sizeof buf, &row);
	ok(len > 0 && row.len == len && row.data == buf, "%s: encoded %zu bytes for %zu readings", c->name,
	   len, c->n);
	is_i64(row.channel, 7, "%s: row channel", c->name);
	is_i64(row.n, c->n, "%s: row n", c->name);
	is_i64(row.n_valid, nv, "%s: row n_valid", c->name);
	is_i64(row.t_first, r[0].t, "%s: row t_first", c->name);
	is_i64(row.t_last, r[c->n - 1].t, "%s: row t_last", c->name);
	if (nv) {
		is_i64(row.v_min, vmin, "%s: v_min", c->name);
		is_i64(row.v_max, vmax, "%s: v_max", c->name);
	}
	is_i64(row.covered_us, covered, "%s: covered_us", c->name);
	if (c->q == NRG_Q_POWER)
		is_near(row.cum_last - row.cum_first, trap, 1e-6 * (fabs(trap) + 1),
			"%s: cum_last - cum_first is the trapezoid sum", c->name);
	if (c->q == NRG_Q_ENERGY && nv)
		is_near(row.cum_last, (double)total, 0, "%s: energy cum_last is the unwrapped total", c->name);

	n = nrg_block_decode(&row, c->q, dt_, dv, dvalid, dcum, NRG_BLOCK_MAX);
	is_i64(n, c->n, "%s: decode returns the count", c->name);
	if (n == (int)c->n) {
		size_t bad_t = 0, bad_v = 0, bad_valid = 0;
		double last_cum = row.cum_first;

		for (size_t i = 0; i < c->n; i++) {
			bad_t += dt_[i] != r[i].t;
			bad_valid += dvalid[i] != r[i].valid;
			bad_v += r[i].valid && dv[i] != want_v[i];
			if (dvalid[i])
				last_cum = dcum[i];
		}
		is_i64(bad_t, 0, "%s: timestamps exact", c->name);
		is_i64(bad_valid, 0, "%s: validity exact", c->name);
		is_i64(bad_v, 0, "%s: values exact", c->name);
		if (c->q == NRG_Q_POWER || c->q == NRG_Q_ENERGY)
			ok(last_cum == row.cum_last, "%s: decoded cum re-integrates to cum_last exactly", c->name);
		else
			ok(last_cum == 0 || nv == 0, "%s: cum is 0 for other quantities", c->name);
	}
}

/* Blocks in a row: cum and covered continue across the boundary, also over a gap. */
static void cross_block(void)
{
	struct nrg_channel_info ci = { .quantity = NRG_Q_POWER };
	struct nrg_block_row rows[8];
	static uint8_t bufs[8][sizeof buf];
	size_t nrows = 0, total_n = 2600;
	double trap = 0, prev_last = 0;
	uint64_t covered = 0, covered_rows = 0, pt = 0, max_gap = 25000;
	double bridge = 0;
	int64_t pv = 0;
	bool have = false, cont = true, dec = true;

	rng_state = 42;
	nrg_block_init(&blk, &ci, max_gap);
	for (size_t i = 0; i < total_n; i++) {
		uint64_t t = 1000000 + i * 10000;
		int64_t v = 200000000 + jitter(50000000);
		/* invalid readings straddle the first boundary: the bridge spans the block edge */
		bool valid = !(i >= NRG_BLOCK_MAX - 2 && i < NRG_BLOCK_MAX + 3);

		if (valid) {
			if (have) {
				double seg = ((double)pv + (double)v) / 2 * (double)(t - pt) / 1e6;

				trap += seg;
				if (i == NRG_BLOCK_MAX + 3)
					bridge = seg;
				if (t - pt <= max_gap)
					covered += t - pt;
			}
			have = true;
			pt = t;
			pv = v;
		}
		if (nrg_block_push(&blk, t, v, valid) || i + 1 == total_n) {
			nrg_block_encode(&blk, 0, bufs[nrows], sizeof bufs[nrows], &rows[nrows]);
			nrows++;
			nrg_block_next(&blk);
		}
	}
	is_i64(nrows, 3, "cross-block: 2600 readings make 3 blocks");
	for (size_t k = 0; k < nrows; k++) {
		is_i64(rows[k].seq, k, "cross-block: block %zu has seq %zu", k, k);
		covered_rows += rows[k].covered_us;
		if (k && rows[k].cum_first < prev_last)
			cont = false;
		prev_last = rows[k].cum_last;
		if (nrg_block_decode(&rows[k], NRG_Q_POWER, dt_, dv, dvalid, dcum, NRG_BLOCK_MAX) !=
			    (int)rows[k].n ||
		    dcum[rows[k].n - 1] != rows[k].cum_last)
			dec = false;
	}
	ok(cont, "cross-block: cum never steps back between blocks");
	/* the first valid reading of block 1 includes the bridge from block 0's last valid one */
	ok(bridge > 0, "cross-block: the gap straddles the boundary");
	is_near(rows[1].cum_first - rows[0].cum_last, bridge, 1e-6 * bridge,
		"cross-block: block 1's cum_first includes the bridge from block 0's last valid reading");
	is_near(rows[nrows - 1].cum_last, trap, 1e-6 * trap, "cross-block: cum_last is the direct trapezoid sum");
	is_i64(covered_rows, covered, "cross-block: covered_us sums to the direct figure (gap excluded)");
	ok(dec, "cross-block: every block decodes and re-integrates to its cum_last");
}

/* An energy counter wrapping right at a block boundary keeps counting up. */
static void cross_block_energy(void)
{
	struct nrg_channel_info ci = { .quantity = NRG_Q_ENERGY, .range_uj = 1u << 20 };
	struct nrg_block_row row;
	const uint64_t start = (1u << 20) - 50000;
	uint64_t raw = start;
	int64_t last = -1;
	bool mono = true;
	size_t nblocks = 0;

	nrg_block_init(&blk, &ci, 1000000);
	for (size_t i = 0; i < 3 * NRG_BLOCK_MAX; i++) {
		raw = (raw + 997) % (1u << 20);
		if (nrg_block_push(&blk, 1000 + i * 1000, (int64_t)raw, true)) {
			nrg_block_encode(&blk, 1, buf, sizeof buf, &row);
			if (nrg_block_decode(&row, NRG_Q_ENERGY, dt_, dv, dvalid, dcum, NRG_BLOCK_MAX) != NRG_BLOCK_MAX)
				mono = false;
			for (size_t j = 0; j < NRG_BLOCK_MAX && mono; j++) {
				if (dv[j] != last + 997 && last >= 0)
					mono = false;
				last = dv[j];
			}
			nblocks++;
			nrg_block_next(&blk);
		}
	}
	is_i64(nblocks, 3, "energy across blocks: 3 full blocks");
	ok(mono, "energy across blocks: unwrapped value rises by exactly the step through wraps");
	is_i64(blk.ctr.wraps, (start + 3 * NRG_BLOCK_MAX * 997) >> 20, "energy across blocks: wraps counted");
}

/* Bytes per reading of realistic 100 Hz signals over many blocks. */
static double bytes_per_reading(enum nrg_quantity q, int kind)
{
	struct nrg_channel_info ci = { .quantity = q, .range_uj = q == NRG_Q_ENERGY ? UINT64_C(262143328850) : 0 };
	struct nrg_block_row row;
	size_t total = 0, n = 20 * NRG_BLOCK_MAX;
	int64_t mw = 300000;
	uint64_t energy = 1000000, last_refresh = 10000000;
	double p_w = 150;

	rng_state = 7;
	nrg_block_init(&blk, &ci, 1000000);
	for (size_t i = 0; i < n; i++) {
		/* read time: 100 Hz grid, woken 5-80 µs late */
		uint64_t t = 10000000 + i * 10000 + 5 + rnd() % 75;
		int64_t v;

		if (kind == 0) {
			/* NVML power: whole mW, refreshed every ~20 ms, load wanders */
			if (i % 2 == 0)
				mw = 300000 + jitter(15000) + (i / 500 % 2) * 100000;
			v = mw * 1000;
		} else {
			/* RAPL package counter in µJ (units of 61.035 µJ), refreshed every 1 ms: a read
			 * sees the energy at the last refresh, so it lags the read by 0-1 ms */
			uint64_t refreshed = t - t % 1000;

			p_w += (double)jitter(100) / 100.0;
			if (p_w < 20)
				p_w = 20;
			energy += (uint64_t)(p_w * (double)(refreshed - last_refresh));
			last_refresh = refreshed;
			/* sysfs energy_uj = hardware units (2^-14 J) * 10^6 / 2^14: no common step */
			v = (int64_t)((energy * 16384 / 1000000) * 1000000 / 16384);
		}
		if (nrg_block_push(&blk, t, v, true)) {
			total += nrg_block_encode(&blk, 0, buf, sizeof buf, &row);
			nrg_block_next(&blk);
		}
	}
	return (double)total / (double)n;
}

/* Corrupt and truncated blobs are rejected without reading out of bounds. */
static void corruption(void)
{
	struct nrg_channel_info ci = { .quantity = NRG_Q_POWER };
	struct nrg_block_row row, bad;
	static uint8_t copy[sizeof buf];
	size_t len, rejected_trunc = 0, flips = 0, rejected_flip = 0, garbage_ok = 0;

	rng_state = 99;
	nrg_block_init(&blk, &ci, 1000000);
	for (size_t i = 0; i < 300; i++)
		nrg_block_push(&blk, tick(i), 100000000 + jitter(3000000), i % 17 != 3);
	len = nrg_block_encode(&blk, 0, buf, sizeof buf, &row);

	for (size_t l = 0; l < len; l++) {
		bad = row;
		bad.len = l;
		memcpy(copy, buf, l);
		bad.data = copy;
		rejected_trunc += nrg_block_decode(&bad, NRG_Q_POWER, dt_, dv, dvalid, dcum, NRG_BLOCK_MAX) == -EINVAL;
	}
	is_i64(rejected_trunc, len, "corrupt: every truncation (%zu) is -EINVAL", len);

	bad = row;
	memcpy(copy, buf, len);
	copy[len] = 0;
	bad.data = copy;
	bad.len = len + 1;
	is_i64(nrg_block_decode(&bad, NRG_Q_POWER, dt_, dv, dvalid, dcum, NRG_BLOCK_MAX), -EINVAL,
	       "corrupt: a trailing byte is -EINVAL");
	copy[0] = 9;
	bad.len = len;
	is_i64(nrg_block_decode(&bad, NRG_Q_POWER, dt_, dv, dvalid, dcum, NRG_BLOCK_MAX), -EINVAL,
	       "corrupt: unknown version is -EINVAL");
	bad = row;
	bad.n = row.n + 1;
	is_i64(nrg_block_decode(&bad, NRG_Q_POWER, dt_, dv, dvalid, dcum, NRG_BLOCK_MAX), -EINVAL,
	       "corrupt: n disagreeing with the row is -EINVAL");
	bad = row;
	bad.t_last++;
	is_i64(nrg_block_decode(&bad, NRG_Q_POWER, dt_, dv, dvalid, dcum, NRG_BLOCK_MAX), -EINVAL,
	       "corrupt: t_last disagreeing with the row is -EINVAL");
	is_i64(nrg_block_decode(&row, NRG_Q_POWER, dt_, dv, dvalid, dcum, 10), -EINVAL,
	       "decode: capacity below n is -EINVAL");
	bad = row;
	bad.data = NULL;
	is_i64(nrg_block_decode(&bad, NRG_Q_POWER, dt_, dv, dvalid, dcum, NRG_BLOCK_MAX), -EINVAL,
	       "decode: NULL data is -EINVAL");

	for (size_t pos = 0; pos < len; pos++) {
		for (int bit = 0; bit < 8; bit++) {
			int r;

			memcpy(copy, buf, len);
			copy[pos] ^= (uint8_t)(1u << bit);
			bad = row;
			bad.data = copy;
			r = nrg_block_decode(&bad, NRG_Q_POWER, dt_, dv, dvalid, dcum, NRG_BLOCK_MAX);
			flips++;
			rejected_flip += r == -EINVAL;
			if (r != -EINVAL && r != (int)row.n)
				garbage_ok = SIZE_MAX;
		}
	}
	ok(garbage_ok == 0, "corrupt: %zu single-bit flips decode to -EINVAL or a full block", flips);
	printf("# %zu of %zu bit flips detected by the block's own consistency checks\n", rejected_flip, flips);
	ok(rejected_flip > flips / 2, "corrupt: most bit flips are detected");

	garbage_ok = 0;
	for (int k = 0; k < 20000; k++) {
		size_t l = 1 + rnd() % 64;
		int r;

		for (size_t i = 0; i < l; i++)
			copy[i] = (uint8_t)rnd();
		if (k % 2)
			copy[0] = 1; /* get past the version byte */
		bad = (struct nrg_block_row){ .data = copy, .len = l, .n = (uint32_t)(1 + rnd() % 8) };
		r = nrg_block_decode(&bad, (enum nrg_quantity)(k % 6), dt_, dv, dvalid, dcum, NRG_BLOCK_MAX);
		if (r != -EINVAL && (r < 0 || r > 8))
			garbage_ok++;
	}
	is_i64(garbage_ok, 0, "corrupt: 20000 random blobs never yield an out-of-range result");
}

int main(void)
{
	double bpr_power, bpr_energy;

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		run_case(&cases[i], 15000);
	/* a tight max gap: jittered 10 ms steps above 10.02 ms are not covered */
	run_case(&cases[2], 10020);
	cross_block();
	cross_block_energy();

	bpr_power = bytes_per_reading(NRG_Q_POWER, 0);
	bpr_energy = bytes_per_reading(NRG_Q_ENERGY, 1);
	printf("# bytes per reading at 100 Hz: NVML-like power %.2f, RAPL-like energy counter %.2f\n",
	       bpr_power, bpr_energy);
	ok(bpr_power < 4, "size: NVML-like power below 4 bytes per reading (%.2f)", bpr_power);
	ok(bpr_energy < 6, "size: RAPL-like energy below 6 bytes per reading (%.2f)", bpr_energy);

	corruption();
	return done_testing();
}
