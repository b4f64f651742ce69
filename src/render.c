/* render.c - a run's report as text, for people (regions included); JSON is libnrg's. */
/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

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

/* ---- regions in the text report ------------------------------------------------------------ */

#define REGIONS_COLLAPSE 40 /* more regions than this: siblings of one name show as one line */

static struct {
	bool all;
	size_t skip_first, skip_last;
} region_view;

/* How render_report_text shows regions: every one (all), or, with more than REGIONS_COLLAPSE,
 * siblings of one name as one line; the epoch summary leaves out the first skip_first and the
 * last skip_last epochs. Applies to later calls; the default is grouped, nothing skipped. */
void render_regions_view(bool all, size_t skip_first, size_t skip_last)
{
	region_view.all = all;
	region_view.skip_first = skip_first;
	region_view.skip_last = skip_last;
}

struct tree {
	const struct nrg_report *r;
	FILE *f;
	int *first, *next; /* children lists in start order; first[n] lists the top-level regions */
	bool group;
};

static void fmt_w(char *buf, size_t n, bool have, double w)
{
	if (have)
		snprintf(buf, n, "%.1f", w);
	else
		snprintf(buf, n, "-");
}

static void fmt_per_unit(char *buf, size_t n, bool have_j, double j, bool have_u, double units, const char *unit)
{
	if (have_j && have_u && units > 0)
		snprintf(buf, n, "%.4g J/%s", j / units, unit[0] ? unit : "unit");
	else
		snprintf(buf, n, "-");
}

static void tree_line(const struct tree *t, int depth, const char *name, const char *kind, const char *when,
		      double dur, const char *energy, const char *avg, const char *per_unit, const char *edp,
		      const char *flags)
{
	char label[64];
	int ind = depth < 8 ? depth * 2 : 16;

	snprintf(label, sizeof label, "%*s%s", ind, "", name);
	fprintf(t->f, "  %-30s %-6s %-9s %9.3f %11s %9s %16s %9s%s%s\n", label, kind, when, dur, energy, avg,
		per_unit, edp, flags[0] ? " " : "", flags);
}

static void tree_region(const struct tree *t, int i)
{
	const struct nrg_region_report *g = &t->r->regions[i];
	double dur = g->end_s - g->start_s;
	char when[32] = "-", e[32], avg[32], pu[48], edp[32], flags[200] = "";

	if (g->epoch >= 0 && g->step >= 0)
		snprintf(when, sizeof when, "e%lld s%lld", (long long)g->epoch, (long long)g->step);
	else if (g->epoch >= 0)
		snprintf(when, sizeof when, "e%lld", (long long)g->epoch);
	else if (g->step >= 0)
		snprintf(when, sizeof when, "s%lld", (long long)g->step);
	fmt_j(e, sizeof e, g->has_energy, g->energy_j);
	fmt_w(avg, sizeof avg, g->has_energy && dur > 0, dur > 0 ? g->energy_j / dur : 0);
	fmt_per_unit(pu, sizeof pu, g->has_energy, g->energy_j, g->has_units, g->units, g->unit);
	if (g->has_energy)
		snprintf(edp, sizeof edp, "%.3g", g->edp_js);
	else
		snprintf(edp, sizeof edp, "-");
	if (g->uncertain)
		snprintf(flags, sizeof flags, "~ +/-%.2g J: %s", g->uncertainty_j, g->why);
	else if (!g->has_energy && g->why[0])
		snprintf(flags, sizeof flags, "! %s", g->why);
	if (!g->closed)
		snprintf(flags + strlen(flags), sizeof flags - strlen(flags), "%sopen at the end", flags[0] ? "; " : "");
	tree_line(t, g->depth, g->name, nrg_region_kind_name(g->kind), when, dur, e, avg, pu, edp, flags);
}

/* Siblings of one name, as one line: count, total and mean energy, J per unit. */
static void tree_group(const struct tree *t, const int *m, size_t n)
{
	const struct nrg_region_report *g0 = &t->r->regions[m[0]];
	double dur = 0, j = 0, units = 0, edp = 0;
	size_t unc = 0, open = 0;
	bool have_j = true, have_u = true;
	char name[64], e[32], avg[32], pu[48], edps[32], flags[96] = "", mean[32];

	for (size_t k = 0; k < n; k++) {
		const struct nrg_region_report *g = &t->r->regions[m[k]];

		dur += g->end_s - g->start_s;
		have_j &= g->has_energy;
		j += g->energy_j;
		edp += g->edp_js;
		have_u &= g->has_units && !strcmp(g->unit, g0->unit);
		units += g->units;
		unc += g->uncertain;
		open += !g->closed;
	}
	snprintf(name, sizeof name, "%s x%zu", g0->name, n);
	fmt_j(e, sizeof e, have_j, j);
	fmt_w(avg, sizeof avg, have_j && dur > 0, dur > 0 ? j / dur : 0);
	fmt_per_unit(pu, sizeof pu, have_j, j, have_u, units, g0->unit);
	if (have_j)
		snprintf(edps, sizeof edps, "%.3g", edp);
	else
		snprintf(edps, sizeof edps, "-");
	fmt_j(mean, sizeof mean, have_j, j / (double)n);
	snprintf(flags, sizeof flags, "mean %s", mean);
	if (unc)
		snprintf(flags + strlen(flags), sizeof flags - strlen(flags), "; ~ %zu uncertain", unc);
	if (open)
		snprintf(flags + strlen(flags), sizeof flags - strlen(flags), "; %zu open at the end", open);
	tree_line(t, g0->depth, name, nrg_region_kind_name(g0->kind), "-", dur, e, avg, pu, edps, flags);
}

/* The children of the regions in `parents` (-1: the top level), siblings of one name grouped
 * when t->group, each followed by its own children. */
static void tree_level(const struct tree *t, const int *parents, size_t np)
{
	size_t n = 0, k = 0;
	int *kids, *m;
	bool *done;

	for (size_t p = 0; p < np; p++)
		for (int c = t->first[parents[p] < 0 ? (int)t->r->n_regions : parents[p]]; c >= 0; c = t->next[c])
			n++;
	if (!n)
		return;
	kids = malloc(n * sizeof *kids);
	m = malloc(n * sizeof *m);
	done = calloc(n, sizeof *done);
	if (!kids || !m || !done) {
		free(kids);
		free(m);
		free(done);
		return;
	}
	for (size_t p = 0; p < np; p++)
		for (int c = t->first[parents[p] < 0 ? (int)t->r->n_regions : parents[p]]; c >= 0; c = t->next[c])
			kids[k++] = c;
	for (size_t i = 0; i < n; i++) {
		size_t nm = 0;

		if (done[i])
			continue;
		m[nm++] = kids[i];
		done[i] = true;
		for (size_t x = i + 1; t->group && x < n; x++)
			if (!done[x] && !strcmp(t->r->regions[kids[x]].name, t->r->regions[kids[i]].name)) {
				m[nm++] = kids[x];
				done[x] = true;
			}
		if (nm == 1)
			tree_region(t, m[0]);
		else
			tree_group(t, m, nm);
		tree_level(t, m, nm);
	}
	free(kids);
	free(m);
	free(done);
}

static void render_regions(FILE *f, const struct nrg_report *r)
{
	struct tree t = { r, f, NULL, NULL, !region_view.all && r->n_regions > REGIONS_COLLAPSE };
	int *last = NULL, top = -1;
	char a[32];

	if (r->n_regions) {
		t.first = malloc((r->n_regions + 1) * sizeof *t.first);
		t.next = malloc(r->n_regions * sizeof *t.next);
		last = malloc((r->n_regions + 1) * sizeof *last);
	}
	if (r->n_regions && t.first && t.next && last) {
		for (size_t i = 0; i <= r->n_regions; i++)
			t.first[i] = last[i] = -1;
		for (size_t i = 0; i < r->n_regions; i++) {
			int p = r->regions[i].parent >= 0 ? r->regions[i].parent : (int)r->n_regions;

			t.next[i] = -1;
			if (last[p] < 0)
				t.first[p] = (int)i;
			else
				t.next[last[p]] = (int)i;
			last[p] = (int)i;
		}
		fprintf(f, "\n  %zu region%s%s\n", r->n_regions, r->n_regions == 1 ? "" : "s",
			t.group ? " (siblings of one name grouped; --regions all lists each)" : "");
		fprintf(f, "  %-30s %-6s %-9s %9s %11s %9s %16s %9s\n", "region", "kind", "epoch", "time s", "energy",
			"avg W", "per unit", "EDP J*s");
		tree_level(&t, &top, 1);
	}
	free(t.first);
	free(t.next);
	free(last);
	if (r->n_marks) {
		fprintf(f, "  marks:");
		for (size_t i = 0; i < r->n_marks && i < 12; i++)
			fprintf(f, "%s %s @%.3f s", i ? "," : "", r->marks[i].name, r->marks[i].t_s);
		if (r->n_marks > 12)
			fprintf(f, " (+%zu more)", r->n_marks - 12);
		fputc('\n', f);
	}
	if (r->events_lost)
		fprintf(f, "  ! %llu region events were lost (ring full): regions may be missing or end late\n",
			(unsigned long long)r->events_lost);
	if (r->events_unmatched)
		fprintf(f, "  ! %llu END or UNITS event%s matched no open region (ignored)\n",
			(unsigned long long)r->events_unmatched, r->events_unmatched == 1 ? "" : "s");
	if (r->has_kinds) {
		static const enum nrg_region_kind order[] = { NRG_REGION_TRAIN, NRG_REGION_EVAL, NRG_REGION_INFER,
							      NRG_REGION_OTHER };

		fprintf(f, "\n  %-14s %11s %7s\n", "by kind", "energy", "share");
		for (size_t k = 0; k < 4; k++) {
			fmt_j(a, sizeof a, true, r->kind_j[order[k]]);
			fprintf(f, "  %-14s %11s %6.1f%%\n", nrg_region_kind_name(order[k]), a,
				r->node_j > 0 ? r->kind_j[order[k]] / r->node_j * 100 : 0);
		}
		fmt_j(a, sizeof a, true, r->unattributed_j);
		fprintf(f, "  %-14s %11s %6.1f%%\n", "unattributed", a, r->node_j > 0 ? r->unattributed_j / r->node_j * 100 : 0);
		fprintf(f, "  (top-level regions; time where regions of one kind overlap counts once)\n");
	}
	if (r->n_epochs) {
		struct nrg_epoch_summary es;
		size_t hi = r->n_epochs > region_view.skip_last ? r->n_epochs - region_view.skip_last : 0;

		fprintf(f, "\n  %6s %9s %11s %16s\n", "epoch", "time s", "energy", "per unit");
		for (size_t i = 0; i < r->n_epochs; i++) {
			const struct nrg_epoch_report *ep = &r->epochs[i];
			char pu[48];

			fmt_j(a, sizeof a, ep->has_energy, ep->energy_j);
			fmt_per_unit(pu, sizeof pu, ep->has_energy, ep->energy_j, ep->has_units, ep->units, ep->unit);
			fprintf(f, "  %6lld %9.3f %11s %16s%s%s\n", (long long)ep->epoch, ep->end_s - ep->start_s, a, pu,
				ep->uncertain ? " ~" : "", i < region_view.skip_first || i >= hi ? " (skipped)" : "");
		}
		if (nrg_report_epoch_summary(r, region_view.skip_first, region_view.skip_last, &es) == 0) {
			char m[32], sd[32];

			fmt_j(m, sizeof m, true, es.mean_j);
			fmt_j(sd, sizeof sd, true, es.stddev_j);
			fprintf(f, "  epochs %lld..%lld (%zu", (long long)es.first, (long long)es.last, es.n);
			if (region_view.skip_first || region_view.skip_last)
				fprintf(f, "; first %zu and last %zu skipped", region_view.skip_first, region_view.skip_last);
			fprintf(f, "): %s per epoch, stddev %s", m, sd);
			if (es.has_units)
				fprintf(f, ", %.4g J/%s", es.j_per_unit, r->epochs[0].unit[0] ? r->epochs[0].unit : "unit");
			fputc('\n', f);
		} else {
			fprintf(f, "  no epoch left after skipping the first %zu and the last %zu\n", region_view.skip_first,
				region_view.skip_last);
		}
	}
}

struct nrg_factors factors_of(const struct nrg_settings *s)
{
	return (struct nrg_factors){ .grid_g_per_kwh = s->grid_g_per_kwh, .price_per_kwh = s->price_per_kwh,
				     .currency = s->currency, .pue = s->pue, .rated_node_w = s->rated_node_w };
}

void render_report_text(FILE *f, const struct nrg_report *r, const struct nrg_settings *s)
{
	struct nrg_factors fx = factors_of(s);

	char cmd[256], a[32], b[32], c[32], d[32], e[32];
	bool any_idle = false, any_est = false;

	command_text(r->run.command_json, cmd, sizeof cmd);
	fprintf(f, "\nnrg: run %lld: %s\n", (long long)r->run.id, cmd);
	fprintf(f, "  %.3f s, exit %d%s, sampled every %g ms\n", r->duration_s, r->run.exit_status,
		strcmp(r->run.state, "done") ? " (run did not finish)" : "", (double)r->run.interval_us / 1000);
	if (!r->n_devices) {
		fprintf(f, "  no source could be read: energy unknown ('nrg list' says why)\n");
		render_regions(f, r); /* their times and units are still known */
		fputc('\n', f);
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

	if (nrg_report_rated_guess(r, &fx, &guess) && r->has_node && r->node_j > 0)
		fprintf(f, "  runtime x rated power would have guessed %.2f J (%.2fx what was measured)\n",
			guess, guess / r->node_j);
	if (any_est)
		fprintf(f, "  ESTIMATE: values marked so are a model, not a measurement\n");
	render_regions(f, r);
	fputc('\n', f);
}
