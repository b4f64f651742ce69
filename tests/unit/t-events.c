/* t-events.c - the region event ring: many processes and threads at once lose no event. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "events.h"
#include "tap.h"

#define PROCS 4
#define THREADS 4
#define PAIRS 5000

static void *worker(void *arg)
{
	long id = (long)arg;
	char name[32];

	snprintf(name, sizeof name, "t%ld", id);
	for (int i = 0; i < PAIRS; i++)
		if (nrg_region_begin(name, NRG_REGION_TRAIN, -1, i) || nrg_add_units(1, "samples") ||
		    nrg_region_end(name))
			return (void *)1;
	return NULL;
}

static int worker_main(void)
{
	pthread_t th[THREADS];

	if (!nrg_watched())
		return 3;
	for (long t = 0; t < THREADS; t++)
		if (pthread_create(&th[t], NULL, worker, (void *)t) != 0)
			return 2;
	for (int t = 0; t < THREADS; t++) {
		void *r;

		pthread_join(th[t], &r);
		if (r)
			return 4; /* an event was refused */
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--worker"))
		return worker_main();

	char path[64], err[256];
	struct nrg_ring *ring;
	static struct nrg_event buf[1 << 16];
	pid_t pids[PROCS];
	uint64_t total = 0, per[PROCS][THREADS] = { { 0 } }, last_t[PROCS][THREADS] = { { 0 } };
	int64_t next_step[PROCS][THREADS] = { { 0 } };
	int32_t tids[PROCS][THREADS] = { { 0 } };
	bool order_ok = true, fields_ok = true;
	int alive = PROCS;

	is_i64(nrg_region_begin("x", NRG_REGION_TRAIN, -1, -1), -ENOTCONN, "nobody watching: -ENOTCONN");
	ok(!nrg_watched(), "and nrg_watched() says so");

	snprintf(path, sizeof path, "/tmp/nrg-t-events-%d", (int)getpid());
	ok(nrg_ring_create(&ring, path, NRG_RING_DEFAULT_CAP, err, sizeof err) == 0, "ring created %s", err);
	setenv("NRG_EVENTS", path, 1);
	/* This process attached once (and found nobody) above; workers are fresh processes
	 * started with the ring in their environment, as under nrg run. */
	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		if (pids[p] == 0) {
			char idx[8];

			snprintf(idx, sizeof idx, "%d", p);
			execl("/proc/self/exe", "t-events", "--worker", idx, (char *)NULL);
			_exit(127);
		}
	}
	/* Drain while they write: the ring (4096 slots) is far smaller than what they send. */
	for (;;) {
		size_t n = nrg_ring_drain(ring, buf, sizeof buf / sizeof *buf);

		for (size_t i = 0; i < n; i++) {
			const struct nrg_event *e = &buf[i];
			int p = -1, t = -1;

			for (int k = 0; k < PROCS; k++)
				if (e->pid == pids[k])
					p = k;
			if (p < 0) {
				fields_ok = false;
				continue;
			}
			/* threads are told apart by tid; the first begin of a tid names its thread */
			for (int k = 0; k < THREADS; k++)
				if (tids[p][k] == e->tid)
					t = k;
			if (t < 0 && e->type == NRG_EV_BEGIN && sscanf(e->name, "t%d", &t) == 1 && t >= 0 &&
			    t < THREADS && !tids[p][t])
				tids[p][t] = e->tid;
			else if (t < 0)
				t = -1;
			if (t < 0) {
				fields_ok = false;
				continue;
			}
			total++;
			per[p][t]++;
			if (e->t_us < last_t[p][t])
				order_ok = false;
			last_t[p][t] = e->t_us;
			if (e->type == NRG_EV_BEGIN) {
				if (e->step != next_step[p][t] || e->kind != NRG_REGION_TRAIN)
					order_ok = false;
				next_step[p][t]++;
			} else if (e->type == NRG_EV_UNITS && (e->units != 1 || strcmp(e->unit, "samples"))) {
				fields_ok = false;
			}
		}
		if (alive == 0 && n == 0)
			break;
		if (alive > 0) {
			int st;
			pid_t w = waitpid(-1, &st, WNOHANG);

			if (w > 0) {
				alive--;
				if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
					fields_ok = false;
			} else if (!n) {
				usleep(20000); /* drain as the recorder does, every 20 ms */
			}
		}
	}
	is_i64(total, (uint64_t)PROCS * THREADS * PAIRS * 3, "every event of %d processes x %d threads arrived", PROCS, THREADS);
	bool all = true;
	for (int p = 0; p < PROCS; p++)
		for (int t = 0; t < THREADS; t++)
			if (per[p][t] != 3 * PAIRS || next_step[p][t] != PAIRS)
				all = false;
	ok(all, "each thread's begins and ends, with their step numbers");
	ok(order_ok, "in each thread's order, timestamps not going back");
	ok(fields_ok, "with the right pid, name and kind, and every worker exited cleanly");
	is_i64(nrg_ring_dropped(ring), 0, "none dropped");

	/* A full ring drops and counts, never blocks. */
	nrg__events_local(ring);
	int full = 0, extra = 4; /* each waits 250 ms for room first */
	for (int i = 0; i < (int)NRG_RING_DEFAULT_CAP + extra; i++)
		if (nrg_mark("m") == -ENOBUFS)
			full++;
	is_i64(full, extra, "a full ring refuses the overflow with -ENOBUFS");
	is_i64(nrg_ring_dropped(ring), extra, "and counts it as dropped");
	is_i64(nrg_ring_drain(ring, buf, 1 << 16), NRG_RING_DEFAULT_CAP, "the events that fitted are all there");
	nrg__events_local(NULL);
	nrg_ring_destroy(ring);
	ok(access(path, F_OK) != 0, "the ring file is removed");
	return done_testing();
}
