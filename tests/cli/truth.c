/* truth.c - print what a fake device really drew between two monotonic times (test helper). */
/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

/* usage: truth FAKE_NVML_LIB INDEX T0_US T1_US  ->  joules on stdout */
int main(int argc, char **argv)
{
	double (*fn)(unsigned, unsigned long long, unsigned long long);
	void *h;

	if (argc != 5) {
		fprintf(stderr, "usage: truth FAKE_NVML_LIB INDEX T0_US T1_US\n");
		return 2;
	}
	h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "truth: %s\n", dlerror());
		return 1;
	}
	*(void **)&fn = dlsym(h, "fake_nvml_true_energy_j");
	if (!fn) {
		fprintf(stderr, "truth: no fake_nvml_true_energy_j in %s\n", argv[1]);
		return 1;
	}
	printf("%.6f\n", fn((unsigned)strtoul(argv[2], NULL, 10), strtoull(argv[3], NULL, 10),
			    strtoull(argv[4], NULL, 10)));
	return 0;
}
