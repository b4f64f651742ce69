/* cmd-model.c - nrg model: fit energy, runtime and EDP of a sweep against the power limit; recommend. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"
#include "store.h"
#include "sweep.h"

static const char model_usage[] =
	"usage: nrg model [SWEEP] [options]\n"
	"\n"
	"Fit energy, runtime and energy-delay product of a stored sweep (default: the newest)\n"
	"against the power limit, for each parameter setting: several forms, each validated by\n"
	"leave-one-out cross-validation (the lowest error is chosen), then recommend limits.\n"
	"\n"
	"options:\n"
	"      --kind KIND          objective: the regions of that kind only (train, eval, infer)\n"
	"      --skip-epochs F,L    with --kind: leave out the first F and last L epochs\n"
	"      --budget PCT         slowdown allowed for the budget recommendation (default 5)\n"
	"      --json               the models and recommendations as JSON on stdout\n"
	"      --csv                plot-ready table on stdout: limit_w,rep,energy_j,runtime_s,edp_js,params\n"
	"      --db PATH            database file (default ./nrg.db, or NRG_DB)\n"
	"  -h, --help               show this help\n";

struct group {
	char *params;              /* JSON object, borrowed from the points */
	struct nrg_sweep_obs *obs;
	int *reps;
	size_t n, cap;
};

struct objective {
	bool kind_set;
	enum nrg_region_kind kind;
	size_t skip_first, skip_last;
};

/* Energy and runtime of the objective in a run's report. Returns 0, or -1 when it has none. */
static int objective_of(const struct nrg_report *r, const struct objective *ob, double *e, double *t)
{
	int64_t lo = INT64_MIN, hi = INT64_MAX;
	double end = -1, sum = 0, dur = 0;
	bool any = false;

	if (!ob->kind_set) {
		if (!r->has_node)
			return -1;
		*e = r->node_j;
		*t = r->duration_s;
		return 0;
	}
	if (ob->skip_first || ob->skip_last) {
		if (r->n_epochs <= ob->skip_first + ob->skip_last)
			return -1;
		lo = r->epochs[ob->skip_first].epoch;
		hi = r->epochs[r->n_epochs - 1 - ob->skip_last].epoch;
	}
	/* top-level regions of the kind, in start order: energy summed, time as their union */
	for (size_t i = 0; i < r->n_regions; i++) {
		const struct nrg_region_report *g = &r->regions[i];

		if (g->depth != 0 || g->kind != ob->kind || (g->epoch >= 0 && (g->epoch < lo || g->epoch > hi)))
			continue;
		any = true;
		if (g->has_energy)
			sum += g->energy_j;
		if (g->start_s >= end) {
			dur += g->end_s - g->start_s;
			end = g->end_s;
		} else if (g->end_s > end) {
			dur += g->end_s - end;
			end = g->end_s;
		}
	}
	if (!any || dur <= 0)
		return -1;
	*e = ob->skip_first || ob->skip_last || !r->has_kinds ? sum : r->kind_j[ob->kind];
	*t = dur;
	return 0;
}

static int group_add(struct group **gs, size_t *ng, const char *params, double w, double e, double t, int rep)
{
	struct group *g = NULL;

	for (size_t i = 0; i < *ng && !g; i++)
		if (!strcmp((*gs)[i].params, params))
			g = &(*gs)[i];
	if (!g) {
		struct group *p = realloc(*gs, (*ng + 1) * sizeof *p);

		if (!p)
			return -1;
		*gs = p;
		g = &p[(*ng)++];
		memset(g, 0, sizeof *g);
		if (!(g->params = strdup(params)))
			return -1;
	}
	if (g->n == g->cap) {
		size_t nc = g->cap ? g->cap * 2 : 16;
		struct nrg_sweep_obs *o = realloc(g->obs, nc * sizeof *o);
		int *r;

		if (!o)
			return -1;
		g->obs = o;
		if (!(r = realloc(g->reps, nc * sizeof *r)))
			return -1;
		g->reps = r;
		g->cap = nc;
	}
	g->obs[g->n] = (struct nrg_sweep_obs){ .limit_w = w, .energy_j = e, .runtime_s = t };
	g->reps[g->n++] = rep;
	return 0;
}

static void groups_free(struct group *gs, size_t ng)
{
	for (size_t i = 0; i < ng; i++) {
		free(gs[i].params);
		free(gs[i].obs);
		free(gs[i].reps);
	}
	free(gs);
}

/* Open the store and read sweep `arg` into observation groups (one per parameter setting). */
static int load(struct nrg_settings *s, const char *arg, const struct objective *ob, nrg_store **stp,
		struct nrg_sweep_info *si, struct group **gs, size_t *ng)
{
	struct nrg_sweep_point *pts = NULL;
	size_t n = 0, skipped = 0;
	int64_t id = 0;
	char err[512];
	nrg_store *st;

	*gs = NULL;
	*ng = 0;
	if (!(st = *stp = open_store(s)))
		return -1;
	if (!arg || !strcmp(arg, "latest")) {
		if (nrg_store_latest_sweep(st, &id) < 0) {
			error("the database %s holds no sweeps", s->db);
			hint("record one with 'nrg sweep --power-limit 150:300:25 -- COMMAND'");
			return -1;
		}
	} else {
		char *end;

		errno = 0;
		id = strtoll(arg, &end, 10);
		if (errno || *end || id <= 0) {
			error("'%s' is not a sweep id", arg);
			return -1;
		}
	}
	if (nrg_store_sweep_get(st, id, si) < 0 || nrg_store_sweep_points(st, id, &pts, &n) < 0) {
		error("no sweep %lld in %s", (long long)id, s->db);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct nrg_report *rep = NULL;
		double e, t;

		if (pts[i].kind != NRG_POINT_RUN || strcmp(pts[i].status, "done") || pts[i].run_id <= 0 ||
		    pts[i].limit_uw <= 0)
			continue;
		if (nrg_report_build(st, pts[i].run_id, &rep, err, sizeof err) < 0 || objective_of(rep, ob, &e, &t) < 0) {
			skipped++;
			nrg_report_free(rep);
			continue;
		}
		nrg_report_free(rep);
		if (group_add(gs, ng, pts[i].params_json, (double)pts[i].limit_uw * 1e-6, e, t, pts[i].rep) < 0) {
			nrg_sweep_points_free(pts, n);
			error("out of memory");
			return -1;
		}
	}
	nrg_sweep_points_free(pts, n);
	if (skipped)
		warning("%zu runs of sweep %lld have no %s energy: left out", skipped, (long long)id,
			ob->kind_set ? nrg_region_kind_name(ob->kind) : "node");
	if (!*ng) {
		error("sweep %lld has no finished run to model", (long long)id);
		hint("finish it with 'nrg sweep --resume %lld'", (long long)id);
		return -1;
	}
	return 0;
}

static const char *const qnames[NRG_MQ_COUNT] = { "energy", "runtime", "edp" };
static const char *const objnames[] = { "energy", "edp", "ed2p", "budget" };
static const char *const objtitles[] = { "min energy", "min EDP", "min ED2P", "min energy within budget" };

static double default_w_of(const struct nrg_sweep_info *si, const struct group *g)
{
	double d;

	if (sweep_spec_num(si->spec_json, "default_w", &d) && d > 0)
		return d;
	d = 0;
	for (size_t i = 0; i < g->n; i++)
		d = g->obs[i].limit_w > d ? g->obs[i].limit_w : d;
	return d;
}

int model_recommended_limit(struct nrg_settings *s, const char *sweep, const char *objective, double *watts)
{
	struct objective ob = { 0 };
	struct nrg_sweep_info si = { 0 };
	struct group *gs = NULL;
	size_t ng = 0;
	nrg_store *st = NULL;
	struct nrg_model m;
	struct nrg_recommendation rc = { 0 };
	int obj = -1, ret = -1;
	char err[512] = "";

	for (int i = 0; i < 4; i++)
		if (!strcmp(objective ? objective : "energy", objnames[i]))
			obj = i;
	if (obj < 0) {
		error("recommended:%s:%s: the objective is one of energy, edp, ed2p, budget", sweep, objective);
		return -1;
	}
	if (load(s, sweep, &ob, &st, &si, &gs, &ng) < 0)
		goto out;
	if (ng > 1)
		warning("sweep %lld has %zu parameter settings: using the first (%s)", (long long)si.id, ng, gs[0].params);
	if (nrg_model_fit(gs[0].obs, gs[0].n, &m, err, sizeof err) < 0) {
		error("cannot model sweep %lld: %s", (long long)si.id, err);
		goto out;
	}
	if (nrg_model_recommend(&m, (enum nrg_objective)obj, default_w_of(&si, &gs[0]), 5, gs[0].obs, gs[0].n, &rc) < 0) {
		error("the model of sweep %lld recommends no limit for %s", (long long)si.id, objnames[obj]);
		goto out;
	}
	*watts = rc.limit_w;
	ret = 0;
out:
	groups_free(gs, ng);
	nrg_sweep_info_free(&si);
	nrg_store_close(st);
	return ret;
}

static void print_table(const struct group *g)
{
	double done[256];
	size_t nd = 0;

	printf("  %8s %4s %12s %11s %14s\n", "limit", "runs", "energy J", "runtime s", "EDP J*s");
	for (size_t i = 0; i < g->n; i++) {
		double w = g->obs[i].limit_w, e = 0, t = 0, edp = 0;
		size_t k = 0, cnt = 0;

		for (k = 0; k < nd && fabs(done[k] - w) > 0.5; k++)
			;
		if (k < nd || nd >= 256)
			continue;
		done[nd++] = w;
		for (size_t j = i; j < g->n; j++)
			if (fabs(g->obs[j].limit_w - w) <= 0.5) {
				e += g->obs[j].energy_j;
				t += g->obs[j].runtime_s;
				edp += g->obs[j].energy_j * g->obs[j].runtime_s;
				cnt++;
			}
		printf("  %6.0f W %4zu %12.1f %11.2f %14.1f\n", w, cnt, e / (double)cnt, t / (double)cnt,
		       edp / (double)cnt);
	}
}

static void json_fit(struct nrg_json *j, const struct nrg_model_fit *f, bool chosen)
{
	nrg_json_obj(j, NULL);
	nrg_json_str(j, "form", f->form);
	nrg_json_bool(j, "ok", f->ok);
	nrg_json_bool(j, "chosen", chosen);
	nrg_json_num(j, "loo_mape_pct", f->ok ? f->loo_mape : NAN);
	nrg_json_num(j, "rmse", f->ok ? f->rmse : NAN);
	nrg_json_arr(j, "coef");
	for (int k = 0; k < f->ncoef && k < 6; k++)
		nrg_json_num(j, NULL, f->coef[k]);
	nrg_json_end_arr(j);
	nrg_json_end_obj(j);
}

/* have: nrg_model_recommend succeeded; r->ok false then means the reference limit lay outside
 * the sweep and the savings are against the nearest measured limit. */
static void json_rec(struct nrg_json *j, const char *key, const struct nrg_recommendation *r, bool have)
{
	nrg_json_obj(j, key);
	nrg_json_bool(j, "ok", have);
	if (have) {
		nrg_json_bool(j, "reference_outside_sweep", !r->ok);
		nrg_json_num(j, "limit_w", r->limit_w);
		nrg_json_num(j, "pred_energy_j", r->pred_energy_j);
		nrg_json_num(j, "pred_runtime_s", r->pred_runtime_s);
		nrg_json_num(j, "pred_saving_pct", r->pred_saving_pct);
		nrg_json_num(j, "pred_slowdown_pct", r->pred_slowdown_pct);
		nrg_json_num(j, "uncertainty_pct", r->uncertainty_pct);
		if (r->has_observed) {
			nrg_json_num(j, "obs_saving_pct", r->obs_saving_pct);
			nrg_json_num(j, "obs_slowdown_pct", r->obs_slowdown_pct);
		} else {
			nrg_json_null(j, "obs_saving_pct");
			nrg_json_null(j, "obs_slowdown_pct");
		}
	}
	nrg_json_end_obj(j);
}

int cmd_model(int argc, char **argv, struct nrg_settings *s)
{
	enum { O_DB = 256, O_KIND, O_SKIP, O_BUDGET, O_JSON, O_CSV };
	static const struct option longopts[] = {
		{ "budget", required_argument, NULL, O_BUDGET },
		{ "csv", no_argument, NULL, O_CSV },
		{ "db", required_argument, NULL, O_DB },
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, O_JSON },
		{ "kind", required_argument, NULL, O_KIND },
		{ "skip-epochs", required_argument, NULL, O_SKIP },
		{ 0 } };
	struct objective ob = { 0 };
	struct nrg_sweep_info si = { 0 };
	struct group *gs = NULL;
	size_t ng = 0;
	nrg_store *st = NULL;
	bool json = false, csv = false;
	double budget = 5;
	int c, rc = 1;
	struct nrg_json j;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(model_usage, stdout); return 0;
		case O_DB: settings_set(&s->db, optarg); break;
		case O_KIND:
			if (nrg_region_kind_parse(optarg, &ob.kind) < 0)
				die_usage("model", "--kind %s: give train, eval, infer or other", optarg);
			ob.kind_set = true;
			break;
		case O_SKIP: {
			unsigned long f, l;
			char tail;

			if (sscanf(optarg, "%lu,%lu%c", &f, &l, &tail) != 2 || f > 100000 || l > 100000)
				die_usage("model", "--skip-epochs %s: give FIRST,LAST counts, e.g. 1,1", optarg);
			ob.skip_first = f;
			ob.skip_last = l;
			break;
		}
		case O_BUDGET:
			if (parse_double(optarg, &budget) < 0 || budget > 1000)
				die_usage("model", "--budget %s: give the allowed slowdown in percent, e.g. 5", optarg);
			break;
		case O_JSON: json = true; break;
		case O_CSV: csv = true; break;
		default: fprintf(stderr, "hint: see 'nrg model --help'\n"); return NRG_EXIT_USAGE;
		}
	}
	if (optind + 1 < argc)
		die_usage("model", "unexpected argument '%s'", argv[optind + 1]);
	if (json && csv)
		die_usage("model", "give --json or --csv, not both");
	if ((ob.skip_first || ob.skip_last) && !ob.kind_set)
		die_usage("model", "--skip-epochs needs --kind");
	if (load(s, optind < argc ? argv[optind] : NULL, &ob, &st, &si, &gs, &ng) < 0)
		goto out;

	if (csv) {
		printf("limit_w,rep,energy_j,runtime_s,edp_js,params\n");
		for (size_t g = 0; g < ng; g++) {
			char ptxt[256];

			sweep_params_text(gs[g].params, ptxt, sizeof ptxt);
			for (size_t i = 0; i < gs[g].n; i++) {
				const struct nrg_sweep_obs *o = &gs[g].obs[i];

				printf("%.1f,%d,%.4f,%.4f,%.4f,\"%s\"\n", o->limit_w, gs[g].reps[i], o->energy_j,
				       o->runtime_s, o->energy_j * o->runtime_s, ptxt);
			}
		}
		rc = 0;
		goto out;
	}
	if (json) {
		nrg_json_begin(&j, stdout, true);
		nrg_json_obj(&j, NULL);
		nrg_json_int(&j, "sweep", (long long)si.id);
		nrg_json_str(&j, "objective", ob.kind_set ? nrg_region_kind_name(ob.kind) : "run");
		nrg_json_int(&j, "skip_first_epochs", (long long)ob.skip_first);
		nrg_json_int(&j, "skip_last_epochs", (long long)ob.skip_last);
		nrg_json_num(&j, "budget_pct", budget);
		nrg_json_arr(&j, "settings");
	} else {
		printf("sweep %lld (%s)%s%s\n", (long long)si.id, si.state,
		       ob.kind_set ? ", objective: regions of kind " : ", objective: the whole run",
		       ob.kind_set ? nrg_region_kind_name(ob.kind) : "");
	}
	rc = 0;
	for (size_t g = 0; g < ng; g++) {
		struct nrg_model m;
		struct nrg_recommendation rec[4];
		bool have[4] = { false, false, false, false };
		double ref = default_w_of(&si, &gs[g]);
		char err[512] = "", ptxt[256];
		bool fitted;

		sweep_params_text(gs[g].params, ptxt, sizeof ptxt);
		fitted = nrg_model_fit(gs[g].obs, gs[g].n, &m, err, sizeof err) == 0;
		for (int k = 0; k < 4; k++) {
			memset(&rec[k], 0, sizeof rec[k]);
			if (fitted)
				have[k] = nrg_model_recommend(&m, (enum nrg_objective)k, ref, budget, gs[g].obs,
							      gs[g].n, &rec[k]) == 0;
		}
		if (json) {
			char **kv = NULL;
			size_t nkv = 0;

			nrg_json_obj(&j, NULL);
			nrg_json_obj(&j, "params");
			if (sweep_json_strings(gs[g].params, &kv, &nkv) == 0)
				for (size_t i = 0; i + 1 < nkv; i += 2)
					nrg_json_str(&j, kv[i], kv[i + 1]);
			sweep_strings_free(kv);
			nrg_json_end_obj(&j);
			nrg_json_num(&j, "reference_limit_w", ref);
			nrg_json_arr(&j, "observations");
			for (size_t i = 0; i < gs[g].n; i++) {
				const struct nrg_sweep_obs *o = &gs[g].obs[i];

				nrg_json_obj(&j, NULL);
				nrg_json_num(&j, "limit_w", o->limit_w);
				nrg_json_int(&j, "rep", gs[g].reps[i]);
				nrg_json_num(&j, "energy_j", o->energy_j);
				nrg_json_num(&j, "runtime_s", o->runtime_s);
				nrg_json_num(&j, "edp_js", o->energy_j * o->runtime_s);
				nrg_json_end_obj(&j);
			}
			nrg_json_end_arr(&j);
			if (fitted) {
				nrg_json_obj(&j, "models");
				for (int q = 0; q < NRG_MQ_COUNT; q++) {
					nrg_json_obj(&j, qnames[q]);
					nrg_json_str(&j, "chosen", m.chosen[q] >= 0 ? m.fits[q][m.chosen[q]].form : NULL);
					nrg_json_arr(&j, "fits");
					for (int f = 0; f < m.n_forms[q]; f++)
						json_fit(&j, &m.fits[q][f], f == m.chosen[q]);
					nrg_json_end_arr(&j);
					nrg_json_end_obj(&j);
				}
				nrg_json_end_obj(&j);
				nrg_json_obj(&j, "recommendations");
				for (int k = 0; k < 4; k++)
					json_rec(&j, objnames[k], &rec[k], have[k]);
				nrg_json_end_obj(&j);
			} else {
				nrg_json_null(&j, "models");
				nrg_json_null(&j, "recommendations");
				nrg_json_str(&j, "error", err);
			}
			nrg_json_end_obj(&j);
			continue;
		}
		printf("\n%s%s(%zu runs, reference %.0f W)\n", ptxt[0] ? ptxt : "", ptxt[0] ? " " : "", gs[g].n, ref);
		print_table(&gs[g]);
		if (!fitted) {
			printf("  no model: %s\n", err);
			rc = 1;
			continue;
		}
		printf("  fits (leave-one-out MAPE; * chosen):\n");
		for (int q = 0; q < NRG_MQ_COUNT; q++) {
			printf("    %-8s", qnames[q]);
			for (int f = 0; f < m.n_forms[q]; f++) {
				if (m.fits[q][f].ok)
					printf(" %s%s %.2f%%", f == m.chosen[q] ? "*" : "", m.fits[q][f].form,
					       m.fits[q][f].loo_mape);
				else
					printf(" %s n/a", m.fits[q][f].form);
			}
			printf("\n");
		}
		printf("  recommendations (vs %.0f W):\n", ref);
		for (int k = 0; k < 4; k++) {
			const struct nrg_recommendation *r = &rec[k];
			char t[48];

			if (k == NRG_OBJ_BUDGET)
				snprintf(t, sizeof t, "%s (%g%%)", objtitles[k], budget);
			else
				snprintf(t, sizeof t, "%s", objtitles[k]);
			if (!have[k]) {
				printf("    %-32s none\n", t);
				continue;
			}
			printf("    %-32s %.0f W: energy %+.1f%% (+/- %.1f%%), time %+.1f%% predicted", t, r->limit_w,
			       -r->pred_saving_pct, r->uncertainty_pct, r->pred_slowdown_pct);
			if (r->has_observed)
				printf("; %+.1f%%, %+.1f%% observed", -r->obs_saving_pct, r->obs_slowdown_pct);
			printf("%s\n", r->ok ? "" : " (vs the nearest measured limit)");
		}
	}
	if (json) {
		nrg_json_end_arr(&j);
		nrg_json_end_obj(&j);
		nrg_json_done(&j);
	} else {
		printf("\napply one with: nrg run --power-limit recommended:%lld[:energy|edp|ed2p|budget] -- COMMAND\n",
		       (long long)si.id);
	}
out:
	groups_free(gs, ng);
	nrg_sweep_info_free(&si);
	nrg_store_close(st);
	return rc;
}
