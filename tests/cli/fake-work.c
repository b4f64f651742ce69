/* fake-work.c - a workload for sweep tests: sleeps base_seconds / speed of fake GPU 0 at its limit. */
/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* usage: fake-work FAKE_NVML BASE_SECONDS [EXIT_STATUS]: does BASE_SECONDS of work at full speed,
 * progressing at fake_nvml_speed(0) per second, then exits with EXIT_STATUS (default 0). */
int main(int argc, char **argv)
{
	void *h;
	double (*speed)(unsigned);
	double work, done = 0;
	struct timespec step = { 0, 20000000L };

	if (argc < 3)
		return 2;
	h = dlopen(argv[1], RTLD_NOW);
	if (!h || !(speed = (double (*)(unsigned))dlsym(h, "fake_nvml_speed"))) {
		fprintf(stderr, "fake-work: %s\n", dlerror());
		return 2;
	}
	work = strtod(argv[2], NULL);
	while (done < work) {
		double v = speed(0);

		nanosleep(&step, NULL);
		done += 0.02 * (isnan(v) || v <= 0 ? 1 : v);
	}
	return argc > 3 ? (int)strtol(argv[3], NULL, 10) : 0;
}
