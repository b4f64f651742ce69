/* model.c - models of energy, runtime and EDP against the power limit, LOO-validated, and recommendations. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "nrg.h"

/*
 * Forms (every quantity y of energy J, runtime s, EDP J*s):
 *  - polyD (D = 1, 2, 3): y = sum_j coef[j] x^j with x = (L - coef[4]) / coef[5], the limit
 *    normalised to [-1, 1] over the observed range; ncoef = D + 1.
 *  - dvfs: the limit sets the clock. m = min(L, Dm) is the power drawn (the limit while capped,
 *    the uncapped demand Dm above it); the clock factor is c = ((m - p0) / (Dm - p0))^g, so
 *    c = 1 on the plateau L >= Dm. Runtime = coef[0] + coef[1] / c (a limit-independent part
 *    plus a clock-bound part); energy and EDP = m * (coef[0] + coef[1] / c + coef[2] / c^2)
 *    (power times a runtime-like factor; the 1/c^2 term is the delay squared of EDP and lets
 *    energy bend where the power is not exactly the limit). coef[3] = p0, coef[4] = Dm,
 *    coef[5] = g; ncoef = 5 for runtime (2 linear + 3 shape), 6 for energy and EDP, and
 *    nrg_model_predict tells the two bases apart by ncoef.
 * Fitting: least squares on relative residuals (weights 1/y^2, so the fit minimises the
 * percentage error LOO reports). Polynomials: one weighted linear least-squares solve (normal
 * equations on unit-scaled columns, partial pivoting, rejected when a pivot is below 1e-12).
 * dvfs: exhaustive grid over the shape (p0, Dm, g) with the linear coefficients solved exactly
 * at each grid point; deterministic, no iteration. LOO refits use the same grid and keep, per
 * left-out observation, the grid point best for the remaining ones (a full refit, shape
 * included). EDP is fitted directly (validated like the others); recommendations use the
 * product of the chosen energy and runtime models so that all objectives share one model.
 */

#define MAXP 4 /* the most linear coefficients of any form */
#define P0_STEPS 32
#define P0_MAX_STEP 28 /* p0 up to 7/8 of the lowest observed limit */
#define D_STEPS 48
#define PIVOT_MIN 1e-12
#define SAME_LIMIT_W 0.5

static const double gammas[] = { 0.25, 1.0 / 3.0, 0.5, 2.0 / 3.0, 0.75, 1.0 };


/* Solve the p x p system a x = b (a, b copied) by Gaussian elimination with partial pivoting.
 * Returns 0, or -1 when a pivot falls below PIVOT_MIN (the columns are unit-scaled). */
static int solve(int p, const double a_in[MAXP][MAXP], const double *b_in, double *x)
{
	double a[MAXP][MAXP], b[MAXP];

	memcpy(a, a_in, sizeof a);
	memcpy(b, b_in, sizeof b);
	for (int k = 0; k < p; k++) {
		int piv = k;
		for (int i = k + 1; i < p; i++)
			if (fabs(a[i][k]) > fabs(a[piv][k]))
				piv = i;
		if (!(fabs(a[piv][k]) > PIVOT_MIN))
			return -1;
		if (piv != k) {
			for (int j = 0; j < p; j++) {
				double t = a[k][j];
				a[k][j] = a[piv][j];
				a[piv][j] = t;
			}
			double t = b[k];
			b[k] = b[piv];
			b[piv] = t;
		}
		for (int i = k + 1; i < p; i++) {
			double f = a[i][k] / a[k][k];
			for (int j = k; j < p; j++)
				a[i][j] -= f * a[k][j];
			b[i] -= f * b[k];
		}
	}
	for (int k = p - 1; k >= 0; k--) {
		double s = b[k];
		for (int j = k + 1; j < p; j++)
			s -= a[k][j] * x[j];
		x[k] = s / a[k][k];
	}
	for (int k = 0; k < p; k++)
		if (!isfinite(x[k]))
			return -1;
	return 0;
}

/* Weighted residual sum of squares from the normal-equation pieces. */
static double rss(int p, const double a[MAXP][MAXP], const double *b, double yy, const double *beta)
{
	double s = yy;

	for (int i = 0; i < p; i++) {
		s -= 2 * beta[i] * b[i];
		for (int j = 0; j < p; j++)
			s += beta[i] * a[i][j] * beta[j];
	}
	return s > 0 ? s : 0;
}

/* The work of one fit: observations, weights and per-fold bests. */
struct work {
	size_t n;
	const double *y, *w;
	double *x;          /* n x MAXP basis (unscaled) */
	double *fold_rss;   /* best weighted rss of each fold so far */
	double *fold_pred;  /* its prediction of the left-out observation */
	double best_rss;    /* of the full fit */
	double best_beta[MAXP];
	int found;          /* a full fit was found */
};

/* Fit the basis in w->x (p columns) on all observations and on each leave-one-out fold; keep
 * the results where they beat what w holds. Returns 1 when the full fit improved. */
static int eval_basis(struct work *w, int p)
{
	double scale[MAXP] = { 0 }, a[MAXP][MAXP] = { { 0 } }, b[MAXP] = { 0 }, yy = 0, beta[MAXP];
	size_t n = w->n;
	int improved = 0;

	for (size_t i = 0; i < n; i++)
		for (int j = 0; j < p; j++)
			scale[j] += w->w[i] * w->x[i * MAXP + j] * w->x[i * MAXP + j];
	for (int j = 0; j < p; j++) {
		if (!(scale[j] > 0) || !isfinite(scale[j]))
			return 0;
		scale[j] = sqrt(scale[j]);
	}
	for (size_t i = 0; i < n; i++) {
		double z[MAXP];
		for (int j = 0; j < p; j++)
			z[j] = w->x[i * MAXP + j] / scale[j];
		for (int j = 0; j < p; j++) {
			for (int k = 0; k < p; k++)
				a[j][k] += w->w[i] * z[j] * z[k];
			b[j] += w->w[i] * z[j] * w->y[i];
		}
		yy += w->w[i] * w->y[i] * w->y[i];
	}
	if (solve(p, a, b, beta) == 0) {
		double r = rss(p, a, b, yy, beta);
		if (!w->found || r < w->best_rss) {
			w->found = 1;
			w->best_rss = r;
			for (int j = 0; j < p; j++)
				w->best_beta[j] = beta[j] / scale[j];
			improved = 1;
		}
	}
	for (size_t k = 0; k < n; k++) {
		double ak[MAXP][MAXP], bk[MAXP], z[MAXP], wk = w->w[k], yk = w->y[k];
		for (int j = 0; j < p; j++)
			z[j] = w->x[k * MAXP + j] / scale[j];
		for (int j = 0; j < p; j++) {
			for (int l = 0; l < p; l++)
				ak[j][l] = a[j][l] - wk * z[j] * z[l];
			bk[j] = b[j] - wk * z[j] * yk;
		}
		if (solve(p, ak, bk, beta) != 0)
			continue;
		double r = rss(p, ak, bk, yy - wk * yk * yk, beta);
		if (isnan(w->fold_rss[k]) || r < w->fold_rss[k]) {
			double pred = 0;
			for (int j = 0; j < p; j++)
				pred += beta[j] * z[j];
			w->fold_rss[k] = r;
			w->fold_pred[k] = pred;
		}
	}
	return improved;
}

/* The dvfs clock factor, or NAN below the static power p0. */
static double clockf(double l, double p0, double dm, double g, double *m)
{
	*m = l < dm ? l : dm;
	if (!(*m > p0) || !(dm > p0))
		return NAN;
	return pow((*m - p0) / (dm - p0), g);
}

/* Fill row i of the dvfs basis (nlin linear terms); returns -1 where undefined. */
static int dvfs_row(double *row, int nlin, double l, double p0, double dm, double g)
{
	double m, c = clockf(l, p0, dm, g, &m);

	if (!(c > 0))
		return -1;
	if (nlin == 2) {
		row[0] = 1;
		row[1] = 1 / c;
	} else {
		row[0] = m;
		row[1] = m / c;
		row[2] = m / (c * c);
	}
	return 0;
}

static size_t count_distinct(const struct nrg_sweep_obs *obs, size_t n)
{
	size_t d = 0;

	for (size_t i = 0; i < n; i++) {
		size_t j;
		for (j = 0; j < i; j++)
			if (fabs(obs[j].limit_w - obs[i].limit_w) <= SAME_LIMIT_W)
				break;
		if (j == i)
			d++;
	}
	return d;
}

/* Fit one form (0..2: poly1..3, 3: dvfs) of one quantity into f. Returns 0 or -ENOMEM. */
static int fit_form(struct work *w, const struct nrg_sweep_obs *obs, int form, enum nrg_model_quantity q,
		    double lmin, double lmax, size_t distinct, struct nrg_model_fit *f)
{
	size_t n = w->n;
	int p;

	memset(f, 0, sizeof *f);
	f->loo_mape = NAN;
	f->rmse = NAN;
	w->found = 0;
	for (size_t i = 0; i < n; i++)
		w->fold_rss[i] = w->fold_pred[i] = NAN;
	if (form < 3) {
		double c = (lmin + lmax) / 2, s = (lmax - lmin) / 2;
		p = form + 2;
		snprintf(f->form, sizeof f->form, "poly%d", form + 1);
		f->ncoef = p;
		f->coef[4] = c;
		f->coef[5] = s;
		if (distinct <= (size_t)f->ncoef + 1)
			return 0;
		for (size_t i = 0; i < n; i++) {
			double x = (obs[i].limit_w - c) / s, v = 1;
			for (int j = 0; j < p; j++, v *= x)
				w->x[i * MAXP + j] = v;
		}
		eval_basis(w, p);
		if (w->found)
			memcpy(f->coef, w->best_beta, sizeof(double) * (size_t)p);
	} else {
		p = q == NRG_MQ_RUNTIME ? 2 : 3;
		snprintf(f->form, sizeof f->form, "dvfs");
		f->ncoef = p + 3;
		if (distinct <= (size_t)f->ncoef + 1)
			return 0;
		for (int gi = 0; gi < (int)(sizeof gammas / sizeof *gammas); gi++)
			for (int pk = 0; pk <= P0_MAX_STEP; pk++)
				for (int dk = 1; dk <= D_STEPS; dk++) {
					double g = gammas[gi], p0 = lmin * pk / P0_STEPS;
					double dm = lmin + (lmax - lmin) * dk / D_STEPS;
					int bad = 0;
					for (size_t i = 0; i < n && !bad; i++)
						bad = dvfs_row(&w->x[i * MAXP], p, obs[i].limit_w, p0, dm, g) != 0;
					if (bad)
						continue;
					if (eval_basis(w, p)) {
						memcpy(f->coef, w->best_beta, sizeof(double) * (size_t)p);
						for (int j = p; j < 3; j++)
							f->coef[j] = 0;
						f->coef[3] = p0;
						f->coef[4] = dm;
						f->coef[5] = g;
					}
				}
	}
	if (!w->found)
		return 0;
	double ape = 0, se = 0;
	for (size_t i = 0; i < n; i++) {
		if (isnan(w->fold_pred[i]))
			return 0; /* a fold could not be fitted: not ok */
		ape += fabs(w->fold_pred[i] - w->y[i]) / fabs(w->y[i]);
	}
	f->ok = true;
	for (size_t i = 0; i < n; i++) {
		double d = nrg_model_predict(f, obs[i].limit_w) - w->y[i];
		se += d * d;
	}
	f->loo_mape = ape / (double)n * 100;
	f->rmse = sqrt(se / (double)n);
	if (!isfinite(f->loo_mape) || !isfinite(f->rmse)) {
		f->ok = false;
		f->loo_mape = f->rmse = NAN;
	}
	return 0;
}

/* Fit every form for energy, runtime and EDP (see nrg.h). A form is ok only with more distinct
 * limits (0.5 W apart) than its coefficients + 1 and a well-conditioned fit of every LOO fold;
 * a form that is not ok has loo_mape and rmse NAN. chosen[q] is the ok form with the lowest
 * loo_mape (the simpler on a tie), or -1. Every observation needs finite positive limit, energy
 * and runtime. Returns 0, -EINVAL (bad input, fewer than 3 distinct limits) or -ENOMEM. */
int nrg_model_fit(const struct nrg_sweep_obs *obs, size_t n, struct nrg_model *out, char *err, size_t errlen)
{
	if (!out || (!obs && n)) {
		nrg__seterr(err, errlen, "no observations or no model to fill");
		return -EINVAL;
	}
	memset(out, 0, sizeof *out);
	for (int q = 0; q < NRG_MQ_COUNT; q++)
		out->chosen[q] = -1;
	for (size_t i = 0; i < n; i++)
		if (!(isfinite(obs[i].limit_w) && obs[i].limit_w > 0 && isfinite(obs[i].energy_j) && obs[i].energy_j > 0 &&
		      isfinite(obs[i].runtime_s) && obs[i].runtime_s > 0)) {
			nrg__seterr(err, errlen, "observation %zu has a limit, energy or runtime that is not a positive number", i + 1);
			return -EINVAL;
		}
	size_t distinct = count_distinct(obs, n);
	if (distinct < 3) {
		nrg__seterr(err, errlen, "a model needs runs at 3 or more distinct power limits, the sweep has %zu: "
			"add limits to the sweep", distinct);
		return -EINVAL;
	}
	double lmin = obs[0].limit_w, lmax = obs[0].limit_w;
	for (size_t i = 1; i < n; i++) {
		lmin = fmin(lmin, obs[i].limit_w);
		lmax = fmax(lmax, obs[i].limit_w);
	}
	out->limit_min_w = lmin;
	out->limit_max_w = lmax;
	out->n_obs = n;

	double *buf = malloc(sizeof(double) * n * (MAXP + 4));
	if (!buf) {
		nrg__seterr(err, errlen, "out of memory fitting %zu observations", n);
		return -ENOMEM;
	}
	double *y = buf, *wt = buf + n;
	struct work w = { .n = n, .y = y, .w = wt, .x = buf + 2 * n, .fold_rss = buf + (2 + MAXP) * n,
			  .fold_pred = buf + (3 + MAXP) * n };
	for (int q = 0; q < NRG_MQ_COUNT; q++) {
		for (size_t i = 0; i < n; i++) {
			y[i] = q == NRG_MQ_ENERGY    ? obs[i].energy_j
			       : q == NRG_MQ_RUNTIME ? obs[i].runtime_s
						     : obs[i].energy_j * obs[i].runtime_s;
			wt[i] = 1 / (y[i] * y[i]);
		}
		out->n_forms[q] = NRG_MODEL_FORMS;
		for (int k = 0; k < NRG_MODEL_FORMS; k++) {
			struct nrg_model_fit *f = &out->fits[q][k];
			fit_form(&w, obs, k, (enum nrg_model_quantity)q, lmin, lmax, distinct, f);
			if (f->ok && (out->chosen[q] < 0 || f->loo_mape < out->fits[q][out->chosen[q]].loo_mape))
				out->chosen[q] = k;
		}
	}
	free(buf);
	return 0;
}

/* The fitted value of f at limit_w (see the forms above); NAN when f is NULL or not ok, or
 * (dvfs) at or below the static power p0. */
double nrg_model_predict(const struct nrg_model_fit *f, double limit_w)
{
	if (!f || !f->ok || !isfinite(limit_w))
		return NAN;
	if (strcmp(f->form, "dvfs") == 0) {
		double m, c = clockf(limit_w, f->coef[3], f->coef[4], f->coef[5], &m);
		if (!(c > 0))
			return NAN;
		if (f->ncoef == 5)
			return f->coef[0] + f->coef[1] / c;
		return m * (f->coef[0] + f->coef[1] / c + f->coef[2] / (c * c));
	}
	if (f->ncoef < 1 || f->ncoef > MAXP || !(f->coef[5] > 0))
		return NAN;
	double x = (limit_w - f->coef[4]) / f->coef[5], v = 0;
	for (int j = f->ncoef - 1; j >= 0; j--)
		v = v * x + f->coef[j];
	return v;
}

/* Mean energy and runtime of the observations within SAME_LIMIT_W of l; 0 when none. */
static int obs_mean(const struct nrg_sweep_obs *obs, size_t n, double l, double *e, double *t)
{
	size_t k = 0;

	*e = *t = 0;
	for (size_t i = 0; i < n; i++)
		if (fabs(obs[i].limit_w - l) <= SAME_LIMIT_W) {
			*e += obs[i].energy_j;
			*t += obs[i].runtime_s;
			k++;
		}
	if (!k)
		return 0;
	*e /= (double)k;
	*t /= (double)k;
	return 1;
}

/* Recommend a limit for obj (see nrg.h). Searches limit_min_w, +1 W, ... and limit_max_w on
 * the chosen energy and runtime models (EDP = energy x runtime, ED2P = energy x runtime^2).
 * The reference is ref_limit_w clamped to the observed range; out->ok is false when it had to
 * be clamped (more than 0.5 W outside), the figures are then against the clamped end.
 * NRG_OBJ_BUDGET: lowest energy with predicted runtime <= (1 + budget_pct/100) x the runtime
 * at the reference. Observed figures: mean over the repetitions at the recommended limit
 * (within 0.5 W) against the mean at the observed limit closest to the reference.
 * uncertainty_pct: the saving is the difference of two predictions, each with a relative error
 * of about the energy model's loo_mape; independent errors add in quadrature, so
 * +/- loo_mape x sqrt(1 + (E_rec / E_ref)^2) percentage points (about sqrt(2) x loo_mape).
 * Returns 0, or -EINVAL (NULL, no chosen energy/runtime model, bad objective, budget_pct
 * negative or not finite, ref_limit_w not a positive number). */
int nrg_model_recommend(const struct nrg_model *m, enum nrg_objective obj, double ref_limit_w, double budget_pct,
			const struct nrg_sweep_obs *obs, size_t n_obs, struct nrg_recommendation *out)
{
	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof *out);
	if (!m || m->chosen[NRG_MQ_ENERGY] < 0 || m->chosen[NRG_MQ_RUNTIME] < 0 ||
	    m->chosen[NRG_MQ_ENERGY] >= NRG_MODEL_FORMS || m->chosen[NRG_MQ_RUNTIME] >= NRG_MODEL_FORMS)
		return -EINVAL;
	if ((unsigned)obj > NRG_OBJ_BUDGET || !isfinite(ref_limit_w) || !(ref_limit_w > 0))
		return -EINVAL;
	if (obj == NRG_OBJ_BUDGET && !(isfinite(budget_pct) && budget_pct >= 0))
		return -EINVAL;
	const struct nrg_model_fit *fe = &m->fits[NRG_MQ_ENERGY][m->chosen[NRG_MQ_ENERGY]];
	const struct nrg_model_fit *ft = &m->fits[NRG_MQ_RUNTIME][m->chosen[NRG_MQ_RUNTIME]];
	double lo = m->limit_min_w, hi = m->limit_max_w;
	if (!(lo > 0) || !(hi >= lo))
		return -EINVAL;
	bool clamped = ref_limit_w < lo - SAME_LIMIT_W || ref_limit_w > hi + SAME_LIMIT_W;
	double ref = fmin(fmax(ref_limit_w, lo), hi);
	double eref = nrg_model_predict(fe, ref), tref = nrg_model_predict(ft, ref);
	if (!(eref > 0) || !(tref > 0))
		return -EINVAL;

	double best = INFINITY, bl = NAN, be = NAN, bt = NAN;
	long steps = (long)floor(hi - lo);
	for (long k = 0; k <= steps + 1; k++) {
		double l = k <= steps ? lo + (double)k : hi;
		if (k > steps && l - (lo + (double)steps) < 1e-9)
			break;
		double e = nrg_model_predict(fe, l), t = nrg_model_predict(ft, l), v;
		if (!(e > 0) || !(t > 0))
			continue;
		if (obj == NRG_OBJ_BUDGET && t > (1 + budget_pct / 100) * tref * (1 + 1e-12))
			continue;
		v = obj == NRG_OBJ_EDP ? e * t : obj == NRG_OBJ_ED2P ? e * t * t : e;
		if (v < best) {
			best = v;
			bl = l;
			be = e;
			bt = t;
		}
	}
	if (isnan(bl))
		return -EINVAL;
	out->ok = !clamped;
	out->limit_w = bl;
	out->pred_energy_j = be;
	out->pred_runtime_s = bt;
	out->pred_saving_pct = (eref - be) / eref * 100;
	out->pred_slowdown_pct = (bt - tref) / tref * 100;
	out->uncertainty_pct = fe->loo_mape * sqrt(1 + (be / eref) * (be / eref));

	double oe, ot, re, rt;
	if (obs && n_obs && obs_mean(obs, n_obs, bl, &oe, &ot)) {
		double near = obs[0].limit_w;
		for (size_t i = 1; i < n_obs; i++)
			if (fabs(obs[i].limit_w - ref) < fabs(near - ref))
				near = obs[i].limit_w;
		if (obs_mean(obs, n_obs, near, &re, &rt) && re > 0 && rt > 0) {
			out->has_observed = true;
			out->obs_saving_pct = (re - oe) / re * 100;
			out->obs_slowdown_pct = (ot - rt) / rt * 100;
		}
	}
	return 0;
}
