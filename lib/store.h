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

/* ---- sweeps (nrg sweep) ---- */

enum nrg_point_kind { NRG_POINT_RUN, NRG_POINT_BASELINE, NRG_POINT_WARMUP };

struct nrg_sweep_info {
	int64_t id;
	int64_t created_us;   /* µs since the epoch */
	char *command_json;   /* JSON array of argv strings; owned */
	char *spec_json;      /* JSON object describing the sweep; owned */
	char state[16];       /* "running", "done", "interrupted" */
};

/* One point of a sweep: a run of the command at a limit with one parameter setting. */
struct nrg_sweep_point {
	int idx;                  /* order of execution, from 0 */
	enum nrg_point_kind kind; /* a measured run, the idle baseline, or a warm-up run */
	int64_t limit_uw;         /* -1: the default limit */
	char *params_json;        /* JSON object NAME -> value string; owned */
	int rep;                  /* repetition, from 1 */
	int64_t run_id;           /* the stored run, 0 when not run yet */
	char status[12];          /* "pending", "done", "failed" */
	int exit_status;          /* the command's exit status, -1 if unknown */
};

/* Store a new sweep (state "running") with its points, all pending, in one transaction.
 * Returns 0 with *sweep_id, or -errno. */
int nrg_store_sweep_create(nrg_store *st, const char *command_json, const char *spec_json,
			   const struct nrg_sweep_point *pts, size_t n, int64_t *sweep_id);
/* Read a sweep; free with nrg_sweep_info_free. Returns 0, -ENOENT, or -errno. */
int nrg_store_sweep_get(nrg_store *st, int64_t sweep_id, struct nrg_sweep_info *out);
void nrg_sweep_info_free(struct nrg_sweep_info *si);
/* id of the newest sweep, or -ENOENT. */
int nrg_store_latest_sweep(nrg_store *st, int64_t *sweep_id);
/* The points of a sweep in idx order (malloc'd; free with nrg_sweep_points_free). */
int nrg_store_sweep_points(nrg_store *st, int64_t sweep_id, struct nrg_sweep_point **out, size_t *n);
void nrg_sweep_points_free(struct nrg_sweep_point *pts, size_t n);
/* Record the outcome of point idx: its run (0: none), "done"/"failed"/"pending", exit status
 * (-1: unknown). Returns 0, -ENOENT if no such point, or -errno. */
int nrg_store_sweep_point_set(nrg_store *st, int64_t sweep_id, int idx, int64_t run_id, const char *status,
			      int exit_status);
/* Set the sweep's state: "running", "done" or "interrupted". Returns 0, -ENOENT or -errno. */
int nrg_store_sweep_state(nrg_store *st, int64_t sweep_id, const char *state);

#endif
