/* main.c - the nrg command: global options, the command table, shared CLI helpers. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nrg-config.h"

static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("nrg: error: ", fmt, ap);
	va_end(ap);
}

void warning(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("nrg: warning: ", fmt, ap);
	va_end(ap);
}

void hint(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("hint: ", fmt, ap);
	va_end(ap);
}

void die_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("nrg: error: ", fmt, ap);
	va_end(ap);
	fprintf(stderr, "hint: see 'nrg %s --help'\n", cmd);
	exit(NRG_EXIT_USAGE);
}

nrg_store *open_store(const struct nrg_settings *s)
{
	nrg_store *st = NULL;
	char err[512] = "";
	int r = nrg_store_open(&st, s->db, err, sizeof err);

	if (r < 0) {
		error("%s", err[0] ? err : strerror(-r));
		hint("choose the database with --db PATH or NRG_DB");
		return NULL;
	}
	return st;
}

int resolve_run(nrg_store *st, const char *arg, int64_t *id)
{
	char *end;
	long long v;

	if (!arg || !strcmp(arg, "latest")) {
		if (nrg_store_latest_run(st, id) < 0) {
			error("the database holds no runs yet");
			hint("record one with 'nrg run -- COMMAND'");
			return -1;
		}
		return 0;
	}
	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno || *end || v <= 0) {
		error("'%s' is not a run id", arg);
		hint("'nrg runs' lists the stored runs");
		return -1;
	}
	*id = v;
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(int, char **, struct nrg_settings *);
	const char *help;
} commands[] = {
	{ "run", cmd_run, "run a command and measure the energy the node draws while it runs" },
	{ "list", cmd_list, "list every source nrg knows, what it found, and why not" },
	{ "runs", cmd_runs, "list the stored runs" },
	{ "report", cmd_report, "show the report of a stored run" },
	{ "export", cmd_export, "export a run's samples as CSV or JSON" },
	{ "mark", cmd_mark, "mark a region or an event of the running run (shell scripts)" },
	{ "restore", cmd_restore, "put back the power limits an earlier nrg changed (journal)" },
	{ "sweep", cmd_sweep, "run a command at several power limits and parameters, measured" },
	{ "model", cmd_model, "fit energy and runtime against the power limit of a sweep; recommend" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: nrg [--version] [--help] <command> [<args>]\n\n"
		   "Measure the energy a command draws from every sensor of the node.\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		fprintf(f, "   %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n'nrg <command> --help' tells more about a command; the manual is nrg(1).\n"
		   "example: nrg run -- python train.py\n");
}

int main(int argc, char **argv)
{
	struct nrg_settings s;
	char *help_argv[3] = { NULL, "--help", NULL };
	int rc;

	if (argc < 2) {
		usage(stderr);
		return NRG_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		if (argc > 2 && strcmp(argv[1], "help") == 0) {
			help_argv[0] = argv[2];
			argv = help_argv;
			argc = 2;
		} else {
			usage(stdout);
			return 0;
		}
	} else if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("nrg %s\n", NRG_VERSION_STR);
		return 0;
	} else {
		argv++;
		argc--;
	}
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
		if (strcmp(argv[0], commands[i].name))
			continue;
		if (strcmp(argv[0], "restore") && strcmp(argv[0], "list") &&
		    (argc < 2 || (strcmp(argv[1], "--help") && strcmp(argv[1], "-h")))) {
			char what[512];

			/* Start-up check: power limits an earlier nrg changed and never put back. */
			if (nrg_limit_pending(what, sizeof what))
				warning("power limits changed by an earlier nrg were not restored (%s); "
					"run 'nrg restore'", what);
		}
		if (settings_load(&s, "nrg") < 0) {
			settings_free(&s);
			return NRG_EXIT_FAIL;
		}
		rc = commands[i].fn(argc, argv, &s);
		settings_free(&s);
		return rc;
	}
	error("'%s' is not an nrg command", argv[0]);
	hint("see 'nrg --help'");
	return NRG_EXIT_USAGE;
}
