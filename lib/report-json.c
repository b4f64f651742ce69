/* report-json.c - a run's report as JSON: the contract other tools and tests rely on. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "nrg.h"

static void rfc3339(int64_t wall_us, char *buf, size_t n)
{
	time_t t = (time_t)(wall_us / 1000000);
	struct tm tm;

	if (wall_us <= 0 || !gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, n, "unknown");
		return;
	}
	snprintf(buf + strlen(buf), n - strlen(buf), ".%03dZ", (int)(wall_us % 1000000 / 1000));
}

bool nrg_report_rated_guess(const struct nrg_report *r, const struct nrg_factors *fx, double *j)
{
	if (fx && fx->rated_node_w > 0) {
		*j = fx->rated_node_w * r->duration_s;
		return true;
	}
	*j = r->rated_guess_j;
	return r->has_rated;
}

static void opt_num(struct nrg_json *j, const char *key, bool have, double v)
{
	if (have)
		nrg_json_num(j, key, v);
	else
		nrg_json_null(j, key);
}

static void factors(struct nrg_json *j, const struct nrg_report *r, const struct nrg_factors *s)
{
	double kwh = r->node_j / 3.6e6, pue = s && s->pue > 0 ? s->pue : 1;

	opt_num(j, "kwh", r->has_node, kwh);
	opt_num(j, "pue", s && s->pue > 0, pue);
	opt_num(j, "co2e_g", r->has_node && s && s->grid_g_per_kwh >= 0,
		s ? kwh * pue * s->grid_g_per_kwh : NAN);
	opt_num(j, "cost", r->has_node && s && s->price_per_kwh >= 0, s ? kwh * pue * s->price_per_kwh : NAN);
	if (s && s->currency && *s->currency)
		nrg_json_str(j, "currency", s->currency);
}

static void render_regions_json(struct nrg_json *j, const struct nrg_report *r)
{
	nrg_json_arr(j, "regions");
	for (size_t i = 0; i < r->n_regions; i++) {
		const struct nrg_region_report *g = &r->regions[i];
		double dur = g->end_s - g->start_s;

		nrg_json_obj(j, NULL);
		nrg_json_str(j, "name", g->name);
		nrg_json_str(j, "kind", nrg_region_kind_name(g->kind));
		if (g->parent >= 0)
			nrg_json_int(j, "parent", g->parent);
		else
			nrg_json_null(j, "parent");
		nrg_json_int(j, "depth", g->depth);
		opt_num(j, "epoch", g->epoch >= 0, (double)g->epoch);
		opt_num(j, "step", g->step >= 0, (double)g->step);
		nrg_json_num(j, "start_s", g->start_s);
		nrg_json_num(j, "end_s", g->end_s);
		nrg_json_num(j, "duration_s", dur);
		nrg_json_bool(j, "closed", g->closed);
		nrg_json_int(j, "pid", g->pid);
		nrg_json_int(j, "tid", g->tid);
		opt_num(j, "units", g->has_units, g->units);
		nrg_json_str(j, "unit", g->has_units ? (g->unit[0] ? g->unit : "units") : NULL);
		nrg_json_arr(j, "devices");
		for (size_t d = 0; d < g->n_devices && d < r->n_devices; d++) {
			const struct nrg_region_device *rd = &g->devices[d];

			nrg_json_obj(j, NULL);
			nrg_json_str(j, "id", r->devices[d].info.id);
			opt_num(j, "energy_j", rd->has_energy, rd->energy_j);
			opt_num(j, "peak_power_w", rd->has_peak, rd->peak_power_w);
			nrg_json_int(j, "samples", (long long)rd->samples);
			nrg_json_end_obj(j);
		}
		nrg_json_end_arr(j);
		opt_num(j, "energy_j", g->has_energy, g->energy_j);
		opt_num(j, "avg_power_w", g->has_energy && dur > 0, dur > 0 ? g->energy_j / dur : 0);
		opt_num(j, "edp_js", g->has_energy, g->edp_js);
		opt_num(j, "j_per_unit", g->has_energy && g->has_units && g->units > 0,
			g->units > 0 ? g->energy_j / g->units : 0);
		nrg_json_bool(j, "uncertain", g->uncertain);
		opt_num(j, "uncertainty_j", g->has_energy, g->uncertainty_j);
		nrg_json_str(j, "why", g->why[0] ? g->why : NULL);
		nrg_json_end_obj(j);
	}
	nrg_json_end_arr(j);

	nrg_json_obj(j, "phases");
	opt_num(j, "train_j", r->has_kinds, r->kind_j[NRG_REGION_TRAIN]);
	opt_num(j, "eval_j", r->has_kinds, r->kind_j[NRG_REGION_EVAL]);
	opt_num(j, "infer_j", r->has_kinds, r->kind_j[NRG_REGION_INFER]);
	opt_num(j, "other_j", r->has_kinds, r->kind_j[NRG_REGION_OTHER]);
	opt_num(j, "unattributed_j", r->has_kinds, r->unattributed_j);
	nrg_json_int(j, "events_lost", (long long)r->events_lost);
	nrg_json_int(j, "events_unmatched", (long long)r->events_unmatched);
	nrg_json_end_obj(j);

	nrg_json_arr(j, "epochs");
	for (size_t i = 0; i < r->n_epochs; i++) {
		const struct nrg_epoch_report *ep = &r->epochs[i];

		nrg_json_obj(j, NULL);
		nrg_json_int(j, "epoch", ep->epoch);
		nrg_json_num(j, "start_s", ep->start_s);
		nrg_json_num(j, "end_s", ep->end_s);
		nrg_json_int(j, "regions", (long long)ep->n_regions);
		opt_num(j, "energy_j", ep->has_energy, ep->energy_j);
		opt_num(j, "units", ep->has_units, ep->units);
		nrg_json_str(j, "unit", ep->has_units ? (ep->unit[0] ? ep->unit : "units") : NULL);
		opt_num(j, "j_per_unit", ep->has_energy && ep->has_units && ep->units > 0,
			ep->units > 0 ? ep->energy_j / ep->units : 0);
		nrg_json_bool(j, "uncertain", ep->uncertain);
		nrg_json_end_obj(j);
	}
	nrg_json_end_arr(j);

	nrg_json_arr(j, "marks");
	for (size_t i = 0; i < r->n_marks; i++) {
		nrg_json_obj(j, NULL);
		nrg_json_str(j, "name", r->marks[i].name);
		nrg_json_num(j, "t_s", r->marks[i].t_s);
		nrg_json_int(j, "pid", r->marks[i].pid);
		nrg_json_int(j, "tid", r->marks[i].tid);
		nrg_json_end_obj(j);
	}
	nrg_json_end_arr(j);
}

int nrg_report_write_json(const struct nrg_report *r, const struct nrg_factors *s, FILE *f)
{
	struct nrg_json j;
	char ts[48];

	nrg_json_begin(&j, f, true);
	nrg_json_obj(&j, NULL);
	nrg_json_str(&j, "nrg_version", NRG_VERSION);
	nrg_json_obj(&j, "run");
	nrg_json_int(&j, "id", r->run.id);
	fputs(",", f); /* the command is stored as a JSON array already */
	if (j.pretty)
		fputs("\n    ", f);
	fprintf(f, "\"command\": %s", r->run.command_json ? r->run.command_json : "[]");
	if (r->run.exit_status >= 0 && !strcmp(r->run.state, "done"))
		nrg_json_int(&j, "exit_status", r->run.exit_status);
	else
		nrg_json_null(&j, "exit_status");
	rfc3339(r->run.start_wall_us, ts, sizeof ts);
	nrg_json_str(&j, "start_time", ts);
	nrg_json_num(&j, "duration_s", r->duration_s);
	nrg_json_str(&j, "host", r->run.host);
	nrg_json_str(&j, "state", r->run.state);
	nrg_json_int(&j, "interval_us", (long long)r->run.interval_us);
	nrg_json_int(&j, "start_mono_us", (long long)r->run.start_mono_us);
	nrg_json_int(&j, "end_mono_us", (long long)r->run.end_mono_us);
	nrg_json_end_obj(&j);

	nrg_json_arr(&j, "devices");
	for (size_t i = 0; i < r->n_devices; i++) {
		const struct nrg_device_report *dr = &r->devices[i];
		const struct nrg_device_info *di = &dr->info;

		nrg_json_obj(&j, NULL);
		nrg_json_str(&j, "id", di->id);
		nrg_json_str(&j, "kind", nrg_kind_name(di->kind));
		nrg_json_str(&j, "role", nrg_role_name(di->role));
		nrg_json_str(&j, "vendor", di->vendor[0] ? di->vendor : NULL);
		nrg_json_str(&j, "name", di->name);
		nrg_json_str(&j, "source", di->source);
		nrg_json_str(&j, "method", dr->has_energy ? (di->estimated ? "estimate" : nrg_method_name(dr->method)) : NULL);
		nrg_json_bool(&j, "estimated", di->estimated);
		opt_num(&j, "energy_j", dr->has_energy, dr->energy_j);
		opt_num(&j, "avg_power_w", dr->has_avg, dr->avg_power_w);
		opt_num(&j, "peak_power_w", dr->has_peak, dr->peak_power_w);
		nrg_json_int(&j, "samples", (long long)dr->samples);
		opt_num(&j, "coverage", dr->has_energy, dr->coverage);
		nrg_json_num(&j, "sensor_coverage", dr->sensor_coverage);
		opt_num(&j, "power_energy_j", dr->has_power_energy, dr->power_energy_j);
		if (di->kind == NRG_KIND_GPU) {
			nrg_json_bool(&j, "visible", di->visible);
			nrg_json_str(&j, "uuid", di->uuid[0] ? di->uuid : NULL);
			nrg_json_str(&j, "bus_id", di->bus_id[0] ? di->bus_id : NULL);
		}
		if (di->parent >= 0 && (size_t)di->parent < r->n_devices)
			nrg_json_str(&j, "parent", r->devices[di->parent].info.id);
		opt_num(&j, "rated_power_w", di->rated_uw > 0, (double)di->rated_uw * 1e-6);
		nrg_json_str(&j, "note", di->note[0] ? di->note : NULL);
		nrg_json_str(&j, "why", dr->why[0] ? dr->why : NULL);
		nrg_json_end_obj(&j);
	}
	nrg_json_end_arr(&j);

	nrg_json_obj(&j, "composition");
	opt_num(&j, "node_j", r->has_node, r->node_j);
	nrg_json_bool(&j, "node_measured", r->node_measured);
	opt_num(&j, "gpu_j", r->has_gpu, r->gpu_j);
	opt_num(&j, "gpu_idle_j", r->has_gpu, r->gpu_idle_j);
	opt_num(&j, "cpu_j", r->has_cpu, r->cpu_j);
	opt_num(&j, "dram_j", r->has_dram, r->dram_j);
	opt_num(&j, "remainder_j", r->has_remainder, r->remainder_j);
	double guess;
	bool have_guess = nrg_report_rated_guess(r, s, &guess);

	opt_num(&j, "rated_guess_j", have_guess, guess);
	nrg_json_end_obj(&j);

	nrg_json_obj(&j, "total");
	opt_num(&j, "energy_j", r->has_node, r->node_j);
	nrg_json_num(&j, "measured_j", r->measured_j);
	nrg_json_num(&j, "estimated_j", r->estimated_j);
	factors(&j, r, s);
	nrg_json_end_obj(&j);
	render_regions_json(&j, r);
	nrg_json_end_obj(&j);
	nrg_json_done(&j);
	return ferror(f) ? -EIO : 0;
}

char *nrg_report_json(const struct nrg_report *r, const struct nrg_factors *fx)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	if (!f)
		return NULL;
	rc = nrg_report_write_json(r, fx, f);
	if (fclose(f) != 0 || rc < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
