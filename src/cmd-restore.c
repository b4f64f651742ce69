/* cmd-restore.c - nrg restore: put back the power limits an earlier nrg changed (from the journal). */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char restore_usage[] =
	"usage: nrg restore [--dry-run]\n"
	"\n"
	"Put back every power limit an earlier nrg changed and did not restore (it was killed, or the\n"
	"node crashed), from the journal nrg writes before each change. GPUs are found by UUID, CPU\n"
	"packages by their powercap zone. Needs root.\n"
	"\n"
	"options:\n"
	"      --dry-run       only say what would be put back\n"
	"  -h, --help          show this help\n";

static void describe(const nrg_session *se, const struct nrg_limit_entry *e, char *buf, size_t n)
{
	if (e->device >= 0)
		snprintf(buf, n, "%s (%s)", nrg_device_get(se, (size_t)e->device)->id, e->key);
	else
		snprintf(buf, n, "%s %s", e->source, e->key);
}

static void watts(int64_t uw, char *buf, size_t n)
{
	if (uw < 0)
		snprintf(buf, n, "unknown");
	else
		snprintf(buf, n, "%.0f W", (double)uw * 1e-6);
}

/* Whether key of source is still in the journal entries. */
static bool still_journaled(const struct nrg_limit_entry *e, size_t n, const struct nrg_limit_entry *x)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(e[i].source, x->source) && !strcmp(e[i].key, x->key))
			return true;
	return false;
}

int cmd_restore(int argc, char **argv, struct nrg_settings *s)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 } };
	struct nrg_options o = { .sources = "nvml,rapl" };
	struct nrg_limit_entry *before = NULL, *after = NULL;
	size_t n_before = 0, n_after = 0;
	bool dry = false;
	nrg_session *se = NULL;
	char err[512] = "", dev[224], from[32], to[32];
	unsigned restored = 0;
	int c, r, rc = 0;

	(void)s;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+hn", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': fputs(restore_usage, stdout); return 0;
		case 'n': dry = true; break;
		default: fprintf(stderr, "hint: see 'nrg restore --help'\n"); return NRG_EXIT_USAGE;
		}
	}
	if (optind < argc)
		die_usage("restore", "unexpected argument '%s'", argv[optind]);
	if (!nrg_limit_pending(NULL, 0)) {
		printf("nothing to restore: no power limit changed by nrg is pending\n");
		return 0;
	}
	if (nrg_session_open(&se, &o, err, sizeof err) < 0) {
		error("%s", err);
		return 1;
	}
	if ((r = nrg_limit_journal(se, &before, &n_before, err, sizeof err)) < 0) {
		error("%s", err[0] ? err : strerror(-r));
		nrg_session_close(se);
		return 1;
	}
	if (dry) {
		for (size_t i = 0; i < n_before; i++) {
			describe(se, &before[i], dev, sizeof dev);
			watts(before[i].current_uw, from, sizeof from);
			watts(before[i].original_uw, to, sizeof to);
			printf("would restore %s: from %s to %s%s\n", dev, from, to,
			       before[i].device < 0 ? " (device not found now)" : "");
		}
		goto out;
	}
	r = nrg_limit_restore(se, &restored, err, sizeof err);
	if (nrg_limit_journal(se, &after, &n_after, NULL, 0) < 0)
		n_after = 0;
	for (size_t i = 0; i < n_before; i++) {
		if (still_journaled(after, n_after, &before[i]))
			continue;
		describe(se, &before[i], dev, sizeof dev);
		watts(before[i].current_uw, from, sizeof from);
		watts(before[i].original_uw, to, sizeof to);
		printf("restored %s: from %s to %s\n", dev, from, to);
	}
	if (r < 0) {
		error("%s", err[0] ? err : strerror(-r));
		if (r == -EPERM)
			hint("run 'sudo nrg restore'");
		rc = 1;
	}
out:
	free(before);
	free(after);
	nrg_session_close(se);
	return rc;
}
