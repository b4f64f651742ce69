/* cmd-run.c - nrg run: run a command, sample every source while it runs, store and report. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "events.h"
#include "nrg-config.h"

#define SETTLE_MAX_US 500000u /* longest dense sampling after a bracket (coarse counters) */

static const char run_usage[] =
	"usage: nrg run [options] [--] COMMAND [ARG...]\n"
	"\n"
	"Run COMMAND, sample every source on the node while it runs, print a report to stderr,\n"
	"store the run, and exit with COMMAND's exit status (128+N if it died of signal N).\n"
	"\n"
	"options:\n"
	"  -i, --interval DURATION  sampling interval: 100ms (default), 10ms, 1s; at least 1ms\n"
	"      --db PATH            database file (default ./nrg.db, or NRG_DB)\n"
	"  -j, --json FILE          write the report as JSON to FILE ('-' for stdout)\n"
	"  -q, --quiet              no report on stderr\n"
	"      --source LIST        use only these sources (nvml,rapl,hwmon,estimate)\n"
	"      --no-source LIST     skip these sources\n"
	"      --gpus LIST          measure only these GPUs (indices or UUIDs)\n"
	"      --no-estimate        never estimate CPU power when no CPU sensor can be read\n"
	"      --auto               instrument Python scripts without code changes: regions for\n"
	"                           training, evaluation, inference and epochs (PyTorch, Keras,\n"
	"                           Lightning, Hugging Face), samples as work units\n"
	"  -h, --help               show this help\n"
	"\n"
	"Ctrl-C and SIGTERM reach the command; nrg then finishes the report and the store.\n"
	"The command and its children can mark regions (nrg mark, the C API, the Python package):\n"
	"they find the run through NRG_EVENTS in their environment.\n"
	"nrg's own failures exit 125; a command that cannot be run exits 126 or 127.\n";

static volatile sig_atomic_t child_pid;

/* Forward a signal sent to nrg alone to the command. A signal the terminal sent to the whole
 * foreground group (si_code SI_KERNEL) has reached the command already. */
static void forward(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (child_pid > 0 && (!si || si->si_code != SI_KERNEL))
		kill((pid_t)child_pid, sig);
}

static char *command_json(char **argv)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fputc('[', f);
	for (int i = 0; argv[i]; i++) {
		char *q = nrg_json_quote(argv[i]);

		fprintf(f, "%s%s", i ? "," : "", q ? q : "\"\"");
		free(q);
	}
	fputc(']', f);
	fclose(f);
	return buf;
}

static char *settings_json(const struct nrg_settings *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct nrg_json j;

	if (!f)
		return NULL;
	nrg_json_begin(&j, f, false);
	nrg_json_obj(&j, NULL);
	nrg_json_int(&j, "interval_us", (long long)s->interval_us);
	if (s->sources)
		nrg_json_str(&j, "sources", s->sources);
	if (s->no_sources)
		nrg_json_str(&j, "no_sources", s->no_sources);
	if (s->gpus)
		nrg_json_str(&j, "gpus", s->gpus);
	nrg_json_end_obj(&j);
	fclose(f);
	return buf;
}

/* The region event ring the command's processes write to, named in their environment, and
 * what they need to write to it from Python (the library) and, with --auto, the start-up hook.
 * Without a ring the run is still measured: regions are just not recorded. */
static int events_setup(struct nrg_ring **ring, bool autoinst)
{
	const char *dir = getenv("XDG_RUNTIME_DIR"), *lib = getenv("NRG_LIBNRG");
	char path[512], err[512], buf[8192];

	if (!dir || !*dir || access(dir, W_OK) != 0)
		dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(path, sizeof path, "%s/nrg-events-%d-%llu", dir, (int)getpid(), (unsigned long long)nrg_now_us());
	if (nrg_ring_create(ring, path, NRG_RING_DEFAULT_CAP, err, sizeof err) < 0) {
		warning("%s: regions will not be recorded", err);
		*ring = NULL;
	} else {
		setenv("NRG_EVENTS", path, 1);
	}
	if (!lib || !*lib) {
		snprintf(buf, sizeof buf, "%s/libnrg.so.0", NRG_LIBDIR);
		if (access(buf, R_OK) == 0)
			setenv("NRG_LIBNRG", buf, 1);
	}
	if (autoinst) {
		const char *py = getenv("NRG_PYTHON_DIR"), *old = getenv("PYTHONPATH");
		char pydir[512];

		snprintf(pydir, sizeof pydir, "%s", py && *py ? py : NRG_DATADIR "/python");
		if (access(pydir, R_OK) != 0) {
			error("--auto: the Python support of nrg is not installed in %s", pydir);
			hint("reinstall nrg, or set NRG_PYTHON_DIR to its bindings/python directory");
			return -1;
		}
		snprintf(buf, sizeof buf, "%s/nrg_autostart:%s%s%s", pydir, pydir, old && *old ? ":" : "",
			 old && *old ? old : "");
		setenv("PYTHONPATH", buf, 1);
		setenv("NRG_AUTO", "1", 1);
	}
	return 0;
}

/* fork the command; it waits on go_fd before exec, and reports an exec failure on err_fd. */
static pid_t spawn(char **argv, int *go_w, int *err_r)
{
	int go[2], er[2];
	pid_t pid;

	if (pipe2(go, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(er, O_CLOEXEC) < 0) {
		close(go[0]);
		close(go[1]);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		char c;
		int e;
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		close(go[1]);
		close(er[0]);
		while (read(go[0], &c, 1) < 0 && errno == EINTR)
			;
		execvp(argv[0], argv);
		e = errno;
		if (write(er[1], &e, sizeof e) < 0)
			_exit(127);
		_exit(e == ENOENT ? 127 : 126);
	}
	close(go[0]);
	close(er[1]);
	if (pid < 0) {
		close(go[1]);
		close(er[0]);
		return -1;
	}
	*go_w = go[1];
	*err_r = er[0];
	return pid;
}

/* Copy the notes the sources made during the run (a GPU lost, ...) into the store, with the
 * absolute monotonic time in them made relative to the start. */
static void store_notes(nrg_session *se, nrg_store *st, int64_t run, uint64_t t_start)
{
	for (size_t d = 0; d < nrg_device_count(se); d++) {
		const struct nrg_device_info *di = nrg_device_get(se, d);
		unsigned long long t;
		const char *rest;
		char note[320];

		if (strncmp(di->note, "lost at ", 8) || sscanf(di->note + 8, "%llu", &t) != 1)
			continue;
		rest = strchr(di->note + 8, ':');
		snprintf(note, sizeof note, "lost at +%.3f s%s", t >= t_start ? (double)(t - t_start) * 1e-6 : 0.0,
			 rest ? rest : "");
		nrg_store_device_note(st, run, (int)d, note);
	}
}

/* The lag, (window + update period) / 2, of the averaged power channel of devices that have no energy counter
 * (capped at 1 s), or 0. */
static uint64_t power_tail_us(nrg_session *se)
{
	uint64_t tail = 0;

	for (size_t d = 0; d < nrg_device_count(se); d++) {
		const struct nrg_channel_info *pw = NULL;
		bool counter = false;

		for (size_t c = 0; c < nrg_channel_count(se); c++) {
			const struct nrg_channel_info *ci = nrg_channel_get(se, c);

			if ((size_t)ci->device != d)
				continue;
			if (ci->quantity == NRG_Q_ENERGY)
				counter = true;
			if (ci->quantity == NRG_Q_POWER && (ci->preferred || !pw))
				pw = ci;
		}
		if (!counter && pw && pw->window_us && (pw->window_us + pw->update_us) / 2 > tail)
			tail = (pw->window_us + pw->update_us) / 2;
	}
	return tail > 1000000 ? 1000000 : tail;
}

struct child {
	pid_t pid;
	int status;
	bool done;
};

/* For the settle after the start: stop as soon as the command has exited. */
static bool child_exited(void *ctx)
{
	struct child *c = ctx;

	if (!c->done && waitpid(c->pid, &c->status, WNOHANG) == c->pid)
		c->done = true;
	return c->done;
}

static int exit_code_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return NRG_EXIT_FAIL;
}

int cmd_run(int argc, char **argv, struct nrg_settings *s)
{
	enum { O_DB = 256, O_SOURCE, O_NO_SOURCE, O_GPUS, O_NO_ESTIMATE, O_AUTO };
	static const struct option longopts[] = {
		{ "auto", no_argument, NULL, O_AUTO },
		{ "db", required_argument, NULL, O_DB },
		{ "gpus", required_argument, NULL, O_GPUS },
		{ "help", no_argument, NULL, 'h' },
		{ "interval", required_argument, NULL, 'i' },
		{ "json", required_argument, NULL, 'j' },
		{ "no-estimate", no_argument, NULL, O_NO_ESTIMATE },
		{ "no-source", required_argument, NULL, O_NO_SOURCE },
		{ "quiet", no_argument, NULL, 'q' },
		{ "source", required_argument, NULL, O_SOURCE },
		{ 0 } };
	const char *json_path = NULL;
	bool quiet = false, autoinst = false;
	struct nrg_ring *ring = NULL;
	int c, rc = NRG_EXIT_FAIL, status = 0, go_w = -1, err_r = -1, exec_err = 0;
	nrg_session *se = NULL;
	nrg_store *st = NULL;
	nrg_recorder *rec = NULL;
	struct nrg_report *rep = NULL;
	struct nrg_run_info ri = { 0 };
	struct sigaction sa = { 0 }, old_int, old_term, old_hup, old_quit;
	char err[512] = "";
	int64_t run_id = 0;
	uint64_t t_start = 0, t_end = 0;
	int64_t wall_start;
	struct timeval tv;
	pid_t pid;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+hi:j:q", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(run_usage, stdout); return 0;
		case 'i':
			if (parse_duration_us(optarg, &s->interval_us) < 0 || s->interval_us < 1000 ||
			    s->interval_us > 60000000u)
				die_usage("run", "--interval %s: give a duration from 1ms to 60s, e.g. 100ms", optarg);
			break;
		case 'j': json_path = optarg; break;
		case 'q': quiet = true; break;
		case O_DB: settings_set(&s->db, optarg); break;
		case O_SOURCE: settings_set(&s->sources, optarg); break;
		case O_NO_SOURCE: settings_set(&s->no_sources, optarg); break;
		case O_GPUS: settings_set(&s->gpus, optarg); break;
		case O_NO_ESTIMATE: s->no_estimate = true; break;
		case O_AUTO: autoinst = true; break;
		default: fprintf(stderr, "hint: see 'nrg run --help'\n"); return NRG_EXIT_USAGE;
		}
	}
	if (optind >= argc)
		die_usage("run", "no command to run");
	argv += optind;

	if (s->rated_cpu_w >= 0) {
		char w[32];

		snprintf(w, sizeof w, "%g", s->rated_cpu_w);
		setenv("NRG_CPU_TDP_W", w, 0);
	}
	struct nrg_options o = { .sources = s->sources, .no_sources = s->no_sources, .gpus = s->gpus,
				 .no_estimate = s->no_estimate };
	if (nrg_session_open(&se, &o, err, sizeof err) < 0) {
		error("%s", err);
		hint("'nrg list' shows the sources");
		return NRG_EXIT_USAGE;
	}
	if (!nrg_device_count(se)) {
		warning("no source could be read: the run is timed but its energy is unknown");
		hint("'nrg list' says why each source is missing and how to fix it");
	}
	if (events_setup(&ring, autoinst) < 0)
		goto out;
	if (!(st = open_store(s)))
		goto out;
	if (gethostname(ri.host, sizeof ri.host) < 0)
		ri.host[0] = 0;
	ri.host[sizeof ri.host - 1] = 0;
	ri.command_json = command_json(argv);
	ri.settings_json = settings_json(s);
	ri.interval_us = s->interval_us;
	ri.exit_status = -1;
	snprintf(ri.nrg_version, sizeof ri.nrg_version, "%s", NRG_VERSION);
	snprintf(ri.state, sizeof ri.state, "running");
	if (nrg_store_run_create(st, se, &ri, &run_id) < 0) {
		error("cannot record the run in %s", s->db);
		goto out;
	}
	if (nrg_recorder_start(&rec, se, st, run_id, s->interval_us, err, sizeof err) < 0) {
		error("%s", err[0] ? err : "cannot start sampling");
		goto out;
	}
	if (ring)
		nrg__recorder_events(rec, ring);

	/* The command gets the terminal's signals itself; signals sent to nrg alone are
	 * forwarded. Block them until the handlers know the child. */
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	sigaction(SIGQUIT, &sa, &old_quit);

	pid = spawn(argv, &go_w, &err_r);
	if (pid < 0) {
		error("cannot start '%s': %s", argv[0], strerror(errno));
		goto out;
	}
	child_pid = pid;
	nrg_recorder_mark(rec, &t_start);
	gettimeofday(&tv, NULL);
	wall_start = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
	if (write(go_w, "g", 1) < 0) { /* the child execs now */
	}
	close(go_w);
	{
		ssize_t n;

		while ((n = read(err_r, &exec_err, sizeof exec_err)) < 0 && errno == EINTR)
			;
		if (n != (ssize_t)sizeof exec_err)
			exec_err = 0;
		close(err_r);
	}
	if (exec_err) {
		error("cannot run '%s': %s", argv[0], strerror(exec_err));
		if (exec_err == ENOENT)
			hint("is '%s' installed and on PATH?", argv[0]);
	} else {
	}
	/* Dense sampling while the command starts places coarse counters' updates; it stops the
	 * moment the command exits, so a short command's end bracket is not delayed. */
	struct child ch = { pid, 0, false };

	nrg_recorder_settle(rec, 2, SETTLE_MAX_US, child_exited, &ch);
	while (!ch.done && waitpid(pid, &ch.status, 0) < 0 && errno == EINTR)
		;
	status = ch.status;
	child_pid = 0;
	nrg_recorder_mark(rec, &t_end);
	nrg_recorder_settle(rec, 2, SETTLE_MAX_US, NULL, NULL); /* two: the update period too */
	rc = exit_code_of(status);
	/* Averaged power describes the past: where a device's energy comes from such power (no
	 * counter), keep sampling for half its window so the end of the run is seen. */
	{
		uint64_t tail = power_tail_us(se), now = nrg_now_us();

		if (tail && t_end + tail > now) {
			struct timespec ts = { 0, 0 };
			uint64_t d = t_end + tail - now + s->interval_us;

			ts.tv_sec = (time_t)(d / 1000000);
			ts.tv_nsec = (long)(d % 1000000) * 1000;
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
	}
	if (nrg_recorder_stop(rec) < 0)
		warning("some samples could not be stored in %s", s->db);
	rec = NULL;
	store_notes(se, st, run_id, t_start);
	if (nrg_store_run_finish(st, run_id, t_start, t_end, wall_start, rc) < 0)
		warning("cannot mark run %lld finished in %s", (long long)run_id, s->db);

	if (nrg_report_build(st, run_id, &rep, err, sizeof err) < 0) {
		error("cannot build the report: %s", err);
	} else {
		if (!quiet)
			render_report_text(stderr, rep, s);
		if (json_path) {
			FILE *f = strcmp(json_path, "-") ? fopen(json_path, "w") : stdout;

			if (!f) {
				error("cannot write %s: %s", json_path, strerror(errno));
			} else {
				{
					struct nrg_factors fx = factors_of(s);

					nrg_report_write_json(rep, &fx, f);
				}
				if (f != stdout && fclose(f) != 0)
					error("cannot write %s: %s", json_path, strerror(errno));
			}
		}
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
out:
	nrg_recorder_stop(rec);
	nrg_ring_destroy(ring);
	nrg_report_free(rep);
	nrg_run_info_free(&ri);
	nrg_store_close(st);
	nrg_session_close(se);
	return rc;
}
