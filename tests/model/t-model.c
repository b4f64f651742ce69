/* t-model.c - the sweep models on synthetic sweeps from a known law with a known optimum. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>

#include "nrg.h"
#include "tap.h"

/* The true law: uncapped demand 350 W, static power 100 W; the clock falls as the square root
 * of the power above static, runtime = 50 s + 50 s / clock, node power = drawn power + 60 W.
 * Its optima on [150, 400]: energy 176.1 W, EDP 285.7 W, ED2P the whole plateau [350, 400]. */
#define DEMAND 350.0
static double true_runtime(double l)
{
	double m = l < DEMAND ? l : DEMAND;
	return 50 + 50 / sqrt((m - 100) / (DEMAND - 100));
}
static double true_energy(double l)
{
	double m = l < DEMAND ? l : DEMAND;
	return (m + 60) * true_runtime(l);
}

/* Deterministic pseudo-noise, uniform in [-1, 1]. */
static unsigned lcg = 12345;
static double noise(void)
{
	lcg = lcg * 1103515245u + 12345u;
	return ((lcg >> 8) & 0xffff) / 32767.5 - 1;
}

/* energy * runtime^k on the true law. */
static double true_obj(double l, int k)
{
	return true_energy(l) * pow(true_runtime(l), k);
}

/* How far l is from the set of limits in [150, 400] minimising energy * runtime^k on the true
 * law (a point, or the plateau where the objective is flat); 0.1 W grid. *lo, *hi: the set. */
static double true_dist(int k, double l, double *lo, double *hi)
{
	double best = INFINITY;
	for (int i = 0; i <= 2500; i++)
		best = fmin(best, true_obj(150 + 0.1 * i, k));
	*lo = INFINITY;
	*hi = -INFINITY;
	for (int i = 0; i <= 2500; i++) {
		double x = 150 + 0.1 * i;
		if (true_obj(x, k) <= best * (1 + 1e-9)) {
			*lo = fmin(*lo, x);
			*hi = fmax(*hi, x);
		}
	}
	return l < *lo ? *lo - l : l > *hi ? l - *hi : 0;
}

static void noisy_sweep(struct nrg_sweep_obs *o, size_t *n)
{
	*n = 0;
	for (double l = 150; l <= 400; l += 25)
		for (int r = 0; r < 3; r++) {
			o[*n].limit_w = l;
			o[*n].energy_j = true_energy(l) * (1 + 0.01 * noise());
			o[*n].runtime_s = true_runtime(l) * (1 + 0.01 * noise());
			(*n)++;
		}
}

static void test_physical(void)
{
	struct nrg_sweep_obs o[64];
	struct nrg_model m;
	struct nrg_recommendation r;
	char err[256] = "";
	size_t n;

	noisy_sweep(o, &n);
	int rc = nrg_model_fit(o, n, &m, err, sizeof err);
	is_i64(rc, 0, "fit of 11 limits x 3 repetitions succeeds (%s)", err);
	is_i64(m.n_obs, n, "n_obs");
	is_near(m.limit_min_w, 150, 0, "limit_min_w");
	is_near(m.limit_max_w, 400, 0, "limit_max_w");
	for (int q = 0; q < NRG_MQ_COUNT; q++) {
		is_i64(m.n_forms[q], NRG_MODEL_FORMS, "quantity %d: every form tried", q);
		ok(m.chosen[q] >= 0, "quantity %d: a form is chosen", q);
		if (m.chosen[q] < 0)
			continue;
		const struct nrg_model_fit *c = &m.fits[q][m.chosen[q]];
		printf("# quantity %d: chosen %s loo_mape %.3f%% rmse %.4g\n", q, c->form, c->loo_mape, c->rmse);
		for (int k = 0; k < m.n_forms[q]; k++) {
			const struct nrg_model_fit *f = &m.fits[q][k];
			printf("#   %s ok %d loo %.3f\n", f->form, f->ok, f->loo_mape);
			ok(!f->ok || c->loo_mape <= f->loo_mape, "quantity %d: chosen %s has the lowest LOO error (vs %s)",
			   q, c->form, f->form);
		}
		ok(c->loo_mape < (q == NRG_MQ_EDP ? 3.0 : 2.0), "quantity %d: chosen LOO MAPE %.3f%% is small", q,
		   c->loo_mape);
	}
	const struct nrg_model_fit *p1 = &m.fits[NRG_MQ_ENERGY][0];
	is_str(p1->form, "poly1", "form 0 is poly1");
	ok(p1->ok && p1->loo_mape > 2 * m.fits[NRG_MQ_ENERGY][m.chosen[NRG_MQ_ENERGY]].loo_mape,
	   "a straight line on the curved law has a larger LOO error (%.3f%%)", p1->loo_mape);
	is_str(m.fits[NRG_MQ_ENERGY][3].form, "dvfs", "form 3 is dvfs");
	ok(m.fits[NRG_MQ_RUNTIME][3].ok && m.fits[NRG_MQ_RUNTIME][3].loo_mape < 1.5,
	   "the dvfs runtime model validates (%.3f%%)", m.fits[NRG_MQ_RUNTIME][3].loo_mape);

	/* Predictions at the observed limits match the observed means. */
	const struct nrg_model_fit *ce = &m.fits[NRG_MQ_ENERGY][m.chosen[NRG_MQ_ENERGY]];
	const struct nrg_model_fit *ct = &m.fits[NRG_MQ_RUNTIME][m.chosen[NRG_MQ_RUNTIME]];
	double worst = 0;
	for (size_t i = 0; i < n; i += 3) {
		double me = (o[i].energy_j + o[i + 1].energy_j + o[i + 2].energy_j) / 3;
		double mt = (o[i].runtime_s + o[i + 1].runtime_s + o[i + 2].runtime_s) / 3;
		worst = fmax(worst, fabs(nrg_model_predict(ce, o[i].limit_w) / me - 1));
		worst = fmax(worst, fabs(nrg_model_predict(ct, o[i].limit_w) / mt - 1));
	}
	ok(worst < 0.015, "predictions at the observed limits within 1.5%% of the means (worst %.3f%%)", worst * 100);
	ok(isnan(nrg_model_predict(NULL, 200)), "predict of no model is NAN");

	double lo, hi, dist;
	rc = nrg_model_recommend(&m, NRG_OBJ_ENERGY, 400, 0, o, n, &r);
	is_i64(rc, 0, "recommend min energy");
	ok(r.ok, "reference inside the range: ok");
	dist = true_dist(0, r.limit_w, &lo, &hi);
	ok(dist <= 25, "min-energy limit %.0f W within 25 W of the true optimum [%.1f, %.1f] W",
	   r.limit_w, lo, hi);
	ok(r.pred_saving_pct > 0 && r.pred_slowdown_pct > 0, "saves energy (%.1f%%) at a slowdown (%.1f%%)",
	   r.pred_saving_pct, r.pred_slowdown_pct);
	double true_saving = (true_energy(400) - true_energy(r.limit_w)) / true_energy(400) * 100;
	ok(fabs(r.pred_saving_pct - true_saving) <= r.uncertainty_pct + 1,
	   "predicted saving %.2f%% near the true %.2f%% (+/- %.2f)", r.pred_saving_pct, true_saving, r.uncertainty_pct);
	is_near(r.uncertainty_pct, ce->loo_mape * sqrt(1 + pow(r.pred_energy_j / nrg_model_predict(ce, 400), 2)), 1e-9,
		"uncertainty is loo_mape x sqrt(1 + (E/Eref)^2)");
	ok(r.uncertainty_pct > 0, "uncertainty is positive");

	rc = nrg_model_recommend(&m, NRG_OBJ_EDP, 400, 0, o, n, &r);
	is_i64(rc, 0, "recommend min EDP");
	dist = true_dist(1, r.limit_w, &lo, &hi);
	ok(dist <= 25, "min-EDP limit %.0f W within 25 W of the true optimum [%.1f, %.1f] W",
	   r.limit_w, lo, hi);
	ok(lo > 150 + 25 && hi < 400 - 25, "(the true EDP optimum is interior)");
	rc = nrg_model_recommend(&m, NRG_OBJ_ED2P, 400, 0, o, n, &r);
	is_i64(rc, 0, "recommend min ED2P");
	dist = true_dist(2, r.limit_w, &lo, &hi);
	ok(dist <= 25, "min-ED2P limit %.0f W within 25 W of the true optimum [%.1f, %.1f] W",
	   r.limit_w, lo, hi);

	for (double b = 5; b <= 20; b += 15) {
		rc = nrg_model_recommend(&m, NRG_OBJ_BUDGET, 400, b, o, n, &r);
		is_i64(rc, 0, "recommend within a %.0f%% budget", b);
		double slow = (true_runtime(r.limit_w) / true_runtime(400) - 1) * 100;
		ok(r.pred_slowdown_pct <= b + 1e-9, "predicted slowdown %.2f%% within the %.0f%% budget", r.pred_slowdown_pct, b);
		ok(slow <= b + 1, "true slowdown at %.0f W is %.2f%%, within the %.0f%% budget (+1 point of noise)",
		   r.limit_w, slow, b);
		ok(r.limit_w < 400 && r.pred_saving_pct > 0, "and saves energy (%.1f%% at %.0f W)", r.pred_saving_pct, r.limit_w);
	}
	/* A reference outside the observed range is clamped to its end and flagged. */
	struct nrg_recommendation r2;
	nrg_model_recommend(&m, NRG_OBJ_ENERGY, 400, 0, o, n, &r);
	rc = nrg_model_recommend(&m, NRG_OBJ_ENERGY, 450, 0, o, n, &r2);
	is_i64(rc, 0, "reference above the range");
	ok(!r2.ok, "reference outside the range: not ok");
	is_near(r2.pred_saving_pct, r.pred_saving_pct, 1e-12, "figures against the nearest end");

	is_i64(nrg_model_recommend(&m, NRG_OBJ_BUDGET, 400, -1, o, n, &r), -EINVAL, "negative budget: -EINVAL");
	is_i64(nrg_model_recommend(&m, (enum nrg_objective)9, 400, 0, o, n, &r), -EINVAL, "bad objective: -EINVAL");
	is_i64(nrg_model_recommend(NULL, NRG_OBJ_ENERGY, 400, 0, o, n, &r), -EINVAL, "no model: -EINVAL");
}

/* Noise-free quadratic energy: the polynomial forms reproduce it exactly, and the minimum
 * (250 W) is an observed limit, so observed figures are reported. */
static void test_exact(void)
{
	struct nrg_sweep_obs o[32];
	struct nrg_model m;
	struct nrg_recommendation r;
	size_t n = 0;

	for (double l = 150; l <= 400; l += 25)
		for (int rep = 0; rep < 2; rep++, n++)
			o[n] = (struct nrg_sweep_obs){ l, 1000 + 0.01 * (l - 250) * (l - 250), 100 - 0.1 * l };
	is_i64(nrg_model_fit(o, n, &m, NULL, 0), 0, "exact fit");
	const struct nrg_model_fit *p2 = &m.fits[NRG_MQ_ENERGY][1];
	is_str(p2->form, "poly2", "form 1 is poly2");
	double worst = 0;
	for (size_t i = 0; i < n; i++)
		worst = fmax(worst, fabs(nrg_model_predict(p2, o[i].limit_w) - o[i].energy_j));
	ok(p2->ok && worst < 1e-6, "poly2 predictions at the observed points match exactly (worst %.3g J)", worst);
	ok(p2->loo_mape < 1e-6 && p2->rmse < 1e-6, "and its LOO error and rmse vanish");
	ok(m.fits[NRG_MQ_ENERGY][0].loo_mape > 1, "poly1 misses the curvature (%.2f%%)", m.fits[NRG_MQ_ENERGY][0].loo_mape);
	is_i64(nrg_model_recommend(&m, NRG_OBJ_ENERGY, 400, 0, o, n, &r), 0, "recommend");
	is_near(r.limit_w, 250, 0, "minimum at 250 W");
	ok(r.has_observed, "250 W was measured: observed figures");
	is_near(r.obs_saving_pct, (1225.0 - 1000.0) / 1225 * 100, 1e-9, "observed saving vs the reference");
	is_near(r.obs_slowdown_pct, (75.0 - 60.0) / 60 * 100, 1e-9, "observed slowdown vs the reference");
	is_near(r.pred_saving_pct, r.obs_saving_pct, 1e-6, "predicted saving equals the observed one");
	is_near(r.pred_runtime_s, 75, 1e-6, "predicted runtime");
	is_near(r.pred_slowdown_pct, 25, 1e-6, "predicted slowdown");
	is_i64(nrg_model_recommend(&m, NRG_OBJ_ENERGY, 400, 0, NULL, 0, &r), 0, "recommend without observations");
	ok(!r.has_observed, "no observations: no observed figures");
}

static void test_too_few(void)
{
	struct nrg_sweep_obs o[16];
	struct nrg_model m;
	struct nrg_recommendation r;
	char err[256] = "";
	size_t n = 0;

	for (int rep = 0; rep < 4; rep++) {
		o[n++] = (struct nrg_sweep_obs){ 200, 1000, 10 };
		o[n++] = (struct nrg_sweep_obs){ 250.3, 1100, 9 }; /* within 0.5 W: the same limit */
		o[n++] = (struct nrg_sweep_obs){ 250, 1100, 9 };
	}
	is_i64(nrg_model_fit(o, n, &m, err, sizeof err), -EINVAL, "2 distinct limits: -EINVAL");
	ok(err[0] != '\0', "with a sentence: %s", err);
	o[0].limit_w = 300;
	is_i64(nrg_model_fit(o, n, &m, err, sizeof err), 0, "3 distinct limits: fitted");
	ok(m.chosen[NRG_MQ_ENERGY] < 0 && !m.fits[NRG_MQ_ENERGY][0].ok,
	   "but no form has more distinct limits than coefficients + 1: none chosen");
	is_i64(nrg_model_recommend(&m, NRG_OBJ_ENERGY, 300, 0, o, n, &r), -EINVAL, "so no recommendation");

	/* 5 distinct limits: poly2 (3 coefficients) is ok, poly3 (4) and dvfs are not. */
	n = 0;
	for (double l = 200; l <= 300; l += 25)
		o[n++] = (struct nrg_sweep_obs){ l, 1000 + l, 400 - l };
	is_i64(nrg_model_fit(o, n, &m, err, sizeof err), 0, "5 distinct limits");
	ok(m.fits[NRG_MQ_ENERGY][1].ok && !m.fits[NRG_MQ_ENERGY][2].ok && !m.fits[NRG_MQ_ENERGY][3].ok,
	   "poly2 ok, poly3 and dvfs not");
	ok(isnan(m.fits[NRG_MQ_ENERGY][2].loo_mape) && isnan(nrg_model_predict(&m.fits[NRG_MQ_ENERGY][2], 250)),
	   "a form that is not ok has no error and predicts NAN");

	o[2].energy_j = -1;
	is_i64(nrg_model_fit(o, n, &m, err, sizeof err), -EINVAL, "negative energy: -EINVAL");
	o[2].energy_j = 1250;
	o[2].runtime_s = NAN;
	is_i64(nrg_model_fit(o, n, &m, err, sizeof err), -EINVAL, "runtime not a number: -EINVAL");
	is_i64(nrg_model_fit(NULL, 3, &m, err, sizeof err), -EINVAL, "no observations: -EINVAL");
}

int main(void)
{
	test_physical();
	test_exact();
	test_too_few();
	return done_testing();
}
