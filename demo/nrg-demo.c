/* nrg-demo.c - a demo workload: a few seconds of CPU work in busy/idle phases, for trying nrg. */
/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Multiply small matrices until `seconds` have passed; returns a checksum. */
static double busy(double seconds)
{
	enum { N = 96 };
	static double a[N][N], b[N][N], c[N][N];
	double end = now_s() + seconds, sum = 0;

	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++) {
			a[i][j] = sin(i + j);
			b[i][j] = cos(i - j);
		}
	while (now_s() < end) {
		for (int i = 0; i < N; i++)
			for (int j = 0; j < N; j++) {
				double s = 0;

				for (int k = 0; k < N; k++)
					s += a[i][k] * b[k][j];
				c[i][j] = s;
			}
		sum += c[N / 2][N / 2];
	}
	return sum;
}

int main(int argc, char **argv)
{
	double total = argc > 1 ? strtod(argv[1], NULL) : 3.0, sum = 0;
	int phases = 3;

	if (!(total > 0) || total > 3600) {
		fprintf(stderr, "usage: nrg-demo [SECONDS]  (0 < SECONDS <= 3600, default 3)\n");
		return 2;
	}
	for (int p = 0; p < phases; p++) {
		struct timespec idle = { 0, (long)(total / phases * 0.3 * 1e9) % 1000000000L };

		idle.tv_sec = (time_t)(total / phases * 0.3);
		fprintf(stderr, "nrg-demo: phase %d/%d: compute, then idle\n", p + 1, phases);
		sum += busy(total / phases * 0.7);
		nanosleep(&idle, NULL);
	}
	printf("nrg-demo: done (checksum %.3f)\n", sum);
	return 0;
}
