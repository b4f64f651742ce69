/* json.c - a small streaming JSON writer for the reports and exports. */
/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

void nrg_json_begin(struct nrg_json *j, FILE *f, bool pretty)
{
	memset(j, 0, sizeof *j);
	j->f = f;
	j->pretty = pretty;
	j->first[0] = true;
}

static void put_escaped(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

char *nrg_json_quote(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	put_escaped(f, s ? s : "");
	fclose(f);
	return buf;
}

static void sep(struct nrg_json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	if (j->pretty && j->depth) {
		fputc('\n', j->f);
		for (int i = 0; i < j->depth; i++)
			fputs("  ", j->f);
	}
	if (key) {
		put_escaped(j->f, key);
		fputs(j->pretty ? ": " : ":", j->f);
	}
}

static void open_(struct nrg_json *j, const char *key, char c)
{
	sep(j, key);
	fputc(c, j->f);
	if (j->depth < 31)
		j->depth++;
	j->first[j->depth] = true;
}

static void close_(struct nrg_json *j, char c)
{
	bool empty = j->first[j->depth];

	if (j->depth)
		j->depth--;
	if (j->pretty && !empty) {
		fputc('\n', j->f);
		for (int i = 0; i < j->depth; i++)
			fputs("  ", j->f);
	}
	fputc(c, j->f);
}

void nrg_json_obj(struct nrg_json *j, const char *key) { open_(j, key, '{'); }
void nrg_json_arr(struct nrg_json *j, const char *key) { open_(j, key, '['); }
void nrg_json_end_obj(struct nrg_json *j) { close_(j, '}'); }
void nrg_json_end_arr(struct nrg_json *j) { close_(j, ']'); }

void nrg_json_str(struct nrg_json *j, const char *key, const char *v)
{
	sep(j, key);
	if (v)
		put_escaped(j->f, v);
	else
		fputs("null", j->f);
}

void nrg_json_num(struct nrg_json *j, const char *key, double v)
{
	sep(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.10g", v);
	else
		fputs("null", j->f);
}

void nrg_json_int(struct nrg_json *j, const char *key, long long v)
{
	sep(j, key);
	fprintf(j->f, "%lld", v);
}

void nrg_json_bool(struct nrg_json *j, const char *key, bool v)
{
	sep(j, key);
	fputs(v ? "true" : "false", j->f);
}

void nrg_json_null(struct nrg_json *j, const char *key)
{
	sep(j, key);
	fputs("null", j->f);
}

void nrg_json_done(struct nrg_json *j)
{
	fputc('\n', j->f);
	fflush(j->f);
}
