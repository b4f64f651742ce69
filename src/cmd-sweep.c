/* cmd-sweep.c - nrg sweep: run a command at several power limits and parameter settings, measured. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner.h"
#include "store.h"
#include "sweep.h"

static const char sweep_usage[] =
	"usage: nrg sweep [options] [--] COMMAND [ARG...]\n"
	"       nrg sweep --resume SWEEP [options]\n"
	"\n"
	"Run COMMAND once per point: every power limit x every parameter setting x every repetition,\n"
	"each run measured as 'nrg run' does and stored with the sweep. Parameters reach COMMAND as\n"
	"environment variables. The GPUs' limits are put back at the end, on error and on Ctrl-C,\n"
	"SIGTERM and SIGHUP; after a crash, 'nrg restore' does it from the journal. Needs root.\n"
	"\n"
	"options:\n"
	"  -l, --power-limit LIST   limits: W values 'a,b,c', ranges 'min:max:step' (150:300:25),\n"
	"                           percentages of the default limit (60%:100%:10%, 80%), or 'all'\n"
	"                           (the GPU's range in 25 W steps); default: all\n"
	"  -p, --param NAME=v1,v2   a parameter and its values (repeatable: cartesian product)\n"
	"  -r, --repeat N           runs per point (default 1)\n"
	"      --order grid|random  order of the runs (default grid); random uses --seed\n"
	"      --seed N             seed of the random order (default 1)\n"
	"      --baseline SECONDS   first measure the idle node (sleep SECONDS at the default limit)\n"
	"      --warmup N           N unmeasured-for-the-model warm-up runs at the default limit first\n"
	"      --resume SWEEP       run the points of a stored sweep not done yet\n"
	"      --adaptive           search the min-energy limit in --power-limit MIN:MAX with few runs\n"
	"                           (golden-section search; assumes energy per run is unimodal in\n"
	"                           the limit) instead of running a grid\n"
	"      --tolerance W        with --adaptive: stop when the bracket is narrower (default 10)\n"
	"  -i, --interval DURATION  sampling interval (default 100ms)\n"
	"      --db PATH            database file (default ./nrg.db, or NRG_DB)\n"
	"      --source LIST        use only these sources\n"
	"      --gpus LIST          the GPUs to cap and measure (default all)\n"
	"  -h, --help               show this help\n"
	"\n"
	"A run that exits non-zero is recorded as failed and the sweep goes on. Ctrl-C stops after\n"
	"the running command ends and the limits are restored; 'nrg sweep --resume SWEEP' goes on.\n"
	"'nrg model SWEEP' fits and recommends limits.\n";

/* ---- reading back our own JSON ---- */

/* Parse the string literal at *p (at its opening quote) into a malloc'd string. */
static char *parse_literal(const char **pp)
{
	const char *p = *pp + 1;
	size_t cap = strlen(p) + 1, n = 0;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	for (; *p && *p != '"'; p++) {
		char c = *p;

		if (c == '\\') {
			p++;
			switch (*p) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u': {
				unsigned v = 0;

				for (int i = 1; i <= 4; i++) {
					char h = p[i];

					if (!h) {
						free(out);
						return NULL;
					}
					v = v * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
				}
				p += 4;
				c = (char)(v < 0x80 ? v : '?');
				break;
			}
			case 0: free(out); return NULL;
			default: c = *p; break;
			}
		}
		out[n++] = c;
	}
	if (*p != '"') {
		free(out);
		return NULL;
	}
	out[n] = 0;
	*pp = p + 1;
	return out;
}

int sweep_json_strings(const char *json, char ***out, size_t *n)
{
	size_t cnt = 0, cap = 8;
	char **v = calloc(cap, sizeof *v);

	*out = NULL;
	*n = 0;
	if (!v)
		return -ENOMEM;
	for (const char *p = json; p && *p;) {
		if (*p != '"') {
			p++;
			continue;
		}
		if (cnt + 1 >= cap) {
			char **q = realloc(v, cap * 2 * sizeof *v);

			if (!q) {
				sweep_strings_free(v);
				return -ENOMEM;
			}
			v = q;
			cap *= 2;
		}
		if (!(v[cnt] = parse_literal(&p))) {
			sweep_strings_free(v);
			return -EINVAL;
		}
		v[++cnt] = NULL;
	}
	v[cnt] = NULL;
	*out = v;
	*n = cnt;
	return 0;
}

void sweep_strings_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Where the value of top-level "key" starts, or NULL. */
static const char *spec_find(const char *json, const char *key)
{
	char pat[80];
	const char *p;

	snprintf(pat, sizeof pat, "\"%s\":", key);
	p = json ? strstr(json, pat) : NULL;
	return p ? p + strlen(pat) : NULL;
}

bool sweep_spec_num(const char *json, const char *key, double *out)
{
	const char *p = spec_find(json, key);
	char *end;

	if (!p)
		return false;
	*out = strtod(p, &end);
	return end != p;
}

char *sweep_spec_str(const char *json, const char *key)
{
	const char *p = spec_find(json, key);

	return p && *p == '"' ? parse_literal(&p) : NULL;
}

void sweep_params_text(const char *params_json, char *buf, size_t n)
{
	char **v = NULL;
	size_t cnt = 0, len = 0;

	buf[0] = 0;
	if (sweep_json_strings(params_json, &v, &cnt) < 0)
		return;
	for (size_t i = 0; i + 1 < cnt && len < n; i += 2)
		len += (size_t)snprintf(buf + len, n - len, "%s%s=%s", len ? " " : "", v[i], v[i + 1]);
	sweep_strings_free(v);
}

/* ---- the sweep's points ---- */

struct param {
	char *name;
	char **values; /* NULL-terminated */
	size_t n;
};

/* Split "a,b,c" into a NULL-terminated malloc'd array. */
static char **split_commas(const char *s, size_t *n)
{
	size_t cnt = 1, i = 0;
	char **v;

	for (const char *p = s; *p; p++)
		cnt += *p == ',';
	if (!(v = calloc(cnt + 1, sizeof *v)))
		return NULL;
	for (const char *p = s;; i++) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (!(v[i] = strndup(p, len))) {
			sweep_strings_free(v);
			return NULL;
		}
		if (!e)
			break;
		p = e + 1;
	}
	*n = cnt;
	return v;
}

/* A limit item "300", "300W", "80%": watts, or percent (*pct set). */
static int parse_one_limit(const char *s, double *v, bool *pct)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	if (errno || end == s || !(*v > 0))
		return -1;
	*pct = *end == '%';
	if (*pct)
		end++;
	else if (*end == 'W' || *end == 'w')
		end++;
	return *end ? -1 : 0;
}

/* Expand the --power-limit LIST into watts (uw values), given the first GPU's limits. */
static int expand_limits(const char *spec, const struct nrg_device_info *gpu, double *w, size_t max, size_t *n)
{
	char **items;
	size_t ni = 0;
	double def = (double)gpu->limit_default_uw * 1e-6;

	*n = 0;
	if (strchr(spec, '%') && def <= 0)
		return -1;
	if (!strcmp(spec, "all")) {
		double lo = (double)gpu->limit_min_uw * 1e-6, hi = (double)gpu->limit_max_uw * 1e-6;

		if (gpu->limit_min_uw <= 0 || gpu->limit_max_uw <= 0)
			return -1;
		fprintf(stderr, "nrg: limits 'all': %s's range %.0f..%.0f W in 25 W steps\n", gpu->id, lo, hi);
		for (double x = lo; x <= hi + 1e-9 && *n < max; x += 25)
			w[(*n)++] = x;
		if (*n < max && w[*n - 1] < hi - 1e-9)
			w[(*n)++] = hi;
		return 0;
	}
	if (!(items = split_commas(spec, &ni)))
		return -1;
	for (size_t i = 0; i < ni; i++) {
		char *a = items[i], *b = strchr(a, ':'), *c = b ? strchr(b + 1, ':') : NULL;
		double lo, hi, step;
		bool p1, p2, p3;

		if (!b) {
			if (parse_one_limit(a, &lo, &p1) < 0 || *n >= max)
				goto bad;
			w[(*n)++] = p1 ? lo / 100 * def : lo;
			continue;
		}
		if (!c)
			goto bad;
		*b = *c = 0;
		if (parse_one_limit(a, &lo, &p1) < 0 || parse_one_limit(b + 1, &hi, &p2) < 0 ||
		    parse_one_limit(c + 1, &step, &p3) < 0 || p1 != p2 || p2 != p3 || hi < lo)
			goto bad;
		if (p1) {
			lo = lo / 100 * def;
			hi = hi / 100 * def;
			step = step / 100 * def;
		}
		for (double x = lo; x <= hi + 1e-6 && *n < max; x += step)
			w[(*n)++] = x;
	}
	sweep_strings_free(items);
	return *n ? 0 : -1;
bad:
	sweep_strings_free(items);
	return -1;
}

static char *params_json_of(const struct param *ps, size_t np, const size_t *choice)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct nrg_json j;

	if (!f)
		return NULL;
	nrg_json_begin(&j, f, false);
	nrg_json_obj(&j, NULL);
	for (size_t i = 0; i < np; i++)
		nrg_json_str(&j, ps[i].name, ps[i].values[choice[i]]);
	nrg_json_end_obj(&j);
	fclose(f);
	return buf;
}

static char *spec_json_of(const struct nrg_settings *s, const double *w, size_t nw, const struct param *ps,
			  size_t np, int repeat, const char *order, unsigned seed, double default_w,
			  double baseline_s, int warmup, double tolerance_w)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct nrg_json j;

	if (!f)
		return NULL;
	nrg_json_begin(&j, f, false);
	nrg_json_obj(&j, NULL);
	/* scalars first: sweep_spec_num/str find the first occurrence of a key */
	nrg_json_int(&j, "repeat", repeat);
	nrg_json_str(&j, "order", order);
	nrg_json_int(&j, "seed", seed);
	nrg_json_num(&j, "default_w", default_w);
	nrg_json_num(&j, "baseline_s", baseline_s);
	nrg_json_int(&j, "warmup", warmup);
	if (tolerance_w > 0) {
		nrg_json_int(&j, "adaptive", 1);
		nrg_json_num(&j, "tolerance_w", tolerance_w);
	}
	nrg_json_int(&j, "interval_us", (long long)s->interval_us);
	nrg_json_str(&j, "sources", s->sources);
	nrg_json_str(&j, "gpus", s->gpus);
	nrg_json_arr(&j, "limits_w");
	for (size_t i = 0; i < nw; i++)
		nrg_json_num(&j, NULL, w[i]);
	nrg_json_end_arr(&j);
	nrg_json_obj(&j, "params");
	for (size_t i = 0; i < np; i++) {
		nrg_json_arr(&j, ps[i].name);
		for (size_t k = 0; k < ps[i].n; k++)
			nrg_json_str(&j, NULL, ps[i].values[k]);
		nrg_json_end_arr(&j);
	}
	nrg_json_end_obj(&j);
	nrg_json_end_obj(&j);
	fclose(f);
	return buf;
}

/* xorshift64: the random order is reproducible from --seed. */
static uint64_t next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Build the points: baseline, warm-ups, then repetition x parameter setting x limit. */
static struct nrg_sweep_point *make_points(const double *w, size_t nw, const struct param *ps, size_t np,
					   int repeat, bool random, unsigned seed, bool baseline, int warmup,
					   size_t *n)
{
	size_t ncombo = 1, nrun, total, k = 0, pre;
	struct nrg_sweep_point *pts;
	size_t choice[16] = { 0 };

	for (size_t i = 0; i < np; i++)
		ncombo *= ps[i].n;
	nrun = ncombo * nw * (size_t)repeat;
	pre = (baseline ? 1 : 0) + (size_t)warmup;
	total = pre + nrun;
	if (!(pts = calloc(total, sizeof *pts)))
		return NULL;
	if (baseline) {
		pts[k].kind = NRG_POINT_BASELINE;
		pts[k].limit_uw = -1;
		pts[k].rep = 1;
		pts[k++].params_json = strdup("{}");
	}
	for (int i = 0; i < warmup; i++) {
		pts[k].kind = NRG_POINT_WARMUP;
		pts[k].limit_uw = -1;
		pts[k].rep = i + 1;
		pts[k++].params_json = params_json_of(ps, np, choice);
	}
	for (int r = 1; r <= repeat; r++)
		for (size_t c = 0; c < ncombo; c++) {
			size_t rest = c;

			for (size_t i = np; i-- > 0;) {
				choice[i] = rest % ps[i].n;
				rest /= ps[i].n;
			}
			for (size_t l = 0; l < nw; l++) {
				pts[k].kind = NRG_POINT_RUN;
				pts[k].limit_uw = (int64_t)(w[l] * 1e6 + 0.5);
				pts[k].rep = r;
				pts[k++].params_json = params_json_of(ps, np, choice);
			}
		}
	if (random) {
		uint64_t x = seed ? seed : 1;

		for (size_t i = nrun; i > 1; i--) {
			size_t j = (size_t)(next_rand(&x) % i);
			struct nrg_sweep_point t = pts[pre + i - 1];

			pts[pre + i - 1] = pts[pre + j];
			pts[pre + j] = t;
		}
	}
	for (size_t i = 0; i < total; i++)
		if (!pts[i].params_json) {
			nrg_sweep_points_free(pts, total);
			return NULL;
		}
	for (size_t i = 0; i < total; i++)
		pts[i].idx = (int)i;
	*n = total;
	return pts;
}

/* Set (or with unset, remove) a point's parameters in the environment. */
static void params_env(const char *params_json, bool unset)
{
	char **v = NULL;
	size_t n = 0;

	if (sweep_json_strings(params_json, &v, &n) < 0)
		return;
	for (size_t i = 0; i + 1 < n; i += 2) {
		if (unset)
			unsetenv(v[i]);
		else
			setenv(v[i], v[i + 1], 1);
	}
	sweep_strings_free(v);
}

static void left_text(double s, char *buf, size_t n)
{
	if (s < 90)
		snprintf(buf, n, "~%.0f s left", s);
	else if (s < 5400)
		snprintf(buf, n, "~%.0f min left", s / 60);
	else
		snprintf(buf, n, "~%.1f h left", s / 3600);
}

/* Run the pending points of sweep id. Returns nrg's exit status. */
static int run_points(struct nrg_settings *s, nrg_store *st, int64_t id, char **argv, double baseline_s)
{
	struct nrg_sweep_point *pts = NULL;
	size_t n = 0, todo = 0, done = 0, failed = 0;
	double spent = 0;
	nrg_session *ls = NULL;
	int rc = 0;
	char bl_arg[32];
	char *bl_argv[3] = { "sleep", bl_arg, NULL };

	snprintf(bl_arg, sizeof bl_arg, "%g", baseline_s > 0 ? baseline_s : 1);
	if (nrg_store_sweep_points(st, id, &pts, &n) < 0) {
		error("cannot read the points of sweep %lld", (long long)id);
		return NRG_EXIT_FAIL;
	}
	for (size_t i = 0; i < n; i++)
		todo += !strcmp(pts[i].status, "pending");
	runner_signal = 0;
	runner_signals_install();
	if (todo && !(ls = runner_limit_session(s))) {
		rc = NRG_EXIT_FAIL;
		goto out;
	}
	nrg_store_sweep_state(st, id, "running");
	for (size_t i = 0; i < n && !runner_signal; i++) {
		struct nrg_sweep_point *p = &pts[i];
		struct runner_opts o = { .s = s, .quiet = true, .stop_if_signalled = true, .sweep_id = id };
		struct nrg_report *rep = NULL;
		int64_t run_id = 0;
		int code = 0;
		char ptxt[256], lim[32], left[48], res[96];
		double w = p->limit_uw > 0 ? (double)p->limit_uw * 1e-6 : -1;

		if (strcmp(p->status, "pending"))
			continue;
		if (runner_limit_apply(ls, w, 100) < 0) {
			rc = NRG_EXIT_FAIL;
			break;
		}
		if (w < 0) {
			int idx[1];
			int64_t uw;

			if (runner_limit_gpus(ls, idx, 1) && nrg_limit_get(ls, idx[0], &uw, NULL, 0) == 0)
				w = (double)uw * 1e-6;
		}
		o.power_limit_w = w;
		params_env(p->params_json, false);
		if (runner_run(&o, p->kind == NRG_POINT_BASELINE ? bl_argv : argv, &run_id, &code, &rep) < 0 &&
		    !run_id) {
			params_env(p->params_json, true);
			nrg_report_free(rep);
			if (!runner_signal)
				rc = NRG_EXIT_FAIL;
			break;
		}
		params_env(p->params_json, true);
		if (runner_signal && code != 0) {
			/* interrupted: the point stays pending, for --resume */
			nrg_report_free(rep);
			break;
		}
		nrg_store_sweep_point_set(st, id, p->idx, run_id, code == 0 ? "done" : "failed", code);
		done++;
		failed += code != 0;
		if (rep)
			spent += rep->duration_s;
		sweep_params_text(p->params_json, ptxt, sizeof ptxt);
		snprintf(lim, sizeof lim, "%.0f W", w);
		left_text(spent / (double)done * (double)(todo - done), left, sizeof left);
		if (code != 0)
			snprintf(res, sizeof res, "failed (exit %d)", code);
		else if (rep && rep->has_node)
			snprintf(res, sizeof res, "%.1f J %.1f s", rep->node_j, rep->duration_s);
		else
			snprintf(res, sizeof res, "? J %.1f s", rep ? rep->duration_s : 0.0);
		fprintf(stderr, "[%zu/%zu] %s%s%s%s rep %d: %s, %s\n", done, todo,
			p->kind == NRG_POINT_BASELINE ? "baseline " : p->kind == NRG_POINT_WARMUP ? "warm-up " : "",
			lim, ptxt[0] ? " " : "", ptxt, p->rep, res, left);
		if (p->kind == NRG_POINT_BASELINE && rep && rep->has_node && rep->duration_s > 0)
			fprintf(stderr, "nrg: idle baseline: %.1f W on average\n", rep->node_j / rep->duration_s);
		nrg_report_free(rep);
	}
	if (ls && runner_limit_restore(ls) < 0)
		rc = NRG_EXIT_FAIL;
	if (runner_signal) {
		nrg_store_sweep_state(st, id, "interrupted");
		fprintf(stderr, "nrg: sweep %lld interrupted after %zu of %zu runs; limits restored\n", (long long)id,
			done, todo);
		hint("go on with 'nrg sweep --resume %lld'", (long long)id);
		rc = 128 + runner_signal;
	} else if (rc == 0) {
		nrg_store_sweep_state(st, id, "done");
		printf("sweep %lld: %zu runs, %zu failed\n", (long long)id, done, failed);
		fprintf(stderr, "nrg: limits restored; see 'nrg model %lld'\n", (long long)id);
	} else {
		nrg_store_sweep_state(st, id, "interrupted");
		hint("go on with 'nrg sweep --resume %lld'", (long long)id);
	}
out:
	runner_signals_restore();
	nrg_session_close(ls);
	nrg_sweep_points_free(pts, n);
	return rc;
}

static int parse_count(const char *s, int *out, int lo, int hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

/* Resolve a SWEEP argument ("latest" or an id). 0 or -1 after a message. */
static int resolve_sweep(nrg_store *st, const char *arg, int64_t *id)
{
	char *end;
	long long v;

	if (!arg || !strcmp(arg, "latest")) {
		if (nrg_store_latest_sweep(st, id) < 0) {
			error("the database holds no sweeps yet");
			hint("record one with 'nrg sweep -- COMMAND'");
			return -1;
		}
		return 0;
	}
	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno || *end || v <= 0) {
		error("'%s' is not a sweep id", arg);
		return -1;
	}
	*id = v;
	return 0;
}

/* ---- --adaptive: golden-section search of the min-energy limit ---- */

struct adapt_run {
	double w;       /* the probe's limit */
	int rep;        /* repetition, from 1 */
	int64_t run_id; /* the stored run */
	int code;       /* the command's exit status */
};

struct adapt {
	struct nrg_settings *s;
	nrg_session *ls;
	char **argv;
	int repeat;
	struct adapt_run *runs; /* every run, in order */
	size_t nruns, cap;
	double pw[64], pe[64];  /* probes measured: limit, mean energy */
	size_t np;
	bool failed;            /* a run failed, or nrg did: stop */
};

/* Mean energy of `repeat` runs at w (rounded to 1 W; a probe measured before is reused), or NAN
 * when a run failed, nrg failed or a signal came (a->failed set, or runner_signal). */
static double adapt_measure(struct adapt *a, double w)
{
	double sum = 0;

	w = floor(w + 0.5);
	for (size_t i = 0; i < a->np; i++)
		if (a->pw[i] == w)
			return a->pe[i];
	if (a->np >= sizeof a->pw / sizeof *a->pw || runner_signal || a->failed)
		return NAN;
	for (int r = 1; r <= a->repeat; r++) {
		struct runner_opts o = { .s = a->s, .quiet = true, .stop_if_signalled = true, .power_limit_w = w };
		struct nrg_report *rep = NULL;
		int64_t run_id = 0;
		int code = 0;
		bool got;

		if (runner_limit_apply(a->ls, w, 100) < 0) {
			a->failed = true;
			return NAN;
		}
		if (runner_run(&o, a->argv, &run_id, &code, &rep) < 0 && !run_id) {
			nrg_report_free(rep);
			a->failed = !runner_signal;
			return NAN;
		}
		if (runner_signal && code != 0) {
			nrg_report_free(rep);
			return NAN;
		}
		if (a->nruns == a->cap) {
			size_t nc = a->cap ? a->cap * 2 : 32;
			struct adapt_run *q = realloc(a->runs, nc * sizeof *q);

			if (!q) {
				nrg_report_free(rep);
				a->failed = true;
				return NAN;
			}
			a->runs = q;
			a->cap = nc;
		}
		a->runs[a->nruns++] = (struct adapt_run){ .w = w, .rep = r, .run_id = run_id, .code = code };
		got = code == 0 && rep && rep->has_node;
		if (got)
			fprintf(stderr, "[%zu] adaptive %.0f W rep %d: %.1f J %.1f s\n", a->nruns, w, r, rep->node_j,
				rep->duration_s);
		else if (code != 0)
			fprintf(stderr, "[%zu] adaptive %.0f W rep %d: failed (exit %d)\n", a->nruns, w, r, code);
		if (!got) {
			if (code == 0)
				error("run %lld at %.0f W has no energy: the search needs every run's energy",
				      (long long)run_id, w);
			else
				error("the command failed (exit %d) at %.0f W: the adaptive search stops", code, w);
			nrg_report_free(rep);
			a->failed = true;
			return NAN;
		}
		sum += rep->node_j;
		nrg_report_free(rep);
	}
	a->pw[a->np] = w;
	a->pe[a->np++] = sum / a->repeat;
	return a->pe[a->np - 1];
}

/* Runs a grid from lo to hi with this step would need (hi included). */
static size_t grid_runs(double lo, double hi, double step, int repeat)
{
	size_t n = (size_t)floor((hi - lo) / step + 1e-6) + 1;

	if (lo + (double)(n - 1) * step < hi - 1e-6)
		n++;
	return n * (size_t)repeat;
}

/* The --adaptive range "MIN:MAX" (W or both %), or "all" (the GPU's range). 0 or -1. */
static int parse_adaptive_range(const char *spec, double def, double gmin, double gmax, double *lo, double *hi)
{
	const char *colon = strchr(spec, ':');
	char a[64];
	bool p1, p2;

	if (!strcmp(spec, "all")) {
		*lo = gmin;
		*hi = gmax;
		return gmin > 0 && gmax > gmin ? 0 : -1;
	}
	if (!colon || (size_t)(colon - spec) >= sizeof a)
		return -1;
	memcpy(a, spec, (size_t)(colon - spec));
	a[colon - spec] = 0;
	if (parse_one_limit(a, lo, &p1) < 0 || parse_one_limit(colon + 1, hi, &p2) < 0 || p1 != p2)
		return -1;
	if (p1) {
		if (!(def > 0))
			return -1;
		*lo = *lo / 100 * def;
		*hi = *hi / 100 * def;
	}
	return *hi > *lo ? 0 : -1;
}

/* nrg sweep --adaptive: search, then store every run as a point of a new sweep. */
static int run_adaptive(struct nrg_settings *s, nrg_store *st, char **argv, double lo, double hi, double tol,
			int repeat, double default_w)
{
	const double g = (sqrt(5.0) - 1) / 2;
	struct adapt a = { .s = s, .argv = argv, .repeat = repeat };
	double ba = lo, bb = hi, c, d, fc, fd, best_w = NAN, best_e = INFINITY;
	struct nrg_sweep_point *pts = NULL;
	char *cmd = NULL, *spec = NULL;
	int64_t id = 0;
	int rc = NRG_EXIT_FAIL;
	size_t grid = grid_runs(lo, hi, tol, repeat);

	runner_signal = 0;
	runner_signals_install();
	if (!(a.ls = runner_limit_session(s)))
		goto out;
	fprintf(stderr, "nrg: adaptive sweep: golden-section search of the min-energy limit in %.0f..%.0f W, "
		"tolerance %.0f W, %d run(s) per probe\n", lo, hi, tol, repeat);
	/* Golden-section search: assumes the energy per run is unimodal in the limit (one minimum),
	 * which the DVFS physics gives (static power vs slow clocks). */
	c = bb - g * (bb - ba);
	d = ba + g * (bb - ba);
	fc = adapt_measure(&a, c);
	fd = adapt_measure(&a, d);
	while (bb - ba > tol && !isnan(fc) && !isnan(fd)) {
		if (fc < fd) {
			bb = d;
			d = c;
			fd = fc;
			c = bb - g * (bb - ba);
			fc = adapt_measure(&a, c);
		} else {
			ba = c;
			c = d;
			fc = fd;
			d = ba + g * (bb - ba);
			fd = adapt_measure(&a, d);
		}
	}
	if (runner_limit_restore(a.ls) < 0)
		a.failed = true;
	for (size_t i = 0; i < a.np; i++)
		if (a.pe[i] < best_e) {
			best_e = a.pe[i];
			best_w = a.pw[i];
		}
	/* store every run as a point of a sweep, so that nrg model works on it */
	if (a.nruns) {
		double ws[64];

		for (size_t i = 0; i < a.np; i++)
			ws[i] = a.pw[i];
		cmd = runner_command_json(argv);
		spec = spec_json_of(s, ws, a.np, NULL, 0, repeat, "adaptive", 0, default_w, 0, 0, tol);
		if (!cmd || !spec || !(pts = calloc(a.nruns, sizeof *pts))) {
			error("out of memory");
			a.failed = true;
			goto out;
		}
		for (size_t i = 0; i < a.nruns; i++) {
			pts[i].idx = (int)i;
			pts[i].kind = NRG_POINT_RUN;
			pts[i].limit_uw = (int64_t)(a.runs[i].w * 1e6 + 0.5);
			pts[i].rep = a.runs[i].rep;
			if (!(pts[i].params_json = strdup("{}"))) {
				error("out of memory");
				a.failed = true;
				goto out;
			}
		}
		if (nrg_store_sweep_create(st, cmd, spec, pts, a.nruns, &id) < 0) {
			error("cannot store the sweep in %s", s->db);
			a.failed = true;
			goto out;
		}
		for (size_t i = 0; i < a.nruns; i++)
			nrg_store_sweep_point_set(st, id, (int)i, a.runs[i].run_id,
						  a.runs[i].code == 0 ? "done" : "failed", a.runs[i].code);
		nrg_store_sweep_state(st, id, runner_signal || a.failed ? "interrupted" : "done");
	}
	if (runner_signal) {
		fprintf(stderr, "nrg: adaptive sweep interrupted after %zu runs; limits restored\n", a.nruns);
		if (id)
			hint("an adaptive sweep cannot be resumed: 'nrg model %lld' reads the runs done, or run "
			     "the search again", (long long)id);
		rc = 128 + runner_signal;
		goto out;
	}
	if (a.failed || isnan(best_w))
		goto out;
	printf("sweep %lld: %zu runs, 0 failed\n", (long long)id, a.nruns);
	printf("adaptive: min energy at %.0f W (%.1f J per run; bracket %.0f..%.0f W, tolerance %.0f W)\n", best_w,
	       best_e, ba, bb, tol);
	printf("adaptive: %zu runs; a grid at %.0f W steps would need %zu (%zd saved)\n", a.nruns, tol, grid,
	       (ssize_t)grid - (ssize_t)a.nruns);
	fprintf(stderr, "nrg: limits restored; see 'nrg model %lld'\n", (long long)id);
	rc = 0;
out:
	runner_signals_restore();
	nrg_session_close(a.ls);
	nrg_sweep_points_free(pts, pts ? a.nruns : 0);
	free(a.runs);
	free(cmd);
	free(spec);
	return rc;
}

int cmd_sweep(int argc, char **argv, struct nrg_settings *s)
{
	enum { O_DB = 256, O_SOURCE, O_GPUS, O_ORDER, O_SEED, O_BASELINE, O_WARMUP, O_RESUME, O_ADAPTIVE, O_TOLERANCE };
	static const struct option longopts[] = {
		{ "adaptive", no_argument, NULL, O_ADAPTIVE },
		{ "baseline", required_argument, NULL, O_BASELINE },
		{ "db", required_argument, NULL, O_DB },
		{ "gpus", required_argument, NULL, O_GPUS },
		{ "help", no_argument, NULL, 'h' },
		{ "interval", required_argument, NULL, 'i' },
		{ "order", required_argument, NULL, O_ORDER },
		{ "param", required_argument, NULL, 'p' },
		{ "power-limit", required_argument, NULL, 'l' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "resume", required_argument, NULL, O_RESUME },
		{ "seed", required_argument, NULL, O_SEED },
		{ "source", required_argument, NULL, O_SOURCE },
		{ "tolerance", required_argument, NULL, O_TOLERANCE },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ 0 } };
	const char *limits = "all", *order = "grid", *resume = NULL;
	struct param ps[16];
	size_t np = 0, npts = 0, nw = 0;
	int repeat = 1, warmup = 0, seed = 1, c, rc = NRG_EXIT_FAIL;
	double baseline_s = 0, w[256], tolerance = 10;
	bool adaptive = false, order_set = false;
	nrg_store *st = NULL;
	nrg_session *ls = NULL;
	struct nrg_sweep_point *pts = NULL;
	struct nrg_sweep_info si = { 0 };
	char *cmd = NULL, *spec = NULL, **cargv = NULL;
	int64_t id = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+hi:l:p:r:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(sweep_usage, stdout); return 0;
		case 'i':
			if (parse_duration_us(optarg, &s->interval_us) < 0 || s->interval_us < 1000 ||
			    s->interval_us > 60000000u)
				die_usage("sweep", "--interval %s: give a duration from 1ms to 60s", optarg);
			break;
		case 'l': limits = optarg; break;
		case 'p': {
			const char *eq = strchr(optarg, '=');

			if (!eq || eq == optarg || !eq[1] || np >= 16)
				die_usage("sweep", "--param %s: give NAME=v1,v2,... (at most 16 parameters)", optarg);
			ps[np].name = strndup(optarg, (size_t)(eq - optarg));
			ps[np].values = split_commas(eq + 1, &ps[np].n);
			if (!ps[np].name || !ps[np].values)
				goto out;
			np++;
			break;
		}
		case 'r':
			if (parse_count(optarg, &repeat, 1, 1000) < 0)
				die_usage("sweep", "--repeat %s: give a count from 1 to 1000", optarg);
			break;
		case O_ORDER:
			if (strcmp(optarg, "grid") && strcmp(optarg, "random"))
				die_usage("sweep", "--order %s: give grid or random", optarg);
			order = optarg;
			order_set = true;
			break;
		case O_SEED:
			if (parse_count(optarg, &seed, 0, 2147483647) < 0)
				die_usage("sweep", "--seed %s: give a non-negative integer", optarg);
			break;
		case O_BASELINE:
			if (parse_double(optarg, &baseline_s) < 0 || !(baseline_s > 0))
				die_usage("sweep", "--baseline %s: give the idle time in seconds", optarg);
			break;
		case O_WARMUP:
			if (parse_count(optarg, &warmup, 0, 100) < 0)
				die_usage("sweep", "--warmup %s: give a count from 0 to 100", optarg);
			break;
		case O_RESUME: resume = optarg; break;
		case O_ADAPTIVE: adaptive = true; break;
		case O_TOLERANCE:
			if (parse_double(optarg, &tolerance) < 0 || !(tolerance >= 1) || tolerance > 1000)
				die_usage("sweep", "--tolerance %s: give watts from 1 to 1000", optarg);
			break;
		case O_DB: settings_set(&s->db, optarg); break;
		case O_SOURCE: settings_set(&s->sources, optarg); break;
		case O_GPUS: settings_set(&s->gpus, optarg); break;
		default: fprintf(stderr, "hint: see 'nrg sweep --help'\n"); return NRG_EXIT_USAGE;
		}
	}
	if (!resume && optind >= argc)
		die_usage("sweep", "no command to run");
	if (resume && optind < argc)
		die_usage("sweep", "--resume takes the command from the stored sweep: give no command");
	if (adaptive && (resume || np || order_set || baseline_s > 0 || warmup))
		die_usage("sweep", "--adaptive takes no --resume, --param, --order, --baseline or --warmup");
	if (!(st = open_store(s)))
		goto out;

	if (resume) {
		size_t n = 0;
		char *v;

		if (resolve_sweep(st, resume, &id) < 0)
			goto out;
		if (nrg_store_sweep_get(st, id, &si) < 0) {
			error("no sweep %lld in %s", (long long)id, s->db);
			hint("'nrg model' lists a sweep's runs; the newest is 'latest'");
			goto out;
		}
		if (sweep_json_strings(si.command_json, &cargv, &n) < 0 || !n) {
			error("sweep %lld has no readable command", (long long)id);
			goto out;
		}
		/* the sweep's own sources, GPUs and interval */
		if ((v = sweep_spec_str(si.spec_json, "sources"))) {
			settings_set(&s->sources, v);
			free(v);
		}
		if ((v = sweep_spec_str(si.spec_json, "gpus"))) {
			settings_set(&s->gpus, v);
			free(v);
		}
		{
			double iv;

			if (sweep_spec_num(si.spec_json, "interval_us", &iv) && iv >= 1000)
				s->interval_us = (uint64_t)iv;
			if (!sweep_spec_num(si.spec_json, "baseline_s", &baseline_s))
				baseline_s = 0;
		}
		{
			double av;

			if (sweep_spec_num(si.spec_json, "adaptive", &av) && av > 0) {
				error("sweep %lld is an adaptive search: it cannot be resumed", (long long)id);
				hint("'nrg model %lld' reads its runs; run 'nrg sweep --adaptive' again for a new search",
				     (long long)id);
				rc = NRG_EXIT_USAGE;
				goto out;
			}
		}
		fprintf(stderr, "nrg: resuming sweep %lld\n", (long long)id);
		rc = run_points(s, st, id, cargv, baseline_s);
		goto out;
	}

	argv += optind;
	if (!(ls = runner_limit_session(s)))
		goto out;
	{
		int idx[1];
		const struct nrg_device_info *gpu;

		runner_limit_gpus(ls, idx, 1);
		gpu = nrg_device_get(ls, (size_t)idx[0]);
		if (adaptive) {
			double lo, hi, def = (double)gpu->limit_default_uw * 1e-6;
			double gmin = (double)gpu->limit_min_uw * 1e-6, gmax = (double)gpu->limit_max_uw * 1e-6;

			if (parse_adaptive_range(limits, def, gmin, gmax, &lo, &hi) < 0) {
				error("--adaptive --power-limit %s: give MIN:MAX in W (100:400), in %% of the default "
				      "limit (50%%:100%%), or 'all'", limits);
				rc = NRG_EXIT_USAGE;
				goto out;
			}
			if ((gmin > 0 && lo < gmin - 0.5) || (gmax > 0 && hi > gmax + 0.5)) {
				error("--power-limit: %.0f..%.0f W is outside %s's range %.0f..%.0f W", lo, hi, gpu->id,
				      gmin, gmax);
				rc = NRG_EXIT_USAGE;
				goto out;
			}
			nrg_session_close(ls);
			ls = NULL;
			rc = run_adaptive(s, st, argv, lo, hi, tolerance, repeat, def);
			goto out;
		}
		if (expand_limits(limits, gpu, w, sizeof w / sizeof *w, &nw) < 0) {
			error("--power-limit %s: give W values (a,b,c), ranges (min:max:step), percentages of "
			      "the default limit (60%%:100%%:10%%) or 'all'", limits);
			if (gpu->limit_default_uw <= 0)
				hint("%s does not say its default or range", gpu->id);
			rc = NRG_EXIT_USAGE;
			goto out;
		}
		for (size_t i = 0; i < nw; i++)
			if ((gpu->limit_min_uw > 0 && w[i] * 1e6 < (double)gpu->limit_min_uw - 5e5) ||
			    (gpu->limit_max_uw > 0 && w[i] * 1e6 > (double)gpu->limit_max_uw + 5e5)) {
				error("--power-limit: %.0f W is outside %s's range %.0f..%.0f W", w[i], gpu->id,
				      (double)gpu->limit_min_uw * 1e-6, (double)gpu->limit_max_uw * 1e-6);
				rc = NRG_EXIT_USAGE;
				goto out;
			}
		cmd = runner_command_json(argv);
		spec = spec_json_of(s, w, nw, ps, np, repeat, order, (unsigned)seed,
				    (double)gpu->limit_default_uw * 1e-6, baseline_s, warmup, 0);
	}
	nrg_session_close(ls);
	ls = NULL;
	if (!cmd || !spec || !(pts = make_points(w, nw, ps, np, repeat, !strcmp(order, "random"), (unsigned)seed,
						  baseline_s > 0, warmup, &npts)))
		goto out;
	if (nrg_store_sweep_create(st, cmd, spec, pts, npts, &id) < 0) {
		error("cannot store the sweep in %s", s->db);
		goto out;
	}
	fprintf(stderr, "nrg: sweep %lld: %zu runs (%zu limits", (long long)id, npts, nw);
	for (size_t i = 0; i < np; i++)
		fprintf(stderr, " x %zu %s", ps[i].n, ps[i].name);
	fprintf(stderr, " x %d repetitions%s)\n", repeat, baseline_s > 0 || warmup ? " + baseline/warm-up" : "");
	rc = run_points(s, st, id, argv, baseline_s);
out:
	for (size_t i = 0; i < np; i++) {
		free(ps[i].name);
		sweep_strings_free(ps[i].values);
	}
	nrg_sweep_points_free(pts, npts);
	nrg_sweep_info_free(&si);
	sweep_strings_free(cargv);
	free(cmd);
	free(spec);
	nrg_session_close(ls);
	nrg_store_close(st);
	return rc;
}
