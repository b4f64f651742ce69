/* block.c - compact per-channel sample blocks: accumulate, summarise, encode, decode. */
/* SPDX-License-Identifier: MIT */
#include "block.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * Encoded block, version 1 (all varints are LEB128, little end first; "zz" is zigzag):
 *
 *   u8     version (1)
 *   u8     value mode: 0 raw, 1 first differences, 2 second differences
 *   varint n                      readings in the block
 *   varint t0                     first timestamp, µs
 *   zz     D                      the block's median timestamp step
 *   modes 1, 2 only:
 *     zz     v0                   first valid value (0 if none)
 *     varint q                    quantum: gcd of all (v - v0), 1 if none
 *   then per reading i:
 *     i > 0: zz  (t[i] - t[i-1]) - D, in wrapping 64-bit arithmetic (exact for any input)
 *     mode 0: u8 valid, then 8 bytes little-endian value if valid
 *     mode 1: varint token, 0 = missing, else zz(r) + 1 with r = (v - previous valid) / q
 *     mode 2: as mode 1 with r = that first difference minus the previous one
 *
 * Mode 0 is the fallback for values whose differences do not fit in 64 bits. The encoder picks
 * the smaller of modes 1 and 2: power readings compress best as first differences (they repeat
 * between sensor updates), energy counters as second differences (their steps are the power).
 */

#define BLOCK_VERSION 1
#define MODE_RAW 0
#define MODE_D1 1
#define MODE_D2 2
#define HEADER_MAX 64 /* 2 bytes + 5 varints of at most 10 bytes, rounded up */
#define READING_MAX 20 /* a timestamp varint + a value token, or a flag + 8 bytes */

/* Interval from a to b in µs; 0 when time did not advance. */
static uint64_t span_us(uint64_t a, uint64_t b)
{
	return b > a ? b - a : 0;
}

static uint64_t zz(int64_t x)
{
	return ((uint64_t)x << 1) ^ (x < 0 ? UINT64_MAX : 0);
}

static int64_t unzz(uint64_t u)
{
	return (int64_t)((u >> 1) ^ (0 - (u & 1)));
}

static size_t put_varint(uint8_t *p, uint64_t x)
{
	size_t i = 0;

	while (x >= 0x80) {
		p[i++] = (uint8_t)(x | 0x80);
		x >>= 7;
	}
	p[i++] = (uint8_t)x;
	return i;
}

static size_t varint_len(uint64_t x)
{
	size_t n = 1;

	while (x >= 0x80) {
		x >>= 7;
		n++;
	}
	return n;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t r = a % b;
		a = b;
		b = r;
	}
	return a;
}

void nrg_block_init(struct nrg_block *b, const struct nrg_channel_info *ci, uint64_t max_gap_us)
{
	b->q = ci->quantity;
	b->max_gap_us = max_gap_us;
	nrg_counter_init(&b->ctr, ci->quantity == NRG_Q_ENERGY ? ci->range_uj : 0);
	b->have_prev = false;
	b->prev_t = 0;
	b->prev_v = 0;
	b->cum = 0;
	b->seq = 0;
	b->n = b->n_valid = 0;
	b->cum_first_set = false;
	b->cum_first = 0;
	b->v_min = b->v_max = 0;
	b->covered_us = 0;
}

bool nrg_block_push(struct nrg_block *b, uint64_t t_us, int64_t raw, bool valid)
{
	int64_t val = 0;

	if (b->n >= NRG_BLOCK_MAX)
		return true; /* caller did not call nrg_block_next(); refuse to overrun */
	if (valid) {
		if (b->q == NRG_Q_ENERGY) {
			nrg_counter_update(&b->ctr, (uint64_t)raw);
			val = (int64_t)b->ctr.total;
			b->cum = (double)val;
		} else {
			val = raw;
			if (b->q == NRG_Q_POWER && b->have_prev)
				b->cum += nrg_trapezoid_uj(span_us(b->prev_t, t_us), b->prev_v, val);
		}
		if (b->have_prev) {
			uint64_t dt = span_us(b->prev_t, t_us);
			if (dt <= b->max_gap_us)
				b->covered_us += dt;
		}
		if (!b->cum_first_set) {
			b->cum_first = b->cum;
			b->cum_first_set = true;
		}
		if (b->n_valid == 0 || val < b->v_min)
			b->v_min = val;
		if (b->n_valid == 0 || val > b->v_max)
			b->v_max = val;
		b->n_valid++;
		b->have_prev = true;
		b->prev_t = t_us;
		b->prev_v = val;
	}
	b->t[b->n] = t_us;
	b->v[b->n] = val;
	b->valid[b->n] = valid;
	b->n++;
	return b->n == NRG_BLOCK_MAX;
}

size_t nrg_block_bound(const struct nrg_block *b)
{
	return HEADER_MAX + (size_t)b->n * READING_MAX;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The median timestamp step of the block (0 for a single reading). */
static int64_t median_step(const struct nrg_block *b)
{
	int64_t d[NRG_BLOCK_MAX];
	uint32_t m = b->n - 1;

	if (b->n < 2)
		return 0;
	for (uint32_t i = 1; i < b->n; i++)
		d[i - 1] = (int64_t)(b->t[i] - b->t[i - 1]);
	qsort(d, m, sizeof *d, cmp_i64);
	return d[m / 2];
}

struct vplan {
	int mode;
	int64_t v0;
	uint64_t q;
};

/*
 * Residual of a valid value for modes 1/2. *prev_d is the previous valid value's difference to
 * v0 and *prev_e the previous first difference in quanta. Returns false if it does not fit.
 */
static bool residual(int64_t v, const struct vplan *p, int mode, int64_t *prev_d, int64_t *prev_e,
		     int64_t *r)
{
	int64_t d, e;

	if (__builtin_sub_overflow(v, p->v0, &d) || __builtin_sub_overflow(d, *prev_d, &e))
		return false;
	e /= (int64_t)p->q; /* exact: q divides every d */
	if (mode == MODE_D1) {
		*r = e;
	} else if (__builtin_sub_overflow(e, *prev_e, r)) {
		return false;
	}
	*prev_d = d;
	*prev_e = e;
	return *r != INT64_MIN; /* zz(INT64_MIN) + 1 would wrap to the "missing" token */
}

/* Choose the value mode, the first valid value and the quantum. */
static void plan_values(const struct nrg_block *b, struct vplan *p)
{
	uint64_t g = 0;
	bool first = true;
	size_t size[3] = { 0, 0, 0 };
	bool fits[3] = { true, true, true };

	p->mode = MODE_D1;
	p->v0 = 0;
	p->q = 1;
	for (uint32_t i = 0; i < b->n; i++) {
		int64_t d;

		if (!b->valid[i])
			continue;
		if (first) {
			p->v0 = b->v[i];
			first = false;
		}
		if (__builtin_sub_overflow(b->v[i], p->v0, &d)) {
			p->mode = MODE_RAW;
			return;
		}
		g = gcd_u64(g, d < 0 ? 0 - (uint64_t)d : (uint64_t)d);
	}
	if (g > (uint64_t)INT64_MAX) {
		p->mode = MODE_RAW;
		return;
	}
	p->q = g ? g : 1;
	for (int mode = MODE_D1; mode <= MODE_D2; mode++) {
		int64_t prev_d = 0, prev_e = 0, r;

		for (uint32_t i = 0; i < b->n && fits[mode]; i++) {
			if (!b->valid[i])
				continue;
			if (!residual(b->v[i], p, mode, &prev_d, &prev_e, &r))
				fits[mode] = false;
			else
				size[mode] += varint_len(zz(r) + 1);
		}
	}
	if (!fits[MODE_D1])
		p->mode = MODE_RAW; /* mode 2 needs the first differences too */
	else if (fits[MODE_D2] && size[MODE_D2] < size[MODE_D1])
		p->mode = MODE_D2;
	else
		p->mode = MODE_D1;
}

size_t nrg_block_encode(const struct nrg_block *b, int channel, uint8_t *buf, size_t cap,
			struct nrg_block_row *row)
{
	struct vplan plan;
	int64_t step, prev_d = 0, prev_e = 0;
	size_t len = 0;

	if (b->n == 0 || !buf || cap < nrg_block_bound(b))
		return 0;
	step = median_step(b);
	plan_values(b, &plan);
	buf[len++] = BLOCK_VERSION;
	buf[len++] = (uint8_t)plan.mode;
	len += put_varint(buf + len, b->n);
	len += put_varint(buf + len, b->t[0]);
	len += put_varint(buf + len, zz(step));
	if (plan.mode != MODE_RAW) {
		len += put_varint(buf + len, zz(plan.v0));
		len += put_varint(buf + len, plan.q);
	}
	for (uint32_t i = 0; i < b->n; i++) {
		if (i > 0)
			len += put_varint(buf + len,
					  zz((int64_t)((b->t[i] - b->t[i - 1]) - (uint64_t)step)));
		if (plan.mode == MODE_RAW) {
			buf[len++] = b->valid[i] ? 1 : 0;
			if (b->valid[i]) {
				uint64_t u = (uint64_t)b->v[i];
				for (int k = 0; k < 8; k++)
					buf[len++] = (uint8_t)(u >> (8 * k));
			}
		} else if (!b->valid[i]) {
			buf[len++] = 0;
		} else {
			int64_t r = 0;
			/* cannot fail: plan_values() checked every residual of this mode */
			(void)residual(b->v[i], &plan, plan.mode, &prev_d, &prev_e, &r);
			len += put_varint(buf + len, zz(r) + 1);
		}
	}
	if (row) {
		row->channel = channel;
		row->seq = b->seq;
		row->t_first = b->t[0];
		row->t_last = b->t[b->n - 1];
		row->n = b->n;
		row->n_valid = b->n_valid;
		row->v_min = b->v_min;
		row->v_max = b->v_max;
		row->cum_first = b->cum_first_set ? b->cum_first : b->cum;
		row->cum_last = b->cum;
		row->covered_us = b->covered_us;
		row->data = buf;
		row->len = len;
	}
	return len;
}

void nrg_block_next(struct nrg_block *b)
{
	b->seq++;
	b->n = b->n_valid = 0;
	b->cum_first_set = false;
	b->cum_first = 0;
	b->v_min = b->v_max = 0;
	b->covered_us = 0;
}

/* ---- decoding: every read is bounds-checked; anything inconsistent is -EINVAL ------------- */

struct reader {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t get_varint(struct reader *r)
{
	uint64_t x = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t c;

		if (r->p >= r->end) {
			r->bad = true;
			return 0;
		}
		c = *r->p++;
		if (shift == 63 && c > 1) { /* more than 64 bits */
			r->bad = true;
			return 0;
		}
		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return x;
	}
	r->bad = true;
	return 0;
}

static uint8_t get_u8(struct reader *r)
{
	if (r->p >= r->end) {
		r->bad = true;
		return 0;
	}
	return *r->p++;
}

int nrg_block_decode(const struct nrg_block_row *row, enum nrg_quantity q, uint64_t *t, int64_t *v,
		     bool *valid, double *cum, size_t cap)
{
	struct reader r;
	uint64_t n, quantum = 1;
	int64_t step, v0 = 0, prev_v, prev_e = 0, vmin = 0, vmax = 0;
	uint32_t n_valid = 0;
	int mode;

	if (!row || !row->data || !t || !v || !valid)
		return -EINVAL;
	r = (struct reader){ .p = row->data, .end = row->data + row->len };
	if (get_u8(&r) != BLOCK_VERSION)
		return -EINVAL;
	mode = get_u8(&r);
	n = get_varint(&r);
	if (r.bad || mode > MODE_D2 || n == 0 || n > NRG_BLOCK_MAX || n > cap || n != row->n)
		return -EINVAL;
	t[0] = get_varint(&r);
	step = unzz(get_varint(&r));
	if (mode != MODE_RAW) {
		v0 = unzz(get_varint(&r));
		quantum = get_varint(&r);
		if (quantum == 0 || quantum > (uint64_t)INT64_MAX)
			return -EINVAL;
	}
	prev_v = v0;
	for (uint64_t i = 0; i < n && !r.bad; i++) {
		if (i > 0)
			t[i] = t[i - 1] + (uint64_t)unzz(get_varint(&r)) + (uint64_t)step;
		if (mode == MODE_RAW) {
			uint8_t f = get_u8(&r);
			uint64_t u = 0;

			if (f > 1)
				return -EINVAL;
			valid[i] = f;
			for (int k = 0; f && k < 8; k++)
				u |= (uint64_t)get_u8(&r) << (8 * k);
			v[i] = (int64_t)u;
		} else {
			uint64_t tok = get_varint(&r);
			int64_t res, e;

			valid[i] = tok != 0;
			v[i] = 0;
			if (!tok)
				continue;
			res = unzz(tok - 1);
			if (mode == MODE_D2) {
				if (__builtin_add_overflow(prev_e, res, &res))
					return -EINVAL;
				prev_e = res;
			}
			if (__builtin_mul_overflow(res, (int64_t)quantum, &e) ||
			    __builtin_add_overflow(prev_v, e, &prev_v))
				return -EINVAL;
			v[i] = prev_v;
		}
		if (valid[i]) {
			if (n_valid == 0 || v[i] < vmin)
				vmin = v[i];
			if (n_valid == 0 || v[i] > vmax)
				vmax = v[i];
			n_valid++;
		}
	}
	if (r.bad || r.p != r.end || n_valid != row->n_valid || t[0] != row->t_first ||
	    t[n - 1] != row->t_last || (n_valid && (vmin != row->v_min || vmax != row->v_max)))
		return -EINVAL;
	if (cum) {
		double c = row->cum_first;
		bool have = false;
		uint64_t pt = 0;
		int64_t pv = 0;

		for (uint64_t i = 0; i < n; i++) {
			if (valid[i]) {
				if (q == NRG_Q_ENERGY)
					c = (double)v[i];
				else if (q == NRG_Q_POWER && have)
					c += nrg_trapezoid_uj(span_us(pt, t[i]), pv, v[i]);
				have = true;
				pt = t[i];
				pv = v[i];
			}
			cum[i] = (q == NRG_Q_ENERGY || q == NRG_Q_POWER) ? c : 0;
		}
	}
	return (int)n;
}
