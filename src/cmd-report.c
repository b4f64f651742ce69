/* cmd-report.c - nrg report: the report of a stored run, as text or JSON. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* In render.c: how the text report shows regions (every one, or siblings of one name grouped
 * when there are many) and which epochs the epoch summary skips. */

static const char report_usage[] =
	"usage: nrg report [--json] [--db PATH] [--regions grouped|all] [--skip-epochs FIRST,LAST] [RUN]\n"
	"\n"
	"Show the report of a stored run (the latest by default; 'nrg runs' lists the ids).\n"
	"Text goes to stdout; --json writes the JSON report (the same as 'nrg run --json').\n"
	"\n"
	"  --regions all          list every region (default: with more than 40 regions,\n"
	"                         siblings of one name show as one line)\n"
	"  --skip-epochs F,L      leave the first F and the last L epochs (warm-up, tear-down)\n"
	"                         out of the per-epoch summary, e.g. 1,1\n";

/* Parse a count (0 .. 1e6) ending at *end. */
static int parse_count(const char *s, char **end, size_t *out)
{
	unsigned long v;

	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	v = strtoul(s, end, 10);
	if (errno || v > 1000000)
		return -1;
	*out = v;
	return 0;
}

int cmd_report(int argc, char **argv, struct nrg_settings *s)
{
	enum { O_DB = 256, O_JSON, O_REGIONS, O_SKIP };
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, O_DB }, { "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, O_JSON }, { "regions", required_argument, NULL, O_REGIONS },
		{ "skip-epochs", required_argument, NULL, O_SKIP }, { 0 } };
	struct nrg_report *rep = NULL;
	bool as_json = false, all_regions = false;
	size_t skip_first = 0, skip_last = 0;
	char *end;
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
		case O_REGIONS:
			if (!strcmp(optarg, "all"))
				all_regions = true;
			else if (!strcmp(optarg, "grouped"))
				all_regions = false;
			else
				die_usage("report", "--regions %s: say 'all' or 'grouped'", optarg);
			break;
		case O_SKIP:
			if (parse_count(optarg, &end, &skip_first) < 0 || *end != ',' ||
			    parse_count(end + 1, &end, &skip_last) < 0 || *end)
				die_usage("report", "--skip-epochs %s: give FIRST,LAST epoch counts, e.g. 1,1", optarg);
			break;
		default: fprintf(stderr, "hint: see 'nrg report --help'\n"); return NRG_EXIT_USAGE;
		}
	}
	if (argc - optind > 1)
		die_usage("report", "give at most one run");
	render_regions_view(all_regions, skip_first, skip_last);
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
		{
			struct nrg_factors fx = factors_of(s);

			nrg_report_write_json(rep, &fx, stdout);
		}
	} else {
		render_report_text(stdout, rep, s);
	}
	nrg_report_free(rep);
	nrg_store_close(st);
	return rc;
}
