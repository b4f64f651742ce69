/* fake-nvml.c - a simulated libnvidia-ml.so.1: deterministic GPUs with a known truth, for tests. */
/* SPDX-License-Identifier: MIT */
/*
 * Exports the real NVML entry points (names and signatures of NVIDIA's nvml.h) so nrg goes
 * through its ordinary dlopen path. Every GPU follows a deterministic power law of
 * CLOCK_MONOTONIC time, so a test (or another process) can ask what was really drawn:
 *
 *   double fake_nvml_true_energy_j(unsigned index, unsigned long long t0_us, unsigned long long t1_us)
 *   double fake_nvml_true_power_w(unsigned index, unsigned long long t_us)
 *   unsigned long long fake_nvml_init_time_us(void)   (monotonic time of the first nvmlInit)
 *
 * Power model of GPU i at monotonic time t (µs): a square wave around `watts`,
 *   p(t) = watts + swing  during the first half of each period_ms (phase 0 at monotonic 0),
 *   p(t) = watts - swing  during the second half,
 * so the truth is the same in every process. Sensors behave like the real ones:
 *   - energy counter (mJ) = energy_start_mj + integral of p from monotonic 0 to the last
 *     multiple of tick_ms (it only moves at tick boundaries);
 *   - nvmlDeviceGetPowerUsage and field 185: average of p over avg_window_ms ending at the last
 *     multiple of update_ms (1 s trailing average updated every 100 ms on Hopper);
 *   - field 186 (instant): average over inst_window_ms ending at the last update (25 ms boxcar);
 *   - limits in mW: default/min/max, current = enforced; nvmlDeviceSetPowerManagementLimit
 *     stores a new limit within [min, max] (NO_PERMISSION when env NRG_FAKE_NVML_NOROOT=1);
 *   - util / SM clock / temperature: hi values during the high half-period, lo values otherwise.
 *
 * Configuration: the file named by env NRG_FAKE_NVML, read at the first nvmlInit (again after
 * the last nvmlShutdown). Lines ('#' starts a comment):
 *   init_error <code>      nvmlInit returns this NVML error code
 *   gpus <n>               n GPUs (max 16) with the per-GPU defaults below
 *   gpu <i> key=value ...  override GPU i; a word without '=' continues the previous value,
 *                          so `name=NVIDIA H100 80GB HBM3 arch=hopper` works
 * Keys (defaults in brackets):
 *   name [NVIDIA H100 80GB HBM3]  arch=volta|turing|ampere|ada|hopper|blackwell|unknown [hopper]
 *   uuid [GPU-<hex>-...]  bus [00000000:<18+16i>:00.0]
 *   watts [300]  swing [100]  period_ms [700]  (swing is clamped to watts)  idle_w [0] (static power)
 *   energy=0|1 [1] (0: GetTotalEnergyConsumption is NOT_SUPPORTED)  energy_start_mj [123456789]
 *   tick_ms [100]  update_ms [100 (20 on volta)]  avg_window_ms [1000 (= inst_window_ms on
 *   volta/turing and A100/A30 names)]  inst_window_ms [25 (10 on volta)]
 *   nopower=1 (GetPowerUsage and field 185 NOT_SUPPORTED)  noinstant=1 (field 186 NOT_SUPPORTED)
 *   lost_after_ms [0 = never]: every per-device call returns GPU_IS_LOST from that time after
 *     the first nvmlInit on
 *   fail=<kind>@<from_ms>-[<to_ms>][:<code>][,...]: calls of that kind return <code> [999,
 *     UNKNOWN] from from_ms to to_ms (open end: for ever) after nvmlInit; may repeat (8 max).
 *     kinds: energy power instant average name uuid pci limit util clock temp arch handle all
 *   limit_default_w [700]  limit_min_w [200]  limit_max_w [700]
 *
 * Power limit response (a simple physical model). The square wave above is the demand d(t);
 * the GPU draws p(t) = min(d(t), limit). The energy counter, both power readings and the truth
 * hooks follow p. Below the demand the GPU runs slower, DVFS-like (power ~ f^3):
 *   double fake_nvml_speed(unsigned index)  = 1.0 when limit >= d(now), else (limit/d(now))^(1/3);
 *   with a static power idle_w=<W> in the GPU's line, sqrt((limit - idle)/(d - idle)) (at least
 *   0.05): the energy per unit of work, limit / speed, is then lowest at limit = 2 x idle
 * Limits change only when nvmlDeviceSetPowerManagementLimit is called; the energy counter stays
 * continuous across a change (an offset absorbs the jump of the closed-form integral). The truth
 * hook assumes the limit in force now applied over the whole queried interval (exact when no
 * change happened inside it). With env NRG_FAKE_NVML_STATE naming a file, the limits (and the
 * counter offsets) live in that file, re-read at every call, so a limit set by one process is
 * seen by another (a workload, a later `nrg restore`); without it they live in the process.
 *
 * Without NRG_FAKE_NVML: 4 H100s (watts 300/350/400/450, periods 700/800/900/1000 ms), gpu2
 * without an energy counter, gpu3 lost 1500 ms after nvmlInit.
 */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nvml-min.h"

#define MAX_GPUS 16
#define MAX_FAILS 8

enum kind { K_ENERGY, K_POWER, K_INSTANT, K_AVERAGE, K_NAME, K_UUID, K_PCI, K_LIMIT, K_UTIL,
	    K_CLOCK, K_TEMP, K_ARCH, K_HANDLE, K_ALL, K_N };
static const char *const kind_names[K_N] = { "energy", "power", "instant", "average", "name",
	"uuid", "pci", "limit", "util", "clock", "temp", "arch", "handle", "all" };

struct fail {
	enum kind kind;
	unsigned long long from_us, to_us; /* relative to nvmlInit; to_us 0 = open */
	nvmlReturn_t code;
};

struct nvmlDevice_st {
	unsigned index;
	char name[96], uuid[96], bus[32];
	unsigned arch;
	unsigned long long base_mw, swing_mw, period_us;
	unsigned long long idle_mw; /* static power: with it, speed follows the dynamic part */
	bool energy, power, instant;
	unsigned long long energy_start_mj, tick_us, update_us, avg_window_us, inst_window_us;
	bool avg_set;
	unsigned long long lost_after_us;
	unsigned limit_mw, limit_default_mw, limit_min_mw, limit_max_mw;
	long long offset_nj; /* added to the counter so it stays continuous across limit changes */
	struct fail fails[MAX_FAILS];
	int n_fails;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct nvmlDevice_st gpus[MAX_GPUS];
static unsigned n_gpus;
static bool loaded;
static int refs;
static nvmlReturn_t init_error;
static unsigned long long init_us; /* monotonic time of the first nvmlInit after loading */

static unsigned long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000u;
}

/* ---- configuration ---------------------------------------------------------------------------- */

static const char *const uuid_heads[] = { "8e2f41c7", "5b0d9e23", "c41a7f60", "19e6b2d8" };

static void gpu_defaults(struct nvmlDevice_st *g, unsigned i)
{
	memset(g, 0, sizeof *g);
	g->index = i;
	snprintf(g->name, sizeof g->name, "NVIDIA H100 80GB HBM3");
	if (i < 4)
		snprintf(g->uuid, sizeof g->uuid, "GPU-%s-3f1a-4b6e-9c2d-7a5e0b1c%04x", uuid_heads[i], i);
	else
		snprintf(g->uuid, sizeof g->uuid, "GPU-%08x-3f1a-4b6e-9c2d-7a5e0b1c%04x",
			 (i * 2654435761u) ^ 0x5a5a5a5au, i);
	snprintf(g->bus, sizeof g->bus, "00000000:%02X:00.0", (0x18 + 0x10 * i) & 0xff);
	g->arch = NVML_DEVICE_ARCH_HOPPER;
	g->base_mw = 300000;
	g->swing_mw = 100000;
	g->period_us = 700000;
	g->energy = g->power = g->instant = true;
	g->energy_start_mj = 123456789;
	g->tick_us = 100000;
	g->update_us = 100000;
	g->avg_window_us = 1000000;
	g->inst_window_us = 25000;
	g->limit_default_mw = g->limit_max_mw = g->limit_mw = 700000;
	g->limit_min_mw = 200000;
}

static void builtin_config(void)
{
	n_gpus = 4;
	for (unsigned i = 0; i < n_gpus; i++) {
		gpu_defaults(&gpus[i], i);
		gpus[i].base_mw = 300000 + 50000ull * i;
		gpus[i].period_us = 700000 + 100000ull * i;
	}
	gpus[2].energy = false;
	gpus[3].lost_after_us = 1500000;
}

static int parse_ull(const char *s, unsigned long long *out)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	*out = strtoull(s, &end, 10);
	return *end ? -1 : 0;
}

/* Split off the next token of *p delimited by any of delims (NULL when none is left). */
static char *next_tok(char **p, const char *delims)
{
	char *s = *p + strspn(*p, delims), *e;

	if (!*s)
		return NULL;
	e = s + strcspn(s, delims);
	*p = *e ? e + 1 : e;
	*e = '\0';
	return s;
}

static int parse_fails(struct nvmlDevice_st *g, const char *v)
{
	char buf[256], *rest = buf, *item;

	snprintf(buf, sizeof buf, "%s", v);
	while ((item = next_tok(&rest, ","))) {
		struct fail f = { .code = NVML_ERROR_UNKNOWN };
		char *at = strchr(item, '@'), *dash, *colon, *end;
		int k;

		if (!at || g->n_fails >= MAX_FAILS)
			return -1;
		*at = '\0';
		for (k = 0; k < K_N && strcmp(kind_names[k], item); k++)
			;
		if (k == K_N)
			return -1;
		f.kind = (enum kind)k;
		colon = strchr(at + 1, ':');
		if (colon) {
			*colon = '\0';
			f.code = (nvmlReturn_t)strtol(colon + 1, &end, 10);
			if (*end)
				return -1;
		}
		dash = strchr(at + 1, '-');
		if (!dash)
			return -1;
		*dash = '\0';
		f.from_us = strtoull(at + 1, &end, 10) * 1000;
		if (*end)
			return -1;
		if (dash[1]) {
			f.to_us = strtoull(dash + 1, &end, 10) * 1000;
			if (*end || f.to_us <= f.from_us)
				return -1;
		}
		g->fails[g->n_fails++] = f;
	}
	return 0;
}

static int set_key(struct nvmlDevice_st *g, const char *k, const char *v)
{
	static const char *const archs[] = { "volta", "turing", "ampere", "ada", "hopper", "blackwell",
					     "unknown" };
	static const unsigned arch_ids[] = { NVML_DEVICE_ARCH_VOLTA, NVML_DEVICE_ARCH_TURING,
		NVML_DEVICE_ARCH_AMPERE, NVML_DEVICE_ARCH_ADA, NVML_DEVICE_ARCH_HOPPER,
		NVML_DEVICE_ARCH_BLACKWELL, NVML_DEVICE_ARCH_UNKNOWN };
	unsigned long long n = 0;
	bool num = parse_ull(v, &n) == 0;

	if (!strcmp(k, "name"))
		snprintf(g->name, sizeof g->name, "%s", v);
	else if (!strcmp(k, "uuid"))
		snprintf(g->uuid, sizeof g->uuid, "%s", v);
	else if (!strcmp(k, "bus"))
		snprintf(g->bus, sizeof g->bus, "%s", v);
	else if (!strcmp(k, "arch")) {
		size_t a;

		for (a = 0; a < sizeof archs / sizeof *archs && strcmp(archs[a], v); a++)
			;
		if (a == sizeof archs / sizeof *archs)
			return -1;
		g->arch = arch_ids[a];
		if (g->arch == NVML_DEVICE_ARCH_VOLTA) {
			g->update_us = 20000;
			g->inst_window_us = 10000;
		}
	} else if (!strcmp(k, "fail"))
		return parse_fails(g, v);
	else if (!num)
		return -1;
	else if (!strcmp(k, "watts"))
		g->base_mw = n * 1000;
	else if (!strcmp(k, "idle_w"))
		g->idle_mw = n * 1000;
	else if (!strcmp(k, "swing"))
		g->swing_mw = n * 1000;
	else if (!strcmp(k, "period_ms"))
		g->period_us = n * 1000;
	else if (!strcmp(k, "energy"))
		g->energy = n != 0;
	else if (!strcmp(k, "energy_start_mj"))
		g->energy_start_mj = n;
	else if (!strcmp(k, "tick_ms") && n)
		g->tick_us = n * 1000;
	else if (!strcmp(k, "update_ms") && n)
		g->update_us = n * 1000;
	else if (!strcmp(k, "avg_window_ms") && n) {
		g->avg_window_us = n * 1000;
		g->avg_set = true;
	} else if (!strcmp(k, "inst_window_ms") && n)
		g->inst_window_us = n * 1000;
	else if (!strcmp(k, "nopower"))
		g->power = n == 0;
	else if (!strcmp(k, "noinstant"))
		g->instant = n == 0;
	else if (!strcmp(k, "lost_after_ms"))
		g->lost_after_us = n * 1000;
	else if (!strcmp(k, "limit_default_w"))
		g->limit_default_mw = g->limit_mw = (unsigned)(n * 1000);
	else if (!strcmp(k, "limit_min_w"))
		g->limit_min_mw = (unsigned)(n * 1000);
	else if (!strcmp(k, "limit_max_w"))
		g->limit_max_mw = (unsigned)(n * 1000);
	else
		return -1;
	return 0;
}

/* Parse "gpu <i> k=v words k=v ..." (line points after "gpu"). */
static int parse_gpu_line(char *line)
{
	char *rest = line, *tok, *end;
	char key[32] = "", val[160] = "";
	unsigned long i;
	struct nvmlDevice_st *g;

	tok = next_tok(&rest, " \t");
	if (!tok)
		return -1;
	i = strtoul(tok, &end, 10);
	if (*end || i >= n_gpus)
		return -1;
	g = &gpus[i];
	while ((tok = next_tok(&rest, " \t"))) {
		char *eq = strchr(tok, '=');

		if (eq) {
			if (key[0] && set_key(g, key, val) < 0)
				return -1;
			*eq = '\0';
			snprintf(key, sizeof key, "%s", tok);
			snprintf(val, sizeof val, "%s", eq + 1);
		} else if (key[0]) {
			size_t l = strlen(val);

			snprintf(val + l, sizeof val - l, " %s", tok);
		} else {
			return -1;
		}
	}
	if (key[0] && set_key(g, key, val) < 0)
		return -1;
	if (!g->avg_set && (g->arch == NVML_DEVICE_ARCH_VOLTA || g->arch == NVML_DEVICE_ARCH_TURING ||
			    (g->arch == NVML_DEVICE_ARCH_AMPERE &&
			     (strstr(g->name, "A100") || strstr(g->name, "A30")))))
		g->avg_window_us = g->inst_window_us;
	return 0;
}

static int load_config(void)
{
	const char *path = getenv("NRG_FAKE_NVML");
	char line[512];
	int ln = 0;
	FILE *f;

	init_error = NVML_SUCCESS;
	n_gpus = 0;
	if (!path || !*path) {
		builtin_config();
		loaded = true;
		return 0;
	}
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "fake-nvml: cannot open %s\n", path);
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		char *p = line, *hash = strchr(line, '#');
		unsigned long long n;
		int bad = 0;

		ln++;
		if (hash)
			*hash = '\0';
		line[strcspn(line, "\r\n")] = '\0';
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			continue;
		if (!strncmp(p, "gpus ", 5)) {
			bad = parse_ull(p + 5, &n) < 0 || n > MAX_GPUS;
			if (!bad) {
				n_gpus = (unsigned)n;
				for (unsigned i = 0; i < n_gpus; i++)
					gpu_defaults(&gpus[i], i);
			}
		} else if (!strncmp(p, "init_error ", 11)) {
			bad = parse_ull(p + 11, &n) < 0;
			init_error = (nvmlReturn_t)n;
		} else if (!strncmp(p, "gpu ", 4)) {
			bad = parse_gpu_line(p + 4) < 0;
		} else {
			bad = 1;
		}
		if (bad) {
			fprintf(stderr, "fake-nvml: %s:%d: cannot parse this line\n", path, ln);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	for (unsigned i = 0; i < n_gpus; i++)
		if (gpus[i].swing_mw > gpus[i].base_mw)
			gpus[i].swing_mw = gpus[i].base_mw;
	loaded = true;
	return 0;
}

/* ---- the truth ----------------------------------------------------------------------------- */

static unsigned long long cap_mw(unsigned long long demand_mw, unsigned limit_mw)
{
	return demand_mw < limit_mw ? demand_mw : limit_mw;
}

/* Energy in nJ (mW x µs) drawn from monotonic 0 to t at limit limit_mw: the integral of
 * min(d, limit), d being hi in the first half of each period and lo in the second. */
static unsigned __int128 energy_at(const struct nvmlDevice_st *g, unsigned long long t, unsigned limit_mw)
{
	unsigned long long hi, lo, h, ph, t_hi;

	if (!g->swing_mw || g->period_us < 2)
		return (unsigned __int128)cap_mw(g->base_mw, limit_mw) * t;
	hi = cap_mw(g->base_mw + g->swing_mw, limit_mw);
	lo = cap_mw(g->base_mw - g->swing_mw, limit_mw);
	h = g->period_us / 2;
	ph = t % g->period_us;
	t_hi = t / g->period_us * h + (ph < h ? ph : h);
	return (unsigned __int128)hi * t_hi + (unsigned __int128)lo * (t - t_hi);
}

/* Energy in nJ from monotonic 0 to t at the limit in force now. */
static unsigned __int128 energy_nj(const struct nvmlDevice_st *g, unsigned long long t)
{
	return energy_at(g, t, g->limit_mw);
}

/* ---- limits shared between processes (NRG_FAKE_NVML_STATE) ------------------------------ */

/* Read the state file (lines "<index> <limit_mw> <offset_nj>") into gpus; caller holds lock. */
static void state_load(void)
{
	const char *path = getenv("NRG_FAKE_NVML_STATE");
	unsigned i, mw;
	long long off;
	char line[128];
	FILE *f;

	if (!path || !*path || !(f = fopen(path, "r")))
		return;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "%u %u %lld", &i, &mw, &off) == 3 && i < n_gpus) {
			gpus[i].limit_mw = mw;
			gpus[i].offset_nj = off;
		}
	fclose(f);
}

/* Write every GPU's limit and offset to the state file (atomically); caller holds lock. */
static void state_save(void)
{
	const char *path = getenv("NRG_FAKE_NVML_STATE");
	char tmp[600];
	FILE *f;

	if (!path || !*path)
		return;
	snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
	if (!(f = fopen(tmp, "w")))
		return;
	for (unsigned i = 0; i < n_gpus; i++)
		fprintf(f, "%u %u %lld\n", i, gpus[i].limit_mw, gpus[i].offset_nj);
	if (fclose(f) == 0)
		rename(tmp, path);
	else
		unlink(tmp);
}

/* Pick up limits set by other processes. */
static void state_sync(void)
{
	if (!getenv("NRG_FAKE_NVML_STATE"))
		return;
	pthread_mutex_lock(&lock);
	if (loaded)
		state_load();
	pthread_mutex_unlock(&lock);
}

static bool high_phase(const struct nvmlDevice_st *g, unsigned long long t)
{
	return g->period_us >= 2 && t % g->period_us < g->period_us / 2;
}

/* Average power in mW over (t - window, t]. */
static unsigned avg_mw(const struct nvmlDevice_st *g, unsigned long long t, unsigned long long window)
{
	unsigned long long a = t > window ? t - window : 0;

	if (t <= a)
		return (unsigned)g->base_mw;
	return (unsigned)((energy_nj(g, t) - energy_nj(g, a)) / (t - a));
}

/* The true energy GPU `index` drew between two monotonic times, in J (NAN if no such GPU). */
double fake_nvml_true_energy_j(unsigned index, unsigned long long t0_mono_us, unsigned long long t1_mono_us)
{
	const struct nvmlDevice_st *g;
	unsigned __int128 e0, e1;

	pthread_mutex_lock(&lock);
	if (!loaded && load_config() < 0) {
		pthread_mutex_unlock(&lock);
		return NAN;
	}
	pthread_mutex_unlock(&lock);
	if (index >= n_gpus)
		return NAN;
	state_sync();
	g = &gpus[index];
	e0 = energy_nj(g, t0_mono_us);
	e1 = energy_nj(g, t1_mono_us);
	return e1 >= e0 ? (double)(e1 - e0) * 1e-9 : -(double)(e0 - e1) * 1e-9;
}

/* The true power of GPU `index` at monotonic time t, in W (NAN if no such GPU). */
double fake_nvml_true_power_w(unsigned index, unsigned long long t_mono_us)
{
	if (isnan(fake_nvml_true_energy_j(index, 0, 0)))
		return NAN;
	const struct nvmlDevice_st *g = &gpus[index];

	unsigned long long d = high_phase(g, t_mono_us) ? g->base_mw + g->swing_mw : g->base_mw - g->swing_mw;

	return (double)cap_mw(d, g->limit_mw) * 1e-3;
}

/* Relative speed of GPU `index` now at its limit: 1 when the limit covers the demand, else
 * (limit/demand)^(1/3) (NAN if no such GPU). */
double fake_nvml_speed(unsigned index)
{
	if (isnan(fake_nvml_true_energy_j(index, 0, 0)))
		return NAN;
	const struct nvmlDevice_st *g = &gpus[index];
	unsigned long long t = now_us();
	unsigned long long d = high_phase(g, t) ? g->base_mw + g->swing_mw : g->base_mw - g->swing_mw;

	if (d == 0 || g->limit_mw >= d)
		return 1.0;
	if (g->idle_mw && g->idle_mw < d) {
		/* clock ~ sqrt of the dynamic power: energy per work L / speed is lowest at 2 x idle */
		double dyn = (double)g->limit_mw - (double)g->idle_mw;

		return dyn <= 0 ? 0.05 : fmax(0.05, sqrt(dyn / (double)(d - g->idle_mw)));
	}
	return cbrt((double)g->limit_mw / (double)d);
}

/* Monotonic µs of the first nvmlInit since the configuration was loaded (0 if none). */
unsigned long long fake_nvml_init_time_us(void)
{
	return __atomic_load_n(&init_us, __ATOMIC_RELAXED);
}

/* ---- call checks --------------------------------------------------------------------------- */

static nvmlReturn_t check(nvmlDevice_t d, enum kind k)
{
	unsigned long long rel;

	if (__atomic_load_n(&refs, __ATOMIC_ACQUIRE) <= 0)
		return NVML_ERROR_UNINITIALIZED;
	if (!d || d < gpus || d >= gpus + n_gpus)
		return NVML_ERROR_INVALID_ARGUMENT;
	state_sync();
	rel = now_us() - __atomic_load_n(&init_us, __ATOMIC_RELAXED);
	if (d->lost_after_us && rel >= d->lost_after_us)
		return NVML_ERROR_GPU_IS_LOST;
	for (int i = 0; i < d->n_fails; i++) {
		const struct fail *f = &d->fails[i];

		if ((f->kind == k || f->kind == K_ALL) && rel >= f->from_us && (!f->to_us || rel < f->to_us))
			return f->code;
	}
	return NVML_SUCCESS;
}

/* ---- exported NVML API --------------------------------------------------------------------- */

/* Initialise (reference counted); loads the configuration on the first call. */
nvmlReturn_t nvmlInit_v2(void)
{
	nvmlReturn_t r = NVML_SUCCESS;

	pthread_mutex_lock(&lock);
	if (refs == 0) {
		if (load_config() < 0)
			r = NVML_ERROR_UNKNOWN;
		else if (init_error)
			r = init_error;
		if (r == NVML_SUCCESS)
			__atomic_store_n(&init_us, now_us(), __ATOMIC_RELAXED);
	}
	if (r == NVML_SUCCESS)
		__atomic_add_fetch(&refs, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&lock);
	return r;
}

/* The pre-v2 initialiser: the same. */
nvmlReturn_t nvmlInit(void) { return nvmlInit_v2(); }

/* Initialise with flags (ignored). */
nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
	(void)flags;
	return nvmlInit_v2();
}

/* Drop one reference; the configuration is re-read at the next first nvmlInit. */
nvmlReturn_t nvmlShutdown(void)
{
	nvmlReturn_t r = NVML_SUCCESS;

	pthread_mutex_lock(&lock);
	if (refs <= 0)
		r = NVML_ERROR_UNINITIALIZED;
	else if (__atomic_sub_fetch(&refs, 1, __ATOMIC_RELEASE) == 0)
		loaded = false;
	pthread_mutex_unlock(&lock);
	return r;
}

/* A static description of an NVML return code. */
const char *nvmlErrorString(nvmlReturn_t r)
{
	switch (r) {
	case NVML_SUCCESS: return "Success";
	case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
	case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
	case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
	case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
	case NVML_ERROR_NOT_FOUND: return "Not Found";
	case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
	case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
	case NVML_ERROR_TIMEOUT: return "Timeout";
	case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
	case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "RM has detected an NVML/RM version mismatch.";
	default: return "Unknown Error";
	}
}

/* Number of simulated GPUs. */
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count)
{
	if (__atomic_load_n(&refs, __ATOMIC_ACQUIRE) <= 0)
		return NVML_ERROR_UNINITIALIZED;
	if (!count)
		return NVML_ERROR_INVALID_ARGUMENT;
	*count = n_gpus;
	return NVML_SUCCESS;
}

/* Pre-v2 name of nvmlDeviceGetCount_v2. */
nvmlReturn_t nvmlDeviceGetCount(unsigned int *count) { return nvmlDeviceGetCount_v2(count); }

/* Handle of GPU `index`. */
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
	nvmlReturn_t r;

	if (__atomic_load_n(&refs, __ATOMIC_ACQUIRE) <= 0)
		return NVML_ERROR_UNINITIALIZED;
	if (!device || index >= n_gpus)
		return NVML_ERROR_INVALID_ARGUMENT;
	if ((r = check(&gpus[index], K_HANDLE)) != NVML_SUCCESS)
		return r;
	*device = &gpus[index];
	return NVML_SUCCESS;
}

/* Pre-v2 name of nvmlDeviceGetHandleByIndex_v2. */
nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
	return nvmlDeviceGetHandleByIndex_v2(index, device);
}

static nvmlReturn_t copy_str(char *buf, unsigned length, const char *s)
{
	if (!buf)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (strlen(s) + 1 > length)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	memcpy(buf, s, strlen(s) + 1);
	return NVML_SUCCESS;
}

/* Product name. */
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int length)
{
	nvmlReturn_t r = check(d, K_NAME);

	return r ? r : copy_str(name, length, d->name);
}

/* "GPU-..." UUID. */
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int length)
{
	nvmlReturn_t r = check(d, K_UUID);

	return r ? r : copy_str(uuid, length, d->uuid);
}

/* PCI information (v3 layout). */
nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *pci)
{
	nvmlReturn_t r = check(d, K_PCI);
	unsigned dom = 0, bus = 0, dev = 0, fn = 0;

	if (r)
		return r;
	if (!pci)
		return NVML_ERROR_INVALID_ARGUMENT;
	memset(pci, 0, sizeof *pci);
	sscanf(d->bus, "%x:%x:%x.%x", &dom, &bus, &dev, &fn);
	pci->domain = dom;
	pci->bus = bus;
	pci->device = dev;
	pci->pciDeviceId = 0x233010de; /* H100 SXM5 device id, NVIDIA vendor */
	pci->pciSubSystemId = 0x16c110de;
	snprintf(pci->busId, sizeof pci->busId, "%s", d->bus);
	snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04x:%02x:%02x.%x", dom & 0xffff, bus & 0xff,
		 dev & 0xff, fn & 0xf);
	return NVML_SUCCESS;
}

/* PCI information (v2: same layout here). */
nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t d, nvmlPciInfo_t *pci)
{
	return nvmlDeviceGetPciInfo_v3(d, pci);
}

/* Energy since "driver load" in mJ, updated at tick boundaries only. */
nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d, unsigned long long *energy)
{
	nvmlReturn_t r = check(d, K_ENERGY);
	unsigned long long t;

	if (r)
		return r;
	if (!d->energy)
		return NVML_ERROR_NOT_SUPPORTED;
	if (!energy)
		return NVML_ERROR_INVALID_ARGUMENT;
	t = now_us() / d->tick_us * d->tick_us;
	*energy = d->energy_start_mj +
		  (unsigned long long)(((__int128)energy_nj(d, t) + d->offset_nj) / 1000000);
	return NVML_SUCCESS;
}

/* Power in mW: average over avg_window_ms at the last update. */
nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *power)
{
	nvmlReturn_t r = check(d, K_POWER);

	if (r)
		return r;
	if (!d->power)
		return NVML_ERROR_NOT_SUPPORTED;
	if (!power)
		return NVML_ERROR_INVALID_ARGUMENT;
	*power = avg_mw(d, now_us() / d->update_us * d->update_us, d->avg_window_us);
	return NVML_SUCCESS;
}

/* Field values: 185 (average power) and 186 (instant power), mW; others NOT_SUPPORTED. */
nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t d, int count, nvmlFieldValue_t *values)
{
	nvmlReturn_t r = check(d, K_N) /* only K_ALL failures fail the whole call */;
	struct timespec wall;

	if (r)
		return r;
	if (count < 0 || (count && !values))
		return NVML_ERROR_INVALID_ARGUMENT;
	clock_gettime(CLOCK_REALTIME, &wall);
	for (int i = 0; i < count; i++) {
		nvmlFieldValue_t *f = &values[i];
		unsigned long long t = now_us(), u = t / d->update_us * d->update_us;
		enum kind k = f->fieldId == NVML_FI_DEV_POWER_INSTANT ? K_INSTANT : K_AVERAGE;

		f->timestamp = (long long)wall.tv_sec * 1000000 + wall.tv_nsec / 1000;
		f->latencyUsec = 0;
		f->valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
		f->value.ullVal = 0;
		if (f->fieldId != NVML_FI_DEV_POWER_INSTANT && f->fieldId != NVML_FI_DEV_POWER_AVERAGE) {
			f->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
			continue;
		}
		f->nvmlReturn = check(d, k);
		if (f->nvmlReturn)
			continue;
		if (k == K_INSTANT ? !d->instant : !d->power) {
			f->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
			continue;
		}
		f->value.uiVal = avg_mw(d, u, k == K_INSTANT ? d->inst_window_us : d->avg_window_us);
	}
	return NVML_SUCCESS;
}

static nvmlReturn_t get_limit(nvmlDevice_t d, unsigned *out, int which)
{
	nvmlReturn_t r = check(d, K_LIMIT);

	if (r)
		return r;
	if (!out)
		return NVML_ERROR_INVALID_ARGUMENT;
	pthread_mutex_lock(&lock);
	*out = which == 0 ? d->limit_mw : d->limit_default_mw;
	pthread_mutex_unlock(&lock);
	return NVML_SUCCESS;
}

/* Enforced limit (mW): the current limit. */
nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned int *limit)
{
	return get_limit(d, limit, 0);
}

/* Current power-management limit (mW). */
nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t d, unsigned int *limit)
{
	return get_limit(d, limit, 0);
}

/* Default power-management limit (mW). */
nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t d, unsigned int *limit)
{
	return get_limit(d, limit, 1);
}

/* Allowed limit range (mW). */
nvmlReturn_t nvmlDeviceGetPowerManagementLimitConstraints(nvmlDevice_t d, unsigned int *min_limit,
							 unsigned int *max_limit)
{
	nvmlReturn_t r = check(d, K_LIMIT);

	if (r)
		return r;
	if (!min_limit || !max_limit)
		return NVML_ERROR_INVALID_ARGUMENT;
	*min_limit = d->limit_min_mw;
	*max_limit = d->limit_max_mw;
	return NVML_SUCCESS;
}

/* Set the limit (mW) within the constraints; power follows it (the counter stays continuous). */
nvmlReturn_t nvmlDeviceSetPowerManagementLimit(nvmlDevice_t d, unsigned int limit)
{
	nvmlReturn_t r = check(d, K_LIMIT);
	const char *noroot = getenv("NRG_FAKE_NVML_NOROOT");
	unsigned long long t;

	if (r)
		return r;
	if (noroot && !strcmp(noroot, "1"))
		return NVML_ERROR_NO_PERMISSION;
	if (limit < d->limit_min_mw || limit > d->limit_max_mw)
		return NVML_ERROR_INVALID_ARGUMENT;
	pthread_mutex_lock(&lock);
	state_load();
	t = now_us();
	d->offset_nj += (long long)((__int128)energy_at(d, t, d->limit_mw) - (__int128)energy_at(d, t, limit));
	d->limit_mw = limit;
	state_save();
	pthread_mutex_unlock(&lock);
	return NVML_SUCCESS;
}

/* Utilisation: 100% GPU during the high half-period, 30% otherwise. */
nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u)
{
	nvmlReturn_t r = check(d, K_UTIL);
	bool hi;

	if (r)
		return r;
	if (!u)
		return NVML_ERROR_INVALID_ARGUMENT;
	hi = high_phase(d, now_us());
	u->gpu = hi ? 100 : 30;
	u->memory = hi ? 60 : 10;
	return NVML_SUCCESS;
}

/* Clocks in MHz: SM/graphics 1980 high, 1410 low; memory 2619. */
nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, nvmlClockType_t type, unsigned int *clock)
{
	nvmlReturn_t r = check(d, K_CLOCK);

	if (r)
		return r;
	if (!clock || type > NVML_CLOCK_MEM + 1)
		return NVML_ERROR_INVALID_ARGUMENT;
	*clock = type == NVML_CLOCK_MEM ? 2619 : high_phase(d, now_us()) ? 1980 : 1410;
	return NVML_SUCCESS;
}

/* GPU temperature in °C: 65 high, 45 low. */
nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, nvmlTemperatureSensors_t sensor, unsigned int *temp)
{
	nvmlReturn_t r = check(d, K_TEMP);

	if (r)
		return r;
	if (!temp || sensor != NVML_TEMPERATURE_GPU)
		return NVML_ERROR_INVALID_ARGUMENT;
	*temp = high_phase(d, now_us()) ? 65 : 45;
	return NVML_SUCCESS;
}

/* Architecture id (NVML_DEVICE_ARCH_*). */
nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t d, nvmlDeviceArchitecture_t *arch)
{
	nvmlReturn_t r = check(d, K_ARCH);

	if (r)
		return r;
	if (!arch)
		return NVML_ERROR_INVALID_ARGUMENT;
	*arch = d->arch;
	return NVML_SUCCESS;
}

/* The exported signatures must match the pointer types nrg calls them through. */
#define SAME(fn, type) _Static_assert(__builtin_types_compatible_p(__typeof__(&fn), type), #fn)
SAME(nvmlInit_v2, nvml_init_fn);
SAME(nvmlShutdown, nvml_shutdown_fn);
SAME(nvmlErrorString, nvml_error_string_fn);
SAME(nvmlDeviceGetCount_v2, nvml_get_count_fn);
SAME(nvmlDeviceGetHandleByIndex_v2, nvml_get_handle_fn);
SAME(nvmlDeviceGetName, nvml_get_string_fn);
SAME(nvmlDeviceGetUUID, nvml_get_string_fn);
SAME(nvmlDeviceGetPciInfo_v3, nvml_get_pci_fn);
SAME(nvmlDeviceGetTotalEnergyConsumption, nvml_get_energy_fn);
SAME(nvmlDeviceGetPowerUsage, nvml_get_uint_fn);
SAME(nvmlDeviceGetFieldValues, nvml_get_fields_fn);
SAME(nvmlDeviceGetEnforcedPowerLimit, nvml_get_uint_fn);
SAME(nvmlDeviceGetPowerManagementDefaultLimit, nvml_get_uint_fn);
SAME(nvmlDeviceGetPowerManagementLimitConstraints, nvml_get_constraints_fn);
SAME(nvmlDeviceGetUtilizationRates, nvml_get_util_fn);
SAME(nvmlDeviceGetClockInfo, nvml_get_clock_fn);
SAME(nvmlDeviceGetTemperature, nvml_get_temp_fn);
SAME(nvmlDeviceGetArchitecture, nvml_get_arch_fn);
SAME(nvmlDeviceSetPowerManagementLimit, nvml_set_limit_fn);
