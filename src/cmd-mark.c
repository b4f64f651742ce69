/* cmd-mark.c - nrg mark: mark regions and events of a run from shell scripts. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "events.h"

static const char mark_usage[] =
	"usage: nrg mark begin NAME [--kind KIND] [--epoch N] [--step N] [--units N [--unit U]]\n"
	"       nrg mark end NAME [--units N [--unit U]]\n"
	"       nrg mark event NAME\n"
	"\n"
	"Mark a region of the run this shell runs under ('nrg run -- ./script.sh'): begin and end\n"
	"open and close a named region, event records an instant. KIND is train, eval, infer or\n"
	"other (default); --units adds work done (samples, tokens, ...; --unit names it) to the\n"
	"region, at its end or its start. Regions marked by one shell nest; the marks are stamped\n"
	"when nrg mark runs. Outside a run, nrg mark fails with status 1.\n";

static int parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		return -1;
	*out = v;
	return 0;
}

int cmd_mark(int argc, char **argv, struct nrg_settings *s)
{
	enum { O_KIND = 256, O_EPOCH, O_STEP, O_UNITS, O_UNIT };
	static const struct option longopts[] = {
		{ "epoch", required_argument, NULL, O_EPOCH }, { "help", no_argument, NULL, 'h' },
		{ "kind", required_argument, NULL, O_KIND }, { "step", required_argument, NULL, O_STEP },
		{ "unit", required_argument, NULL, O_UNIT }, { "units", required_argument, NULL, O_UNITS },
		{ 0 } };
	struct nrg_event ev = { .epoch = -1, .step = -1 }, u;
	const char *what, *unit = NULL;
	double units = -1;
	int c, r = 0;

	(void)s;
	optind = 1;
	/* options may follow the operands: nrg mark begin train --kind train */
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(mark_usage, stdout); return 0;
		case O_KIND:
			if (nrg_region_kind_parse(optarg, &ev.kind) < 0)
				die_usage("mark", "--kind %s: give train, eval, infer or other", optarg);
			break;
		case O_EPOCH:
			if (parse_i64(optarg, &ev.epoch) < 0)
				die_usage("mark", "--epoch %s: not a non-negative integer", optarg);
			break;
		case O_STEP:
			if (parse_i64(optarg, &ev.step) < 0)
				die_usage("mark", "--step %s: not a non-negative integer", optarg);
			break;
		case O_UNITS:
			if (parse_double(optarg, &units) < 0)
				die_usage("mark", "--units %s: not a non-negative number", optarg);
			break;
		case O_UNIT: unit = optarg; break;
		default: fprintf(stderr, "hint: see 'nrg mark --help'\n"); return NRG_EXIT_USAGE;
		}
	}
	if (argc - optind != 2)
		die_usage("mark", "give begin, end or event, and a NAME");
	what = argv[optind];
	if (!strcmp(what, "begin"))
		ev.type = NRG_EV_BEGIN;
	else if (!strcmp(what, "end"))
		ev.type = NRG_EV_END;
	else if (!strcmp(what, "event"))
		ev.type = NRG_EV_MARK;
	else
		die_usage("mark", "'%s': give begin, end or event", what);
	if (!*argv[optind + 1])
		die_usage("mark", "the NAME is empty");
	if (!nrg_watched()) {
		error("not inside 'nrg run' (NRG_EVENTS is not set, or its run has ended)");
		hint("run the script as 'nrg run -- ./script.sh'");
		return 1;
	}
	/* Speak for the calling shell, so its begin and end pair up. */
	ev.pid = ev.tid = (int32_t)getppid();
	ev.t_us = nrg_now_us();
	snprintf(ev.name, sizeof ev.name, "%s", argv[optind + 1]);
	u = ev;
	u.type = NRG_EV_UNITS;
	u.units = units;
	u.name[0] = 0;
	snprintf(u.unit, sizeof u.unit, "%s", unit ? unit : "");
	if (units >= 0 && ev.type == NRG_EV_END)
		r = nrg__event_emit(&u); /* units belong to the region before it closes */
	if (r == 0)
		r = nrg__event_emit(&ev);
	if (r == 0 && units >= 0 && ev.type == NRG_EV_BEGIN)
		r = nrg__event_emit(&u);
	if (r == -ENOBUFS) {
		error("the run's event ring is full: this mark was lost (and counted)");
		return 1;
	}
	return r < 0 ? 1 : 0;
}
