/* cmd-runs.c - nrg runs: the stored runs, one line each. */
/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char runs_usage[] =
	"usage: nrg runs [--db PATH]\n"
	"\n"
	"List the stored runs, newest first: id, start (UTC), duration, exit status, state, command.\n";

int cmd_runs(int argc, char **argv, struct nrg_settings *s)
{
	enum { O_DB = 256 };
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, O_DB }, { "help", no_argument, NULL, 'h' }, { 0 } };
	struct nrg_run_info *runs = NULL;
	size_t n = 0;
	nrg_store *st;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(runs_usage, stdout); return 0;
		case O_DB: settings_set(&s->db, optarg); break;
		default: fprintf(stderr, "hint: see 'nrg runs --help'\n"); return NRG_EXIT_USAGE;
		}
	}
	if (optind < argc)
		die_usage("runs", "unexpected argument '%s'", argv[optind]);
	if (!(st = open_store(s)))
		return NRG_EXIT_FAIL;
	if (nrg_store_runs(st, &runs, &n) < 0) {
		error("cannot read the runs of %s", s->db);
		nrg_store_close(st);
		return NRG_EXIT_FAIL;
	}
	if (n)
		printf("%6s  %-19s  %10s  %4s  %-8s  %s\n", "id", "start (UTC)", "duration", "exit", "state", "command");
	for (size_t i = 0; i < n; i++) {
		const struct nrg_run_info *r = &runs[i];
		time_t t = (time_t)(r->start_wall_us / 1000000);
		struct tm tm;
		char when[32] = "-", dur[32] = "-", ex[16] = "-";

		if (r->start_wall_us > 0 && gmtime_r(&t, &tm))
			strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
		if (r->end_mono_us > r->start_mono_us)
			snprintf(dur, sizeof dur, "%.3f s", (double)(r->end_mono_us - r->start_mono_us) * 1e-6);
		if (r->exit_status >= 0 && !strcmp(r->state, "done"))
			snprintf(ex, sizeof ex, "%d", r->exit_status);
		printf("%6lld  %-19s  %10s  %4s  %-8s  %s\n", (long long)r->id, when, dur, ex, r->state,
		       r->command_json ? r->command_json : "");
	}
	nrg_runs_free(runs, n);
	nrg_store_close(st);
	return 0;
}
