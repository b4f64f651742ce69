/* cmd-export.c - nrg export: a stored run's samples as CSV or JSON. */
/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "store.h"

static const char export_usage[] =
	"usage: nrg export [--csv | --json] [--db PATH] [RUN]\n"
	"\n"
	"Write every reading of a stored run (the latest by default) to stdout.\n"
	"CSV (default): time_s,device,channel,value,unit - one line per reading, time in seconds\n"
	"since the run started; energy channels give the energy counted since the first reading\n"
	"(J), power W, others their own unit; a missing reading has an empty value.\n"
	"JSON: {\"run\": ID, \"channels\": [{\"device\", \"channel\", \"unit\", \"t\": [...], \"v\": [...]}]}\n";

struct export_ctx {
	FILE *f;
	bool json;
	const char *dev, *chan, *unit;
	double scale;
	uint64_t t0;
	bool first;
};

static int export_block(const struct nrg_block_row *row, void *vctx)
{
	struct export_ctx *x = vctx;
	uint64_t *t = malloc(row->n * sizeof *t);
	int64_t *v = malloc(row->n * sizeof *v);
	bool *ok = malloc(row->n * sizeof *ok);
	int n = t && v && ok ? nrg_block_decode(row, NRG_Q_UTIL, t, v, ok, NULL, row->n) : -1;

	for (int i = 0; i < n; i++) {
		double ts = ((double)t[i] - (double)x->t0) * 1e-6;

		if (x->json) {
			fprintf(x->f, "%s[%.6f,", x->first ? "" : ",", ts);
			if (ok[i])
				fprintf(x->f, "%.10g]", (double)v[i] * x->scale);
			else
				fputs("null]", x->f);
			x->first = false;
		} else if (ok[i]) {
			fprintf(x->f, "%.6f,%s,%s,%.10g,%s\n", ts, x->dev, x->chan, (double)v[i] * x->scale, x->unit);
		} else {
			fprintf(x->f, "%.6f,%s,%s,,%s\n", ts, x->dev, x->chan, x->unit);
		}
	}
	free(t);
	free(v);
	free(ok);
	return n < 0 ? -1 : 0;
}

int cmd_export(int argc, char **argv, struct nrg_settings *s)
{
	enum { O_DB = 256, O_JSON, O_CSV };
	static const struct option longopts[] = {
		{ "csv", no_argument, NULL, O_CSV }, { "db", required_argument, NULL, O_DB },
		{ "help", no_argument, NULL, 'h' }, { "json", no_argument, NULL, O_JSON }, { 0 } };
	struct nrg_device_info *devs = NULL;
	struct nrg_channel_info *chans = NULL;
	struct nrg_run_info ri = { 0 };
	size_t nd = 0, nc = 0;
	bool as_json = false;
	int64_t id;
	nrg_store *st;
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(export_usage, stdout); return 0;
		case O_DB: settings_set(&s->db, optarg); break;
		case O_JSON: as_json = true; break;
		case O_CSV: as_json = false; break;
		default: fprintf(stderr, "hint: see 'nrg export --help'\n"); return NRG_EXIT_USAGE;
		}
	}
	if (argc - optind > 1)
		die_usage("export", "give at most one run");
	if (!(st = open_store(s)))
		return NRG_EXIT_FAIL;
	if (resolve_run(st, optind < argc ? argv[optind] : NULL, &id) < 0 || nrg_store_run_get(st, id, &ri) < 0 ||
	    nrg_store_run_layout(st, id, &devs, &nd, &chans, &nc) < 0) {
		if (!ri.id)
			error("run %lld not found", (long long)id);
		rc = 1;
		goto out;
	}
	if (as_json)
		printf("{\"run\":%lld,\"start_mono_us\":%llu,\"channels\":[", (long long)id,
		       (unsigned long long)ri.start_mono_us);
	else
		printf("time_s,device,channel,value,unit\n");
	for (size_t i = 0; i < nc; i++) {
		const struct nrg_channel_info *ci = &chans[i];
		struct export_ctx x = { stdout, as_json, devs[ci->device].id, ci->name, "", 1, ri.start_mono_us, true };

		switch (ci->quantity) {
		case NRG_Q_ENERGY: x.unit = "J"; x.scale = 1e-6; break;
		case NRG_Q_POWER: case NRG_Q_LIMIT: x.unit = "W"; x.scale = 1e-6; break;
		case NRG_Q_UTIL: x.unit = "%"; break;
		case NRG_Q_CLOCK: x.unit = "MHz"; break;
		case NRG_Q_TEMP: x.unit = "C"; x.scale = 1e-3; break;
		}
		if (as_json) {
			char *d = nrg_json_quote(x.dev), *n = nrg_json_quote(x.chan);

			printf("%s{\"device\":%s,\"channel\":%s,\"unit\":\"%s\",\"samples\":[", i ? "," : "",
			       d ? d : "\"\"", n ? n : "\"\"", x.unit);
			free(d);
			free(n);
		}
		if (nrg_store_blocks(st, id, (int)i, 0, UINT64_MAX / 2, export_block, &x) < 0) {
			error("run %lld: cannot decode the samples of %s/%s", (long long)id, x.dev, x.chan);
			rc = 1;
		}
		if (as_json)
			printf("]}");
	}
	if (as_json)
		printf("]}\n");
out:
	free(devs);
	free(chans);
	nrg_run_info_free(&ri);
	nrg_store_close(st);
	return rc;
}
