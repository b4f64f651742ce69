/* cmd-run.c - nrg run: run a command, sample every source while it runs, store and report. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"

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
	"      --power-limit LIMIT  cap the GPUs (--gpus, default all) for the run and put the\n"
	"                           limits back after it: watts (300), percent of the default\n"
	"                           limit (80%), or recommended:SWEEP[:energy|edp|ed2p|budget]\n"
	"                           (the limit the model of a stored sweep recommends); needs root\n"
	"      --auto               instrument Python scripts without code changes: regions for\n"
	"                           training, evaluation, inference and epochs (PyTorch, Keras,\n"
	"                           Lightning, Hugging Face), samples as work units\n"
	"  -h, --help               show this help\n"
	"\n"
	"Ctrl-C and SIGTERM reach the command; nrg then finishes the report and the store.\n"
	"The command and its children can mark regions (nrg mark, the C API, the Python package):\n"
	"they find the run through NRG_EVENTS in their environment.\n"
	"nrg's own failures exit 125; a command that cannot be run exits 126 or 127.\n";

/* Parse --power-limit: "300", "300W", "80%", "recommended:SWEEP[:objective]". */
static int parse_limit(struct nrg_settings *s, const char *arg, double *watts, double *pct)
{
	char *end;
	double v;

	*watts = *pct = -1;
	if (!strncmp(arg, "recommended:", 12)) {
		char sweep[64];
		const char *obj = strchr(arg + 12, ':');
		size_t n = obj ? (size_t)(obj - (arg + 12)) : strlen(arg + 12);

		if (!n || n >= sizeof sweep)
			return -1;
		memcpy(sweep, arg + 12, n);
		sweep[n] = 0;
		if (model_recommended_limit(s, sweep, obj ? obj + 1 : NULL, watts) < 0)
			exit(NRG_EXIT_FAIL);
		return 0;
	}
	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || !(v > 0))
		return -1;
	if (!strcmp(end, "%")) {
		*pct = v;
		return v <= 200 ? 0 : -1;
	}
	if (*end && strcmp(end, "W") && strcmp(end, "w"))
		return -1;
	*watts = v;
	return 0;
}

int cmd_run(int argc, char **argv, struct nrg_settings *s)
{
	enum { O_DB = 256, O_SOURCE, O_NO_SOURCE, O_GPUS, O_NO_ESTIMATE, O_AUTO, O_LIMIT };
	static const struct option longopts[] = {
		{ "auto", no_argument, NULL, O_AUTO },
		{ "db", required_argument, NULL, O_DB },
		{ "gpus", required_argument, NULL, O_GPUS },
		{ "help", no_argument, NULL, 'h' },
		{ "interval", required_argument, NULL, 'i' },
		{ "json", required_argument, NULL, 'j' },
		{ "no-estimate", no_argument, NULL, O_NO_ESTIMATE },
		{ "no-source", required_argument, NULL, O_NO_SOURCE },
		{ "power-limit", required_argument, NULL, O_LIMIT },
		{ "quiet", no_argument, NULL, 'q' },
		{ "source", required_argument, NULL, O_SOURCE },
		{ 0 } };
	struct runner_opts o = { .s = s, .power_limit_w = -1 };
	const char *limit_arg = NULL;
	double watts = -1, pct = -1;
	nrg_session *ls = NULL;
	int64_t run_id = 0;
	int c, rc = NRG_EXIT_FAIL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+hi:j:q", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(run_usage, stdout); return 0;
		case 'i':
			if (parse_duration_us(optarg, &s->interval_us) < 0 || s->interval_us < 1000 ||
			    s->interval_us > 60000000u)
				die_usage("run", "--interval %s: give a duration from 1ms to 60s, e.g. 100ms", optarg);
			break;
		case 'j': o.json_path = optarg; break;
		case 'q': o.quiet = true; break;
		case O_DB: settings_set(&s->db, optarg); break;
		case O_SOURCE: settings_set(&s->sources, optarg); break;
		case O_NO_SOURCE: settings_set(&s->no_sources, optarg); break;
		case O_GPUS: settings_set(&s->gpus, optarg); break;
		case O_NO_ESTIMATE: s->no_estimate = true; break;
		case O_AUTO: o.autoinst = true; break;
		case O_LIMIT: limit_arg = optarg; break;
		default: fprintf(stderr, "hint: see 'nrg run --help'\n"); return NRG_EXIT_USAGE;
		}
	}
	if (optind >= argc)
		die_usage("run", "no command to run");
	argv += optind;
	if (!limit_arg) {
		runner_run(&o, argv, &run_id, &rc, NULL);
		return rc;
	}

	if (parse_limit(s, limit_arg, &watts, &pct) < 0)
		die_usage("run", "--power-limit %s: give watts (300), a percentage of the default limit (80%%) "
			  "or recommended:SWEEP", limit_arg);
	/* Signals from here on are recorded (and forwarded to the command while it runs): the
	 * limits are put back before nrg exits. */
	runner_signal = 0;
	runner_signals_install();
	if (!(ls = runner_limit_session(s)))
		goto out;
	if (runner_limit_apply(ls, watts, pct) < 0) {
		runner_limit_restore(ls);
		goto out;
	}
	if (watts <= 0) {
		int idx[1];
		int64_t uw = -1;

		if (runner_limit_gpus(ls, idx, 1) && nrg_limit_get(ls, idx[0], &uw, NULL, 0) == 0)
			watts = (double)uw * 1e-6;
	}
	if (!o.quiet)
		fprintf(stderr, "nrg: power limit %.0f W on the GPUs for this run\n", watts);
	o.power_limit_w = watts;
	o.stop_if_signalled = true;
	runner_run(&o, argv, &run_id, &rc, NULL);
	if (runner_limit_restore(ls) < 0 && rc == 0)
		rc = NRG_EXIT_FAIL;
	else if (!o.quiet)
		fprintf(stderr, "nrg: power limits restored\n");
out:
	nrg_session_close(ls);
	runner_signals_restore();
	return rc;
}
