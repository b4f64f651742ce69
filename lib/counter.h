/* counter.h - the one wrap-safe accumulator for cumulative hardware energy counters. */
/* SPDX-License-Identifier: MIT */
#ifndef NRG_COUNTER_H
#define NRG_COUNTER_H

#include <stdbool.h>
#include <stdint.h>

struct nrg_counter {
	uint64_t range;   /* the counter wraps to 0 after reaching this value; 0 = 64-bit, never */
	uint64_t last;    /* last raw value accepted */
	uint64_t total;   /* unwrapped energy since the first reading */
	bool have;        /* a first reading was taken */
	uint32_t wraps;   /* wrap-arounds seen */
	uint32_t resets;  /* restarts from a lower value that were not wraps (driver reload) */
	uint32_t backwards; /* small steps backwards ignored (firmware glitches) */
};

void nrg_counter_init(struct nrg_counter *c, uint64_t range);
/* Feed a raw reading; returns the energy added since the previous reading (>= 0).
 * The first reading returns 0. With a range, any decrease is one wrap (so readings up to one
 * wrap period apart resolve). Without one, a fall below half the last value is a reset (0 is
 * added, the counter resynchronises) and a smaller step back a glitch (ignored); resets and
 * backwards count them. */
uint64_t nrg_counter_update(struct nrg_counter *c, uint64_t raw);

/* Energy in µJ of a linear power ramp p0 -> p1 (µW) over dt_us (trapezoid rule). */
static inline double nrg_trapezoid_uj(uint64_t dt_us, int64_t p0_uw, int64_t p1_uw)
{
	return ((double)p0_uw + (double)p1_uw) * 0.5 * (double)dt_us * 1e-6;
}

#endif
