/* block.h - compact per-channel sample blocks: accumulate, summarise, encode, decode. */
/* SPDX-License-Identifier: MIT */
#ifndef NRG_BLOCK_H
#define NRG_BLOCK_H

#include "counter.h"
#include "nrg.h"

#define NRG_BLOCK_MAX 1024 /* samples per block */

/*
 * A channel's samples are kept in blocks of up to NRG_BLOCK_MAX readings. For NRG_Q_ENERGY the
 * stored value is the unwrapped cumulative energy (µJ since the channel's first valid reading),
 * so decoding needs no wrap logic. For NRG_Q_POWER the stored value is the power (µW) and the
 * block carries the cumulative trapezoid integral (µJ) at its first and last valid reading.
 * Invalid readings keep their timestamp and are stored as missing.
 */
struct nrg_block_row {
	int channel;
	int64_t seq;              /* 0, 1, 2 ... per channel */
	uint64_t t_first, t_last; /* µs, first and last reading (valid or not) */
	uint32_t n, n_valid;
	int64_t v_min, v_max;     /* over valid stored values (n_valid > 0) */
	double cum_first, cum_last; /* cumulative µJ at the first/last valid reading */
	uint64_t covered_us;      /* time covered by intervals between valid readings <= max gap */
	const uint8_t *data;      /* encoded readings */
	size_t len;
};

struct nrg_block {
	enum nrg_quantity q;
	uint64_t max_gap_us;
	struct nrg_counter ctr;
	/* state carried across blocks */
	bool have_prev;
	uint64_t prev_t;
	int64_t prev_v;   /* last valid stored value */
	double cum;       /* cumulative µJ at the last valid reading */
	int64_t seq;
	/* the open block */
	uint32_t n, n_valid;
	bool cum_first_set;
	double cum_first;
	int64_t v_min, v_max;
	uint64_t covered_us;
	uint64_t t[NRG_BLOCK_MAX];
	int64_t v[NRG_BLOCK_MAX];
	uint8_t valid[NRG_BLOCK_MAX];
};

/* Start the first block of a channel. max_gap_us: longest interval between valid readings
 * that still counts as covered. */
void nrg_block_init(struct nrg_block *b, const struct nrg_channel_info *ci, uint64_t max_gap_us);
/* Append one reading (raw value: counter µJ for energy, µW for power, etc.).
 * Returns true when the block is now full (encode it, then nrg_block_next()). */
bool nrg_block_push(struct nrg_block *b, uint64_t t_us, int64_t raw, bool valid);
/* Worst-case encoded size of the open block. */
size_t nrg_block_bound(const struct nrg_block *b);
/* Encode the open block into buf (cap >= nrg_block_bound) and fill row (row->data = buf).
 * Returns the encoded length, or 0 if the block is empty. */
size_t nrg_block_encode(const struct nrg_block *b, int channel, uint8_t *buf, size_t cap,
			struct nrg_block_row *row);
/* Close the open block and start the next one (seq + 1); cross-block state is kept. */
void nrg_block_next(struct nrg_block *b);
/* Decode a row into arrays of capacity cap (>= row->n). Returns the count or -EINVAL on a
 * corrupt block. For power channels cum[] gets the cumulative µJ at each reading (valid ones);
 * for energy channels cum[] equals the stored value; cum may be NULL. */
int nrg_block_decode(const struct nrg_block_row *row, enum nrg_quantity q, uint64_t *t, int64_t *v,
		     bool *valid, double *cum, size_t cap);

#endif
