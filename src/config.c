/* config.c - settings from /etc/nrg.conf, the user's config file and the environment (INI). */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "nrg-config.h"

void settings_set(char **slot, const char *v)
{
	char *n = v ? strdup(v) : NULL;

	if (v && !n) {
		error("out of memory");
		exit(NRG_EXIT_FAIL);
	}
	free(*slot);
	*slot = n;
}

int parse_double(const char *s, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	while (*end == ' ' || *end == '\t')
		end++;
	if (errno || *end || !isfinite(v) || v < 0)
		return -1;
	*out = v;
	return 0;
}

int parse_duration_us(const char *s, uint64_t *out)
{
	char *end;
	double v, mult = 1000; /* a bare number is milliseconds */

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -1;
	if (!strcmp(end, "us"))
		mult = 1;
	else if (!strcmp(end, "ms") || !*end)
		mult = 1000;
	else if (!strcmp(end, "s"))
		mult = 1e6;
	else if (!strcmp(end, "min"))
		mult = 60e6;
	else
		return -1;
	if (v * mult > 1e15)
		return -1;
	*out = (uint64_t)llround(v * mult);
	return 0;
}

struct ini_ctx {
	struct nrg_settings *s;
	const char *file;
	int bad;
};

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
	struct ini_ctx *c = user;
	struct nrg_settings *s = c->s;
	double d;
	uint64_t us;

#define IS(sec, k) (!strcasecmp(section, sec) && !strcasecmp(key, k))
	if (IS("run", "interval")) {
		if (parse_duration_us(value, &us) < 0 || us < 1000) {
			error("%s: [run] interval = %s: not a duration of at least 1ms (e.g. 100ms)", c->file, value);
			c->bad = 1;
		} else {
			s->interval_us = us;
		}
	} else if (IS("run", "db")) {
		settings_set(&s->db, value);
	} else if (IS("run", "sources")) {
		settings_set(&s->sources, value);
	} else if (IS("run", "no_sources")) {
		settings_set(&s->no_sources, value);
	} else if (IS("run", "gpus")) {
		settings_set(&s->gpus, value);
	} else if (IS("run", "estimate")) {
		s->no_estimate = !strcasecmp(value, "no") || !strcasecmp(value, "false") || !strcmp(value, "0");
	} else if (IS("report", "currency")) {
		settings_set(&s->currency, value);
	} else if (IS("report", "grid_intensity") || IS("report", "price") || IS("report", "pue") ||
		   IS("rated", "node_watts") || IS("rated", "cpu_watts")) {
		if (parse_double(value, &d) < 0) {
			error("%s: [%s] %s = %s: not a non-negative number", c->file, section, key, value);
			c->bad = 1;
		} else if (IS("report", "grid_intensity")) {
			s->grid_g_per_kwh = d;
		} else if (IS("report", "price")) {
			s->price_per_kwh = d;
		} else if (IS("report", "pue")) {
			s->pue = d;
		} else if (IS("rated", "node_watts")) {
			s->rated_node_w = d;
		} else {
			s->rated_cpu_w = d;
		}
	} else {
		warning("%s: unknown setting [%s] %s, ignoring", c->file, section, key);
	}
#undef IS
	return 1;
}

/* Read one INI file if it exists. Returns 0, or -1 on a syntax or value error. */
static int read_file(struct nrg_settings *s, const char *path)
{
	struct ini_ctx c = { s, path, 0 };
	int r = ini_parse(path, on_entry, &c);

	if (r == -1)
		return 0; /* absent: fine */
	if (r == -2) {
		error("out of memory reading %s", path);
		return -1;
	}
	if (r > 0) {
		error("%s:%d: not a valid INI line", path, r);
		hint("lines are 'key = value' under a [section]; see nrg(1), CONFIGURATION");
		return -1;
	}
	for (size_t i = 0; i < sizeof s->loaded / sizeof *s->loaded; i++)
		if (!s->loaded[i]) {
			s->loaded[i] = strdup(path);
			break;
		}
	return c.bad ? -1 : 0;
}

int settings_load(struct nrg_settings *s, const char *prog)
{
	char path[4096];
	const char *env, *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
	double d;

	(void)prog;
	memset(s, 0, sizeof *s);
	s->interval_us = 100000;
	s->grid_g_per_kwh = s->price_per_kwh = s->pue = -1;
	s->rated_node_w = s->rated_cpu_w = -1;
	env = getenv("NRG_CONFIG");
	if (env) {
		/* An explicit file replaces the system and user files. */
		if (read_file(s, env) < 0)
			return -1;
	} else {
		if (read_file(s, NRG_SYSCONFDIR "/nrg.conf") < 0)
			return -1;
		if (xdg && *xdg)
			snprintf(path, sizeof path, "%s/nrg/config", xdg);
		else if (home && *home)
			snprintf(path, sizeof path, "%s/.config/nrg/config", home);
		else
			path[0] = 0;
		if (path[0] && read_file(s, path) < 0)
			return -1;
	}
	if ((env = getenv("NRG_DB")) && *env)
		settings_set(&s->db, env);
	if ((env = getenv("NRG_INTERVAL")) && *env) {
		uint64_t us;

		if (parse_duration_us(env, &us) < 0 || us < 1000) {
			error("NRG_INTERVAL=%s: not a duration of at least 1ms", env);
			return -1;
		}
		s->interval_us = us;
	}
	if ((env = getenv("NRG_GRID_INTENSITY")) && *env && parse_double(env, &d) == 0)
		s->grid_g_per_kwh = d;
	if ((env = getenv("NRG_PRICE")) && *env && parse_double(env, &d) == 0)
		s->price_per_kwh = d;
	if ((env = getenv("NRG_PUE")) && *env && parse_double(env, &d) == 0)
		s->pue = d;
	if (!s->db)
		settings_set(&s->db, "nrg.db");
	return 0;
}

void settings_free(struct nrg_settings *s)
{
	free(s->db);
	free(s->sources);
	free(s->no_sources);
	free(s->gpus);
	free(s->currency);
	for (size_t i = 0; i < sizeof s->loaded / sizeof *s->loaded; i++)
		free(s->loaded[i]);
	memset(s, 0, sizeof *s);
}
