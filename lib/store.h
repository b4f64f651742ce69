/* store.h - internal store calls used by the recorder and the report (only store.c uses SQLite). */
/* SPDX-License-Identifier: MIT */
#ifndef NRG_STORE_H
#define NRG_STORE_H

#include "block.h"
#include "nrg.h"

/* Group writes: begin an IMMEDIATE transaction (retrying while another writer holds the lock),
 * then commit. Blocks written in between become visible and durable together. */
int nrg_store_batch_begin(nrg_store *st);
int nrg_store_batch_commit(nrg_store *st);
/* Insert or replace (run, row->channel, row->seq): an open block is rewritten as it grows. */
int nrg_store_put_block(nrg_store *st, int64_t run_id, const struct nrg_block_row *row);

typedef int (*nrg_block_cb)(const struct nrg_block_row *row, void *ctx);
/* Call cb for each block of (run, channel) overlapping [t0_us, t1_us], in time order; row->data
 * is valid during the call only. A non-zero return from cb stops and is returned. */
int nrg_store_blocks(nrg_store *st, int64_t run_id, int channel, uint64_t t0_us, uint64_t t1_us,
		     nrg_block_cb cb, void *ctx);

/* Like nrg_store_blocks, but summaries only: row->data is NULL and row->len 0 (fast). */
int nrg_store_block_summaries(nrg_store *st, int64_t run_id, int channel, uint64_t t0_us, uint64_t t1_us,
			      nrg_block_cb cb, void *ctx);
/* Run SQLite's integrity check. Returns 0, or -EIO with the first problem in err. */
int nrg_store_check(nrg_store *st, char *err, size_t errlen);

/* Store events of a run (inside or outside a batch). Returns 0 or -errno. */
int nrg_store_put_events(nrg_store *st, int64_t run_id, const struct nrg_event *ev, size_t n);
/* All events of a run in time order (malloc'd array; caller frees). */
int nrg_store_events(nrg_store *st, int64_t run_id, struct nrg_event **out, size_t *n);
/* Add to the run's count of events lost to a full ring. */
int nrg_store_events_lost(nrg_store *st, int64_t run_id, uint64_t lost);

/* Devices and channels of a stored run (malloc'd arrays; caller frees). */
int nrg_store_run_layout(nrg_store *st, int64_t run_id, struct nrg_device_info **devs, size_t *nd,
			 struct nrg_channel_info **chans, size_t *nc);

#endif
