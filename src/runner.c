/* runner.c - run one command measured: sources, store, recorder, brackets and settle, report. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "nrg-config.h"
#include "runner.h"

#define SETTLE_MAX_US 500000u /* longest dense sampling after a bracket (coarse counters) */

volatile sig_atomic_t runner_signal;

static volatile sig_atomic_t child_pid;

/* Forward a signal sent to nrg alone to the command. A signal the terminal sent to the whole
 * foreground group (si_code SI_KERNEL) has reached the command already. */
static void forward(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig != SIGQUIT)
		runner_signal = sig;
	if (child_pid > 0 && (!si || si->si_code != SI_KERNEL))
		kill((pid_t)child_pid, sig);
}

char *runner_command_json(char **argv)
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

static char *settings_json(const struct runner_opts *o)
{
	const struct nrg_settings *s = o->s;
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
	if (o->power_limit_w >= 0)
		nrg_json_num(&j, "power_limit_w", o->power_limit_w);
	if (o->sweep_id > 0)
		nrg_json_int(&j, "sweep_id", (long long)o->sweep_id);
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

static struct sigaction saved[4];
static const int caught[4] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

void runner_signals_install(void)
{
	struct sigaction sa = { 0 };

	/* The command gets the terminal's signals itself; signals sent to nrg alone are forwarded. */
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 4; i++)
		sigaction(caught[i], &sa, &saved[i]);
}

void runner_signals_restore(void)
{
	for (int i = 0; i < 4; i++)
		sigaction(caught[i], &saved[i], NULL);
}

int runner_run(const struct runner_opts *o, char **argv, int64_t *run_id_out, int *exit_code, struct nrg_report **rep_out)
{
	struct nrg_settings *s = o->s;
	struct nrg_ring *ring = NULL;
	int rc = NRG_EXIT_FAIL, status = 0, go_w = -1, err_r = -1, exec_err = 0, ret = -1;
	nrg_session *se = NULL;
	nrg_store *st = NULL;
	nrg_recorder *rec = NULL;
	struct nrg_report *rep = NULL;
	struct nrg_run_info ri = { 0 };
	struct sigaction sa = { 0 }, old[4];
	bool handlers = false;
	char err[512] = "";
	int64_t run_id = 0;
	uint64_t t_start = 0, t_end = 0;
	int64_t wall_start;
	struct timeval tv;
	pid_t pid;

	*run_id_out = 0;
	if (rep_out)
		*rep_out = NULL;
	if (s->rated_cpu_w >= 0) {
		char w[32];

		snprintf(w, sizeof w, "%g", s->rated_cpu_w);
		setenv("NRG_CPU_TDP_W", w, 0);
	}
	struct nrg_options opt = { .sources = s->sources, .no_sources = s->no_sources, .gpus = s->gpus,
				   .no_estimate = s->no_estimate };
	if (nrg_session_open(&se, &opt, err, sizeof err) < 0) {
		error("%s", err);
		hint("'nrg list' shows the sources");
		*exit_code = NRG_EXIT_USAGE;
		return -1;
	}
	if (!nrg_device_count(se)) {
		warning("no source could be read: the run is timed but its energy is unknown");
		hint("'nrg list' says why each source is missing and how to fix it");
	}
	if (events_setup(&ring, o->autoinst) < 0)
		goto out;
	if (!(st = open_store(s)))
		goto out;
	if (gethostname(ri.host, sizeof ri.host) < 0)
		ri.host[0] = 0;
	ri.host[sizeof ri.host - 1] = 0;
	ri.command_json = runner_command_json(argv);
	ri.settings_json = settings_json(o);
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

	/* Block them until the handlers know the child. */
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 4; i++)
		sigaction(caught[i], &sa, &old[i]);
	handlers = true;
	if (o->stop_if_signalled && runner_signal) {
		rc = 128 + runner_signal;
		goto out;
	}

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
	*run_id_out = run_id;
	ret = 0;

	if (nrg_report_build(st, run_id, &rep, err, sizeof err) < 0) {
		error("cannot build the report: %s", err);
	} else {
		if (!o->quiet)
			render_report_text(stderr, rep, s);
		if (o->json_path) {
			FILE *f = strcmp(o->json_path, "-") ? fopen(o->json_path, "w") : stdout;

			if (!f) {
				error("cannot write %s: %s", o->json_path, strerror(errno));
			} else {
				struct nrg_factors fx = factors_of(s);

				nrg_report_write_json(rep, &fx, f);
				if (f != stdout && fclose(f) != 0)
					error("cannot write %s: %s", o->json_path, strerror(errno));
			}
		}
	}
out:
	if (handlers)
		for (int i = 0; i < 4; i++)
			sigaction(caught[i], &old[i], NULL);
	nrg_recorder_stop(rec);
	nrg_ring_destroy(ring);
	if (rep_out)
		*rep_out = rep;
	else
		nrg_report_free(rep);
	nrg_run_info_free(&ri);
	nrg_store_close(st);
	nrg_session_close(se);
	*exit_code = rc;
	return ret;
}

nrg_session *runner_limit_session(const struct nrg_settings *s)
{
	struct nrg_options opt = { .sources = "nvml", .gpus = s->gpus, .no_estimate = true };
	nrg_session *ls = NULL;
	char err[512] = "";
	int idx[1];

	if (nrg_session_open(&ls, &opt, err, sizeof err) < 0) {
		error("%s", err);
		return NULL;
	}
	if (!runner_limit_gpus(ls, idx, 1)) {
		error("no GPU whose power limit nrg could set was found");
		hint("'nrg list --source nvml' says why");
		nrg_session_close(ls);
		return NULL;
	}
	return ls;
}

size_t runner_limit_gpus(nrg_session *ls, int *idx, size_t max)
{
	size_t n = 0;

	for (size_t d = 0; d < nrg_device_count(ls) && n < max; d++)
		if (nrg_device_get(ls, d)->kind == NRG_KIND_GPU)
			idx[n++] = (int)d;
	return n;
}

int runner_limit_apply(nrg_session *ls, double watts, double pct)
{
	int idx[64];
	size_t n = runner_limit_gpus(ls, idx, 64);
	char err[512];

	for (size_t i = 0; i < n; i++) {
		const struct nrg_device_info *di = nrg_device_get(ls, (size_t)idx[i]);
		int64_t uw = watts > 0 ? (int64_t)(watts * 1e6 + 0.5) : (int64_t)(pct / 100.0 * (double)di->limit_default_uw + 0.5);
		int r;

		if (watts <= 0 && di->limit_default_uw <= 0) {
			error("%s: its default power limit is unknown: give the limit in W", di->id);
			return -1;
		}
		err[0] = 0;
		if ((r = nrg_limit_set(ls, idx[i], uw, err, sizeof err)) < 0) {
			error("%s: cannot set the power limit to %.0f W: %s", di->id, (double)uw * 1e-6,
			      err[0] ? err : strerror(-r));
			return -1;
		}
	}
	return 0;
}

int runner_limit_restore(nrg_session *ls)
{
	unsigned restored = 0;
	char err[512] = "";
	int r = nrg_limit_restore(ls, &restored, err, sizeof err);

	if (r < 0) {
		error("cannot restore the power limits: %s", err[0] ? err : strerror(-r));
		hint("run 'nrg restore'");
		return -1;
	}
	return 0;
}
