/* runner.h - run one command measured (session, store, recorder, brackets, report): nrg run and nrg sweep. */
/* SPDX-License-Identifier: MIT */
#ifndef NRG_RUNNER_H
#define NRG_RUNNER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli.h"

struct runner_opts {
	struct nrg_settings *s;   /* sources, GPUs, interval, database, factors */
	const char *json_path;    /* write the report as JSON there ("-" stdout), or NULL */
	bool quiet;               /* no text report on stderr */
	bool autoinst;            /* --auto: Python start-up hook */
	bool stop_if_signalled;   /* do not start the command when runner_signal is already set */
	double power_limit_w;     /* limit in force (recorded in the run's settings), < 0 if none */
	int64_t sweep_id;         /* sweep the run belongs to (recorded), 0 if none */
};

/* The last of SIGINT, SIGTERM, SIGHUP received while runner's handlers were installed, or 0.
 * Callers reset it. */
extern volatile sig_atomic_t runner_signal;

/* Install the handlers that record SIGINT/SIGTERM/SIGHUP/SIGQUIT in runner_signal (and forward
 * them to a running command) until runner_signals_restore(). Nesting is not supported. */
void runner_signals_install(void);
void runner_signals_restore(void);

/* Run argv measured as `nrg run` does: open the sources and the store, record, spawn the command
 * with dense sampling at its brackets, wait (forwarding signals), finish the run, build its
 * report, print it unless quiet, write the JSON if asked. On return *run_id is the stored run (0
 * if none), *exit_code the command's exit status (128+N for signal N), or NRG_EXIT_USAGE /
 * NRG_EXIT_FAIL when nrg failed; *rep (when rep is not NULL) gets the report, or NULL, to be
 * freed with nrg_report_free. Returns 0 when the command ran and the run was stored, -1 after
 * printing a message otherwise. */
int runner_run(const struct runner_opts *o, char **argv, int64_t *run_id, int *exit_code, struct nrg_report **rep);

/* argv as a JSON array of strings (malloc'd), or NULL when out of memory. */
char *runner_command_json(char **argv);

#endif

/* ---- power limits of the selected GPUs, for nrg run --power-limit and nrg sweep ---- */

/* Open a session on the GPUs of s->gpus (NVML only) for setting limits. Returns it, or NULL
 * after a message. */
nrg_session *runner_limit_session(const struct nrg_settings *s);
/* The GPUs of the limit session, as device indices (at most max); returns how many. */
size_t runner_limit_gpus(nrg_session *ls, int *idx, size_t max);
/* Set every GPU of ls to uw (watts > 0), or to pct percent of its default limit (watts <= 0).
 * The change is journaled first (nrg_limit_set). Returns 0, or -1 after a message. */
int runner_limit_apply(nrg_session *ls, double watts, double pct);
/* Put back every journaled limit (nrg_limit_restore). Returns 0, or -1 after a message. */
int runner_limit_restore(nrg_session *ls);

/* The limit a stored sweep's model recommends (cmd-model.c): sweep "latest" or an id, objective
 * "energy", "edp", "ed2p" or "budget" (NULL: energy). Returns 0, or -1 after a message. */
int model_recommended_limit(struct nrg_settings *s, const char *sweep, const char *objective, double *watts);
