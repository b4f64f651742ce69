/* t-counter.c - unit tests of the wrap-safe energy counter. */
/* SPDX-License-Identifier: MIT */
#include "counter.h"
#include "tap.h"

int main(void)
{
	struct nrg_counter c;
	const uint64_t range = 262143328850ull; /* a real max_energy_range_uj */

	/* table: start, then steps; expect the summed delta */
	static const struct {
		const char *name;
		uint64_t range;
		uint64_t raw[6];
		int n;
		uint64_t want_total;
		unsigned wraps, resets, backwards;
	} rows[] = {
		{ "monotone from a non-zero start", 0, { 1000000, 1000500, 1002000 }, 3, 2000, 0, 0, 0 },
		{ "first reading adds nothing", 0, { 123456789 }, 1, 0, 0, 0, 0 },
		{ "32-bit RAPL wrap", 262143328850ull, { 262143000000ull, 262143328000ull, 500ull, 10500ull }, 4,
		  328000ull + 850ull + 500ull + 10000ull, 1, 0, 0 },
		{ "reset of a 64-bit counter adds nothing", 0, { 9000000000ull, 9000001000ull, 5000ull, 6000ull }, 4,
		  1000 + 1000, 0, 1, 0 },
		{ "small step back is a glitch, not counted twice", 0, { 100000, 100500, 100400, 100600 }, 4, 600, 0, 0, 1 },
		{ "with a range any decrease is a wrap", 1000000, { 800000, 900000, 850000, 950000 }, 4,
		  100000 + 950000 + 100000, 1, 0, 0 },
	};

	for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
		uint64_t sum = 0;

		nrg_counter_init(&c, rows[i].range);
		for (int k = 0; k < rows[i].n; k++)
			sum += nrg_counter_update(&c, rows[i].raw[k]);
		is_i64(sum, rows[i].want_total, "%s: deltas sum", rows[i].name);
		is_i64(c.total, rows[i].want_total, "%s: total", rows[i].name);
		is_i64(c.wraps, rows[i].wraps, "%s: wraps", rows[i].name);
		is_i64(c.resets, rows[i].resets, "%s: resets", rows[i].name);
		is_i64(c.backwards, rows[i].backwards, "%s: glitches", rows[i].name);
	}

	/* Many wraps at a realistic rate: 300 W read every 100 ms for an hour. */
	nrg_counter_init(&c, range);
	uint64_t raw = 200000000000ull, truth = 0;
	nrg_counter_update(&c, raw);
	for (int k = 0; k < 36000; k++) {
		uint64_t step = 30000000ull + (uint64_t)(k % 7) * 1000;

		truth += step;
		raw = (raw + step) % range;
		nrg_counter_update(&c, raw);
	}
	nrg_counter_update(&c, raw);
	is_i64(c.total, truth, "an hour at 300 W across %u wraps is exact", c.wraps);
	ok(c.wraps >= 4, "the hour wrapped the counter several times");

	/* Read just under one wrap period apart: 0.9 of the range per step still resolves. */
	nrg_counter_init(&c, 1000);
	nrg_counter_update(&c, 900);
	is_i64(nrg_counter_update(&c, 800), 900, "a step of 0.9 range across the wrap");
	is_i64(nrg_counter_update(&c, 700), 900, "and another");
	is_i64(c.wraps, 2, "two wraps");

	is_near(nrg_trapezoid_uj(1000000, 100000000, 200000000), 150000000.0, 1e-6,
		"trapezoid: 100 W to 200 W over 1 s is 150 J");
	return done_testing();
}
