/* nrg.h - the one public header of libnrg: sessions, sources, recording, store and reports. */
/* SPDX-License-Identifier: MIT */
#ifndef NRG_H
#define NRG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Conventions (all of libnrg):
 *  - units: energy µJ, power µW, time µs on CLOCK_MONOTONIC (one wall-clock anchor per run);
 *    conversion to J, W, s happens only at the output edge.
 *  - functions return 0 (or a count/index >= 0) on success and a negative errno on failure;
 *    where a caller passes `err`/`errlen`, a human sentence saying what failed and how to fix it
 *    is written there. The library never prints and never exits.
 *  - a value that could not be read is "missing" (valid == false), never 0.
 */

#define NRG_VERSION "0.1.0"

/* ---- devices and channels ---------------------------------------------------------------- */

enum nrg_kind { NRG_KIND_GPU, NRG_KIND_CPU, NRG_KIND_DRAM, NRG_KIND_NODE, NRG_KIND_OTHER };

/* How a device's energy relates to the node's composition. */
enum nrg_role {
	NRG_ROLE_COMPONENT, /* a non-overlapping part of the node: GPU, CPU package, DRAM */
	NRG_ROLE_PART,      /* contained in another device (parent): RAPL core/uncore */
	NRG_ROLE_WHOLE,     /* the whole node (ACPI power meter, BMC) */
	NRG_ROLE_DUPLICATE, /* the same domain as another device seen another way (parent) */
	NRG_ROLE_OTHER,     /* a sensor whose scope is unknown or overlaps: never summed */
};

enum nrg_quantity {
	NRG_Q_ENERGY, /* cumulative energy counter, µJ (raw, may wrap at range_uj) */
	NRG_Q_POWER,  /* power, µW */
	NRG_Q_UTIL,   /* utilisation, percent */
	NRG_Q_CLOCK,  /* clock, MHz */
	NRG_Q_TEMP,   /* temperature, milli-degrees Celsius */
	NRG_Q_LIMIT,  /* enforced power limit, µW */
};

/* Device capabilities, for `nrg list`. */
enum {
	NRG_CAP_ENERGY = 1u << 0,        /* hardware energy counter */
	NRG_CAP_POWER_AVG = 1u << 1,     /* averaged power */
	NRG_CAP_POWER_INSTANT = 1u << 2, /* instant (short-window) power */
	NRG_CAP_POWER_LIMIT = 1u << 3,   /* power limit readable */
	NRG_CAP_UTIL = 1u << 4,
	NRG_CAP_CLOCK = 1u << 5,
	NRG_CAP_TEMP = 1u << 6,
	NRG_CAP_LIMIT_SET = 1u << 7,     /* power limit settable (root) */
};

struct nrg_device_info {
	char id[32];        /* stable in a run: "gpu0", "cpu0", "dram0", "core0", "node", "hwmon3.power1" */
	enum nrg_kind kind;
	enum nrg_role role;
	int parent;         /* index of the containing/duplicated device, or -1 */
	char vendor[32];    /* "nvidia", "intel", "amd", ... or "" */
	char name[128];     /* model or sensor label */
	char source[16];    /* "nvml", "rapl", "hwmon", "estimate" */
	char uuid[96];      /* GPU UUID, or "" */
	char bus_id[32];    /* PCI bus id, or "" */
	char path[160];     /* sysfs path or other locator, or "" */
	bool visible;       /* a GPU the command may use (CUDA_VISIBLE_DEVICES); true elsewhere */
	bool estimated;     /* values are a model, not a measurement */
	uint32_t caps;      /* NRG_CAP_* */
	int64_t rated_uw;   /* rated power (TDP / default limit), or -1 if unknown */
	int64_t limit_min_uw, limit_max_uw, limit_default_uw; /* -1 if unknown */
	char note[256];     /* provenance remark, e.g. sensor window coverage; "" if none */
};

struct nrg_channel_info {
	int device;               /* index into the session's devices */
	enum nrg_quantity quantity;
	char name[24];            /* "energy", "power", "power_instant", "util", "sm_clock", "temp", "power_limit" */
	uint64_t range_uj;        /* NRG_Q_ENERGY: value at which the counter wraps to 0; 0 = never */
	uint32_t update_us;       /* sensor update period if known, else 0 */
	uint32_t window_us;       /* averaging window of a power reading if known, else 0 */
	bool slow;                /* read about once a second, not every tick (gauges) */
	bool preferred;           /* NRG_Q_POWER: the power channel used for the timeline and peaks */
};

/* One reading. t_us is CLOCK_MONOTONIC at the moment this value was read. */
struct nrg_value {
	uint64_t t_us;
	int64_t v;
	bool valid;
};

/* ---- session: probe sources, read them ---------------------------------------------------- */

typedef struct nrg_session nrg_session;

struct nrg_options {
	const char *sources;    /* comma list of sources to use, NULL = all */
	const char *no_sources; /* comma list of sources to skip, NULL = none */
	const char *gpus;       /* comma list of GPU indices or UUIDs to measure, NULL = all */
	const char *sysfs_root; /* prefix for /sys and /proc paths, NULL = "" (env NRG_SYSFS_ROOT) */
	const char *nvml_lib;   /* NVML library to dlopen, NULL = libnvidia-ml.so.1 (env NRG_NVML_LIB) */
	const char *data_dir;   /* where cpu-tdp.tsv lives, NULL = built-in default (env NRG_DATA_DIR) */
	bool no_estimate;       /* never fall back to the CPU utilisation estimate */
};

enum nrg_source_state { NRG_SOURCE_FOUND, NRG_SOURCE_ABSENT, NRG_SOURCE_DENIED, NRG_SOURCE_ERROR,
			NRG_SOURCE_DISABLED, NRG_SOURCE_UNBUILT };

struct nrg_source_status {
	const char *name;     /* "nvml", "rapl", "hwmon", "estimate" */
	const char *summary;  /* what the source measures */
	enum nrg_source_state state;
	int err;              /* negative errno of the probe, 0 if found */
	char reason[256];     /* why not usable (or what was found) */
	char fix[256];        /* how to make it usable, or "" */
	int first_device, n_devices;
};

/* Open a session: probe every known source (never fatal when one is absent).
 * On success *out owns the session; free with nrg_session_close(). Returns 0 or -errno
 * (only for invalid options or -ENOMEM; absent hardware is not an error). */
int nrg_session_open(nrg_session **out, const struct nrg_options *opt, char *err, size_t errlen);
void nrg_session_close(nrg_session *s);

size_t nrg_source_count(const nrg_session *s);
const struct nrg_source_status *nrg_source_get(const nrg_session *s, size_t i);
size_t nrg_device_count(const nrg_session *s);
const struct nrg_device_info *nrg_device_get(const nrg_session *s, size_t i);
size_t nrg_channel_count(const nrg_session *s);
const struct nrg_channel_info *nrg_channel_get(const nrg_session *s, size_t i);

/* Read every channel once into vals[nrg_channel_count(s)]. Slow channels are read when `slow`
 * is true, else left invalid. Not thread-safe: one caller at a time (the recorder serialises). */
int nrg_session_read(nrg_session *s, bool slow, struct nrg_value *vals);

/* CLOCK_MONOTONIC now, in µs. */
uint64_t nrg_now_us(void);

/* ---- power limits -------------------------------------------------------------------------
 *
 * GPU limits through NVML, CPU package limits through powercap (long-term constraint). Every
 * change is preceded by a line in a journal (fsync'd), so that whatever nrg changed can be put
 * back later, even after nrg was killed: `<source> <key> <original µW>` per change, the key being
 * the GPU UUID or the powercap zone path (never an index). The first line of a device holds its
 * original. Journal: env NRG_JOURNAL, else /run/nrg/limits.journal when /run is writable, else
 * $XDG_STATE_HOME/nrg/limits.journal or ~/.local/state/nrg/limits.journal.
 * Without the privilege: -EPERM and "setting power limits needs root (or CAP_SYS_ADMIN): ...";
 * a device without limit control: -ENOTSUP. */

/* The limit device `device` enforces now (read back from the hardware), µW. Returns 0 or -errno. */
int nrg_limit_get(nrg_session *s, int device, int64_t *uw, char *err, size_t errlen);
/* Journal the device's current enforced limit, then ask for uw, then read the enforced limit
 * back: -EIO when it differs from uw by more than 1 W. -ERANGE outside the device's range.
 * When the change fails and the limit is unchanged, the journal line is taken back. */
int nrg_limit_set(nrg_session *s, int device, int64_t uw, char *err, size_t errlen);
/* Put back every journaled original (devices matched by UUID / zone path), then remove the
 * journal; *restored counts the devices put back. Nothing journaled: 0 with *restored = 0.
 * On failure the journal keeps the entries not restored. */
int nrg_limit_restore(nrg_session *s, unsigned *restored, char *err, size_t errlen);
/* Whether a journal with entries exists; what (may be NULL) gets the journaled keys, comma
 * separated. Never creates anything. */
bool nrg_limit_pending(char *what, size_t n);

/* One journaled device, for showing what a restore would do. */
struct nrg_limit_entry {
	char source[16];      /* "nvml", "rapl" */
	char key[160];        /* GPU UUID or powercap zone path */
	int64_t original_uw;  /* the limit before nrg changed it */
	int device;           /* its index in the session, or -1 when not found */
	int64_t current_uw;   /* its enforced limit now, or -1 if unknown */
};
/* The journal's devices (first original each), in journal order: *out malloc'd (free()), *n
 * entries; no journal gives *n = 0. Returns 0 or -errno. */
int nrg_limit_journal(nrg_session *s, struct nrg_limit_entry **out, size_t *n, char *err, size_t errlen);

/* ---- models of energy and runtime against the power limit (sweeps) -------------------------
 *
 * A sweep measures a workload at several power limits (with repetitions). Models of energy,
 * runtime and energy-delay product as functions of the limit are fitted in several forms, each
 * validated by leave-one-out cross-validation; the form with the lowest cross-validated error is
 * used for each quantity. */

/* One measured run of a sweep (a repetition at one limit). */
struct nrg_sweep_obs {
	double limit_w;   /* power limit in force */
	double energy_j;  /* energy of the objective (whole run, or a region kind) */
	double runtime_s; /* its duration */
};

enum nrg_model_quantity { NRG_MQ_ENERGY, NRG_MQ_RUNTIME, NRG_MQ_EDP, NRG_MQ_COUNT };

#define NRG_MODEL_FORMS 4
struct nrg_model_fit {
	char form[24];     /* "poly1", "poly2", "poly3", "dvfs" (limit -> clock -> power and delay) */
	double coef[6];
	int ncoef;
	bool ok;           /* fitted (enough points, well conditioned) */
	double loo_mape;   /* leave-one-out mean absolute percentage error, % */
	double rmse;       /* in-sample root mean square error, in the quantity's unit */
};

struct nrg_model {
	struct nrg_model_fit fits[NRG_MQ_COUNT][NRG_MODEL_FORMS]; /* every candidate per quantity */
	int n_forms[NRG_MQ_COUNT];
	int chosen[NRG_MQ_COUNT];  /* index into fits[q] with the lowest loo_mape, or -1 */
	double limit_min_w, limit_max_w; /* range of the observations */
	size_t n_obs;
};

/* Fit every form for energy, runtime and EDP. Needs observations at >= 3 distinct limits; a form
 * is usable (ok) only with more distinct limits than its coefficients + 1, so a usable model needs
 * about 5 or more (an unusable form has NaN errors and predicts NaN). Returns 0 or -EINVAL with a
 * sentence in err. */
int nrg_model_fit(const struct nrg_sweep_obs *obs, size_t n, struct nrg_model *out, char *err, size_t errlen);
/* The fitted value of a model at a limit (W). */
double nrg_model_predict(const struct nrg_model_fit *f, double limit_w);

struct nrg_recommendation {
	bool ok;                   /* false: ref_limit_w was outside the observed range, and the
				    * figures compare against its nearest end */
	double limit_w;
	double pred_energy_j, pred_runtime_s;
	double pred_saving_pct;    /* energy saved vs the reference limit, predicted */
	double pred_slowdown_pct;  /* runtime added vs the reference limit, predicted */
	bool has_observed;         /* the limit was measured: observed figures too */
	double obs_saving_pct, obs_slowdown_pct;
	double uncertainty_pct;    /* +/- on the saving, from the cross-validated errors */
};

enum nrg_objective { NRG_OBJ_ENERGY, NRG_OBJ_EDP, NRG_OBJ_ED2P, NRG_OBJ_BUDGET };

/* Recommend a limit in [limit_min_w, limit_max_w] (searched on a 1 W grid) for an objective:
 * minimum energy, minimum EDP, minimum ED^2P, or minimum energy with a slowdown of at most
 * budget_pct against ref_limit_w (the default limit; NRG_OBJ_BUDGET only). obs (may be NULL)
 * provides observed figures where the limit was measured. Returns 0 or -EINVAL. */
int nrg_model_recommend(const struct nrg_model *m, enum nrg_objective obj, double ref_limit_w, double budget_pct,
			const struct nrg_sweep_obs *obs, size_t n_obs, struct nrg_recommendation *out);

/* ---- store -------------------------------------------------------------------------------- */

typedef struct nrg_store nrg_store;

/* Open (creating or migrating) the SQLite store at path. Returns 0 or -errno. */
int nrg_store_open(nrg_store **out, const char *path, char *err, size_t errlen);
void nrg_store_close(nrg_store *st);

struct nrg_run_info {
	int64_t id;
	char host[64];
	char *command_json;    /* JSON array of argv strings; owned by the struct */
	int64_t start_wall_us; /* wall clock (µs since the epoch) at start_mono_us */
	uint64_t start_mono_us, end_mono_us; /* bracket samples; end 0 while running */
	uint64_t interval_us;
	int exit_status;       /* -1 while running or unknown */
	char state[12];        /* "running", "done", "killed" (never finished) */
	char nrg_version[16];
	char *settings_json;   /* free-form JSON object of factors etc., or NULL; owned */
	uint64_t events_lost;  /* region events dropped by a full ring */
};
void nrg_run_info_free(struct nrg_run_info *ri);

/* Create a run row and copy the session's devices and channels into it. */
int nrg_store_run_create(nrg_store *st, nrg_session *s, struct nrg_run_info *ri, int64_t *run_id);
/* Record the bracket and exit status and mark the run done. */
int nrg_store_run_finish(nrg_store *st, int64_t run_id, uint64_t start_mono_us, uint64_t end_mono_us,
			 int64_t start_wall_us, int exit_status);
/* Update a device's provenance note (e.g. "lost at +12.3 s"). */
int nrg_store_device_note(nrg_store *st, int64_t run_id, int device, const char *note);

/* Runs, newest first. Fills *out with a malloc'd array of *n entries; free with nrg_runs_free. */
int nrg_store_runs(nrg_store *st, struct nrg_run_info **out, size_t *n);
void nrg_runs_free(struct nrg_run_info *runs, size_t n);
/* id of the newest run, or -ENOENT. */
int nrg_store_latest_run(nrg_store *st, int64_t *run_id);
int nrg_store_run_get(nrg_store *st, int64_t run_id, struct nrg_run_info *out);

/* ---- recorder: sampling thread + store writer --------------------------------------------- */

typedef struct nrg_recorder nrg_recorder;

/* Start sampling the session every interval_us (1000 .. 60e6) on a dedicated thread and storing
 * samples of run_id in batches off the sampling path. */
int nrg_recorder_start(nrg_recorder **out, nrg_session *s, nrg_store *st, int64_t run_id,
		       uint64_t interval_us, char *err, size_t errlen);
/* Take one sample now, from the caller's thread (a bracket); *t_us gets its time. */
int nrg_recorder_mark(nrg_recorder *r, uint64_t *t_us);
/* Sample densely (about every millisecond) from the caller's thread until every energy counter
 * has been seen to change value `changes` times within 2 ms of the reading before, max_us passed, or until(ctx) returns true (checked every
 * millisecond; may be NULL), so the report can place the counters' update instants next to a
 * bracket precisely. Returns 1 if until() ended it, else 0, or -errno. */
int nrg_recorder_settle(nrg_recorder *r, unsigned changes, uint64_t max_us, bool (*until)(void *ctx),
			void *ctx);
/* Stop sampling, flush everything to the store, free the recorder. */
int nrg_recorder_stop(nrg_recorder *r);

struct nrg_recorder_stats {
	uint64_t ticks, missed_ticks, dropped;  /* dropped: samples lost to a full queue */
	uint64_t read_ns_total, read_ns_max;    /* time spent reading sources */
	uint64_t lateness_ns_total, lateness_ns_max; /* wake-up lateness vs schedule */
};
void nrg_recorder_get_stats(const nrg_recorder *r, struct nrg_recorder_stats *out);

struct nrg_report;

/* ---- regions and events (phases) ------------------------------------------------------------
 *
 * A region is a named interval of the workload, with a kind, optional epoch and step numbers,
 * and work units added while it is open. Regions nest per thread and may overlap across threads
 * and processes. Every event is stamped on CLOCK_MONOTONIC where it happens.
 *
 * Where the events go: a process started under `nrg run` (or its children) finds the run's
 * event ring named in the environment (NRG_EVENTS) and writes there, lock-free, in well under a
 * microsecond; the running nrg stores the events with the samples. Without a ring, calls return
 * -ENOTCONN at once and cost nothing measurable, unless the process started its own monitor
 * (nrg_monitor_start), which samples the node in-process and records the regions itself.
 * All these functions are thread-safe and async-signal-unsafe.
 */

enum nrg_region_kind { NRG_REGION_OTHER, NRG_REGION_TRAIN, NRG_REGION_EVAL, NRG_REGION_INFER };

enum nrg_event_type {
	NRG_EV_BEGIN = 1, /* a region opens */
	NRG_EV_END = 2,   /* the innermost open region of that name on this thread closes */
	NRG_EV_UNITS = 3, /* work done in the open regions of this thread */
	NRG_EV_MARK = 4,  /* an instant */
};

#define NRG_NAME_MAX 48 /* region names are cut to 47 bytes */
#define NRG_UNIT_MAX 16

/* An event as stored and as read back from a run. */
struct nrg_event {
	uint64_t t_us;
	int32_t pid, tid;
	enum nrg_event_type type;
	enum nrg_region_kind kind;
	int64_t epoch, step;     /* -1 when not given */
	double units;            /* NRG_EV_UNITS: amount of work */
	char unit[NRG_UNIT_MAX]; /* "samples", "tokens", ... ("" = "units") */
	char name[NRG_NAME_MAX];
};

/* Open a region. epoch/step: -1 when not applicable. Returns 0, -ENOTCONN when nobody is
 * watching, -ENOBUFS if the ring stayed full for 250 ms (the event is lost and counted). */
int nrg_region_begin(const char *name, enum nrg_region_kind kind, int64_t epoch, int64_t step);
/* Close the innermost open region `name` of the calling thread. */
int nrg_region_end(const char *name);
/* Add work units (samples, tokens, ...) to the regions open on the calling thread. */
int nrg_add_units(double n, const char *unit);
/* Record an instant event. */
int nrg_mark(const char *name);
/* Whether events from this process reach a running nrg or a monitor. */
bool nrg_watched(void);

const char *nrg_region_kind_name(enum nrg_region_kind k);
/* Parse "train", "eval", "infer", "other" (also "training", "evaluation", "inference").
 * Returns 0 or -EINVAL. */
int nrg_region_kind_parse(const char *s, enum nrg_region_kind *out);

/* In-process monitor: measure this process's own regions without `nrg run`. Starts the sources
 * and a recorder storing into db_path (NULL: a temporary file, removed at stop). Returns 0,
 * -EALREADY if a monitor runs or the process is under `nrg run` (its events go there). */
int nrg_monitor_start(const struct nrg_options *opt, const char *db_path, uint64_t interval_us,
		      char *err, size_t errlen);
/* Stop the monitor and build its report (regions included); *out as nrg_report_build. */
int nrg_monitor_stop(struct nrg_report **out, char *err, size_t errlen);

/* ---- report ------------------------------------------------------------------------------- */

enum nrg_method { NRG_METHOD_NONE, NRG_METHOD_COUNTER, NRG_METHOD_POWER, NRG_METHOD_ESTIMATE };

struct nrg_device_report {
	struct nrg_device_info info;
	enum nrg_method method;
	bool has_energy;        /* false: energy unknown (no valid readings) */
	double energy_j;
	bool has_power_energy;  /* energy from integrating power, when a counter was primary too */
	double power_energy_j;
	bool has_avg, has_peak;
	double avg_power_w, peak_power_w;
	uint64_t samples;       /* valid readings of the primary channel */
	double coverage;        /* fraction of the run with valid readings of the primary channel */
	double sensor_coverage; /* fraction of time the sensor itself observes (window/update), 1 if all */
	char why[256];          /* why energy is missing or partial, or "" */
};

/* Energy of one device within a region. */
struct nrg_region_device {
	int device;      /* index into nrg_report.devices */
	bool has_energy;
	double energy_j;
	bool has_peak;           /* highest reading of the preferred power channel in the region */
	double peak_power_w;
	uint64_t samples;        /* valid readings of the primary channel inside the region */
};

struct nrg_region_report {
	char name[NRG_NAME_MAX];
	enum nrg_region_kind kind;
	int parent;              /* index into nrg_report.regions of the enclosing region, or -1 */
	int depth;               /* 0 for a top-level region */
	int32_t pid, tid;
	int64_t epoch, step;     /* -1 when not given */
	double start_s, end_s;   /* since the run's start */
	bool closed;             /* false: still open when the run ended (closed at the end) */
	bool has_units;
	double units;
	char unit[NRG_UNIT_MAX];
	size_t n_devices;        /* one entry per report device */
	struct nrg_region_device *devices;
	bool has_energy;
	double energy_j;         /* the node's energy in the region (as the run's total) */
	double edp_js;           /* energy-delay product, J*s */
	bool uncertain;          /* shorter than a sensor update, or too few readings */
	double uncertainty_j;    /* bound on the error from sensor update periods */
	char why[160];
};

/* An instant (nrg_mark) of the run. */
struct nrg_mark_report {
	char name[NRG_NAME_MAX];
	double t_s;              /* since the run's start */
	int32_t pid, tid;
};

/* One epoch: the outermost regions carrying that epoch number (all ranks), time counted once. */
struct nrg_epoch_report {
	int64_t epoch;
	double start_s, end_s;   /* first start, last end of its regions */
	size_t n_regions;
	bool has_energy;
	double energy_j;         /* node energy over the union of its regions' intervals */
	bool has_units;
	double units;
	char unit[NRG_UNIT_MAX];
	bool uncertain;          /* one of its regions is */
};

struct nrg_report {
	struct nrg_run_info run;
	double duration_s;
	size_t n_devices;
	struct nrg_device_report *devices;
	/* composition */
	bool has_node; double node_j;     /* whole-node energy: meter if any, else sum of components */
	bool node_measured;               /* true when a whole-node meter gave node_j */
	bool has_gpu, has_cpu, has_dram;         /* a component of that kind has a known energy */
	double gpu_j, gpu_idle_j, cpu_j, dram_j; /* sums of the components (gpu_idle_j: GPUs not visible) */
	bool has_remainder; double remainder_j;   /* node meter minus components */
	double measured_j, estimated_j;
	bool has_rated; double rated_guess_j;     /* runtime x rated power */
	/* phases */
	size_t n_regions;
	struct nrg_region_report *regions;        /* in start order */
	double kind_j[4];                         /* node energy by region kind (top-level regions) */
	bool has_kinds;
	double unattributed_j;                    /* node energy outside every top-level region */
	uint64_t events_lost;                     /* events dropped (full ring) */
	uint64_t events_unmatched;                /* an END or UNITS with no open region: ignored */
	size_t n_marks;
	struct nrg_mark_report *marks;            /* in time order */
	size_t n_epochs;
	struct nrg_epoch_report *epochs;          /* in epoch order */
};

/* Energy per epoch over the epochs left after skipping the first skip_first and the last
 * skip_last (warm-up, tear-down). */
struct nrg_epoch_summary {
	size_t n;                /* epochs included */
	int64_t first, last;     /* their epoch numbers (-1 when n == 0) */
	double mean_j, stddev_j; /* per epoch (sample standard deviation; 0 when n < 2) */
	bool has_units;          /* every included epoch has units */
	double units, j_per_unit;
};
/* Fill *out from r->epochs. Returns 0, or -ENODATA when no epoch with a known energy remains. */
int nrg_report_epoch_summary(const struct nrg_report *r, size_t skip_first, size_t skip_last,
			     struct nrg_epoch_summary *out);

/* Build the report of a stored run from its samples. *out is malloc'd; free with nrg_report_free. */
int nrg_report_build(nrg_store *st, int64_t run_id, struct nrg_report **out, char *err, size_t errlen);
void nrg_report_free(struct nrg_report *r);

/* Energy of one stored channel between two CLOCK_MONOTONIC times, µJ, from its reconstructed
 * cumulative-energy curve. Returns 0, -ENODATA if the channel has no readings there. */
int nrg_channel_energy_between(nrg_store *st, int64_t run_id, int channel, uint64_t t0_us,
			       uint64_t t1_us, double *uj);

/* Factors for the derived figures of a report; a negative number (or NULL) means unset. */
struct nrg_factors {
	double grid_g_per_kwh; /* CO2e intensity of the electricity, g per kWh */
	double price_per_kwh;
	const char *currency;
	double pue;            /* power usage effectiveness of the site (>= 1) */
	double rated_node_w;   /* the node's rated power, for the runtime x rated guess */
};

/* Write the report as JSON (the contract of docs/nrg.1, JSON REPORT). fx may be NULL.
 * Returns 0 or -EIO. */
int nrg_report_write_json(const struct nrg_report *r, const struct nrg_factors *fx, FILE *f);
/* The same as a malloc'd string (caller frees), or NULL when out of memory. */
char *nrg_report_json(const struct nrg_report *r, const struct nrg_factors *fx);
/* What runtime x rated power would have guessed (J): fx->rated_node_w if set, else the sum of
 * the components' rated powers. Returns false when no rating is known. */
bool nrg_report_rated_guess(const struct nrg_report *r, const struct nrg_factors *fx, double *j);

const char *nrg_kind_name(enum nrg_kind k);
const char *nrg_role_name(enum nrg_role r);
const char *nrg_method_name(enum nrg_method m);
const char *nrg_quantity_unit(enum nrg_quantity q);
const char *nrg_source_state_name(enum nrg_source_state st);

#ifdef __cplusplus
}
#endif
#endif
