/* nvml-test.h - helpers shared by the NVML tests: fake configs, sessions, device lookup. */
/* SPDX-License-Identifier: MIT */
#ifndef NRG_NVML_TEST_H
#define NRG_NVML_TEST_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nrg.h"
#include "tap.h"

/* The fake library's path (argv[1]); tests export it as NRG_NVML_LIB unless told otherwise. */
static const char *fake_lib;

static inline void test_init(int argc, char **argv)
{
	if (argc < 2)
		skip_all("usage: test <path of the fake libnvidia-ml.so.1>");
	fake_lib = argv[1];
	setenv("NRG_NVML_LIB", fake_lib, 1);
	unsetenv("NRG_FAKE_NVML");
	unsetenv("CUDA_VISIBLE_DEVICES");
}

/* Write a fake NVML configuration to a temporary file and point NRG_FAKE_NVML at it
 * (NULL text: use the built-in configuration). */
static inline void fake_config(const char *text)
{
	static char path[256];
	const char *dir = getenv("TMPDIR");
	FILE *f;
	int fd;

	if (path[0])
		unlink(path);
	path[0] = '\0';
	if (!text) {
		unsetenv("NRG_FAKE_NVML");
		return;
	}
	snprintf(path, sizeof path, "%s/nrg-fake-nvml-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		printf("Bail out! cannot create a temporary file\n");
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	setenv("NRG_FAKE_NVML", path, 1);
}

/* Open a session on the nvml source only; returns NULL (after a failed ok) on error. */
static inline nrg_session *open_nvml(const char *gpus)
{
	struct nrg_options o = { .sources = "nvml", .gpus = gpus };
	char err[256] = "";
	nrg_session *s = NULL;
	int r = nrg_session_open(&s, &o, err, sizeof err);

	if (r < 0) {
		ok(0, "nrg_session_open: %d %s", r, err);
		return NULL;
	}
	return s;
}

static inline const struct nrg_source_status *nvml_status(const nrg_session *s)
{
	for (size_t i = 0; i < nrg_source_count(s); i++)
		if (!strcmp(nrg_source_get(s, i)->name, "nvml"))
			return nrg_source_get(s, i);
	return NULL;
}

/* Global index of the nvml device with this id, or -1. */
static inline int find_dev(const nrg_session *s, const char *id)
{
	for (size_t i = 0; i < nrg_device_count(s); i++) {
		const struct nrg_device_info *d = nrg_device_get(s, i);

		if (!strcmp(d->source, "nvml") && !strcmp(d->id, id))
			return (int)i;
	}
	return -1;
}

/* Global index of channel `name` of device `dev`, or -1. */
static inline int find_chan(const nrg_session *s, int dev, const char *name)
{
	for (size_t i = 0; i < nrg_channel_count(s); i++) {
		const struct nrg_channel_info *c = nrg_channel_get(s, i);

		if (c->device == dev && !strcmp(c->name, name))
			return (int)i;
	}
	return -1;
}

static inline size_t count_nvml_devices(const nrg_session *s)
{
	size_t n = 0;

	for (size_t i = 0; i < nrg_device_count(s); i++)
		n += !strcmp(nrg_device_get(s, i)->source, "nvml");
	return n;
}

/* A function of the fake library (truth hooks), looked up in the already loaded copy. */
static inline void *fake_sym(const char *name)
{
	void *h = dlopen(fake_lib, RTLD_NOW | RTLD_NOLOAD);

	if (!h)
		h = dlopen(fake_lib, RTLD_NOW);
	return h ? dlsym(h, name) : NULL;
}

#endif
