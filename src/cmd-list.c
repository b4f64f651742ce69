/* cmd-list.c - nrg list: every source nrg knows, what it found, and why one is missing. */
/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char list_usage[] =
	"usage: nrg list [--json] [--source LIST] [--gpus LIST]\n"
	"\n"
	"List every source nrg knows, found or not. For a source that cannot be used it says the\n"
	"exact reason and the fix; for each device found, what it offers (energy counter, instant\n"
	"or averaged power, power limits, ...).\n"
	"\n"
	"options:\n"
	"      --json          machine-readable output on stdout\n"
	"      --source LIST   probe only these sources\n"
	"      --gpus LIST     only these GPUs (indices or UUIDs)\n"
	"  -h, --help          show this help\n";

static void caps_text(uint32_t caps, char *buf, size_t n)
{
	static const struct { uint32_t bit; const char *name; } names[] = {
		{ NRG_CAP_ENERGY, "energy-counter" }, { NRG_CAP_POWER_INSTANT, "instant-power" },
		{ NRG_CAP_POWER_AVG, "averaged-power" }, { NRG_CAP_POWER_LIMIT, "power-limit" },
		{ NRG_CAP_LIMIT_SET, "limit-settable" }, { NRG_CAP_UTIL, "utilisation" },
		{ NRG_CAP_CLOCK, "clock" }, { NRG_CAP_TEMP, "temperature" } };
	size_t o = 0;

	buf[0] = 0;
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (caps & names[i].bit) {
			int w = snprintf(buf + o, n - o, "%s%s", o ? ", " : "", names[i].name);

			if (w < 0 || (size_t)w >= n - o)
				break;
			o += (size_t)w;
		}
	if (!o)
		snprintf(buf, n, "-");
}

static void list_json(nrg_session *se)
{
	struct nrg_json j;
	char caps[256];

	nrg_json_begin(&j, stdout, true);
	nrg_json_obj(&j, NULL);
	nrg_json_arr(&j, "sources");
	for (size_t i = 0; i < nrg_source_count(se); i++) {
		const struct nrg_source_status *ss = nrg_source_get(se, i);

		nrg_json_obj(&j, NULL);
		nrg_json_str(&j, "name", ss->name);
		nrg_json_str(&j, "summary", ss->summary);
		nrg_json_str(&j, "state", nrg_source_state_name(ss->state));
		nrg_json_str(&j, "reason", ss->reason);
		nrg_json_str(&j, "fix", ss->fix[0] ? ss->fix : NULL);
		nrg_json_arr(&j, "devices");
		for (int d = ss->first_device; ss->state == NRG_SOURCE_FOUND && d < ss->first_device + ss->n_devices; d++) {
			const struct nrg_device_info *di = nrg_device_get(se, (size_t)d);

			nrg_json_obj(&j, NULL);
			nrg_json_str(&j, "id", di->id);
			nrg_json_str(&j, "kind", nrg_kind_name(di->kind));
			nrg_json_str(&j, "role", nrg_role_name(di->role));
			nrg_json_str(&j, "name", di->name);
			nrg_json_bool(&j, "estimated", di->estimated);
			nrg_json_bool(&j, "visible", di->visible);
			caps_text(di->caps, caps, sizeof caps);
			nrg_json_str(&j, "offers", caps);
			if (di->rated_uw > 0)
				nrg_json_num(&j, "rated_power_w", (double)di->rated_uw * 1e-6);
			nrg_json_str(&j, "note", di->note[0] ? di->note : NULL);
			nrg_json_end_obj(&j);
		}
		nrg_json_end_arr(&j);
		nrg_json_end_obj(&j);
	}
	nrg_json_end_arr(&j);
	nrg_json_end_obj(&j);
	nrg_json_done(&j);
}

int cmd_list(int argc, char **argv, struct nrg_settings *s)
{
	enum { O_SOURCE = 256, O_GPUS, O_JSON };
	static const struct option longopts[] = {
		{ "gpus", required_argument, NULL, O_GPUS },
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, O_JSON },
		{ "source", required_argument, NULL, O_SOURCE },
		{ 0 } };
	bool as_json = false;
	nrg_session *se;
	char err[512], caps[256];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(list_usage, stdout); return 0;
		case O_JSON: as_json = true; break;
		case O_SOURCE: settings_set(&s->sources, optarg); break;
		case O_GPUS: settings_set(&s->gpus, optarg); break;
		default: fprintf(stderr, "hint: see 'nrg list --help'\n"); return NRG_EXIT_USAGE;
		}
	}
	if (optind < argc)
		die_usage("list", "unexpected argument '%s'", argv[optind]);
	if (s->rated_cpu_w >= 0) {
		char w[32];

		snprintf(w, sizeof w, "%g", s->rated_cpu_w);
		setenv("NRG_CPU_TDP_W", w, 0);
	}
	struct nrg_options o = { .sources = s->sources, .gpus = s->gpus, .no_estimate = s->no_estimate };
	if (nrg_session_open(&se, &o, err, sizeof err) < 0) {
		error("%s", err);
		return NRG_EXIT_USAGE;
	}
	if (as_json) {
		list_json(se);
		nrg_session_close(se);
		return 0;
	}
	for (size_t i = 0; i < nrg_source_count(se); i++) {
		const struct nrg_source_status *ss = nrg_source_get(se, i);

		printf("%-9s %-8s %s\n", ss->name, nrg_source_state_name(ss->state), ss->summary);
		if (ss->state != NRG_SOURCE_FOUND) {
			printf("          why: %s\n", ss->reason);
			if (ss->fix[0])
				printf("          fix: %s\n", ss->fix);
			continue;
		}
		for (int d = ss->first_device; d < ss->first_device + ss->n_devices; d++) {
			const struct nrg_device_info *di = nrg_device_get(se, (size_t)d);

			caps_text(di->caps, caps, sizeof caps);
			printf("          %-12s %-5s %s%s%s\n", di->id, nrg_kind_name(di->kind), di->name,
			       di->estimated ? " [ESTIMATE]" : "",
			       di->kind == NRG_KIND_GPU && !di->visible ? " [not visible to CUDA_VISIBLE_DEVICES]" : "");
			printf("          %-12s offers: %s", "", caps);
			if (di->rated_uw > 0)
				printf("; rated %.0f W", (double)di->rated_uw * 1e-6);
			if (di->role != NRG_ROLE_COMPONENT)
				printf("; %s%s%s", nrg_role_name(di->role), di->parent >= 0 ? " of " : "",
				       di->parent >= 0 ? nrg_device_get(se, (size_t)di->parent)->id : "");
			printf("\n");
			if (di->note[0])
				printf("          %-12s note: %s\n", "", di->note);
		}
	}
	nrg_session_close(se);
	return 0;
}
