/* bench-store.c - store benchmark: ingest rate through blocks + SQLite, file size, report-query time. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block.h"
#include "session.h"
#include "store.h"

/*
 * Usage: bench-store [DAYS [DB]]   (default 1 day, a temporary database that is removed)
 *
 * Simulates 16 channels sampled at 100 Hz for DAYS of run time: 8 NVML-like power channels
 * (whole mW, refreshed every 20 ms) and 8 RAPL-like energy counters (µJ in 61.035 µJ units,
 * refreshed every 1 ms, wrapping at 2^32 µJ). Readings go through the same path as the recorder:
 * blocks are pushed in 1-second batches, every open block is rewritten at each batch commit, full
 * blocks are written once. Prints the ingest rate, the bytes per reading, the file size, and the
 * time to (a) sum every block summary of the run and (b) decode every reading. Timings are
 * printed, never asserted.
 */


#define NCHAN 16
#define HZ 100

static uint64_t rng = 0x2545f4914f6cdd1du;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct sums {
	uint64_t n, n_valid, covered, blocks, bytes;
	double first_cum, last_cum;
	int64_t vmax;
	bool have;
};

static int sum_cb(const struct nrg_block_row *row, void *ctx)
{
	struct sums *s = ctx;

	if (!s->have) {
		s->first_cum = row->cum_first;
		s->have = true;
	}
	s->last_cum = row->cum_last;
	s->n += row->n;
	s->n_valid += row->n_valid;
	s->covered += row->covered_us;
	s->blocks++;
	s->bytes += row->len;
	if (row->n_valid && row->v_max > s->vmax)
		s->vmax = row->v_max;
	return 0;
}

struct decode_ctx {
	enum nrg_quantity q;
	uint64_t readings;
	double cum;
	uint64_t t[NRG_BLOCK_MAX];
	int64_t v[NRG_BLOCK_MAX];
	bool valid[NRG_BLOCK_MAX];
	double c[NRG_BLOCK_MAX];
};

static int decode_cb(const struct nrg_block_row *row, void *ctx)
{
	struct decode_ctx *d = ctx;
	int n = nrg_block_decode(row, d->q, d->t, d->v, d->valid, d->c, NRG_BLOCK_MAX);

	if (n < 0)
		return n;
	d->readings += (uint64_t)n;
	d->cum = d->c[n - 1];
	return 0;
}

int main(int argc, char **argv)
{
	double days = argc > 1 ? strtod(argv[1], NULL) : 1.0;
	char path[512], err[512] = "";
	bool temp = argc <= 2;
	static struct nrg_device_info devs[NCHAN];
	static struct nrg_channel_info chans[NCHAN];
	static struct nrg_block blocks[NCHAN];
	static uint8_t enc[64 + NRG_BLOCK_MAX * 20];
	struct nrg_session sess = { .dev = devs, .n_dev = NCHAN, .chan = chans, .n_chan = NCHAN };
	struct nrg_run_info ri = { .command_json = "[\"bench\"]", .interval_us = 1000000 / HZ };
	uint64_t seconds, readings = 0, blob_bytes = 0, t0 = 1000000000;
	uint64_t energy[NCHAN] = { 0 }, last_refresh[NCHAN];
	double power_w[NCHAN], t_ingest, t_sum, t_decode, total_readings;
	int64_t mw[NCHAN], run;
	nrg_store *st = NULL;
	struct stat sb;
	int r;

	if (days <= 0 || days > 30) {
		fprintf(stderr, "usage: bench-store [DAYS (0 < DAYS <= 30) [DB]]\n");
		return 2;
	}
	seconds = (uint64_t)(days * 86400);
	if (temp) {
		const char *tmp = getenv("TMPDIR");
		snprintf(path, sizeof path, "%s/nrg-bench-store-%ld.db", tmp && *tmp ? tmp : "/tmp", (long)getpid());
	} else {
		snprintf(path, sizeof path, "%s", argv[2]);
	}
	for (int c = 0; c < NCHAN; c++) {
		bool power = c < NCHAN / 2;

		devs[c] = (struct nrg_device_info){ .kind = power ? NRG_KIND_GPU : NRG_KIND_CPU, .parent = -1,
						    .rated_uw = -1, .limit_min_uw = -1, .limit_max_uw = -1,
						    .limit_default_uw = -1, .visible = true };
		snprintf(devs[c].id, sizeof devs[c].id, "%s%d", power ? "gpu" : "cpu", c);
		chans[c] = (struct nrg_channel_info){ .device = c, .quantity = power ? NRG_Q_POWER : NRG_Q_ENERGY,
						      .range_uj = power ? 0 : UINT64_C(1) << 32 };
		snprintf(chans[c].name, sizeof chans[c].name, "%s", power ? "power" : "energy");
		nrg_block_init(&blocks[c], &chans[c], 1000000);
		mw[c] = 250000;
		power_w[c] = 100;
		last_refresh[c] = t0;
	}
	if ((r = nrg_store_open(&st, path, err, sizeof err)) < 0) {
		fprintf(stderr, "bench-store: %s\n", err);
		return 1;
	}
	if ((r = nrg_store_run_create(st, &sess, &ri, &run)) < 0) {
		fprintf(stderr, "bench-store: run_create: %s\n", strerror(-r));
		return 1;
	}
	printf("bench-store: %d channels x %d Hz x %.3g days (%" PRIu64 " s), database %s\n", NCHAN, HZ,
	       days, seconds, path);

	t_ingest = now_s();
	for (uint64_t s = 0; s < seconds; s++) {
		if ((r = nrg_store_batch_begin(st)) < 0)
			break;
		for (int k = 0; k < HZ && r >= 0; k++) {
			uint64_t tick = t0 + (s * HZ + (uint64_t)k) * (1000000 / HZ);

			for (int c = 0; c < NCHAN && r >= 0; c++) {
				uint64_t t = tick + (uint64_t)c * 20 + 5 + rnd() % 75; /* read order + lateness */
				int64_t v;

				if (c < NCHAN / 2) {
					if (k % 2 == 0) /* NVML refreshes every 20 ms */
						mw[c] = 250000 + (int64_t)(rnd() % 30001) - 15000 +
							(int64_t)((s / 60) % 2) * 100000;
					v = mw[c] * 1000;
				} else {
					uint64_t refreshed = t - t % 1000;

					power_w[c] += (double)((int64_t)(rnd() % 201) - 100) / 100.0;
					if (power_w[c] < 20)
						power_w[c] = 20;
					energy[c] += (uint64_t)(power_w[c] * (double)(refreshed - last_refresh[c]));
					last_refresh[c] = refreshed;
					v = (int64_t)((((energy[c] * 16384 / 1000000) * 1000000 / 16384)) % (UINT64_C(1) << 32));
				}
				readings++;
				if (nrg_block_push(&blocks[c], t, v, true)) {
					struct nrg_block_row row;

					blob_bytes += nrg_block_encode(&blocks[c], c, enc, sizeof enc, &row);
					r = nrg_store_put_block(st, run, &row);
					nrg_block_next(&blocks[c]);
				}
			}
		}
		/* the recorder rewrites every open block once a second */
		for (int c = 0; c < NCHAN && r >= 0; c++) {
			struct nrg_block_row row;

			if (nrg_block_encode(&blocks[c], c, enc, sizeof enc, &row))
				r = nrg_store_put_block(st, run, &row);
		}
		if (r >= 0)
			r = nrg_store_batch_commit(st);
	}
	if (r < 0) {
		fprintf(stderr, "bench-store: write failed: %s\n", strerror(-r));
		return 1;
	}
	for (int c = 0; c < NCHAN; c++) /* the open blocks' final size */
		if (blocks[c].n)
			blob_bytes += nrg_block_encode(&blocks[c], c, enc, sizeof enc, NULL);
	nrg_store_run_finish(st, run, t0, t0 + seconds * 1000000, 0, 0);
	t_ingest = now_s() - t_ingest;
	nrg_store_close(st);
	total_readings = (double)readings;
	stat(path, &sb);
	printf("ingest: %" PRIu64 " readings in %.1f s: %.2f M readings/s (%.0fx the rate of %d channels at %d Hz)\n",
	       readings, t_ingest, total_readings / t_ingest / 1e6, total_readings / t_ingest / (NCHAN * HZ),
	       NCHAN, HZ);
	printf("size: %.2f bytes/reading encoded, %.2f bytes/reading on disk, file %.1f MB\n",
	       (double)blob_bytes / total_readings, (double)sb.st_size / total_readings, (double)sb.st_size / 1e6);

	/* a fresh handle, as `nrg report` would have; the file is in the page cache */
	if ((r = nrg_store_open(&st, path, err, sizeof err)) < 0) {
		fprintf(stderr, "bench-store: %s\n", err);
		return 1;
	}
	t_sum = now_s();
	{
		uint64_t blocks_seen = 0, n = 0;
		double energy_j = 0;

		for (int c = 0; c < NCHAN; c++) {
			struct sums s = { 0 };

			nrg_store_block_summaries(st, run, c, 0, UINT64_MAX, sum_cb, &s);
			blocks_seen += s.blocks;
			n += s.n;
			energy_j += (s.last_cum - s.first_cum) * 1e-6;
		}
		t_sum = now_s() - t_sum;
		printf("summaries: %" PRIu64 " blocks, %" PRIu64 " readings, %.0f J, summed in %.3f s\n",
		       blocks_seen, n, energy_j, t_sum);
	}
	t_decode = now_s();
	{
		static struct decode_ctx d;
		uint64_t n = 0;

		for (int c = 0; c < NCHAN; c++) {
			d.q = chans[c].quantity;
			d.readings = 0;
			if ((r = nrg_store_blocks(st, run, c, 0, UINT64_MAX, decode_cb, &d)) < 0)
				fprintf(stderr, "bench-store: decode of channel %d failed: %s\n", c, strerror(-r));
			n += d.readings;
		}
		t_decode = now_s() - t_decode;
		printf("decode: %" PRIu64 " readings read and decoded in %.2f s (%.1f M readings/s)\n", n, t_decode,
		       (double)n / t_decode / 1e6);
	}
	nrg_store_close(st);
	if (days < 7) {
		double k = 7 / days;
		printf("a week (x%.1f, linear): file %.2f GB, ingest %.0f s of CPU in total, summaries %.2f s,"
		       " full decode %.1f s\n", k, (double)sb.st_size * k / 1e9, t_ingest * k, t_sum * k, t_decode * k);
	}
	if (temp) {
		char side[600];

		unlink(path);
		snprintf(side, sizeof side, "%s-wal", path);
		unlink(side);
		snprintf(side, sizeof side, "%s-shm", path);
		unlink(side);
	}
	return 0;
}
