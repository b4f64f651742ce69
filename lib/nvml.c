/* nvml.c - the NVIDIA GPU source: NVML through dlopen (energy counter, power, limits, gauges). */
/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nvml-min.h"
#include "source.h"

/* Channel slots of one GPU (local channel index, or -1 when the GPU lacks it). */
enum { CH_ENERGY, CH_POWER, CH_INSTANT, CH_UTIL, CH_CLOCK, CH_TEMP, CH_LIMIT, CH_N };

struct gpu {
	nvmlDevice_t h;
	unsigned index;  /* NVML index */
	int dev;         /* global device index */
	int ch[CH_N];
	bool lost;
};

struct nv {
	void *dl;
	char lib[160];
	nvml_init_fn init;
	nvml_shutdown_fn shutdown;
	nvml_error_string_fn error_string;
	nvml_get_count_fn get_count;
	nvml_get_handle_fn get_handle;
	nvml_get_string_fn get_name, get_uuid;
	nvml_get_pci_fn get_pci;
	nvml_get_energy_fn get_energy;
	nvml_get_uint_fn get_power, get_enforced, get_limit, get_default_limit;
	nvml_get_fields_fn get_fields;
	nvml_get_constraints_fn get_constraints;
	nvml_get_util_fn get_util;
	nvml_get_clock_fn get_clock;
	nvml_get_temp_fn get_temp;
	nvml_get_arch_fn get_arch;
	nvml_set_limit_fn set_limit;
	bool inited;
	struct gpu *gpus;
	unsigned n_gpus;
};

/* ---- CUDA_VISIBLE_DEVICES ------------------------------------------------------------------ */

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n'; }

/* The UUID entry e (length n, starting "GPU-") names `uuid` exactly or as a prefix. */
static bool uuid_match(const char *e, size_t n, const char *uuid)
{
	return uuid && n > 4 && strlen(uuid) >= n && strncasecmp(uuid, e, n) == 0;
}

int nrg_nvml_visible_n(const char *cvd, unsigned index, const char *uuid, unsigned n_gpus)
{
	const char *p = cvd;

	if (!cvd)
		return 1;
	for (;;) {
		const char *e, *end;
		size_t n;

		while (is_space(*p))
			p++;
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		e = p;
		n = (size_t)(end - p);
		while (n && is_space(e[n - 1]))
			n--;
		if (n == 0)
			return 0; /* empty list or empty entry: the list stops */
		if (isdigit((unsigned char)e[0])) {
			unsigned long long v = 0;

			for (size_t i = 0; i < n; i++) {
				if (!isdigit((unsigned char)e[i]))
					return 0;
				v = v * 10 + (unsigned)(e[i] - '0');
				if (v > 0xffffffffu)
					return 0;
			}
			if (n_gpus && v >= n_gpus)
				return 0;
			if (v == index)
				return 1;
		} else if (n > 4 && strncasecmp(e, "GPU-", 4) == 0) {
			if (uuid_match(e, n, uuid))
				return 1;
		} else if (n > 4 && strncasecmp(e, "MIG-", 4) == 0) {
			/* "MIG-GPU-<uuid>/<gi>/<ci>" names its parent; "MIG-<mig uuid>" cannot be mapped
			 * to a parent without MIG queries, so it is valid but matches no GPU here. */
			if (n > 8 && strncasecmp(e + 4, "GPU-", 4) == 0) {
				const char *slash = memchr(e, '/', n);
				size_t un = slash ? (size_t)(slash - e) - 4 : n - 4;

				if (uuid_match(e + 4, un, uuid))
					return 1;
			}
		} else {
			return 0; /* invalid entry: CUDA ignores it and everything after it */
		}
		if (!*end)
			return 0;
		p = end + 1;
	}
}

int nrg_nvml_visible(const char *cvd, unsigned index, const char *uuid)
{
	return nrg_nvml_visible_n(cvd, index, uuid, 0);
}

/* ---- helpers --------------------------------------------------------------------------------- */

static const char *nv_err(const struct nv *nv, nvmlReturn_t r)
{
	static const struct { nvmlReturn_t r; const char *s; } tab[] = {
		{ NVML_ERROR_UNINITIALIZED, "NVML was not initialised" },
		{ NVML_ERROR_INVALID_ARGUMENT, "invalid argument" },
		{ NVML_ERROR_NOT_SUPPORTED, "not supported" },
		{ NVML_ERROR_NO_PERMISSION, "insufficient permissions" },
		{ NVML_ERROR_NOT_FOUND, "not found" },
		{ NVML_ERROR_INSUFFICIENT_POWER, "a power cable is not connected" },
		{ NVML_ERROR_DRIVER_NOT_LOADED, "the NVIDIA kernel driver is not loaded" },
		{ NVML_ERROR_TIMEOUT, "timeout" },
		{ NVML_ERROR_IRQ_ISSUE, "interrupt problem with the GPU" },
		{ NVML_ERROR_GPU_IS_LOST, "the GPU has fallen off the bus or is otherwise inaccessible" },
		{ NVML_ERROR_LIB_RM_VERSION_MISMATCH, "NVML and the kernel driver versions differ" },
	};
	const char *s = nv->error_string ? nv->error_string(r) : NULL;

	if (s && *s)
		return s;
	for (size_t i = 0; i < sizeof tab / sizeof *tab; i++)
		if (tab[i].r == r)
			return tab[i].s;
	return "unknown error";
}

static void *sym(void *dl, const char *a, const char *b)
{
	void *p = dlsym(dl, a);

	if (!p && b)
		p = dlsym(dl, b);
	return p;
}

static void nv_free(struct nv *nv)
{
	if (!nv)
		return;
	if (nv->inited && nv->shutdown)
		nv->shutdown();
	if (nv->dl)
		dlclose(nv->dl);
	free(nv->gpus);
	free(nv);
}

/* Open the library: explicit name, else the soname, else the development name. */
static int nv_open(struct nrg_source *src, struct nv *nv)
{
	const struct nrg_options *o = nrg__options(src);
	const char *name = o && o->nvml_lib && *o->nvml_lib ? o->nvml_lib : getenv("NRG_NVML_LIB");
	char first_err[200] = "";

	if (name && *name) {
		nv->dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
		if (!nv->dl) {
			const char *e = dlerror();

			nrg__status(src, NRG_SOURCE_ABSENT, -ENOENT,
				    "check the NVML library path given (option nvml_lib / NRG_NVML_LIB)",
				    "cannot load %s: %s", name, e ? e : "unknown dlopen error");
			return -ENOENT;
		}
		snprintf(nv->lib, sizeof nv->lib, "%s", name);
		return 0;
	}
	static const char *const names[] = { "libnvidia-ml.so.1", "libnvidia-ml.so" };
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		nv->dl = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
		if (nv->dl) {
			snprintf(nv->lib, sizeof nv->lib, "%s", names[i]);
			return 0;
		}
		if (i == 0) {
			const char *e = dlerror();

			snprintf(first_err, sizeof first_err, "%s", e ? e : "not found");
		}
	}
	nrg__status(src, NRG_SOURCE_ABSENT, -ENOENT,
		    "install the NVIDIA driver; if installed, add its library directory to the loader path",
		    "NVML library not found: %s", first_err);
	return -ENOENT;
}

static int nv_resolve(struct nrg_source *src, struct nv *nv)
{
	void *dl = nv->dl;
	const char *missing = NULL;

	if (!(nv->init = (nvml_init_fn)sym(dl, "nvmlInit_v2", "nvmlInit")))
		missing = "nvmlInit_v2";
	else if (!(nv->shutdown = (nvml_shutdown_fn)sym(dl, "nvmlShutdown", NULL)))
		missing = "nvmlShutdown";
	else if (!(nv->get_count = (nvml_get_count_fn)sym(dl, "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount")))
		missing = "nvmlDeviceGetCount_v2";
	else if (!(nv->get_handle = (nvml_get_handle_fn)sym(dl, "nvmlDeviceGetHandleByIndex_v2",
							       "nvmlDeviceGetHandleByIndex")))
		missing = "nvmlDeviceGetHandleByIndex_v2";
	if (missing) {
		nrg__status(src, NRG_SOURCE_ERROR, -ENOSYS,
			    "the NVML library is too old or not NVIDIA's; install a current NVIDIA driver",
			    "%s lacks the required symbol %s", nv->lib, missing);
		return -ENOSYS;
	}
	nv->error_string = (nvml_error_string_fn)sym(dl, "nvmlErrorString", NULL);
	nv->get_name = (nvml_get_string_fn)sym(dl, "nvmlDeviceGetName", NULL);
	nv->get_uuid = (nvml_get_string_fn)sym(dl, "nvmlDeviceGetUUID", NULL);
	nv->get_pci = (nvml_get_pci_fn)sym(dl, "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2");
	nv->get_energy = (nvml_get_energy_fn)sym(dl, "nvmlDeviceGetTotalEnergyConsumption", NULL);
	nv->get_power = (nvml_get_uint_fn)sym(dl, "nvmlDeviceGetPowerUsage", NULL);
	nv->get_fields = (nvml_get_fields_fn)sym(dl, "nvmlDeviceGetFieldValues", NULL);
	nv->get_enforced = (nvml_get_uint_fn)sym(dl, "nvmlDeviceGetEnforcedPowerLimit", NULL);
	nv->get_limit = (nvml_get_uint_fn)sym(dl, "nvmlDeviceGetPowerManagementLimit", NULL);
	nv->get_default_limit = (nvml_get_uint_fn)sym(dl, "nvmlDeviceGetPowerManagementDefaultLimit", NULL);
	nv->get_constraints = (nvml_get_constraints_fn)sym(dl, "nvmlDeviceGetPowerManagementLimitConstraints", NULL);
	nv->get_util = (nvml_get_util_fn)sym(dl, "nvmlDeviceGetUtilizationRates", NULL);
	nv->get_clock = (nvml_get_clock_fn)sym(dl, "nvmlDeviceGetClockInfo", NULL);
	nv->get_temp = (nvml_get_temp_fn)sym(dl, "nvmlDeviceGetTemperature", NULL);
	nv->get_arch = (nvml_get_arch_fn)sym(dl, "nvmlDeviceGetArchitecture", NULL);
	nv->set_limit = (nvml_set_limit_fn)sym(dl, "nvmlDeviceSetPowerManagementLimit", NULL);
	return 0;
}

/* Map an nvmlInit failure to a state, reason and fix. */
static int init_failed(struct nrg_source *src, struct nv *nv, nvmlReturn_t r)
{
	switch (r) {
	case NVML_ERROR_DRIVER_NOT_LOADED:
		nrg__status(src, NRG_SOURCE_ABSENT, -ENODEV,
			    "load the driver (modprobe nvidia) or reinstall the NVIDIA driver for this kernel",
			    "the NVIDIA kernel driver is not loaded");
		return -ENODEV;
	case NVML_ERROR_NO_PERMISSION:
		nrg__status(src, NRG_SOURCE_DENIED, -EACCES,
			    "give this user access to /dev/nvidia* (the video group) or run as root",
			    "no permission to access the NVIDIA devices");
		return -EACCES;
	case NVML_ERROR_LIB_RM_VERSION_MISMATCH:
		nrg__status(src, NRG_SOURCE_ERROR, -EPROTO,
			    "reboot, or reload the nvidia kernel module after the driver upgrade",
			    "the NVML library and the loaded NVIDIA kernel driver are different versions");
		return -EPROTO;
	case NVML_ERROR_LIBRARY_NOT_FOUND:
		nrg__status(src, NRG_SOURCE_ABSENT, -ENOENT,
			    "install the NVIDIA driver; if installed, add its library directory to the loader path",
			    "NVML could not find its own libraries (%s)", nv_err(nv, r));
		return -ENOENT;
	default:
		nrg__status(src, NRG_SOURCE_ERROR, -EIO, "check the driver with nvidia-smi",
			    "nvmlInit failed: %s (NVML error %d)", nv_err(nv, r), r);
		return -EIO;
	}
}

/* Whether the `gpus` option (comma list of indices or UUIDs / UUID prefixes) selects a GPU. */
static bool selected(const char *list, unsigned index, const char *uuid)
{
	const char *p = list;

	if (!list || !*list)
		return true;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n;
		char *num_end;

		if (!end)
			end = p + strlen(p);
		while (p < end && is_space(*p))
			p++;
		n = (size_t)(end - p);
		while (n && is_space(p[n - 1]))
			n--;
		if (n && isdigit((unsigned char)*p)) {
			unsigned long v = strtoul(p, &num_end, 10);

			if (num_end == p + n && v == index)
				return true;
		} else if (n > 4 && uuid_match(p, n, uuid)) {
			return true;
		}
		p = *end ? end + 1 : end;
	}
	return false;
}

/* GA100 (A100, A30) reports instantaneous power through nvmlDeviceGetPowerUsage. */
static bool is_ga100(const char *name)
{
	static const char *const models[] = { "A100", "A30" };

	for (size_t m = 0; m < 2; m++) {
		const char *p = name;
		size_t n = strlen(models[m]);

		while ((p = strstr(p, models[m]))) {
			bool start = p == name || !isalnum((unsigned char)p[-1]);
			bool stop = !isalnum((unsigned char)p[n]);

			if (start && stop)
				return true;
			p += n;
		}
	}
	return false;
}

/* What one GPU's sensors look like (sources: limits.md §2, Yang et al. SC'24 artifact). */
struct sensor_model {
	uint32_t energy_update_us;
	uint32_t power_update_us, power_window_us;
	uint32_t instant_update_us, instant_window_us;
	const char *note;
};

static struct sensor_model sensor_model(unsigned arch, const char *name)
{
	struct sensor_model m = { 100000, 100000, 0, 100000, 0,
				  "sensor windows unknown for this architecture; "
				  "energy counter assumed to update about every 100 ms" };

	if (arch <= NVML_DEVICE_ARCH_VOLTA) {
		/* Volta, Pascal measured: 20 ms update, about 10 ms boxcar. The energy counter
		 * update period is a guess from the power update. */
		m = (struct sensor_model){ 20000, 20000, 10000, 20000, 10000,
			"power: 10 ms window every 20 ms (about 50% of time observed); "
			"energy counter updates about every 20 ms (assumed)" };
	} else if (arch == NVML_DEVICE_ARCH_TURING) {
		m = (struct sensor_model){ 100000, 100000, 0, 100000, 0,
			"power: updated every 100 ms, window 20-100 ms depending on the board; "
			"energy counter updates about every 100 ms" };
	} else if (arch == NVML_DEVICE_ARCH_AMPERE && is_ga100(name)) {
		m = (struct sensor_model){ 100000, 100000, 25000, 100000, 25000,
			"instant power: 25 ms window every 100 ms (about 25% of time observed); "
			"energy counter updates about every 100 ms" };
	} else if (arch == NVML_DEVICE_ARCH_HOPPER) {
		m = (struct sensor_model){ 100000, 100000, 1000000, 100000, 25000,
			"instant power: 25 ms window every 100 ms (about 25% of time observed); "
			"average power: 1 s window; energy counter updates about every 100 ms" };
	} else if (arch == NVML_DEVICE_ARCH_ADA) {
		m = (struct sensor_model){ 100000, 100000, 1000000, 100000, 100000,
			"instant power: about 100 ms window every 100 ms; average power: 1 s window; "
			"energy counter updates about every 100 ms" };
	} else if (arch == NVML_DEVICE_ARCH_AMPERE || arch == NVML_DEVICE_ARCH_BLACKWELL) {
		m = (struct sensor_model){ 100000, 100000, 1000000, 100000, 0,
			"average power: 1 s window, updated every 100 ms; instant power window unknown; "
			"energy counter updates about every 100 ms" };
	}
	return m;
}

static int read_instant(const struct nv *nv, nvmlDevice_t h, unsigned *mw)
{
	nvmlFieldValue_t f = { .fieldId = NVML_FI_DEV_POWER_INSTANT };
	nvmlReturn_t r;

	if (!nv->get_fields)
		return NVML_ERROR_FUNCTION_NOT_FOUND;
	r = nv->get_fields(h, 1, &f);
	if (r != NVML_SUCCESS)
		return r;
	if (f.nvmlReturn != NVML_SUCCESS)
		return f.nvmlReturn;
	switch (f.valueType) {
	case NVML_VALUE_TYPE_UNSIGNED_INT: *mw = f.value.uiVal; break;
	case NVML_VALUE_TYPE_UNSIGNED_LONG: *mw = (unsigned)f.value.ulVal; break;
	case NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: *mw = (unsigned)f.value.ullVal; break;
	case NVML_VALUE_TYPE_SIGNED_LONG_LONG:
		if (f.value.sllVal < 0)
			return NVML_ERROR_UNKNOWN;
		*mw = (unsigned)f.value.sllVal;
		break;
	case NVML_VALUE_TYPE_SIGNED_INT:
		if (f.value.siVal < 0)
			return NVML_ERROR_UNKNOWN;
		*mw = (unsigned)f.value.siVal;
		break;
	case NVML_VALUE_TYPE_DOUBLE:
		if (!(f.value.dVal >= 0))
			return NVML_ERROR_UNKNOWN;
		*mw = (unsigned)(f.value.dVal + 0.5);
		break;
	default:
		return NVML_ERROR_UNKNOWN;
	}
	return NVML_SUCCESS;
}

static void append(char *buf, size_t n, const char *s)
{
	size_t l = strlen(buf);

	if (l < n)
		snprintf(buf + l, n - l, "%s", s);
}

/* Probe one GPU: fill its device, add it and its channels. Returns 0, 1 if skipped, or -errno. */
static int probe_gpu(struct nrg_source *src, struct nv *nv, unsigned i, unsigned n_all,
		     const char *cvd)
{
	const struct nrg_options *o = nrg__options(src);
	struct nrg_device_info d = { .kind = NRG_KIND_GPU, .role = NRG_ROLE_COMPONENT, .parent = -1,
				     .rated_uw = -1, .limit_min_uw = -1, .limit_max_uw = -1,
				     .limit_default_uw = -1 };
	struct gpu *g = &nv->gpus[nv->n_gpus];
	nvmlDeviceArchitecture_t arch = NVML_DEVICE_ARCH_UNKNOWN;
	struct sensor_model m;
	unsigned long long e_mj;
	unsigned v = 0, v2 = 0, enforced = 0;
	bool have_enforced = false;
	nvmlUtilization_t u;
	nvmlPciInfo_t pci;
	nvmlDevice_t h;
	int dev;

	if (nv->get_handle(i, &h) != NVML_SUCCESS)
		return 1;
	if (nv->get_uuid && nv->get_uuid(h, d.uuid, sizeof d.uuid) != NVML_SUCCESS)
		d.uuid[0] = '\0';
	if (!selected(o ? o->gpus : NULL, i, d.uuid))
		return 1;
	snprintf(d.id, sizeof d.id, "gpu%u", i);
	snprintf(d.vendor, sizeof d.vendor, "nvidia");
	snprintf(d.source, sizeof d.source, "nvml");
	if (!nv->get_name || nv->get_name(h, d.name, sizeof d.name) != NVML_SUCCESS)
		snprintf(d.name, sizeof d.name, "NVIDIA GPU");
	memset(&pci, 0, sizeof pci);
	if (nv->get_pci && nv->get_pci(h, &pci) == NVML_SUCCESS)
		snprintf(d.bus_id, sizeof d.bus_id, "%.*s", (int)sizeof pci.busId, pci.busId);
	/* CUDA numbers GPUs fastest-first unless CUDA_DEVICE_ORDER=PCI_BUS_ID; on the usual
	 * homogeneous node both orders agree with NVML's (PCI) order. UUIDs are exact. */
	d.visible = nrg_nvml_visible_n(cvd, i, d.uuid, n_all) != 0;
	if (nv->get_arch && nv->get_arch(h, &arch) != NVML_SUCCESS)
		arch = NVML_DEVICE_ARCH_UNKNOWN;
	m = sensor_model(arch, d.name);

	if (nv->get_enforced && nv->get_enforced(h, &enforced) == NVML_SUCCESS) {
		have_enforced = true;
		d.caps |= NRG_CAP_POWER_LIMIT;
	}
	if (nv->get_default_limit && nv->get_default_limit(h, &v) == NVML_SUCCESS)
		d.limit_default_uw = (int64_t)v * 1000;
	if (nv->get_constraints && nv->get_constraints(h, &v, &v2) == NVML_SUCCESS) {
		d.limit_min_uw = (int64_t)v * 1000;
		d.limit_max_uw = (int64_t)v2 * 1000;
	}
	d.rated_uw = d.limit_default_uw >= 0 ? d.limit_default_uw
		     : have_enforced      ? (int64_t)enforced * 1000 : -1;
	if (nv->set_limit && d.limit_max_uw > 0 && geteuid() == 0)
		d.caps |= NRG_CAP_LIMIT_SET;

	bool has_energy = nv->get_energy && nv->get_energy(h, &e_mj) == NVML_SUCCESS;
	bool has_power = nv->get_power && nv->get_power(h, &v) == NVML_SUCCESS;
	bool has_instant = read_instant(nv, h, &v) == NVML_SUCCESS;
	bool has_util = nv->get_util && nv->get_util(h, &u) == NVML_SUCCESS;
	bool has_clock = nv->get_clock && nv->get_clock(h, NVML_CLOCK_SM, &v) == NVML_SUCCESS;
	bool has_temp = nv->get_temp && nv->get_temp(h, NVML_TEMPERATURE_GPU, &v) == NVML_SUCCESS;

	d.caps |= (has_energy ? NRG_CAP_ENERGY : 0) | (has_power ? NRG_CAP_POWER_AVG : 0) |
		  (has_instant ? NRG_CAP_POWER_INSTANT : 0) | (has_util ? NRG_CAP_UTIL : 0) |
		  (has_clock ? NRG_CAP_CLOCK : 0) | (has_temp ? NRG_CAP_TEMP : 0);
	snprintf(d.note, sizeof d.note, "%s", m.note);
	if (!has_energy) {
		char *cut = strstr(d.note, "; energy counter");

		if (cut)
			*cut = '\0'; /* no counter: drop what the model says about it */
		append(d.note, sizeof d.note, has_power || has_instant
			? "; no energy counter: energy from integrated power"
			: "; no energy counter and no power reading");
	}

	dev = nrg__add_device(src, &d);
	if (dev < 0)
		return dev;
	*g = (struct gpu){ .h = h, .index = i, .dev = dev };
	for (int c = 0; c < CH_N; c++)
		g->ch[c] = -1;

	struct { int slot; bool on; enum nrg_quantity q; const char *name; uint32_t up, win; bool slow; } chs[] = {
		{ CH_ENERGY, has_energy, NRG_Q_ENERGY, "energy", m.energy_update_us, 0, false },
		{ CH_POWER, has_power, NRG_Q_POWER, "power", m.power_update_us, m.power_window_us, false },
		{ CH_INSTANT, has_instant, NRG_Q_POWER, "power_instant", m.instant_update_us,
		  m.instant_window_us, false },
		{ CH_UTIL, has_util, NRG_Q_UTIL, "util", 0, 0, true },
		{ CH_CLOCK, has_clock, NRG_Q_CLOCK, "sm_clock", 0, 0, true },
		{ CH_TEMP, has_temp, NRG_Q_TEMP, "temp", 0, 0, true },
		{ CH_LIMIT, have_enforced, NRG_Q_LIMIT, "power_limit", 0, 0, true },
	};
	for (size_t k = 0; k < sizeof chs / sizeof *chs; k++) {
		struct nrg_channel_info c = { .device = dev, .quantity = chs[k].q,
					      .update_us = chs[k].up, .window_us = chs[k].win,
					      .slow = chs[k].slow };
		int r;

		if (!chs[k].on)
			continue;
		snprintf(c.name, sizeof c.name, "%s", chs[k].name);
		c.preferred = (chs[k].slot == CH_INSTANT) || (chs[k].slot == CH_POWER && !has_instant);
		r = nrg__add_channel(src, &c);
		if (r < 0)
			return r;
		g->ch[chs[k].slot] = r;
	}
	nv->n_gpus++;
	return 0;
}

static int probe(struct nrg_source *src)
{
	const struct nrg_options *o = nrg__options(src);
	const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
	struct nv *nv = calloc(1, sizeof *nv);
	unsigned count = 0;
	nvmlReturn_t r;
	int err;

	src->priv = NULL;
	if (!nv) {
		nrg__status(src, NRG_SOURCE_ERROR, -ENOMEM, NULL, "out of memory");
		return -ENOMEM;
	}
	if ((err = nv_open(src, nv)) < 0 || (err = nv_resolve(src, nv)) < 0)
		goto fail;
	r = nv->init();
	if (r != NVML_SUCCESS) {
		err = init_failed(src, nv, r);
		goto fail;
	}
	nv->inited = true;
	r = nv->get_count(&count);
	if (r != NVML_SUCCESS) {
		nrg__status(src, NRG_SOURCE_ERROR, -EIO, "check the driver with nvidia-smi",
			    "cannot count the GPUs: %s (NVML error %d)", nv_err(nv, r), r);
		err = -EIO;
		goto fail;
	}
	if (count == 0) {
		nrg__status(src, NRG_SOURCE_ABSENT, -ENOENT,
			    "check that nvidia-smi and lspci see the GPUs", "no NVIDIA GPU found");
		err = -ENOENT;
		goto fail;
	}
	nv->gpus = calloc(count, sizeof *nv->gpus);
	if (!nv->gpus) {
		nrg__status(src, NRG_SOURCE_ERROR, -ENOMEM, NULL, "out of memory");
		err = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < count; i++) {
		err = probe_gpu(src, nv, i, count, cvd);
		if (err < 0) {
			nrg__status(src, NRG_SOURCE_ERROR, err, NULL, "cannot register GPU %u: %s", i,
				    strerror(-err));
			goto fail;
		}
	}
	if (nv->n_gpus == 0) {
		if (o && o->gpus && *o->gpus)
			nrg__status(src, NRG_SOURCE_ABSENT, -ENOENT, "list GPUs with `nrg list`",
				    "none of the %u NVIDIA GPUs matches the GPU selection '%s'", count, o->gpus);
		else
			nrg__status(src, NRG_SOURCE_ERROR, -EIO, "check the GPUs with nvidia-smi",
				    "%u NVIDIA GPUs found but none could be opened", count);
		err = -ENOENT;
		goto fail;
	}
	nrg__status(src, NRG_SOURCE_FOUND, 0, NULL, "%u of %u NVIDIA GPU(s) through %s", nv->n_gpus,
		    count, nv->lib);
	src->priv = nv;
	return 0;
fail:
	nv_free(nv);
	return err;
}

/* Mark a GPU lost: its note says when and why, and it is not asked again. */
static void mark_lost(struct nrg_source *src, struct nv *nv, struct gpu *g, uint64_t t, nvmlReturn_t r)
{
	struct nrg_device_info *d = nrg__device(src, g->dev);

	g->lost = true;
	if (d)
		snprintf(d->note, sizeof d->note, "lost at %" PRIu64 ": %s", t, nv_err(nv, r));
}

static uint64_t mid(uint64_t a, uint64_t b) { return a + (b - a) / 2; }

static int read_gpu(struct nrg_source *src, struct nv *nv, struct gpu *g, bool slow,
		    struct nrg_value *vals)
{
	int got = 0;

	for (int c = 0; c < CH_N && !g->lost; c++) {
		nvmlReturn_t r = NVML_ERROR_FUNCTION_NOT_FOUND;
		unsigned long long e = 0;
		nvmlUtilization_t u;
		unsigned v = 0;
		int64_t out = 0;
		uint64_t t0, t1;
		int slot = g->ch[c];

		if (slot < 0 || (c >= CH_UTIL && !slow))
			continue;
		t0 = nrg_now_us();
		switch (c) {
		case CH_ENERGY:
			r = nv->get_energy(g->h, &e);
			out = (int64_t)(e * 1000); /* mJ -> µJ */
			break;
		case CH_POWER:
			r = nv->get_power(g->h, &v);
			out = (int64_t)v * 1000; /* mW -> µW */
			break;
		case CH_INSTANT:
			r = read_instant(nv, g->h, &v);
			out = (int64_t)v * 1000;
			break;
		case CH_UTIL:
			r = nv->get_util(g->h, &u);
			out = u.gpu;
			break;
		case CH_CLOCK:
			r = nv->get_clock(g->h, NVML_CLOCK_SM, &v);
			out = v;
			break;
		case CH_TEMP:
			r = nv->get_temp(g->h, NVML_TEMPERATURE_GPU, &v);
			out = (int64_t)v * 1000; /* °C -> m°C */
			break;
		case CH_LIMIT:
			r = nv->get_enforced(g->h, &v);
			out = (int64_t)v * 1000;
			break;
		}
		t1 = nrg_now_us();
		if (r == NVML_SUCCESS) {
			vals[slot] = (struct nrg_value){ .t_us = mid(t0, t1), .v = out, .valid = true };
			got++;
		} else if (r == NVML_ERROR_GPU_IS_LOST) {
			mark_lost(src, nv, g, t1, r);
		}
	}
	return got;
}

static int nv_read(struct nrg_source *src, bool slow, struct nrg_value *vals)
{
	struct nv *nv = src->priv;
	int got = 0;

	/* vals arrive invalid: nrg_session_read clears them before every read */
	if (!nv)
		return -ENODEV;
	for (unsigned i = 0; i < nv->n_gpus; i++)
		got += read_gpu(src, nv, &nv->gpus[i], slow, vals);
	return got ? 0 : -EIO;
}

static void nv_close(struct nrg_source *src)
{
	nv_free(src->priv);
	src->priv = NULL;
}

/* ---- power limits ------------------------------------------------------------------------ */

static struct gpu *gpu_of(struct nrg_source *src, int dev)
{
	struct nv *nv = src->priv;

	for (unsigned i = 0; nv && i < nv->n_gpus; i++)
		if (nv->gpus[i].dev == dev)
			return &nv->gpus[i];
	return NULL;
}

static int nv_errno(nvmlReturn_t r)
{
	switch (r) {
	case NVML_SUCCESS: return 0;
	case NVML_ERROR_NO_PERMISSION: return -EPERM;
	case NVML_ERROR_NOT_SUPPORTED: return -ENOTSUP;
	case NVML_ERROR_INVALID_ARGUMENT: return -ERANGE;
	case NVML_ERROR_GPU_IS_LOST: return -ENODEV;
	default: return -EIO;
	}
}

/* The enforced limit, read back from the GPU (never assumed). */
static int nv_limit_get(struct nrg_source *src, int dev, int64_t *uw)
{
	struct nv *nv = src->priv;
	struct gpu *g = gpu_of(src, dev);
	unsigned mw = 0;
	int r;

	if (!g || g->lost)
		return -ENODEV;
	if (!nv->get_enforced)
		return -ENOTSUP;
	r = nv_errno(nv->get_enforced(g->h, &mw));
	if (r == 0)
		*uw = (int64_t)mw * 1000;
	return r;
}

/* Ask for uw (NVML takes mW) within the [min, max] read at probe. */
static int nv_limit_set(struct nrg_source *src, int dev, int64_t uw)
{
	struct nv *nv = src->priv;
	struct gpu *g = gpu_of(src, dev);
	const struct nrg_device_info *d = nrg__device(src, dev);

	if (!g || !d || g->lost)
		return -ENODEV;
	if (!nv->set_limit || d->limit_max_uw <= 0)
		return -ENOTSUP;
	if (uw < d->limit_min_uw || uw > d->limit_max_uw)
		return -ERANGE;
	return nv_errno(nv->set_limit(g->h, (unsigned)((uw + 500) / 1000)));
}

const struct nrg_source_ops nrg_nvml_ops = {
	.name = "nvml",
	.summary = "NVIDIA GPUs through NVML: energy counter, power, limits",
	.probe = probe,
	.read = nv_read,
	.close = nv_close,
	.limit_get = nv_limit_get,
	.limit_set = nv_limit_set,
};
