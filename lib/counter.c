/* counter.c - the one wrap-safe accumulator for cumulative hardware energy counters. */
/* SPDX-License-Identifier: MIT */
#include "counter.h"

void nrg_counter_init(struct nrg_counter *c, uint64_t range)
{
	*c = (struct nrg_counter){ .range = range };
}

uint64_t nrg_counter_update(struct nrg_counter *c, uint64_t raw)
{
	uint64_t delta = 0;

	if (!c->have) {
		c->have = true;
		c->last = raw;
		return 0;
	}
	if (raw >= c->last) {
		delta = raw - c->last;
	} else if (c->range) {
		/* A counter with a known range only goes down by wrapping past it back to 0 (RAPL:
		 * max_energy_range_uj, the 32-bit MSR_PKG_ENERGY_STATUS in energy units, Intel SDM
		 * vol. 3B 15.10.3). Any decrease is one wrap, so readings up to one wrap period
		 * apart resolve; further apart, a whole range may be missed and cannot be seen. */
		delta = (c->range - c->last) + raw;
		c->wraps++;
	} else if (c->last - raw > c->last / 2) {
		/* A 64-bit counter that fell to a much lower value restarted (driver reload): what
		 * it accumulated since the restart is unknown, so add nothing and resynchronise. */
		c->resets++;
	} else {
		/* A small step back: a firmware glitch (seen on some AMD counters). Keep the
		 * higher value so the energy is not counted twice when it climbs again. */
		c->backwards++;
		return 0;
	}
	c->last = raw;
	c->total += delta;
	return delta;
}
