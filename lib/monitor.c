/* monitor.c - measure this process's own regions in-process, without nrg run. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "events.h"
#include "json.h"
#include "store.h"

/* One monitor per process: the same pipeline as nrg run (session, recorder, store, report),
 * with the process's events going to an anonymous ring instead of a shared one. */
static struct {
	pthread_mutex_t lock;
	bool on;
	nrg_session *s;
	nrg_store *st;
	nrg_recorder *rec;
	struct nrg_ring *ring;
	int64_t run;
	uint64_t t_start;
	int64_t wall_start;
	char *tmp_db; /* removed at stop */
} mon = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The process's command line as a JSON array (best effort). */
static char *cmdline_json(void)
{
	char buf[4096], *out = NULL;
	size_t len = 0, n;
	FILE *f = fopen("/proc/self/cmdline", "r"), *m;

	n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = 0;
	if (!(m = open_memstream(&out, &len)))
		return NULL;
	fputc('[', m);
	for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
		char *q = nrg_json_quote(buf + i);

		fprintf(m, "%s%s", i ? "," : "", q ? q : "\"\"");
		free(q);
	}
	fputc(']', m);
	fclose(m);
	return out;
}

static void teardown(void)
{
	nrg__events_local(NULL);
	nrg_recorder_stop(mon.rec);
	nrg_ring_destroy(mon.ring);
	nrg_store_close(mon.st);
	nrg_session_close(mon.s);
	if (mon.tmp_db) {
		char p[600];

		unlink(mon.tmp_db);
		snprintf(p, sizeof p, "%s-wal", mon.tmp_db);
		unlink(p);
		snprintf(p, sizeof p, "%s-shm", mon.tmp_db);
		unlink(p);
		free(mon.tmp_db);
	}
	mon.rec = NULL;
	mon.ring = NULL;
	mon.st = NULL;
	mon.s = NULL;
	mon.tmp_db = NULL;
	mon.on = false;
}

int nrg_monitor_start(const struct nrg_options *opt, const char *db_path, uint64_t interval_us,
		      char *err, size_t errlen)
{
	struct nrg_run_info ri = { .exit_status = -1 };
	struct timeval tv;
	int r;

	pthread_mutex_lock(&mon.lock);
	if (mon.on || (getenv("NRG_EVENTS") && *getenv("NRG_EVENTS"))) {
		snprintf(err, errlen, mon.on ? "a monitor is already running in this process"
					     : "this process runs under nrg run, which records its regions");
		pthread_mutex_unlock(&mon.lock);
		return -EALREADY;
	}
	if (!db_path) {
		char tmpl[] = "/tmp/nrg-monitor-XXXXXX";
		int fd = mkstemp(tmpl);

		if (fd < 0) {
			r = -errno;
			snprintf(err, errlen, "cannot create a temporary database: %s", strerror(errno));
			pthread_mutex_unlock(&mon.lock);
			return r;
		}
		close(fd);
		mon.tmp_db = strdup(tmpl);
		db_path = mon.tmp_db;
	}
	if ((r = nrg_session_open(&mon.s, opt, err, errlen)) < 0 || (r = nrg_store_open(&mon.st, db_path, err, errlen)) < 0 ||
	    (r = nrg_ring_create(&mon.ring, NULL, NRG_RING_DEFAULT_CAP, err, errlen)) < 0)
		goto fail;
	if (gethostname(ri.host, sizeof ri.host) < 0)
		ri.host[0] = 0;
	ri.host[sizeof ri.host - 1] = 0;
	ri.command_json = cmdline_json();
	ri.interval_us = interval_us ? interval_us : 100000;
	snprintf(ri.state, sizeof ri.state, "running");
	snprintf(ri.nrg_version, sizeof ri.nrg_version, "%s", NRG_VERSION);
	r = nrg_store_run_create(mon.st, mon.s, &ri, &mon.run);
	nrg_run_info_free(&ri);
	if (r < 0) {
		snprintf(err, errlen, "cannot record the run in %s", db_path);
		goto fail;
	}
	if ((r = nrg_recorder_start(&mon.rec, mon.s, mon.st, mon.run, interval_us ? interval_us : 100000, err,
				    errlen)) < 0)
		goto fail;
	nrg__recorder_events(mon.rec, mon.ring);
	nrg__events_local(mon.ring);
	nrg_recorder_mark(mon.rec, &mon.t_start);
	gettimeofday(&tv, NULL);
	mon.wall_start = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
	nrg_recorder_settle(mon.rec, 2, 500000, NULL, NULL);
	mon.on = true;
	pthread_mutex_unlock(&mon.lock);
	return 0;
fail:
	teardown();
	pthread_mutex_unlock(&mon.lock);
	return r;
}

int nrg_monitor_stop(struct nrg_report **out, char *err, size_t errlen)
{
	uint64_t t_end;
	int r;

	*out = NULL;
	pthread_mutex_lock(&mon.lock);
	if (!mon.on) {
		snprintf(err, errlen, "no monitor is running in this process");
		pthread_mutex_unlock(&mon.lock);
		return -ENOENT;
	}
	nrg_recorder_mark(mon.rec, &t_end);
	nrg_recorder_settle(mon.rec, 2, 500000, NULL, NULL);
	nrg__events_local(NULL);
	r = nrg_recorder_stop(mon.rec);
	mon.rec = NULL;
	if (r == 0)
		r = nrg_store_run_finish(mon.st, mon.run, mon.t_start, t_end, mon.wall_start, 0);
	if (r == 0)
		r = nrg_report_build(mon.st, mon.run, out, err, errlen);
	else
		snprintf(err, errlen, "cannot store the monitor's samples");
	teardown();
	pthread_mutex_unlock(&mon.lock);
	return r;
}
