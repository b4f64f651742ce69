/* recorder.c - the sampling thread and the store writer thread of a recording run. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block.h"
#include "events.h"
#include "session.h"
#include "store.h"

#define SLOW_PERIOD_US 1000000u  /* gauges (utilisation, clocks, ...) about once a second */
#define FLUSH_PERIOD_US 1000000u /* open blocks reach the store at least this often */
#define RING_SECONDS 10u         /* queue depth between sampler and writer */
#define RING_MIN 1024u
#define SETTLE_PRECISE_US 2000u /* an update seen this soon after the last reading is placed */
#define RING_MAX_BYTES (64u << 20)

struct nrg_recorder {
	nrg_session *s;
	nrg_store *st;
	int64_t run_id;
	uint64_t interval_us;
	size_t n_chan;

	pthread_mutex_t read_lock; /* serialises nrg_session_read and the push that follows */
	uint64_t last_slow_us;

	/* ring of records, each n_chan values; guarded by ring_lock */
	pthread_mutex_t ring_lock;
	pthread_cond_t ring_cond;
	pthread_cond_t stop_cond; /* wakes the sampler when stopping */
	struct nrg_value *ring;
	size_t ring_cap, head, count;
	bool stopping;        /* sampler: stop */
	bool writer_stopping; /* writer: drain, flush and stop (set after the sampler is joined) */

	pthread_t sampler, writer;
	bool sampler_started, writer_started;
	struct nrg_value *tick_vals; /* sampler's scratch */
	struct nrg_value *mark_vals; /* mark/settle scratch, under read_lock */

	struct nrg_block *blocks; /* writer-owned, one per channel */
	uint8_t *enc;
	size_t enc_cap;
	int write_err;

	struct nrg_recorder_stats stats; /* under ring_lock */

	struct nrg_ring *events;      /* region events to drain into the store, or NULL */
	struct nrg_event *ev_buf;     /* writer-owned: events collected, not yet stored */
	size_t ev_len, ev_cap;
	uint64_t ev_lost_stored;      /* events-lost count already added to the run */
};

#define EV_BATCH 4096

static void push(nrg_recorder *r, const struct nrg_value *vals)
{
	pthread_mutex_lock(&r->ring_lock);
	if (r->count == r->ring_cap) {
		r->stats.dropped++;
	} else {
		size_t slot = (r->head + r->count) % r->ring_cap;

		memcpy(r->ring + slot * r->n_chan, vals, r->n_chan * sizeof *vals);
		r->count++;
		if (r->count * 2 >= r->ring_cap)
			pthread_cond_signal(&r->ring_cond);
	}
	pthread_mutex_unlock(&r->ring_lock);
}

/* Read every source once and queue the record. Caller holds read_lock. */
static uint64_t sample_locked(nrg_recorder *r, struct nrg_value *vals, bool force_slow)
{
	uint64_t t0 = nrg_now_us();
	bool slow = force_slow || t0 - r->last_slow_us >= SLOW_PERIOD_US;

	if (slow)
		r->last_slow_us = t0;
	nrg_session_read(r->s, slow, vals);
	push(r, vals);
	return t0;
}

static void *sampler_main(void *arg)
{
	nrg_recorder *r = arg;
	struct timespec next;
	uint64_t next_ns;

	/* Wake up on time: the default 50 µs timer slack is jitter at 1 kHz. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	clock_gettime(CLOCK_MONOTONIC, &next);
	next_ns = (uint64_t)next.tv_sec * 1000000000u + (uint64_t)next.tv_nsec;
	for (;;) {
		struct timespec now;
		uint64_t now_ns, t_read0, t_read1, late;

		next_ns += r->interval_us * 1000u;
		next.tv_sec = (time_t)(next_ns / 1000000000u);
		next.tv_nsec = (long)(next_ns % 1000000000u);
		pthread_mutex_lock(&r->ring_lock);
		while (!r->stopping && pthread_cond_clockwait(&r->stop_cond, &r->ring_lock, CLOCK_MONOTONIC, &next) == 0)
			;
		bool stop = r->stopping;
		pthread_mutex_unlock(&r->ring_lock);
		if (stop)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
		late = now_ns > next_ns ? now_ns - next_ns : 0;
		pthread_mutex_lock(&r->read_lock);
		t_read0 = nrg_now_us();
		sample_locked(r, r->tick_vals, false);
		t_read1 = nrg_now_us();
		pthread_mutex_unlock(&r->read_lock);

		pthread_mutex_lock(&r->ring_lock);
		r->stats.ticks++;
		r->stats.read_ns_total += (t_read1 - t_read0) * 1000u;
		if ((t_read1 - t_read0) * 1000u > r->stats.read_ns_max)
			r->stats.read_ns_max = (t_read1 - t_read0) * 1000u;
		r->stats.lateness_ns_total += late;
		if (late > r->stats.lateness_ns_max)
			r->stats.lateness_ns_max = late;
		/* Overran: skip the ticks that are already past rather than bursting. */
		if (now_ns > next_ns + r->interval_us * 1000u) {
			uint64_t skip = (now_ns - next_ns) / (r->interval_us * 1000u);

			r->stats.missed_ticks += skip;
			next_ns += skip * r->interval_us * 1000u;
		}
		pthread_mutex_unlock(&r->ring_lock);
	}
	return NULL;
}

/* Encode the open block of channel c and store it (insert or replace). */
static int put_open_block(nrg_recorder *r, size_t c)
{
	struct nrg_block_row row;
	size_t need = nrg_block_bound(&r->blocks[c]);

	if (need > r->enc_cap) {
		uint8_t *p = realloc(r->enc, need);

		if (!p)
			return -ENOMEM;
		r->enc = p;
		r->enc_cap = need;
	}
	if (!nrg_block_encode(&r->blocks[c], (int)c, r->enc, r->enc_cap, &row))
		return 0;
	return nrg_store_put_block(r->st, r->run_id, &row);
}

/* Move queued records into blocks; full blocks go to the store. Writer thread only. */
static int drain(nrg_recorder *r, struct nrg_value *rec, bool *in_batch)
{
	int err = 0;

	for (;;) {
		pthread_mutex_lock(&r->ring_lock);
		if (!r->count) {
			pthread_mutex_unlock(&r->ring_lock);
			break;
		}
		memcpy(rec, r->ring + r->head * r->n_chan, r->n_chan * sizeof *rec);
		r->head = (r->head + 1) % r->ring_cap;
		r->count--;
		pthread_mutex_unlock(&r->ring_lock);

		for (size_t c = 0; c < r->n_chan; c++) {
			const struct nrg_channel_info *ci = nrg_channel_get(r->s, c);

			/* A slow channel not due this tick carries no reading at all. */
			if (ci->slow && !rec[c].valid && !rec[c].t_us)
				continue;
			if (!rec[c].t_us)
				rec[c].t_us = rec[0].t_us ? rec[0].t_us : nrg_now_us();
			if (nrg_block_push(&r->blocks[c], rec[c].t_us, rec[c].v, rec[c].valid)) {
				if (!*in_batch) {
					if ((err = nrg_store_batch_begin(r->st)) < 0)
						return err;
					*in_batch = true;
				}
				if ((err = put_open_block(r, c)) < 0)
					return err;
				nrg_block_next(&r->blocks[c]);
			}
		}
	}
	return err;
}

/* Take the region events that arrived off the ring (writer thread, every wake-up, so the ring
 * empties about five times a second however rarely the store is written). */
static int collect_events(nrg_recorder *r)
{
	struct nrg_ring *ring = __atomic_load_n(&r->events, __ATOMIC_ACQUIRE);
	size_t n;

	if (!ring)
		return 0;
	for (;;) {
		if (r->ev_len == r->ev_cap) {
			size_t cap = r->ev_cap ? r->ev_cap * 2 : EV_BATCH;
			struct nrg_event *v = realloc(r->ev_buf, cap * sizeof *v);

			if (!v)
				return -ENOMEM;
			r->ev_buf = v;
			r->ev_cap = cap;
		}
		n = nrg_ring_drain(ring, r->ev_buf + r->ev_len, r->ev_cap - r->ev_len);
		if (!n)
			break;
		r->ev_len += n;
	}
	return 0;
}

/* Store the collected events and the count of lost ones (inside the open batch). */
static int store_events(nrg_recorder *r)
{
	struct nrg_ring *ring = __atomic_load_n(&r->events, __ATOMIC_ACQUIRE);
	uint64_t lost;
	int err;

	if (!ring)
		return 0;
	if ((err = collect_events(r)) < 0)
		return err;
	if (r->ev_len && (err = nrg_store_put_events(r->st, r->run_id, r->ev_buf, r->ev_len)) < 0)
		return err;
	r->ev_len = 0;
	lost = nrg_ring_dropped(ring);
	if (lost > r->ev_lost_stored) {
		if ((err = nrg_store_events_lost(r->st, r->run_id, lost - r->ev_lost_stored)) < 0)
			return err;
		r->ev_lost_stored = lost;
	}
	return 0;
}

/* Store every open block (rewriting the row of a block still growing) and the region events
 * that arrived, and commit. */
static int flush(nrg_recorder *r, bool *in_batch)
{
	int err;

	if (!*in_batch) {
		if ((err = nrg_store_batch_begin(r->st)) < 0)
			return err;
		*in_batch = true;
	}
	if ((err = store_events(r)) < 0)
		return err;
	for (size_t c = 0; c < r->n_chan; c++)
		if ((err = put_open_block(r, c)) < 0)
			return err;
	*in_batch = false;
	return nrg_store_batch_commit(r->st);
}

static void *writer_main(void *arg)
{
	nrg_recorder *r = arg;
	struct nrg_value *rec = calloc(r->n_chan ? r->n_chan : 1, sizeof *rec);
	uint64_t last_flush = nrg_now_us();
	bool in_batch = false, stop = false;
	int err = rec ? 0 : -ENOMEM;

	while (!err && !stop) {
		struct timespec dl;

		clock_gettime(CLOCK_REALTIME, &dl);
		/* 200 ms between drains; 20 ms while region events may arrive (their ring). */
		dl.tv_nsec += (__atomic_load_n(&r->events, __ATOMIC_ACQUIRE) ? 20 : 200) * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&r->ring_lock);
		if (!r->writer_stopping && r->count * 2 < r->ring_cap)
			pthread_cond_timedwait(&r->ring_cond, &r->ring_lock, &dl);
		stop = r->writer_stopping;
		pthread_mutex_unlock(&r->ring_lock);

		err = drain(r, rec, &in_batch);
		if (!err)
			err = collect_events(r);
		if (!err && (stop || nrg_now_us() - last_flush >= FLUSH_PERIOD_US)) {
			err = flush(r, &in_batch);
			last_flush = nrg_now_us();
		}
	}
	if (in_batch && err)
		nrg_store_batch_commit(r->st);
	free(rec);
	r->write_err = err;
	return NULL;
}

int nrg_recorder_start(nrg_recorder **out, nrg_session *s, nrg_store *st, int64_t run_id,
		       uint64_t interval_us, char *err, size_t errlen)
{
	nrg_recorder *r;
	size_t n = nrg_channel_count(s), cap;

	*out = NULL;
	if (interval_us < 1000 || interval_us > 60000000u) {
		snprintf(err, errlen, "sampling interval must be between 1 ms and 60 s");
		return -EINVAL;
	}
	r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	r->s = s;
	r->st = st;
	r->run_id = run_id;
	r->interval_us = interval_us;
	r->n_chan = n;
	cap = RING_SECONDS * 1000000u / interval_us;
	if (cap < RING_MIN)
		cap = RING_MIN;
	if (n && cap > RING_MAX_BYTES / (n * sizeof(struct nrg_value)))
		cap = RING_MAX_BYTES / (n * sizeof(struct nrg_value));
	r->ring_cap = cap;
	pthread_mutex_init(&r->read_lock, NULL);
	pthread_mutex_init(&r->ring_lock, NULL);
	pthread_cond_init(&r->ring_cond, NULL);
	pthread_cond_init(&r->stop_cond, NULL);
	r->ring = calloc(cap * (n ? n : 1), sizeof *r->ring);
	r->tick_vals = calloc(n ? n : 1, sizeof *r->tick_vals);
	r->mark_vals = calloc(n ? n : 1, sizeof *r->mark_vals);
	r->blocks = calloc(n ? n : 1, sizeof *r->blocks);
	if (!r->ring || !r->tick_vals || !r->mark_vals || !r->blocks) {
		nrg_recorder_stop(r);
		return -ENOMEM;
	}
	for (size_t c = 0; c < n; c++) {
		const struct nrg_channel_info *ci = nrg_channel_get(s, c);
		uint64_t gap = ci->slow ? 3 * SLOW_PERIOD_US : 4 * interval_us;

		if (gap < 2u * ci->update_us)
			gap = 2u * ci->update_us;
		nrg_block_init(&r->blocks[c], ci, gap);
	}
	/* A first reading now: counters and rates get their baseline before any bracket. */
	pthread_mutex_lock(&r->read_lock);
	sample_locked(r, r->mark_vals, true);
	pthread_mutex_unlock(&r->read_lock);
	if (pthread_create(&r->writer, NULL, writer_main, r) != 0) {
		nrg_recorder_stop(r);
		snprintf(err, errlen, "cannot start the store writer thread");
		return -EAGAIN;
	}
	r->writer_started = true;
	if (pthread_create(&r->sampler, NULL, sampler_main, r) != 0) {
		nrg_recorder_stop(r);
		snprintf(err, errlen, "cannot start the sampling thread");
		return -EAGAIN;
	}
	r->sampler_started = true;
	*out = r;
	return 0;
}

int nrg_recorder_mark(nrg_recorder *r, uint64_t *t_us)
{
	uint64_t t;

	pthread_mutex_lock(&r->read_lock);
	t = sample_locked(r, r->mark_vals, false);
	pthread_mutex_unlock(&r->read_lock);
	if (t_us)
		*t_us = t;
	return 0;
}

int nrg_recorder_settle(nrg_recorder *r, unsigned changes, uint64_t max_us, bool (*until)(void *ctx),
			void *ctx)
{
	size_t n = r->n_chan;
	int64_t *last = calloc(n ? n : 1, sizeof *last);
	uint64_t *last_t = calloc(n ? n : 1, sizeof *last_t);
	unsigned *seen = calloc(n ? n : 1, sizeof *seen);
	bool *have = calloc(n ? n : 1, sizeof *have);
	uint64_t t_end = nrg_now_us() + max_us;
	int rc = 0;

	if (!last || !last_t || !seen || !have) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		bool pending = false;
		struct timespec ms = { 0, 1000000L };

		pthread_mutex_lock(&r->read_lock);
		sample_locked(r, r->mark_vals, false);
		for (size_t c = 0; c < n; c++) {
			const struct nrg_channel_info *ci = nrg_channel_get(r->s, c);
			const struct nrg_value *v = &r->mark_vals[c];

			if (ci->quantity != NRG_Q_ENERGY || !v->valid)
				continue;
			/* Only an update seen within SETTLE_PRECISE_US of the previous reading places
			 * it in time; on a loaded machine a late reading does not count, and the
			 * dense sampling goes on to the next update. */
			if (have[c] && v->v != last[c] && v->t_us - last_t[c] <= SETTLE_PRECISE_US)
				seen[c]++;
			have[c] = true;
			last[c] = v->v;
			last_t[c] = v->t_us;
		}
		pthread_mutex_unlock(&r->read_lock);
		for (size_t c = 0; c < n; c++)
			if (have[c] && seen[c] < changes)
				pending = true;
		if (until && until(ctx)) {
			rc = 1;
			break;
		}
		if (!pending || nrg_now_us() >= t_end)
			break;
		nanosleep(&ms, NULL);
	}
out:
	free(last);
	free(last_t);
	free(seen);
	free(have);
	return rc;
}

void nrg__recorder_events(nrg_recorder *r, struct nrg_ring *ring)
{
	__atomic_store_n(&r->events, ring, __ATOMIC_RELEASE);
}

void nrg_recorder_get_stats(const nrg_recorder *r, struct nrg_recorder_stats *out)
{
	pthread_mutex_lock((pthread_mutex_t *)&r->ring_lock);
	*out = r->stats;
	pthread_mutex_unlock((pthread_mutex_t *)&r->ring_lock);
}

int nrg_recorder_stop(nrg_recorder *r)
{
	int err;

	if (!r)
		return 0;
	pthread_mutex_lock(&r->ring_lock);
	r->stopping = true;
	pthread_cond_signal(&r->stop_cond);
	pthread_mutex_unlock(&r->ring_lock);
	if (r->sampler_started)
		pthread_join(r->sampler, NULL);
	pthread_mutex_lock(&r->ring_lock);
	r->writer_stopping = true;
	pthread_cond_signal(&r->ring_cond);
	pthread_mutex_unlock(&r->ring_lock);
	if (r->writer_started)
		pthread_join(r->writer, NULL);
	err = r->write_err;
	pthread_mutex_destroy(&r->read_lock);
	pthread_mutex_destroy(&r->ring_lock);
	pthread_cond_destroy(&r->ring_cond);
	pthread_cond_destroy(&r->stop_cond);
	free(r->ring);
	free(r->tick_vals);
	free(r->mark_vals);
	free(r->blocks);
	free(r->enc);
	free(r->ev_buf);
	free(r);
	return err;
}
