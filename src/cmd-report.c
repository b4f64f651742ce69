/* cmd-report.c - nrg report: the report of a stored run, as text or JSON. */
/* SPDX-License-Identifier: MIT */
#include <getopt.h>

#include "cli.h"

static const char report_usage[] =
	"usage: nrg report [--json] [--db PATH] [RUN]\n"
	"\n"
	"Show the report of a stored run (the latest by default; 'nrg runs' lists the ids).\n"
	"Text goes to stdout; --json writes the JSON report (the same as 'nrg run --json').\n";

int cmd_report(int argc, char **argv, struct nrg_settings *s)
{
	enum { O_DB = 256, O_JSON };
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, O_DB }, { "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, O_JSON }, { 0 } };
	struct nrg_report *rep = NULL;
	bool as_json = false;
	char err[512] = "";
	int64_t id;
	nrg_store *st;
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(report_usage, stdout); return 0;
		case O_DB: settings_set(&s->db, optarg); break;
		case O_JSON: as_json = true; break;
		default: fprintf(stderr, "hint: see 'nrg report --help'\n"); return NRG_EXIT_USAGE;
		}
	}
	if (argc - optind > 1)
		die_usage("report", "give at most one run");
	if (!(st = open_store(s)))
		return NRG_EXIT_FAIL;
	if (resolve_run(st, optind < argc ? argv[optind] : NULL, &id) < 0) {
		nrg_store_close(st);
		return 1;
	}
	if (nrg_report_build(st, id, &rep, err, sizeof err) < 0) {
		error("%s", err);
		hint("'nrg runs' lists the stored runs");
		rc = 1;
	} else if (as_json) {
		render_report_json(stdout, rep, s);
	} else {
		render_report_text(stdout, rep, s);
	}
	nrg_report_free(rep);
	nrg_store_close(st);
	return rc;
}
