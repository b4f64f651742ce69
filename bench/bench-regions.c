/* bench-regions.c - the cost of marking a region: nobody watching, and through the run's ring. */
/* SPDX-License-Identifier: MIT */
/* usage: bench-regions            (runs both cases, re-executing itself for the watched one) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "events.h"

#define PAIRS 20000
#define ROUNDS 5

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ns per begin+end pair, best of ROUNDS; ring (if any) drained between rounds */
static double pair_ns(struct nrg_ring *drain)
{
	static struct nrg_event buf[2 * PAIRS + 16];
	double best = 1e18;

	for (int r = 0; r < ROUNDS; r++) {
		double t0 = now_ns();

		for (int i = 0; i < PAIRS; i++) {
			nrg_region_begin("batch", NRG_REGION_TRAIN, -1, i);
			nrg_region_end("batch");
		}
		t0 = (now_ns() - t0) / PAIRS;
		if (t0 < best)
			best = t0;
		if (drain)
			while (nrg_ring_drain(drain, buf, sizeof buf / sizeof *buf))
				;
	}
	return best;
}

int main(int argc, char **argv)
{
	char path[64], err[256];
	struct nrg_ring *ring;

	if (argc > 1 && !strcmp(argv[1], "--watched")) {
		/* the ring was created by the parent, which drains nothing: size rounds to fit */
		printf("begin+end pair, through the run's ring (NRG_EVENTS): %6.0f ns\n", pair_ns(NULL));
		return 0;
	}
	unsetenv("NRG_EVENTS");
	printf("begin+end pair, nobody watching:                    %6.0f ns\n", pair_ns(NULL));
	snprintf(path, sizeof path, "/tmp/nrg-bench-ring-%d", (int)getpid());
	if (nrg_ring_create(&ring, path, 1u << 20, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	nrg__events_local(ring);
	printf("begin+end pair, in-process monitor ring:            %6.0f ns\n", pair_ns(ring));
	nrg__events_local(NULL);
	fflush(stdout);
	setenv("NRG_EVENTS", path, 1);
	if (fork() == 0) {
		execl("/proc/self/exe", argv[0], "--watched", (char *)NULL);
		_exit(127);
	}
	{
		int st;

		wait(&st);
	}
	nrg_ring_destroy(ring);
	return 0;
}
