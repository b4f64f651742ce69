/* render.c - a run's report as text (for people, on stderr) and as JSON (the contract). */
/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

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

/* The command line from its JSON array, for display (best effort, no escapes kept). */
static void command_text(const char *json, char *buf, size_t n)
{
	size_t o = 0;
	bool in = false, esc = false;

	for (const char *p = json ? json : ""; *p && o + 1 < n; p++) {
		if (in) {
			if (esc) {
				buf[o++] = *p;
				esc = false;
			} else if (*p == '\\') {
				esc = true;
			} else if (*p == '"') {
				in = false;
			} else {
				buf[o++] = *p;
			}
		} else if (*p == '"') {
			in = true;
			if (o && o + 1 < n)
				buf[o++] = ' ';
		}
	}
	buf[o] = 0;
}

static void fmt_j(char *buf, size_t n, bool have, double j)
{
	if (!have)
		snprintf(buf, n, "-");
	else if (fabs(j) >= 1e6)
		snprintf(buf, n, "%.4g MJ", j / 1e6);
	else if (fabs(j) >= 1e4)
		snprintf(buf, n, "%.1f kJ", j / 1e3);
	else
		snprintf(buf, n, "%.2f J", j);
}

/* What runtime x rated power would have said: the configured node rating if any, else the sum
 * of the components' rated powers (GPU default limits, CPU TDPs). */
static bool rated_guess(const struct nrg_report *r, const struct nrg_settings *s, double *j)
{
	if (s && s->rated_node_w > 0) {
		*j = s->rated_node_w * r->duration_s;
		return true;
	}
	*j = r->rated_guess_j;
	return r->has_rated;
}

void render_report_text(FILE *f, const struct nrg_report *r, const struct nrg_settings *s)
{
	char cmd[256], a[32], b[32], c[32], d[32], e[32];
	bool any_idle = false, any_est = false;

	command_text(r->run.command_json, cmd, sizeof cmd);
	fprintf(f, "\nnrg: run %lld: %s\n", (long long)r->run.id, cmd);
	fprintf(f, "  %.3f s, exit %d%s, sampled every %g ms\n", r->duration_s, r->run.exit_status,
		strcmp(r->run.state, "done") ? " (run did not finish)" : "", (double)r->run.interval_us / 1000);
	if (!r->n_devices) {
		fprintf(f, "  no source could be read: energy unknown ('nrg list' says why)\n\n");
		return;
	}
	fprintf(f, "\n  %-14s %-8s %-8s %11s %9s %9s %8s %6s\n", "device", "source", "method", "energy",
		"avg W", "peak W", "samples", "cover");
	for (size_t i = 0; i < r->n_devices; i++) {
		const struct nrg_device_report *dr = &r->devices[i];
		const char *tag = dr->info.role == NRG_ROLE_PART ? " (part)"
				  : dr->info.role == NRG_ROLE_DUPLICATE ? " (dup)"
				  : dr->info.role == NRG_ROLE_OTHER ? " (other)"
				  : dr->info.kind == NRG_KIND_GPU && !dr->info.visible ? " (idle)" : "";
		char id[48];

		any_idle |= dr->info.kind == NRG_KIND_GPU && !dr->info.visible;
		any_est |= dr->info.estimated;
		snprintf(id, sizeof id, "%s%s", dr->info.id, tag);
		fmt_j(a, sizeof a, dr->has_energy, dr->energy_j);
		if (dr->has_avg)
			snprintf(b, sizeof b, "%.1f", dr->avg_power_w);
		else
			snprintf(b, sizeof b, "-");
		if (dr->has_peak)
			snprintf(c, sizeof c, "%.1f", dr->peak_power_w);
		else
			snprintf(c, sizeof c, "-");
		if (dr->has_energy)
			snprintf(d, sizeof d, "%.0f%%", dr->coverage * 100);
		else
			snprintf(d, sizeof d, "-");
		fprintf(f, "  %-14s %-8s %-8s %11s %9s %9s %8llu %6s\n", id, dr->info.source,
			dr->info.estimated ? "ESTIMATE" : nrg_method_name(dr->method), a, b, c,
			(unsigned long long)dr->samples, d);
		if (dr->why[0])
			fprintf(f, "  %-14s   ! %s\n", "", dr->why);
		if (dr->info.note[0] && (strstr(dr->info.note, "lost") || dr->info.estimated))
			fprintf(f, "  %-14s   ! %s\n", "", dr->info.note);
		if (dr->has_energy && dr->has_power_energy && dr->energy_j > 0)
			fprintf(f, "  %-14s     integrated power says %.2f J (%+.1f%% vs counter)\n", "",
				dr->power_energy_j, (dr->power_energy_j / dr->energy_j - 1) * 100);
		if (dr->sensor_coverage < 0.999 && dr->has_energy)
			fprintf(f, "  %-14s     power sensor observes about %.0f%% of the time\n", "",
				dr->sensor_coverage * 100);
	}
	fmt_j(a, sizeof a, r->has_gpu, r->gpu_j);
	fmt_j(b, sizeof b, r->has_cpu, r->cpu_j);
	fmt_j(c, sizeof c, r->has_dram, r->dram_j);
	fmt_j(d, sizeof d, r->has_remainder, r->remainder_j);
	fmt_j(e, sizeof e, r->has_node, r->node_j);
	fprintf(f, "\n  node %s = GPUs %s + CPUs %s + DRAM %s + remainder %s\n", e, a, b, c,
		r->has_remainder ? d : "unmeasured (no whole-node meter)");
	if (!r->has_gpu || !r->has_cpu || !r->has_dram)
		fprintf(f, "  ('-': not measured on this node, not zero)\n");
	if (any_idle) {
		fmt_j(a, sizeof a, true, r->gpu_idle_j);
		fprintf(f, "  of the GPUs' energy, %s went to GPUs the command could not use (CUDA_VISIBLE_DEVICES)\n", a);
	}
	if (r->has_node) {
		double kwh = r->node_j / 3.6e6, pue = s && s->pue > 0 ? s->pue : 1;

		fprintf(f, "  total %.6g kWh", kwh);
		if (r->estimated_j > 0)
			fprintf(f, " (measured %.2f J, ESTIMATED %.2f J)", r->measured_j, r->estimated_j);
		fputc('\n', f);
		if (s && s->grid_g_per_kwh >= 0)
			fprintf(f, "  CO2e %.4g g at %g g/kWh%s\n", kwh * pue * s->grid_g_per_kwh, s->grid_g_per_kwh,
				pue != 1 ? ", with PUE" : "");
		if (s && s->price_per_kwh >= 0)
			fprintf(f, "  cost %.4g %s at %g per kWh%s\n", kwh * pue * s->price_per_kwh,
				s->currency ? s->currency : "", s->price_per_kwh, pue != 1 ? ", with PUE" : "");
	}
	double guess;

	if (rated_guess(r, s, &guess) && r->has_node && r->node_j > 0)
		fprintf(f, "  runtime x rated power would have guessed %.2f J (%.2fx what was measured)\n",
			guess, guess / r->node_j);
	if (any_est)
		fprintf(f, "  ESTIMATE: values marked so are a model, not a measurement\n");
	fputc('\n', f);
}

static void opt_num(struct json *j, const char *key, bool have, double v)
{
	if (have)
		json_num(j, key, v);
	else
		json_null(j, key);
}

static void factors(struct json *j, const struct nrg_report *r, const struct nrg_settings *s)
{
	double kwh = r->node_j / 3.6e6, pue = s && s->pue > 0 ? s->pue : 1;

	opt_num(j, "kwh", r->has_node, kwh);
	opt_num(j, "pue", s && s->pue > 0, pue);
	opt_num(j, "co2e_g", r->has_node && s && s->grid_g_per_kwh >= 0,
		s ? kwh * pue * s->grid_g_per_kwh : NAN);
	opt_num(j, "cost", r->has_node && s && s->price_per_kwh >= 0, s ? kwh * pue * s->price_per_kwh : NAN);
	if (s && s->currency)
		json_str(j, "currency", s->currency);
}

void render_report_json(FILE *f, const struct nrg_report *r, const struct nrg_settings *s)
{
	struct json j;
	char ts[48];

	json_begin(&j, f, true);
	json_obj(&j, NULL);
	json_str(&j, "nrg_version", NRG_VERSION);
	json_obj(&j, "run");
	json_int(&j, "id", r->run.id);
	fputs(",", f); /* the command is stored as a JSON array already */
	if (j.pretty)
		fputs("\n    ", f);
	fprintf(f, "\"command\": %s", r->run.command_json ? r->run.command_json : "[]");
	if (r->run.exit_status >= 0 && !strcmp(r->run.state, "done"))
		json_int(&j, "exit_status", r->run.exit_status);
	else
		json_null(&j, "exit_status");
	rfc3339(r->run.start_wall_us, ts, sizeof ts);
	json_str(&j, "start_time", ts);
	json_num(&j, "duration_s", r->duration_s);
	json_str(&j, "host", r->run.host);
	json_str(&j, "state", r->run.state);
	json_int(&j, "interval_us", (long long)r->run.interval_us);
	json_int(&j, "start_mono_us", (long long)r->run.start_mono_us);
	json_int(&j, "end_mono_us", (long long)r->run.end_mono_us);
	json_end_obj(&j);

	json_arr(&j, "devices");
	for (size_t i = 0; i < r->n_devices; i++) {
		const struct nrg_device_report *dr = &r->devices[i];
		const struct nrg_device_info *di = &dr->info;

		json_obj(&j, NULL);
		json_str(&j, "id", di->id);
		json_str(&j, "kind", nrg_kind_name(di->kind));
		json_str(&j, "role", nrg_role_name(di->role));
		json_str(&j, "vendor", di->vendor[0] ? di->vendor : NULL);
		json_str(&j, "name", di->name);
		json_str(&j, "source", di->source);
		json_str(&j, "method", dr->has_energy ? (di->estimated ? "estimate" : nrg_method_name(dr->method)) : NULL);
		json_bool(&j, "estimated", di->estimated);
		opt_num(&j, "energy_j", dr->has_energy, dr->energy_j);
		opt_num(&j, "avg_power_w", dr->has_avg, dr->avg_power_w);
		opt_num(&j, "peak_power_w", dr->has_peak, dr->peak_power_w);
		json_int(&j, "samples", (long long)dr->samples);
		opt_num(&j, "coverage", dr->has_energy, dr->coverage);
		json_num(&j, "sensor_coverage", dr->sensor_coverage);
		opt_num(&j, "power_energy_j", dr->has_power_energy, dr->power_energy_j);
		if (di->kind == NRG_KIND_GPU) {
			json_bool(&j, "visible", di->visible);
			json_str(&j, "uuid", di->uuid[0] ? di->uuid : NULL);
			json_str(&j, "bus_id", di->bus_id[0] ? di->bus_id : NULL);
		}
		if (di->parent >= 0 && (size_t)di->parent < r->n_devices)
			json_str(&j, "parent", r->devices[di->parent].info.id);
		opt_num(&j, "rated_power_w", di->rated_uw > 0, (double)di->rated_uw * 1e-6);
		json_str(&j, "note", di->note[0] ? di->note : NULL);
		json_str(&j, "why", dr->why[0] ? dr->why : NULL);
		json_end_obj(&j);
	}
	json_end_arr(&j);

	json_obj(&j, "composition");
	opt_num(&j, "node_j", r->has_node, r->node_j);
	json_bool(&j, "node_measured", r->node_measured);
	opt_num(&j, "gpu_j", r->has_gpu, r->gpu_j);
	opt_num(&j, "gpu_idle_j", r->has_gpu, r->gpu_idle_j);
	opt_num(&j, "cpu_j", r->has_cpu, r->cpu_j);
	opt_num(&j, "dram_j", r->has_dram, r->dram_j);
	opt_num(&j, "remainder_j", r->has_remainder, r->remainder_j);
	double guess;
	bool have_guess = rated_guess(r, s, &guess);

	opt_num(&j, "rated_guess_j", have_guess, guess);
	json_end_obj(&j);

	json_obj(&j, "total");
	opt_num(&j, "energy_j", r->has_node, r->node_j);
	json_num(&j, "measured_j", r->measured_j);
	json_num(&j, "estimated_j", r->estimated_j);
	factors(&j, r, s);
	json_end_obj(&j);
	json_end_obj(&j);
	json_done(&j);
}
