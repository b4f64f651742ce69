/* t-sysfs-cli.c - nrg run and nrg list end to end on fake RAPL and hwmon trees at the real /sys/class. */
/* SPDX-License-Identifier: MIT */
/*
 * In a private mount namespace a tmpfs covers /sys/class; the fake powercap tree (fake-tree.c)
 * and a fake hwmon class are built there, so the real `nrg` binary, forked from here, reads
 * them at their real paths. The fake-tree writer advances every RAPL energy_uj at a known
 * constant power (package-0 wraps 40 J after it starts), a small writer of our own advances
 * the hwmon GPU energy counters, and the JSON report of `nrg run` is checked against the
 * energy those writers really added between the run's brackets. Needs root; skips otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake-tree.h"
#include "nrg-config.h"
#include "tap.h"

#define CLASS "/sys/class"
#define SLEEP_S "3"           /* the measured command sleeps this long */
#define STEP_US 1000u         /* the RAPL writer's step */
#define WRITER_S 8            /* how long the RAPL writer runs: the whole run and its tail */
#define NODE_UW 1000000000ll  /* what the fake ACPI power meter says: 1000 W */
#define GPU_STEP_US 10000u    /* step of our hwmon GPU energy writer */

/* The device id nrg gives each zone of fk_zones, in the same order, with its expected shape. */
static const struct {
	const char *id, *kind, *role, *parent;
} zone_dev[] = {
	{ "cpu0", "cpu", "component", NULL },   { "core0", "cpu", "part", "cpu0" },
	{ "uncore0", "cpu", "part", "cpu0" },   { "dram0", "dram", "component", NULL },
	{ "cpu1", "cpu", "component", NULL },   { "core1", "cpu", "part", "cpu1" },
	{ "uncore1", "cpu", "part", "cpu1" },   { "dram1", "dram", "component", NULL },
	{ "psys", "other", "other", NULL },     { "cpu0-mmio", "cpu", "duplicate", "cpu0" },
};

/* The hwmon GPU energy counters we advance: file, start value (as fk_build_hwmon writes it), power. */
static const struct {
	const char *id, *file;
	uint64_t start_uj, power_uw;
} gpu_ctr[] = {
	{ "amdgpu0", CLASS "/hwmon/hwmon1/energy1_input", 123456789012ull, 187000000ull },
	{ "intelgpu0", CLASS "/hwmon/hwmon3/energy1_input", 9876543ull, 20000000ull },
};
#define N_GPU ((int)(sizeof(gpu_ctr) / sizeof(gpu_ctr[0])))

static char tmp[PATH_MAX];
static const char *nrg;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void tmp_path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", tmp, name);
}

/* Print a file as TAP diagnostics. */
static void diag_file(const char *path)
{
	char line[1024];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("#   | %s%s", line, strchr(line, '\n') ? "" : "\n");
	fclose(f);
}

/* Fork and exec argv with stdout and stderr to out_path; as `nobody` when drop is set.
 * Returns the pid, or -1. The child exits 77 when it cannot drop privileges or exec. */
static pid_t spawn(char *const argv[], const char *out_path, bool drop)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid != 0)
		return pid;
	int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(77);
	if (drop && (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0 || geteuid() == 0))
		_exit(77);
	execv(argv[0], argv);
	_exit(errno == EACCES ? 77 : 126);
}

static int wait_status(pid_t pid)
{
	int st = 0;

	if (pid <= 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Whether some line of the file starts with `prefix` and contains every one of the NULL-ended
 * strings that follow. */
static bool has_line(const char *path, const char *prefix, ...)
{
	char line[2048];
	bool found = false;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		va_list ap;
		const char *s;
		if (strncmp(line, prefix, strlen(prefix)) != 0)
			continue;
		found = true;
		va_start(ap, prefix);
		while ((s = va_arg(ap, const char *)) != NULL)
			if (!strstr(line, s))
				found = false;
		va_end(ap);
	}
	fclose(f);
	return found;
}

/* ---- the JSON report, flattened by python3's json module into "key value" lines ------------- */

struct kv {
	char key[96];
	char val[416];
};
static struct kv *kvs;
static int n_kv;

static const char flatten_py[] =
	"import json,sys\n"
	"d=json.load(open(sys.argv[1]))\n"
	"for k,v in d['run'].items(): print('run.%s %s'%(k,json.dumps(v)))\n"
	"for x in d['devices']:\n"
	"  for k,v in x.items(): print('dev.%s.%s %s'%(x['id'],k,json.dumps(v)))\n"
	"for k,v in d['composition'].items(): print('comp.%s %s'%(k,json.dumps(v)))\n"
	"print('n_devices %d'%len(d['devices']))\n";

static bool load_json(const char *path)
{
	char cmd[PATH_MAX + 64], line[600];
	FILE *p;
	int cap = 0;

	snprintf(cmd, sizeof(cmd), "python3 -c \"$NRG_T_FLATTEN\" '%s'", path);
	setenv("NRG_T_FLATTEN", flatten_py, 1);
	fflush(stdout);
	p = popen(cmd, "r");
	if (!p)
		return false;
	while (fgets(line, sizeof(line), p)) {
		char *sp = strchr(line, ' '), *nl = strchr(line, '\n'), *val;
		if (!sp)
			continue;
		if (nl)
			*nl = '\0';
		*sp = '\0';
		if (n_kv == cap) {
			cap = cap ? cap * 2 : 256;
			kvs = realloc(kvs, (size_t)cap * sizeof(*kvs));
			if (!kvs)
				abort();
		}
		snprintf(kvs[n_kv].key, sizeof(kvs[n_kv].key), "%s", line);
		val = sp + 1;
		/* strings arrive JSON-quoted: drop the quotes (the fields checked need no unescaping) */
		if (val[0] == '"' && strlen(val) >= 2) {
			val[strlen(val) - 1] = '\0';
			val++;
		}
		snprintf(kvs[n_kv].val, sizeof(kvs[n_kv].val), "%s", val);
		n_kv++;
	}
	return pclose(p) == 0 && n_kv > 0;
}

static const char *get(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *get(const char *fmt, ...)
{
	char key[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	for (int i = 0; i < n_kv; i++)
		if (strcmp(kvs[i].key, key) == 0)
			return kvs[i].val;
	return NULL;
}

/* A number from the report; NAN when missing or null. */
static double num(const char *key)
{
	const char *v = get("%s", key);
	char *end;
	double d;

	if (!v || strcmp(v, "null") == 0)
		return NAN;
	d = strtod(v, &end);
	return end == v ? NAN : d;
}

static double dev_num(const char *id, const char *field)
{
	char key[128];

	snprintf(key, sizeof(key), "dev.%s.%s", id, field);
	return num(key);
}

static const char *dev_str(const char *id, const char *field)
{
	const char *v = get("dev.%s.%s", id, field);

	return v ? v : "(missing)";
}

/* ---- the writers' truth --------------------------------------------------------------------- */

/* Steps of a writer that started at t0 (µs), stepping every step_us for `steps` steps, that
 * landed in (a, b]: its k-th write happens at t0 + k * step_us. */
static double steps_between(uint64_t t0, uint32_t step_us, uint64_t steps, uint64_t a, uint64_t b)
{
	uint64_t na = a > t0 ? (a - t0) / step_us : 0, nb = b > t0 ? (b - t0) / step_us : 0;

	na = na > steps ? steps : na;
	nb = nb > steps ? steps : nb;
	return nb > na ? (double)(nb - na) : 0;
}

/* Our hwmon GPU energy writer: every GPU_STEP_US, from t0, add power x step to each counter. */
static pid_t gpu_writer_start(uint64_t *t0, int steps)
{
	pid_t pid;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	*t0 = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	fflush(stdout);
	pid = fork();
	if (pid != 0)
		return pid;
	uint64_t v[N_GPU];
	for (int g = 0; g < N_GPU; g++)
		v[g] = gpu_ctr[g].start_uj;
	for (int s = 0; s < steps; s++) {
		ts.tv_nsec += (long)GPU_STEP_US * 1000;
		while (ts.tv_nsec >= 1000000000L) {
			ts.tv_nsec -= 1000000000L;
			ts.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		for (int g = 0; g < N_GPU; g++) {
			v[g] += gpu_ctr[g].power_uw * GPU_STEP_US / 1000000u;
			if (fk_write(gpu_ctr[g].file, 0, "%llu\n", (unsigned long long)v[g]) < 0)
				_exit(4);
		}
	}
	_exit(0);
}

/* ---- the tests ------------------------------------------------------------------------------ */

static void test_list(void)
{
	char out[PATH_MAX];
	char *argv[] = { (char *)nrg, "list", "--source", "rapl,hwmon", NULL };
	int rc;

	tmp_path(out, sizeof(out), "list.txt");
	rc = wait_status(spawn(argv, out, false));
	is_i64(rc, 0, "nrg list --source rapl,hwmon exits 0");
	ok(has_line(out, "rapl ", " found ", NULL), "nrg list: rapl found");
	for (size_t i = 0; i < sizeof(zone_dev) / sizeof(zone_dev[0]); i++) {
		char word[48];
		snprintf(word, sizeof(word), " %s ", zone_dev[i].id);
		ok(has_line(out, "   ", word, zone_dev[i].kind, NULL), "nrg list names RAPL device %s (%s)", zone_dev[i].id,
		   zone_dev[i].kind);
	}
	ok(has_line(out, "   ", "offers:", "part of cpu0", NULL), "nrg list says a zone is part of cpu0");
	ok(has_line(out, "   ", "offers:", "duplicate of cpu0", NULL), "nrg list says cpu0-mmio duplicates cpu0");
#if HAVE_SENSORS
	ok(has_line(out, "hwmon ", " found ", NULL), "nrg list: hwmon found");
	ok(has_line(out, "   ", " node ", "node", NULL), "nrg list names the node meter");
	ok(has_line(out, "   ", " amdgpu0 ", "gpu", NULL), "nrg list names the amdgpu");
#endif
	if (tap_fail)
		diag_file(out);
}

static void test_run(void)
{
	enum { RAPL_STEPS = WRITER_S * 1000000 / STEP_US, GPU_STEPS = WRITER_S * 1000000 / GPU_STEP_US };
	char json[PATH_MAX], log[PATH_MAX], marker[PATH_MAX];
	char *argv[] = { (char *)nrg, "run", "-q", "-i", "100ms", "--source",
			 "rapl,hwmon", "--json", json, "--", "/bin/sh", "-c",
			 "touch \"$0\" && exec sleep " SLEEP_S, marker, NULL };
	struct fk_writer w;
	struct stat sb;
	uint64_t t_go = 0, t_gpu = 0, t_start, t_end, deadline;
	pid_t pid, gpu_pid = -1;
	int rc, fails0 = tap_fail;
	bool started = false;
	double sum_cpu = 0, sum_dram = 0, sum_gpu = 0;

	tmp_path(json, sizeof(json), "run.json");
	tmp_path(log, sizeof(log), "run.log");
	tmp_path(marker, sizeof(marker), "started");
	if (!ok(fk_writer_start(&w, "", STEP_US, RAPL_STEPS) == 0, "the RAPL counter writer starts"))
		return;
	/* The writer starts moving the counters only once the command runs (the marker appears,
	 * after nrg's start bracket): package-0 then wraps 200 ms into the run, inside it. */
	pid = spawn(argv, log, false);
	deadline = now_us() + 30000000u;
	while (pid > 0 && now_us() < deadline) {
		int st;
		if (stat(marker, &sb) == 0) {
			started = true;
			break;
		}
		if (waitpid(pid, &st, WNOHANG) == pid) {
			pid = -1;
			break;
		}
		usleep(200);
	}
	if (started) {
		t_go = now_us();
		fk_writer_go(&w);
		gpu_pid = gpu_writer_start(&t_gpu, GPU_STEPS);
	}
	rc = pid > 0 ? wait_status(pid) : -1;
	ok(started, "the measured command started under nrg run");
	if (!ok(rc == 0, "nrg run exits with the command's status 0 (got %d)", rc))
		diag_file(log);
	ok(!fk_writer_done(&w), "the RAPL writer was still running when nrg ended (it covered the whole run)");
	kill(w.pid, SIGKILL);
	fk_writer_wait(&w);
	if (gpu_pid > 0) {
		kill(gpu_pid, SIGKILL);
		wait_status(gpu_pid);
	}
	if (!ok(started && rc == 0 && load_json(json), "the JSON report was written and parses")) {
		diag_file(log);
		return;
	}

	t_start = (uint64_t)num("run.start_mono_us");
	t_end = (uint64_t)num("run.end_mono_us");
	ok(t_start > 0 && t_end > t_start && t_start < t_go && t_go < t_end,
	   "brackets %llu..%llu enclose the writer's start %llu", (unsigned long long)t_start,
	   (unsigned long long)t_end, (unsigned long long)t_go);
	/* package-0 reaches max_energy_range_uj 40 J (= 200 ms at 200 W) after the writer starts */
	ok(t_go + 200000 + STEP_US < t_end, "package-0 wrapped inside the run (%.3f s before its end)",
	   (double)(t_end - t_go - 200000) * 1e-6);
	is_i64(num("n_devices"), fk_n_zones + (HAVE_SENSORS ? 4 : 0), "one device per zone and hwmon sensor");

	for (int z = 0; z < fk_n_zones; z++) {
		const char *id = zone_dev[z].id;
		double want = (double)fk_zones[z].power_uw * STEP_US * 1e-12 *
			      steps_between(t_go, STEP_US, RAPL_STEPS, t_start, t_end);
		double got = dev_num(id, "energy_j");

		if (!ok(!isnan(got), "%s has an energy", id))
			continue;
		is_near(got, want, want * 0.005, "%s: %.3f J within 0.5%% of the %.3f J the writer added%s", id, got, want,
			z == 0 ? " (across the wrap)" : "");
		is_str(dev_str(id, "method"), "counter", "%s method", id);
		is_str(dev_str(id, "source"), "rapl", "%s source", id);
		is_str(dev_str(id, "kind"), zone_dev[z].kind, "%s kind", id);
		is_str(dev_str(id, "role"), zone_dev[z].role, "%s role", id);
		if (zone_dev[z].parent)
			is_str(dev_str(id, "parent"), zone_dev[z].parent, "%s parent", id);
		if (strcmp(zone_dev[z].role, "component") == 0) {
			if (strcmp(zone_dev[z].kind, "cpu") == 0)
				sum_cpu += got;
			else
				sum_dram += got;
		}
	}
	is_near(num("comp.cpu_j"), sum_cpu, sum_cpu * 1e-8 + 1e-6,
		"composition.cpu_j = cpu0 + cpu1 (no core/uncore/psys/mmio summed)");
	is_near(num("comp.dram_j"), sum_dram, sum_dram * 1e-8 + 1e-6, "composition.dram_j = dram0 + dram1");

#if HAVE_SENSORS
	{
		double node_want = (double)NODE_UW * 1e-12 * (double)(t_end - t_start), node = dev_num("node", "energy_j");
		double rem, gpu_j;

		is_str(dev_str("node", "kind"), "node", "the ACPI power meter is the node device");
		is_str(dev_str("node", "role"), "whole", "node role whole");
		is_str(dev_str("node", "source"), "hwmon", "node source hwmon");
		is_str(dev_str("node", "method"), "power", "node method power (averaged power integrated)");
		is_near(node, node_want, node_want * 0.01, "node: %.3f J within 1%% of 1000 W x the run", node);
		for (int g = 0; g < N_GPU; g++) {
			const char *id = gpu_ctr[g].id;
			double want = (double)gpu_ctr[g].power_uw * GPU_STEP_US * 1e-12 *
				      steps_between(t_gpu, GPU_STEP_US, GPU_STEPS, t_start, t_end);
			double got = dev_num(id, "energy_j");
			is_str(dev_str(id, "kind"), "gpu", "%s kind gpu", id);
			is_str(dev_str(id, "source"), "hwmon", "%s source hwmon", id);
			is_str(dev_str(id, "method"), "counter", "%s method counter", id);
			is_near(got, want, want * 0.01, "%s: %.3f J within 1%% of the %.3f J its counter advanced", id, got, want);
			sum_gpu += got;
		}
		is_str(dev_str("hwmon-fakepsu-power1", "role"), "other", "an unplaced power sensor is role other");
		is_str(get("comp.node_measured") ? get("comp.node_measured") : "", "true", "composition.node_measured");
		is_near(num("comp.node_j"), node, fabs(node) * 1e-8 + 1e-6, "composition.node_j is the node meter's energy");
		gpu_j = num("comp.gpu_j");
		is_near(gpu_j, sum_gpu, sum_gpu * 1e-8 + 1e-6, "composition.gpu_j = amdgpu0 + intelgpu0");
		rem = num("comp.remainder_j");
		ok(!isnan(rem), "composition.remainder_j is known");
		is_near(rem, num("comp.node_j") - (num("comp.cpu_j") + num("comp.dram_j") + (isnan(gpu_j) ? 0 : gpu_j)),
			fabs(node) * 1e-8 + 1e-6, "remainder_j = node_j - (cpu_j + dram_j + gpu_j)");
	}
#else
	ok(1, "# SKIP hwmon checks: built without libsensors");
#endif
	if (tap_fail > fails0) {
		printf("# the report:\n");
		diag_file(json);
	}
}

/* energy_uj mode 000 and nrg list run as nobody: rapl denied, with the fix. */
static void test_denied(void)
{
	char out[PATH_MAX];
	char *argv[] = { (char *)nrg, "list", "--source", "rapl", NULL };
	int rc;

	fk_rmtree(CLASS "/powercap");
	fk_rmtree(CLASS "/nrg-fake-devices/powercap");
	if (!ok(fk_build_powercap("", 0) == 0, "the powercap tree rebuilt with energy_uj mode 000"))
		return;
	tmp_path(out, sizeof(out), "denied.txt");
	rc = wait_status(spawn(argv, out, true));
	if (rc == 77) {
		printf("# cannot run nrg as nobody (privileges or a non-traversable build directory)\n");
		ok(1, "# SKIP the denied case needs nrg runnable by nobody");
		return;
	}
	is_i64(rc, 0, "nrg list as nobody exits 0");
	ok(has_line(out, "rapl ", " denied ", NULL), "nrg list: rapl denied");
	ok(has_line(out, "   ", "why:", "energy_uj", NULL), "the why line names energy_uj");
	ok(has_line(out, "   ", "fix:", "energy_uj", "root", NULL), "the fix line names energy_uj and root");
	if (tap_fail)
		diag_file(out);
}

int main(void)
{
	char node_file[] = CLASS "/hwmon/hwmon0/power1_average";

	nrg = getenv("NRG");
	if (!nrg || !*nrg)
		skip_all("NRG (the nrg binary) is not set");
	if (geteuid() != 0)
		skip_all("needs root (a private mount namespace over /sys/class)");
	if (unshare(CLONE_NEWNS) < 0)
		skip_all("cannot unshare a mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		skip_all("cannot make the mount namespace private");
	if (mount("nrg-fake", CLASS, "tmpfs", 0, "mode=0755") < 0)
		skip_all("cannot mount a tmpfs on /sys/class");
	if (fk_build_powercap("", 0444) < 0 || fk_build_hwmon(CLASS) < 0 ||
	    fk_write(node_file, 0, "%lld\n", NODE_UW) < 0)
		skip_all("cannot build the fake sysfs trees");
	snprintf(tmp, sizeof(tmp), "%s/nrg-t-sysfs-cli-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		skip_all("cannot create a temporary directory");
	chmod(tmp, 0755); /* the denied case runs nrg as nobody */
	{
		char db[PATH_MAX], conf[PATH_MAX];
		tmp_path(db, sizeof(db), "nrg.db");
		tmp_path(conf, sizeof(conf), "none.conf");
		setenv("NRG_DB", db, 1);
		setenv("NRG_CONFIG", conf, 1);
		unsetenv("NRG_SYSFS_ROOT");
		unsetenv("CUDA_VISIBLE_DEVICES");
	}
	if (chdir(tmp) < 0)
		skip_all("cannot enter the temporary directory");

	test_list();
	test_run();
	test_denied();

	if (chdir("/") == 0)
		fk_rmtree(tmp);
	free(kvs);
	return done_testing();
}
