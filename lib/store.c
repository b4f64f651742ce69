/* store.c - the SQLite store: schema and migrations, runs, devices, channels, sample blocks. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "err.h"
#include "store.h"

/*
 * One database file holds every run. It is opened in WAL mode so that readers (nrg report) never
 * block the writer and two `nrg run` processes can record into the same file: each write is a
 * short BEGIN IMMEDIATE transaction, retried while the other process holds the write lock.
 * synchronous=NORMAL in WAL mode keeps every committed transaction across a process crash
 * (SIGKILL); only a power loss can drop the last commits.
 *
 * Threading: a handle is used by one thread at a time. While recording, the recorder's writer
 * thread owns the handle given to nrg_recorder_start(); other threads open their own.
 *
 * Samples live in compact per-channel blocks (block.h): `blocks` holds each block's summary
 * (small rows, so summing a week-long run reads a few MB), `block_data` its encoded readings.
 */

/* Forward migrations: entry i takes the schema from user_version i to i + 1. To change the
 * schema, append an entry; never edit one that has shipped. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;"
	"CREATE TABLE runs("
	" id INTEGER PRIMARY KEY,"
	" host TEXT NOT NULL,"
	" command TEXT,"          /* JSON array of argv strings */
	" start_wall_us INTEGER," /* µs since the epoch at start_mono_us */
	" start_mono_us INTEGER," /* CLOCK_MONOTONIC µs bracketing the samples */
	" end_mono_us INTEGER,"
	" interval_us INTEGER,"
	" exit_status INTEGER,"   /* NULL while running or unknown */
	" state TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done')),"
	" nrg_version TEXT,"
	" settings TEXT,"         /* JSON object */
	" pid INTEGER,"
	" pid_start INTEGER,"     /* the process's start time (/proc/PID/stat field 22) */
	" events_lost INTEGER NOT NULL DEFAULT 0," /* events dropped by a full ring */
	" created_at INTEGER NOT NULL);" /* µs since the epoch */
	"CREATE TABLE devices("
	" run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	" idx INTEGER NOT NULL,"
	" id TEXT NOT NULL, kind TEXT NOT NULL, role TEXT NOT NULL,"
	" parent INTEGER,"        /* idx of the containing/duplicated device, NULL if none */
	" vendor TEXT, name TEXT, source TEXT, uuid TEXT, bus_id TEXT, path TEXT,"
	" visible INTEGER NOT NULL, estimated INTEGER NOT NULL, caps INTEGER NOT NULL,"
	" rated_uw INTEGER, limit_min_uw INTEGER, limit_max_uw INTEGER, limit_default_uw INTEGER,"
	" note TEXT,"
	" PRIMARY KEY (run_id, idx)) WITHOUT ROWID;"
	"CREATE TABLE channels("
	" run_id INTEGER NOT NULL,"
	" idx INTEGER NOT NULL,"
	" device INTEGER NOT NULL,"
	" name TEXT NOT NULL, quantity TEXT NOT NULL, unit TEXT NOT NULL,"
	" range_uj INTEGER,"      /* energy counters: wrap value, 0 = never; NULL otherwise */
	" update_us INTEGER, window_us INTEGER," /* NULL if unknown */
	" slow INTEGER NOT NULL, preferred INTEGER NOT NULL,"
	" PRIMARY KEY (run_id, idx),"
	" FOREIGN KEY (run_id, device) REFERENCES devices(run_id, idx) ON DELETE CASCADE) WITHOUT ROWID;"
	"CREATE TABLE blocks("
	" run_id INTEGER NOT NULL, channel INTEGER NOT NULL, seq INTEGER NOT NULL,"
	" t_first INTEGER NOT NULL, t_last INTEGER NOT NULL," /* CLOCK_MONOTONIC µs */
	" n INTEGER NOT NULL, n_valid INTEGER NOT NULL,"
	" v_min INTEGER, v_max INTEGER,"        /* NULL when no valid reading */
	" cum_first REAL, cum_last REAL,"       /* cumulative µJ; NULL when no valid reading */
	" covered_us INTEGER NOT NULL,"
	" PRIMARY KEY (run_id, channel, seq),"
	" FOREIGN KEY (run_id, channel) REFERENCES channels(run_id, idx) ON DELETE CASCADE) WITHOUT ROWID;"
	"CREATE INDEX blocks_time ON blocks(run_id, channel, t_last);"
	"CREATE TABLE block_data("
	" run_id INTEGER NOT NULL, channel INTEGER NOT NULL, seq INTEGER NOT NULL,"
	" data BLOB NOT NULL,"
	" PRIMARY KEY (run_id, channel, seq));"
	"CREATE TABLE events("
	" run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	" seq INTEGER NOT NULL,"  /* order of arrival per run */
	" t_us INTEGER NOT NULL," /* CLOCK_MONOTONIC µs where the event happened */
	" pid INTEGER, tid INTEGER,"
	" type TEXT NOT NULL CHECK (type IN ('begin', 'end', 'units', 'mark')),"
	" kind TEXT,"             /* train, eval, infer, other */
	" name TEXT,"
	" epoch INTEGER, step INTEGER," /* NULL when not given */
	" units REAL, unit TEXT,"
	" PRIMARY KEY (run_id, seq)) WITHOUT ROWID;"
	"CREATE INDEX events_time ON events(run_id, t_us);"
	"CREATE INDEX events_name ON events(run_id, name, t_us);"
	"INSERT INTO meta(key, value) VALUES ('created_by', 'nrg " NRG_VERSION "');",
	/* 1 -> 2: power-limit sweeps (nrg sweep) and their points */
	"CREATE TABLE sweeps("
	" id INTEGER PRIMARY KEY,"
	" created_us INTEGER NOT NULL,"  /* µs since the epoch */
	" command TEXT NOT NULL,"        /* JSON array of argv strings */
	" spec TEXT NOT NULL,"           /* JSON object: limits, parameters, repeat, order, ... */
	" state TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'interrupted')));"
	"CREATE TABLE sweep_points("
	" sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,"
	" idx INTEGER NOT NULL,"         /* order of execution */
	" kind TEXT NOT NULL DEFAULT 'run' CHECK (kind IN ('run', 'baseline', 'warmup')),"
	" limit_uw INTEGER,"             /* NULL: the default limit */
	" params TEXT NOT NULL,"         /* JSON object NAME -> value */
	" rep INTEGER NOT NULL,"
	" run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,"
	" status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),"
	" exit_status INTEGER,"
	" PRIMARY KEY (sweep_id, idx)) WITHOUT ROWID;",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof *migrations))

enum {
	S_BEGIN, S_COMMIT, S_ROLLBACK,
	S_PUT_BLOCK, S_PUT_DATA, S_BLOCKS, S_SUMMARIES,
	S_RUN_INSERT, S_DEV_INSERT, S_CHAN_INSERT, S_RUN_FINISH, S_DEV_NOTE,
	S_RUNS, S_RUN_GET, S_LATEST, S_DEVS, S_CHANS,
	S_EV_INSERT, S_EV_SELECT, S_EV_LOST,
	S_COUNT
};

#define RUN_COLS "id, host, command, start_wall_us, start_mono_us, end_mono_us, interval_us," \
		 " exit_status, state, nrg_version, settings, pid, events_lost, pid_start"
#define BLOCK_COLS "b.channel, b.seq, b.t_first, b.t_last, b.n, b.n_valid, b.v_min, b.v_max," \
		   " b.cum_first, b.cum_last, b.covered_us"

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_PUT_BLOCK] = "INSERT OR REPLACE INTO blocks(run_id, channel, seq, t_first, t_last, n,"
			" n_valid, v_min, v_max, cum_first, cum_last, covered_us)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[S_PUT_DATA] = "INSERT OR REPLACE INTO block_data(run_id, channel, seq, data) VALUES (?1, ?2, ?3, ?4)",
	/* blocks_time orders by (t_last, seq): time order without a sort; t is monotonic per channel */
	[S_BLOCKS] = "SELECT " BLOCK_COLS ", d.data FROM blocks b"
		     " JOIN block_data d ON d.run_id = b.run_id AND d.channel = b.channel AND d.seq = b.seq"
		     " WHERE b.run_id = ?1 AND b.channel = ?2 AND b.t_last >= ?3 AND b.t_first <= ?4"
		     " ORDER BY b.t_last, b.seq",
	[S_SUMMARIES] = "SELECT " BLOCK_COLS " FROM blocks b"
			" WHERE b.run_id = ?1 AND b.channel = ?2 AND b.t_last >= ?3 AND b.t_first <= ?4"
			" ORDER BY b.t_last, b.seq",
	[S_RUN_INSERT] = "INSERT INTO runs(host, command, start_wall_us, start_mono_us, interval_us,"
			 " state, nrg_version, settings, pid, created_at, pid_start)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6, ?7, ?8, ?9, ?10)",
	[S_DEV_INSERT] = "INSERT INTO devices(run_id, idx, id, kind, role, parent, vendor, name, source,"
			 " uuid, bus_id, path, visible, estimated, caps, rated_uw, limit_min_uw,"
			 " limit_max_uw, limit_default_uw, note)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
			 " ?17, ?18, ?19, ?20)",
	[S_CHAN_INSERT] = "INSERT INTO channels(run_id, idx, device, name, quantity, unit, range_uj,"
			  " update_us, window_us, slow, preferred)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[S_RUN_FINISH] = "UPDATE runs SET start_mono_us = ?2, end_mono_us = ?3, start_wall_us = ?4,"
			 " exit_status = ?5, state = 'done' WHERE id = ?1",
	[S_DEV_NOTE] = "UPDATE devices SET note = ?3 WHERE run_id = ?1 AND idx = ?2",
	[S_RUNS] = "SELECT " RUN_COLS " FROM runs ORDER BY id DESC",
	[S_RUN_GET] = "SELECT " RUN_COLS " FROM runs WHERE id = ?1",
	[S_LATEST] = "SELECT max(id) FROM runs",
	[S_DEVS] = "SELECT idx, id, kind, role, parent, vendor, name, source, uuid, bus_id, path,"
		   " visible, estimated, caps, rated_uw, limit_min_uw, limit_max_uw, limit_default_uw,"
		   " note FROM devices WHERE run_id = ?1 ORDER BY idx",
	[S_CHANS] = "SELECT idx, device, name, quantity, range_uj, update_us, window_us, slow, preferred"
		    " FROM channels WHERE run_id = ?1 ORDER BY idx",
	[S_EV_INSERT] = "INSERT INTO events(run_id, seq, t_us, pid, tid, type, kind, name, epoch, step, units, unit)"
			" VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM events WHERE run_id = ?1),"
			" ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[S_EV_SELECT] = "SELECT t_us, pid, tid, type, kind, name, epoch, step, units, unit FROM events"
			" WHERE run_id = ?1 ORDER BY t_us, seq",
	[S_EV_LOST] = "UPDATE runs SET events_lost = events_lost + ?2 WHERE id = ?1",
};

struct nrg_store {
	sqlite3 *db;
	sqlite3_stmt *stmt[S_COUNT]; /* prepared once at open */
};

static const char *const quantity_names[] = { "energy", "power", "util", "clock", "temp", "limit" };

#define BEGIN_TRIES 6 /* each try waits up to the busy timeout */
#define BUSY_TIMEOUT_MS 10000

/* ---- helpers ------------------------------------------------------------------------------ */

static int errno_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return -EINVAL;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EILSEQ;
	default:
		return -EIO;
	}
}


/* Copy a possibly NULL column string into a fixed buffer (truncating). */
static void col_str(sqlite3_stmt *s, int col, char *dst, size_t n)
{
	const unsigned char *src = sqlite3_column_text(s, col);
	size_t len = src ? strlen((const char *)src) : 0;

	if (len >= n)
		len = n - 1;
	if (len)
		memcpy(dst, src, len);
	dst[len] = '\0';
}

static char *col_strdup(sqlite3_stmt *s, int col)
{
	const unsigned char *src = sqlite3_column_text(s, col);

	return src ? strdup((const char *)src) : NULL;
}

static int64_t col_i64(sqlite3_stmt *s, int col, int64_t if_null)
{
	return sqlite3_column_type(s, col) == SQLITE_NULL ? if_null : sqlite3_column_int64(s, col);
}

/* Bind a string, or NULL when it is NULL or empty (unknown). */
static int bind_opt_text(sqlite3_stmt *s, int i, const char *v)
{
	return v && *v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

static int bind_opt_i64(sqlite3_stmt *s, int i, bool known, int64_t v)
{
	return known ? sqlite3_bind_int64(s, i, v) : sqlite3_bind_null(s, i);
}

/* A CLOCK_MONOTONIC time as an SQL integer (clamped to INT64_MAX for "until the end"). */
static int64_t t_sql(uint64_t t)
{
	return t > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)t;
}

static void stmt_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Step a statement that returns no row, then reset it. Returns 0 or -errno. */
static int step_done(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	stmt_done(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : errno_of(rc);
}

/* The cached statement k, or a fresh one when the cached one is in use (a callback of
 * nrg_store_blocks() querying the store again). *fresh says whether to finalize it. */
static int stmt_get(nrg_store *st, int k, sqlite3_stmt **out, bool *fresh)
{
	*fresh = false;
	*out = st->stmt[k];
	if (!sqlite3_stmt_busy(*out))
		return 0;
	*fresh = true;
	return errno_of(sqlite3_prepare_v2(st->db, stmt_sql[k], -1, out, NULL));
}

static void stmt_put(sqlite3_stmt *s, bool fresh)
{
	if (fresh)
		sqlite3_finalize(s);
	else
		stmt_done(s);
}

static int64_t wall_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void this_host(char *buf, size_t n)
{
	if (gethostname(buf, n) < 0)
		buf[0] = '\0';
	buf[n - 1] = '\0';
}

/* ---- open, migrate, close ----------------------------------------------------------------- */

static int exec_sql(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* BEGIN IMMEDIATE on a raw connection, retrying while another writer holds the lock. */
static int begin_immediate(sqlite3 *db)
{
	int rc = SQLITE_BUSY;

	for (int i = 0; i < BEGIN_TRIES && (rc & 0xff) == SQLITE_BUSY; i++)
		rc = exec_sql(db, "BEGIN IMMEDIATE");
	return rc;
}

static int user_version(sqlite3 *db, int *v)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);

	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int(s, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc;
}

/* Bring the schema to SCHEMA_VERSION. Another process may migrate at the same moment: the
 * version is re-read under the write lock. */
static int migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	int v = 0, rc;
	char sql[64];

	if ((rc = user_version(db, &v)) != SQLITE_OK)
		goto fail;
	if (v == SCHEMA_VERSION)
		return 0;
	if ((rc = begin_immediate(db)) != SQLITE_OK)
		goto fail;
	if ((rc = user_version(db, &v)) != SQLITE_OK)
		goto fail_tx;
	if (v > SCHEMA_VERSION) {
		exec_sql(db, "ROLLBACK");
		nrg__seterr(err, errlen,
			"database %s has schema version %d, newer than this nrg understands (%d): "
			"upgrade nrg or use another database (set --db or NRG_DB)", path, v, SCHEMA_VERSION);
		return -EPROTO;
	}
	for (; v < SCHEMA_VERSION; v++)
		if ((rc = exec_sql(db, migrations[v])) != SQLITE_OK)
			goto fail_tx;
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", SCHEMA_VERSION);
	if ((rc = exec_sql(db, sql)) != SQLITE_OK || (rc = exec_sql(db, "COMMIT")) != SQLITE_OK)
		goto fail_tx;
	return 0;
fail_tx:
	nrg__seterr(err, errlen, "cannot set up database %s (schema version %d): %s", path, v + 1,
		sqlite3_errmsg(db));
	exec_sql(db, "ROLLBACK");
	return errno_of(rc) ? errno_of(rc) : -EIO;
fail:
	nrg__seterr(err, errlen, "cannot open database %s: %s (set --db or NRG_DB)", path, sqlite3_errmsg(db));
	return errno_of(rc) ? errno_of(rc) : -EIO;
}

int nrg_store_open(nrg_store **out, const char *path, char *err, size_t errlen)
{
	nrg_store *st;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int rc, r;

	*out = NULL;
	if (!path || !*path) {
		nrg__seterr(err, errlen, "no database path given (set --db or NRG_DB)");
		return -EINVAL;
	}
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		int e = db ? sqlite3_system_errno(db) : 0;

		nrg__seterr(err, errlen, "cannot open database %s: %s (set --db or NRG_DB)", path,
			e ? strerror(e) : db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return e ? -e : errno_of(rc) ? errno_of(rc) : -EIO;
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	/* journal_mode needs the lock briefly when another process is creating the file too */
	/* Switching a new file to WAL needs an exclusive lock and fails with SQLITE_BUSY at once,
	 * without the busy handler, while another process opens it too: retry with short sleeps
	 * for up to the busy timeout. */
	rc = SQLITE_BUSY;
	for (int i = 0; i < BUSY_TIMEOUT_MS / 5 && (rc & 0xff) == SQLITE_BUSY; i++) {
		struct timespec ms5 = { 0, 5000000L };

		if (i)
			nanosleep(&ms5, NULL);
		rc = exec_sql(db, "PRAGMA journal_mode=WAL");
	}
	if (rc == SQLITE_OK)
		rc = exec_sql(db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON");
	if (rc != SQLITE_OK) {
		nrg__seterr(err, errlen, "cannot open database %s: %s (set --db or NRG_DB)", path,
			sqlite3_errmsg(db));
		r = errno_of(rc) ? errno_of(rc) : -EIO;
		sqlite3_close(db);
		return r;
	}
	if ((r = migrate(db, path, err, errlen)) < 0) {
		sqlite3_close(db);
		return r;
	}
	st = calloc(1, sizeof *st);
	if (!st) {
		sqlite3_close(db);
		return -ENOMEM;
	}
	st->db = db;
	for (int k = 0; k < S_COUNT; k++) {
		rc = sqlite3_prepare_v3(db, stmt_sql[k], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
		if (rc != SQLITE_OK) {
			nrg__seterr(err, errlen, "cannot use database %s: %s", path, sqlite3_errmsg(db));
			nrg_store_close(st);
			return errno_of(rc) ? errno_of(rc) : -EIO;
		}
		st->stmt[k] = s;
	}
	*out = st;
	return 0;
}

void nrg_store_close(nrg_store *st)
{
	if (!st)
		return;
	for (int k = 0; k < S_COUNT; k++)
		sqlite3_finalize(st->stmt[k]);
	sqlite3_close(st->db); /* rolls back an unfinished batch */
	free(st);
}

/* Check the database file's integrity (PRAGMA integrity_check). Returns 0 when it is sound,
 * -EILSEQ with SQLite's first complaint in err when not, or another -errno. */
int nrg_store_check(nrg_store *st, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(st->db, "PRAGMA integrity_check", -1, &s, NULL);
	int r = 0;

	if (rc != SQLITE_OK)
		return errno_of(rc);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		r = errno_of(rc) ? errno_of(rc) : -EIO;
		nrg__seterr(err, errlen, "integrity check failed: %s", sqlite3_errmsg(st->db));
	} else {
		const unsigned char *msg = sqlite3_column_text(s, 0);

		if (!msg || strcmp((const char *)msg, "ok") != 0) {
			r = -EILSEQ;
			nrg__seterr(err, errlen, "database is damaged: %s", msg ? (const char *)msg : "?");
		}
	}
	sqlite3_finalize(s);
	return r;
}

/* ---- batches and blocks ------------------------------------------------------------------- */

int nrg_store_batch_begin(nrg_store *st)
{
	int rc = SQLITE_BUSY;

	for (int i = 0; i < BEGIN_TRIES && (rc & 0xff) == SQLITE_BUSY; i++) {
		rc = sqlite3_step(st->stmt[S_BEGIN]);
		sqlite3_reset(st->stmt[S_BEGIN]);
	}
	return rc == SQLITE_DONE ? 0 : errno_of(rc) ? errno_of(rc) : -EIO;
}

int nrg_store_batch_commit(nrg_store *st)
{
	int rc = SQLITE_BUSY;

	if (sqlite3_get_autocommit(st->db))
		return 0; /* no batch open */
	for (int i = 0; i < BEGIN_TRIES && (rc & 0xff) == SQLITE_BUSY; i++) {
		rc = sqlite3_step(st->stmt[S_COMMIT]);
		sqlite3_reset(st->stmt[S_COMMIT]);
	}
	if (rc == SQLITE_DONE)
		return 0;
	if (!sqlite3_get_autocommit(st->db)) {
		sqlite3_step(st->stmt[S_ROLLBACK]);
		sqlite3_reset(st->stmt[S_ROLLBACK]);
	}
	return errno_of(rc) ? errno_of(rc) : -EIO;
}

int nrg_store_put_block(nrg_store *st, int64_t run_id, const struct nrg_block_row *row)
{
	sqlite3_stmt *b = st->stmt[S_PUT_BLOCK], *d = st->stmt[S_PUT_DATA];
	bool any = row->n_valid > 0;
	int r;

	if (!row->data || !row->len || row->len > INT32_MAX)
		return -EINVAL;
	sqlite3_bind_int64(b, 1, run_id);
	sqlite3_bind_int(b, 2, row->channel);
	sqlite3_bind_int64(b, 3, row->seq);
	sqlite3_bind_int64(b, 4, t_sql(row->t_first));
	sqlite3_bind_int64(b, 5, t_sql(row->t_last));
	sqlite3_bind_int64(b, 6, row->n);
	sqlite3_bind_int64(b, 7, row->n_valid);
	bind_opt_i64(b, 8, any, row->v_min);
	bind_opt_i64(b, 9, any, row->v_max);
	if (any) {
		sqlite3_bind_double(b, 10, row->cum_first);
		sqlite3_bind_double(b, 11, row->cum_last);
	} else {
		sqlite3_bind_null(b, 10);
		sqlite3_bind_null(b, 11);
	}
	sqlite3_bind_int64(b, 12, t_sql(row->covered_us));
	if ((r = step_done(b)) < 0)
		return r;
	sqlite3_bind_int64(d, 1, run_id);
	sqlite3_bind_int(d, 2, row->channel);
	sqlite3_bind_int64(d, 3, row->seq);
	sqlite3_bind_blob(d, 4, row->data, (int)row->len, SQLITE_STATIC);
	return step_done(d);
}

static void row_from(sqlite3_stmt *s, struct nrg_block_row *row, bool with_data)
{
	row->channel = sqlite3_column_int(s, 0);
	row->seq = sqlite3_column_int64(s, 1);
	row->t_first = (uint64_t)sqlite3_column_int64(s, 2);
	row->t_last = (uint64_t)sqlite3_column_int64(s, 3);
	row->n = (uint32_t)sqlite3_column_int64(s, 4);
	row->n_valid = (uint32_t)sqlite3_column_int64(s, 5);
	row->v_min = col_i64(s, 6, 0);
	row->v_max = col_i64(s, 7, 0);
	row->cum_first = sqlite3_column_double(s, 8); /* NULL reads as 0.0 */
	row->cum_last = sqlite3_column_double(s, 9);
	row->covered_us = (uint64_t)sqlite3_column_int64(s, 10);
	if (with_data) {
		row->data = sqlite3_column_blob(s, 11);
		row->len = (size_t)sqlite3_column_bytes(s, 11);
	} else {
		row->data = NULL;
		row->len = 0;
	}
}

static int each_block(nrg_store *st, int k, int64_t run_id, int channel, uint64_t t0_us,
		      uint64_t t1_us, nrg_block_cb cb, void *ctx)
{
	sqlite3_stmt *s;
	bool fresh;
	int rc, r = 0;

	if ((r = stmt_get(st, k, &s, &fresh)) < 0)
		return r;
	sqlite3_bind_int64(s, 1, run_id);
	sqlite3_bind_int(s, 2, channel);
	sqlite3_bind_int64(s, 3, t_sql(t0_us));
	sqlite3_bind_int64(s, 4, t_sql(t1_us));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct nrg_block_row row;

		row_from(s, &row, k == S_BLOCKS);
		if ((r = cb(&row, ctx)) != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = errno_of(rc) ? errno_of(rc) : -EIO;
	stmt_put(s, fresh);
	return r;
}

int nrg_store_blocks(nrg_store *st, int64_t run_id, int channel, uint64_t t0_us, uint64_t t1_us,
		     nrg_block_cb cb, void *ctx)
{
	return each_block(st, S_BLOCKS, run_id, channel, t0_us, t1_us, cb, ctx);
}

/* As nrg_store_blocks(), but the rows carry the summaries only (row->data NULL, len 0): reading
 * a long run's summaries touches a small fraction of the file. Returns 0, cb's non-zero return,
 * or -errno. */
int nrg_store_block_summaries(nrg_store *st, int64_t run_id, int channel, uint64_t t0_us,
			      uint64_t t1_us, nrg_block_cb cb, void *ctx)
{
	return each_block(st, S_SUMMARIES, run_id, channel, t0_us, t1_us, cb, ctx);
}

/* ---- runs, devices, channels -------------------------------------------------------------- */

static int put_device(nrg_store *st, int64_t run_id, size_t i, const struct nrg_device_info *d)
{
	sqlite3_stmt *s = st->stmt[S_DEV_INSERT];

	sqlite3_bind_int64(s, 1, run_id);
	sqlite3_bind_int64(s, 2, (int64_t)i);
	sqlite3_bind_text(s, 3, d->id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 4, nrg_kind_name(d->kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, nrg_role_name(d->role), -1, SQLITE_STATIC);
	bind_opt_i64(s, 6, d->parent >= 0, d->parent);
	bind_opt_text(s, 7, d->vendor);
	bind_opt_text(s, 8, d->name);
	bind_opt_text(s, 9, d->source);
	bind_opt_text(s, 10, d->uuid);
	bind_opt_text(s, 11, d->bus_id);
	bind_opt_text(s, 12, d->path);
	sqlite3_bind_int(s, 13, d->visible);
	sqlite3_bind_int(s, 14, d->estimated);
	sqlite3_bind_int64(s, 15, d->caps);
	bind_opt_i64(s, 16, d->rated_uw >= 0, d->rated_uw);
	bind_opt_i64(s, 17, d->limit_min_uw >= 0, d->limit_min_uw);
	bind_opt_i64(s, 18, d->limit_max_uw >= 0, d->limit_max_uw);
	bind_opt_i64(s, 19, d->limit_default_uw >= 0, d->limit_default_uw);
	bind_opt_text(s, 20, d->note);
	return step_done(s);
}

static int put_channel(nrg_store *st, int64_t run_id, size_t i, const struct nrg_channel_info *c)
{
	sqlite3_stmt *s = st->stmt[S_CHAN_INSERT];
	bool known_q = (unsigned)c->quantity < sizeof quantity_names / sizeof *quantity_names;

	sqlite3_bind_int64(s, 1, run_id);
	sqlite3_bind_int64(s, 2, (int64_t)i);
	sqlite3_bind_int(s, 3, c->device);
	sqlite3_bind_text(s, 4, c->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 5, known_q ? quantity_names[c->quantity] : "unknown", -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, nrg_quantity_unit(c->quantity), -1, SQLITE_STATIC);
	bind_opt_i64(s, 7, c->quantity == NRG_Q_ENERGY, t_sql(c->range_uj));
	bind_opt_i64(s, 8, c->update_us > 0, c->update_us);
	bind_opt_i64(s, 9, c->window_us > 0, c->window_us);
	sqlite3_bind_int(s, 10, c->slow);
	sqlite3_bind_int(s, 11, c->preferred);
	return step_done(s);
}

/* Start time of a process in clock ticks since boot (/proc/PID/stat field 22), or 0. With the
 * pid it names a process uniquely: pids are recycled, start times are not. */
static uint64_t proc_start(pid_t pid)
{
	char path[64], buf[1024];
	FILE *f;
	size_t n;
	const char *p;
	unsigned long long v = 0;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	/* the command name may hold spaces and ')': fields restart after the last ')' */
	if (!(p = strrchr(buf, ')')))
		return 0;
	p++;
	for (int field = 3; field < 22 && p; field++) /* p is before field `field` */
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %llu", &v) != 1)
		return 0;
	return v;
}

int nrg_store_run_create(nrg_store *st, nrg_session *s, struct nrg_run_info *ri, int64_t *run_id)
{
	sqlite3_stmt *q = st->stmt[S_RUN_INSERT];
	bool own_tx = sqlite3_get_autocommit(st->db);
	int64_t id;
	int r;

	if (!ri->host[0])
		this_host(ri->host, sizeof ri->host);
	if (!ri->nrg_version[0])
		snprintf(ri->nrg_version, sizeof ri->nrg_version, "%s", NRG_VERSION);
	if (own_tx && (r = nrg_store_batch_begin(st)) < 0)
		return r;
	sqlite3_bind_text(q, 1, ri->host, -1, SQLITE_TRANSIENT);
	bind_opt_text(q, 2, ri->command_json);
	bind_opt_i64(q, 3, ri->start_wall_us != 0, ri->start_wall_us);
	bind_opt_i64(q, 4, ri->start_mono_us != 0, t_sql(ri->start_mono_us));
	bind_opt_i64(q, 5, ri->interval_us != 0, t_sql(ri->interval_us));
	sqlite3_bind_text(q, 6, ri->nrg_version, -1, SQLITE_TRANSIENT);
	bind_opt_text(q, 7, ri->settings_json);
	sqlite3_bind_int64(q, 8, (int64_t)getpid());
	sqlite3_bind_int64(q, 9, wall_now_us());
	bind_opt_i64(q, 10, true, (int64_t)proc_start(getpid()));
	if ((r = step_done(q)) < 0)
		goto fail;
	id = sqlite3_last_insert_rowid(st->db);
	for (size_t i = 0; s && i < nrg_device_count(s); i++)
		if ((r = put_device(st, id, i, nrg_device_get(s, i))) < 0)
			goto fail;
	for (size_t i = 0; s && i < nrg_channel_count(s); i++)
		if ((r = put_channel(st, id, i, nrg_channel_get(s, i))) < 0)
			goto fail;
	if (own_tx && (r = nrg_store_batch_commit(st)) < 0)
		return r;
	ri->id = id;
	ri->exit_status = -1;
	snprintf(ri->state, sizeof ri->state, "running");
	if (run_id)
		*run_id = id;
	return 0;
fail:
	if (own_tx && !sqlite3_get_autocommit(st->db))
		step_done(st->stmt[S_ROLLBACK]);
	return r;
}

int nrg_store_run_finish(nrg_store *st, int64_t run_id, uint64_t start_mono_us, uint64_t end_mono_us,
			 int64_t start_wall_us, int exit_status)
{
	sqlite3_stmt *s = st->stmt[S_RUN_FINISH];
	int r;

	sqlite3_bind_int64(s, 1, run_id);
	bind_opt_i64(s, 2, start_mono_us != 0, t_sql(start_mono_us));
	bind_opt_i64(s, 3, end_mono_us != 0, t_sql(end_mono_us));
	bind_opt_i64(s, 4, start_wall_us != 0, start_wall_us);
	bind_opt_i64(s, 5, exit_status >= 0, exit_status);
	if ((r = step_done(s)) < 0)
		return r;
	return sqlite3_changes(st->db) == 1 ? 0 : -ENOENT;
}

int nrg_store_device_note(nrg_store *st, int64_t run_id, int device, const char *note)
{
	sqlite3_stmt *s = st->stmt[S_DEV_NOTE];
	int r;

	sqlite3_bind_int64(s, 1, run_id);
	sqlite3_bind_int(s, 2, device);
	bind_opt_text(s, 3, note);
	if ((r = step_done(s)) < 0)
		return r;
	return sqlite3_changes(st->db) == 1 ? 0 : -ENOENT;
}

void nrg_run_info_free(struct nrg_run_info *ri)
{
	if (!ri)
		return;
	free(ri->command_json);
	free(ri->settings_json);
	ri->command_json = ri->settings_json = NULL;
}

/* Fill ri from a row of RUN_COLS. A run still 'running' whose process is gone from this host
 * never finished: it is reported as "killed". */
static int run_from(sqlite3_stmt *s, struct nrg_run_info *ri, const char *host)
{
	int64_t pid;

	memset(ri, 0, sizeof *ri);
	ri->id = sqlite3_column_int64(s, 0);
	col_str(s, 1, ri->host, sizeof ri->host);
	ri->command_json = col_strdup(s, 2);
	ri->start_wall_us = col_i64(s, 3, 0);
	ri->start_mono_us = (uint64_t)col_i64(s, 4, 0);
	ri->end_mono_us = (uint64_t)col_i64(s, 5, 0);
	ri->interval_us = (uint64_t)col_i64(s, 6, 0);
	ri->exit_status = (int)col_i64(s, 7, -1);
	col_str(s, 8, ri->state, sizeof ri->state);
	col_str(s, 9, ri->nrg_version, sizeof ri->nrg_version);
	ri->settings_json = col_strdup(s, 10);
	pid = col_i64(s, 11, 0);
	if ((sqlite3_column_type(s, 2) != SQLITE_NULL && !ri->command_json) ||
	    (sqlite3_column_type(s, 10) != SQLITE_NULL && !ri->settings_json)) {
		nrg_run_info_free(ri);
		return -ENOMEM;
	}
	ri->events_lost = (uint64_t)col_i64(s, 12, 0);
	/* Gone, or the pid now belongs to another process (a different start time). */
	if (strcmp(ri->state, "running") == 0 && pid > 0 && pid <= INT32_MAX && strcmp(ri->host, host) == 0 &&
	    ((kill((pid_t)pid, 0) < 0 && errno == ESRCH) ||
	     (sqlite3_column_type(s, 13) != SQLITE_NULL && proc_start((pid_t)pid) != (uint64_t)col_i64(s, 13, 0))))
		snprintf(ri->state, sizeof ri->state, "killed");
	return 0;
}

int nrg_store_runs(nrg_store *st, struct nrg_run_info **out, size_t *n)
{
	sqlite3_stmt *s;
	struct nrg_run_info *v = NULL;
	size_t cnt = 0, cap = 0;
	char host[64];
	bool fresh;
	int rc, r;

	*out = NULL;
	*n = 0;
	this_host(host, sizeof host);
	if ((r = stmt_get(st, S_RUNS, &s, &fresh)) < 0)
		return r;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct nrg_run_info *p = realloc(v, nc * sizeof *v);

			if (!p) {
				r = -ENOMEM;
				break;
			}
			v = p;
			cap = nc;
		}
		if ((r = run_from(s, &v[cnt], host)) < 0)
			break;
		cnt++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = errno_of(rc) ? errno_of(rc) : -EIO;
	stmt_put(s, fresh);
	if (r < 0) {
		nrg_runs_free(v, cnt);
		return r;
	}
	*out = v;
	*n = cnt;
	return 0;
}

void nrg_runs_free(struct nrg_run_info *runs, size_t n)
{
	for (size_t i = 0; runs && i < n; i++)
		nrg_run_info_free(&runs[i]);
	free(runs);
}

int nrg_store_latest_run(nrg_store *st, int64_t *run_id)
{
	sqlite3_stmt *s;
	bool fresh;
	int rc, r;

	if ((r = stmt_get(st, S_LATEST, &s, &fresh)) < 0)
		return r;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		*run_id = sqlite3_column_int64(s, 0);
	else
		r = rc == SQLITE_ROW ? -ENOENT : errno_of(rc) ? errno_of(rc) : -EIO;
	stmt_put(s, fresh);
	return r;
}

int nrg_store_run_get(nrg_store *st, int64_t run_id, struct nrg_run_info *out)
{
	sqlite3_stmt *s;
	char host[64];
	bool fresh;
	int rc, r;

	this_host(host, sizeof host);
	if ((r = stmt_get(st, S_RUN_GET, &s, &fresh)) < 0)
		return r;
	sqlite3_bind_int64(s, 1, run_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		r = run_from(s, out, host);
	else
		r = rc == SQLITE_DONE ? -ENOENT : errno_of(rc) ? errno_of(rc) : -EIO;
	stmt_put(s, fresh);
	return r;
}

static int name_index(const char *name, const char *(*fn)(int), int n, int if_unknown)
{
	for (int i = 0; i < n; i++)
		if (strcmp(fn(i), name) == 0)
			return i;
	return if_unknown;
}

static const char *kind_at(int i) { return nrg_kind_name((enum nrg_kind)i); }
static const char *role_at(int i) { return nrg_role_name((enum nrg_role)i); }
static const char *quantity_at(int i) { return quantity_names[i]; }

static void device_from(sqlite3_stmt *s, struct nrg_device_info *d)
{
	char buf[32];

	memset(d, 0, sizeof *d);
	col_str(s, 1, d->id, sizeof d->id);
	col_str(s, 2, buf, sizeof buf);
	d->kind = (enum nrg_kind)name_index(buf, kind_at, NRG_KIND_OTHER + 1, NRG_KIND_OTHER);
	col_str(s, 3, buf, sizeof buf);
	d->role = (enum nrg_role)name_index(buf, role_at, NRG_ROLE_OTHER + 1, NRG_ROLE_OTHER);
	d->parent = (int)col_i64(s, 4, -1);
	col_str(s, 5, d->vendor, sizeof d->vendor);
	col_str(s, 6, d->name, sizeof d->name);
	col_str(s, 7, d->source, sizeof d->source);
	col_str(s, 8, d->uuid, sizeof d->uuid);
	col_str(s, 9, d->bus_id, sizeof d->bus_id);
	col_str(s, 10, d->path, sizeof d->path);
	d->visible = sqlite3_column_int(s, 11) != 0;
	d->estimated = sqlite3_column_int(s, 12) != 0;
	d->caps = (uint32_t)sqlite3_column_int64(s, 13);
	d->rated_uw = col_i64(s, 14, -1);
	d->limit_min_uw = col_i64(s, 15, -1);
	d->limit_max_uw = col_i64(s, 16, -1);
	d->limit_default_uw = col_i64(s, 17, -1);
	col_str(s, 18, d->note, sizeof d->note);
}

static void channel_from(sqlite3_stmt *s, struct nrg_channel_info *c)
{
	char buf[32];
	int nq = (int)(sizeof quantity_names / sizeof *quantity_names);

	memset(c, 0, sizeof *c);
	c->device = sqlite3_column_int(s, 1);
	col_str(s, 2, c->name, sizeof c->name);
	col_str(s, 3, buf, sizeof buf);
	/* an unknown quantity (a newer nrg's) is kept out of energy sums as a utilisation */
	c->quantity = (enum nrg_quantity)name_index(buf, quantity_at, nq, NRG_Q_UTIL);
	c->range_uj = (uint64_t)col_i64(s, 4, 0);
	c->update_us = (uint32_t)col_i64(s, 5, 0);
	c->window_us = (uint32_t)col_i64(s, 6, 0);
	c->slow = sqlite3_column_int(s, 7) != 0;
	c->preferred = sqlite3_column_int(s, 8) != 0;
}

/* Read every row of a layout query into a growing array of elements of size sz. */
static int read_rows(nrg_store *st, int k, int64_t run_id, size_t sz,
		     void (*fill)(sqlite3_stmt *, void *), void **out, size_t *n)
{
	sqlite3_stmt *s;
	char *v = NULL;
	size_t cnt = 0, cap = 0;
	bool fresh;
	int rc, r;

	*out = NULL;
	*n = 0;
	if ((r = stmt_get(st, k, &s, &fresh)) < 0)
		return r;
	sqlite3_bind_int64(s, 1, run_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 16;
			char *p = realloc(v, nc * sz);

			if (!p) {
				r = -ENOMEM;
				break;
			}
			v = p;
			cap = nc;
		}
		fill(s, v + cnt * sz);
		cnt++;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = errno_of(rc) ? errno_of(rc) : -EIO;
	stmt_put(s, fresh);
	if (r < 0) {
		free(v);
		return r;
	}
	*out = v;
	*n = cnt;
	return 0;
}

static void fill_device(sqlite3_stmt *s, void *p) { device_from(s, p); }
static void fill_channel(sqlite3_stmt *s, void *p) { channel_from(s, p); }

int nrg_store_run_layout(nrg_store *st, int64_t run_id, struct nrg_device_info **devs, size_t *nd,
			 struct nrg_channel_info **chans, size_t *nc)
{
	void *d, *c;
	int r;

	*devs = NULL;
	*chans = NULL;
	*nd = *nc = 0;
	if ((r = read_rows(st, S_DEVS, run_id, sizeof **devs, fill_device, &d, nd)) < 0)
		return r;
	if ((r = read_rows(st, S_CHANS, run_id, sizeof **chans, fill_channel, &c, nc)) < 0) {
		free(d);
		*nd = 0;
		return r;
	}
	*devs = d;
	*chans = c;
	return 0;
}

/* ---- events ------------------------------------------------------------------------------- */

static const char *const event_types[] = { "", "begin", "end", "units", "mark" };

int nrg_store_put_events(nrg_store *st, int64_t run_id, const struct nrg_event *ev, size_t n)
{
	sqlite3_stmt *s = st->stmt[S_EV_INSERT];
	int r;

	for (size_t i = 0; i < n; i++) {
		const struct nrg_event *e = &ev[i];

		if (e->type < NRG_EV_BEGIN || e->type > NRG_EV_MARK)
			continue;
		sqlite3_bind_int64(s, 1, run_id);
		sqlite3_bind_int64(s, 2, (int64_t)e->t_us);
		sqlite3_bind_int(s, 3, e->pid);
		sqlite3_bind_int(s, 4, e->tid);
		sqlite3_bind_text(s, 5, event_types[e->type], -1, SQLITE_STATIC);
		if (e->type == NRG_EV_BEGIN)
			sqlite3_bind_text(s, 6, nrg_region_kind_name(e->kind), -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(s, 6);
		bind_opt_text(s, 7, e->name);
		bind_opt_i64(s, 8, e->epoch >= 0, e->epoch);
		bind_opt_i64(s, 9, e->step >= 0, e->step);
		if (e->type == NRG_EV_UNITS) {
			sqlite3_bind_double(s, 10, e->units);
			bind_opt_text(s, 11, e->unit);
		} else {
			sqlite3_bind_null(s, 10);
			sqlite3_bind_null(s, 11);
		}
		if ((r = step_done(s)) < 0)
			return r;
	}
	return 0;
}

int nrg_store_events(nrg_store *st, int64_t run_id, struct nrg_event **out, size_t *n)
{
	sqlite3_stmt *s;
	bool fresh;
	struct nrg_event *v = NULL;
	size_t len = 0, cap = 0;
	int r, rc;

	*out = NULL;
	*n = 0;
	if ((r = stmt_get(st, S_EV_SELECT, &s, &fresh)) < 0)
		return r;
	sqlite3_bind_int64(s, 1, run_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct nrg_event *e;
		const char *type = (const char *)sqlite3_column_text(s, 3);

		if (len == cap) {
			size_t nc = cap ? cap * 2 : 256;
			struct nrg_event *nv = realloc(v, nc * sizeof *nv);

			if (!nv) {
				rc = SQLITE_NOMEM;
				break;
			}
			v = nv;
			cap = nc;
		}
		e = &v[len];
		memset(e, 0, sizeof *e);
		e->t_us = (uint64_t)sqlite3_column_int64(s, 0);
		e->pid = sqlite3_column_int(s, 1);
		e->tid = sqlite3_column_int(s, 2);
		for (int t = NRG_EV_BEGIN; t <= NRG_EV_MARK; t++)
			if (type && !strcmp(type, event_types[t]))
				e->type = (enum nrg_event_type)t;
		if (!e->type)
			continue;
		if (sqlite3_column_type(s, 4) != SQLITE_NULL)
			nrg_region_kind_parse((const char *)sqlite3_column_text(s, 4), &e->kind);
		if (sqlite3_column_type(s, 5) != SQLITE_NULL)
			snprintf(e->name, sizeof e->name, "%s", (const char *)sqlite3_column_text(s, 5));
		e->epoch = sqlite3_column_type(s, 6) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 6);
		e->step = sqlite3_column_type(s, 7) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 7);
		e->units = sqlite3_column_double(s, 8);
		if (sqlite3_column_type(s, 9) != SQLITE_NULL)
			snprintf(e->unit, sizeof e->unit, "%s", (const char *)sqlite3_column_text(s, 9));
		len++;
	}
	stmt_put(s, fresh);
	if (rc != SQLITE_DONE) {
		free(v);
		return errno_of(rc) ? errno_of(rc) : -EIO;
	}
	*out = v;
	*n = len;
	return 0;
}

int nrg_store_events_lost(nrg_store *st, int64_t run_id, uint64_t lost)
{
	sqlite3_stmt *s = st->stmt[S_EV_LOST];

	sqlite3_bind_int64(s, 1, run_id);
	sqlite3_bind_int64(s, 2, (int64_t)lost);
	return step_done(s);
}

/* ---- sweeps ------------------------------------------------------------------------------- */

static const char *const point_kinds[] = { "run", "baseline", "warmup" };

/* Prepare sql on the store's connection (not cached: sweeps are small and rare). */
static int prep(nrg_store *st, const char *sql, sqlite3_stmt **s)
{
	int rc = sqlite3_prepare_v2(st->db, sql, -1, s, NULL);

	return rc == SQLITE_OK ? 0 : errno_of(rc) ? errno_of(rc) : -EIO;
}

int nrg_store_sweep_create(nrg_store *st, const char *command_json, const char *spec_json,
			   const struct nrg_sweep_point *pts, size_t n, int64_t *sweep_id)
{
	sqlite3_stmt *s = NULL;
	int64_t id;
	int r;

	if ((r = nrg_store_batch_begin(st)) < 0)
		return r;
	if ((r = prep(st, "INSERT INTO sweeps(created_us, command, spec) VALUES (?1, ?2, ?3)", &s)) < 0)
		goto fail;
	sqlite3_bind_int64(s, 1, wall_now_us());
	sqlite3_bind_text(s, 2, command_json, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 3, spec_json, -1, SQLITE_TRANSIENT);
	r = step_done(s);
	sqlite3_finalize(s);
	if (r < 0)
		goto fail;
	id = sqlite3_last_insert_rowid(st->db);
	if ((r = prep(st, "INSERT INTO sweep_points(sweep_id, idx, kind, limit_uw, params, rep)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &s)) < 0)
		goto fail;
	for (size_t i = 0; i < n && r == 0; i++) {
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int(s, 2, pts[i].idx);
		sqlite3_bind_text(s, 3, point_kinds[pts[i].kind], -1, SQLITE_STATIC);
		bind_opt_i64(s, 4, pts[i].limit_uw > 0, pts[i].limit_uw);
		sqlite3_bind_text(s, 5, pts[i].params_json ? pts[i].params_json : "{}", -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(s, 6, pts[i].rep);
		r = step_done(s);
	}
	sqlite3_finalize(s);
	if (r < 0)
		goto fail;
	if ((r = nrg_store_batch_commit(st)) < 0)
		return r;
	*sweep_id = id;
	return 0;
fail:
	if (!sqlite3_get_autocommit(st->db))
		step_done(st->stmt[S_ROLLBACK]);
	return r;
}

int nrg_store_sweep_get(nrg_store *st, int64_t sweep_id, struct nrg_sweep_info *out)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	memset(out, 0, sizeof *out);
	if ((r = prep(st, "SELECT id, created_us, command, spec, state FROM sweeps WHERE id = ?1", &s)) < 0)
		return r;
	sqlite3_bind_int64(s, 1, sweep_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->id = sqlite3_column_int64(s, 0);
		out->created_us = sqlite3_column_int64(s, 1);
		out->command_json = col_strdup(s, 2);
		out->spec_json = col_strdup(s, 3);
		col_str(s, 4, out->state, sizeof out->state);
		if (!out->command_json || !out->spec_json) {
			nrg_sweep_info_free(out);
			r = -ENOMEM;
		}
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : errno_of(rc) ? errno_of(rc) : -EIO;
	}
	sqlite3_finalize(s);
	return r;
}

void nrg_sweep_info_free(struct nrg_sweep_info *si)
{
	if (!si)
		return;
	free(si->command_json);
	free(si->spec_json);
	si->command_json = si->spec_json = NULL;
}

int nrg_store_latest_sweep(nrg_store *st, int64_t *sweep_id)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	if ((r = prep(st, "SELECT max(id) FROM sweeps", &s)) < 0)
		return r;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		*sweep_id = sqlite3_column_int64(s, 0);
	else
		r = rc == SQLITE_ROW ? -ENOENT : errno_of(rc) ? errno_of(rc) : -EIO;
	sqlite3_finalize(s);
	return r;
}

int nrg_store_sweep_points(nrg_store *st, int64_t sweep_id, struct nrg_sweep_point **out, size_t *n)
{
	sqlite3_stmt *s = NULL;
	struct nrg_sweep_point *v = NULL;
	size_t cnt = 0, cap = 0;
	int r, rc;

	*out = NULL;
	*n = 0;
	if ((r = prep(st, "SELECT idx, kind, limit_uw, params, rep, run_id, status, exit_status"
			  " FROM sweep_points WHERE sweep_id = ?1 ORDER BY idx", &s)) < 0)
		return r;
	sqlite3_bind_int64(s, 1, sweep_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct nrg_sweep_point *p;
		char kind[16];

		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 32;
			struct nrg_sweep_point *q = realloc(v, nc * sizeof *v);

			if (!q) {
				r = -ENOMEM;
				break;
			}
			v = q;
			cap = nc;
		}
		p = &v[cnt];
		memset(p, 0, sizeof *p);
		p->idx = sqlite3_column_int(s, 0);
		col_str(s, 1, kind, sizeof kind);
		p->kind = !strcmp(kind, "baseline") ? NRG_POINT_BASELINE : !strcmp(kind, "warmup") ? NRG_POINT_WARMUP
												  : NRG_POINT_RUN;
		p->limit_uw = col_i64(s, 2, -1);
		p->params_json = col_strdup(s, 3);
		p->rep = sqlite3_column_int(s, 4);
		p->run_id = col_i64(s, 5, 0);
		col_str(s, 6, p->status, sizeof p->status);
		p->exit_status = (int)col_i64(s, 7, -1);
		cnt++;
		if (!p->params_json) {
			r = -ENOMEM;
			break;
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = errno_of(rc) ? errno_of(rc) : -EIO;
	sqlite3_finalize(s);
	if (r < 0) {
		nrg_sweep_points_free(v, cnt);
		return r;
	}
	*out = v;
	*n = cnt;
	return 0;
}

void nrg_sweep_points_free(struct nrg_sweep_point *pts, size_t n)
{
	for (size_t i = 0; pts && i < n; i++)
		free(pts[i].params_json);
	free(pts);
}

int nrg_store_sweep_point_set(nrg_store *st, int64_t sweep_id, int idx, int64_t run_id, const char *status,
			      int exit_status)
{
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = prep(st, "UPDATE sweep_points SET run_id = ?3, status = ?4, exit_status = ?5"
			  " WHERE sweep_id = ?1 AND idx = ?2", &s)) < 0)
		return r;
	sqlite3_bind_int64(s, 1, sweep_id);
	sqlite3_bind_int(s, 2, idx);
	bind_opt_i64(s, 3, run_id > 0, run_id);
	sqlite3_bind_text(s, 4, status, -1, SQLITE_TRANSIENT);
	bind_opt_i64(s, 5, exit_status >= 0, exit_status);
	r = step_done(s);
	if (r == 0 && sqlite3_changes(st->db) != 1)
		r = -ENOENT;
	sqlite3_finalize(s);
	return r;
}

int nrg_store_sweep_state(nrg_store *st, int64_t sweep_id, const char *state)
{
	sqlite3_stmt *s = NULL;
	int r;

	if ((r = prep(st, "UPDATE sweeps SET state = ?2 WHERE id = ?1", &s)) < 0)
		return r;
	sqlite3_bind_int64(s, 1, sweep_id);
	sqlite3_bind_text(s, 2, state, -1, SQLITE_TRANSIENT);
	r = step_done(s);
	if (r == 0 && sqlite3_changes(st->db) != 1)
		r = -ENOENT;
	sqlite3_finalize(s);
	return r;
}
