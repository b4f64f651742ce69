/* t-store.c - the SQLite store: schema, runs, layout, blocks, two writers at once, SIGKILL mid-run. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "session.h"
#include "store.h"
#include "../tap.h"

/* Defined in store.c; to be declared in store.h. */


static char dir[256];

static void db_path(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", dir, name);
}

/* ---- a session built by hand: three devices, four channels -------------------------------- */

static struct nrg_device_info devs[3] = {
	{ .id = "gpu0", .kind = NRG_KIND_GPU, .role = NRG_ROLE_COMPONENT, .parent = -1, .vendor = "nvidia",
	  .name = "Fake GPU", .source = "nvml", .uuid = "GPU-1234", .bus_id = "0000:01:00.0",
	  .visible = true, .caps = NRG_CAP_ENERGY | NRG_CAP_POWER_AVG, .rated_uw = 300000000,
	  .limit_min_uw = 100000000, .limit_max_uw = 350000000, .limit_default_uw = 300000000 },
	{ .id = "cpu0", .kind = NRG_KIND_CPU, .role = NRG_ROLE_COMPONENT, .parent = -1, .vendor = "intel",
	  .name = "Fake CPU", .source = "rapl", .path = "/sys/class/powercap/intel-rapl:0", .visible = true,
	  .caps = NRG_CAP_ENERGY, .rated_uw = -1, .limit_min_uw = -1, .limit_max_uw = -1,
	  .limit_default_uw = -1 },
	{ .id = "core0", .kind = NRG_KIND_CPU, .role = NRG_ROLE_PART, .parent = 1, .source = "rapl",
	  .visible = true, .estimated = true, .caps = NRG_CAP_ENERGY, .rated_uw = -1, .limit_min_uw = -1,
	  .limit_max_uw = -1, .limit_default_uw = -1, .note = "core of cpu0" },
};

static struct nrg_channel_info chans[4] = {
	{ .device = 0, .quantity = NRG_Q_POWER, .name = "power", .update_us = 100000, .window_us = 1000000,
	  .preferred = true },
	{ .device = 0, .quantity = NRG_Q_ENERGY, .name = "energy", .range_uj = 0 },
	{ .device = 1, .quantity = NRG_Q_ENERGY, .name = "energy", .range_uj = 262143328850u },
	{ .device = 0, .quantity = NRG_Q_TEMP, .name = "temp", .slow = true },
};

static struct nrg_session sess = { .dev = devs, .n_dev = 3, .chan = chans, .n_chan = 4 };

static int create_run(nrg_store *st, int64_t *id)
{
	struct nrg_run_info ri = { .command_json = "[\"train\",\"--epochs\",\"3\"]", .interval_us = 10000,
				   .start_wall_us = 1700000000000000 };
	return nrg_store_run_create(st, &sess, &ri, id);
}

/* ---- block helpers ------------------------------------------------------------------------ */

static struct nrg_block blk;
static uint8_t enc[64 + NRG_BLOCK_MAX * 20];

/* Encode a power block of n readings starting at t0 (10 ms apart) with sequence number seq. */
static struct nrg_block_row make_block(int channel, int64_t seq, uint64_t t0, size_t n, bool valid)
{
	struct nrg_block_row row;

	nrg_block_init(&blk, &chans[0], 1000000);
	blk.seq = seq;
	for (size_t i = 0; i < n; i++)
		nrg_block_push(&blk, t0 + i * 10000, 100000000 + (int64_t)(i % 5) * 1000000, valid);
	nrg_block_encode(&blk, channel, enc, sizeof enc, &row);
	return row;
}

struct collect {
	int n;
	int64_t seq[64];
	uint32_t count[64];
	bool has_data, decoded;
	int stop_after;
};

static int collect_cb(const struct nrg_block_row *row, void *ctx)
{
	struct collect *c = ctx;
	static uint64_t t[NRG_BLOCK_MAX];
	static int64_t v[NRG_BLOCK_MAX];
	static bool valid[NRG_BLOCK_MAX];

	if (c->n < 64) {
		c->seq[c->n] = row->seq;
		c->count[c->n] = row->n;
	}
	c->n++;
	c->has_data = row->data != NULL;
	if (row->data)
		c->decoded = nrg_block_decode(row, NRG_Q_POWER, t, v, valid, NULL, NRG_BLOCK_MAX) == (int)row->n;
	return c->stop_after && c->n == c->stop_after ? 42 : 0;
}

static int count_blocks(nrg_store *st, int64_t run, int channel, int *decoded)
{
	struct collect c = { 0 };
	int r = nrg_store_blocks(st, run, channel, 0, UINT64_MAX, collect_cb, &c);

	if (decoded)
		*decoded = c.decoded;
	return r < 0 ? r : c.n;
}

/* user_version from the file header (bytes 60..63, big-endian); valid after the last close. */
static int header_user_version(const char *path)
{
	unsigned char h[64];
	int fd = open(path, O_RDONLY);
	ssize_t got = fd >= 0 ? pread(fd, h, sizeof h, 0) : -1;

	if (fd >= 0)
		close(fd);
	if (got != (ssize_t)sizeof h)
		return -1;
	return (int)((unsigned)h[60] << 24 | (unsigned)h[61] << 16 | (unsigned)h[62] << 8 | h[63]);
}

/* Run SQL through the sqlite3 shell if there is one; its output lines, joined by spaces, go to out. */
static bool sql_shell(const char *path, const char *sql, char *out, size_t n)
{
	char cmd[1024];
	FILE *p;
	bool got = false;

	if (system("command -v sqlite3 >/dev/null 2>&1") != 0)
		return false;
	snprintf(cmd, sizeof cmd, "sqlite3 '%s' \"%s\"", path, sql);
	p = popen(cmd, "r");
	if (!p)
		return false;
	out[0] = '\0';
	for (size_t len = 0; len + 1 < n && fgets(out + len, (int)(n - len), p);) {
		got = true;
		len += strlen(out + len);
		if (len && out[len - 1] == '\n')
			out[len - 1] = ' ';
	}
	pclose(p);
	if (got) /* drop the trailing separator */
		out[strlen(out) - (strlen(out) && out[strlen(out) - 1] == ' ')] = '\0';
	return got;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_open_errors(void)
{
	char err[512] = "", path[512];
	nrg_store *st = NULL;
	int r, fd;

	db_path(path, sizeof path, "no-such-dir/x.db");
	r = nrg_store_open(&st, path, err, sizeof err);
	is_i64(r, -ENOENT, "open in a missing directory is -ENOENT");
	ok(st == NULL, "no handle on failure");
	ok(strstr(err, "cannot open database") && strstr(err, path) && strstr(err, "NRG_DB"),
	   "the message names the path and the fix: %s", err);

	db_path(path, sizeof path, "garbage.db");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	for (int i = 0; i < 64; i++)
		ok(write(fd, "this is not a database, not at all!", 32) == 32 || i, "write garbage");
	close(fd);
	err[0] = '\0';
	r = nrg_store_open(&st, path, err, sizeof err);
	ok(r < 0 && st == NULL, "a file that is not a database is refused (%d)", r);
	ok(strstr(err, "cannot open database") != NULL, "with a message: %s", err);
}

static void test_schema_and_runs(void)
{
	char err[512] = "", path[512], out[256];
	nrg_store *st = NULL;
	struct nrg_run_info ri = { 0 }, *runs = NULL;
	struct nrg_device_info *d = NULL;
	struct nrg_channel_info *c = NULL;
	size_t nd = 0, nc = 0, n = 0;
	int64_t id1 = 0, id2 = 0, latest = 0;
	char host[64] = "";

	gethostname(host, sizeof host);
	db_path(path, sizeof path, "runs.db");
	is_i64(nrg_store_open(&st, path, err, sizeof err), 0, "open creates the database %s", err);
	ok(access(path, F_OK) == 0, "the file exists");
	is_i64(nrg_store_latest_run(st, &latest), -ENOENT, "an empty store has no latest run");
	is_i64(nrg_store_runs(st, &runs, &n), 0, "list runs of an empty store");
	is_i64(n, 0, "no runs");
	nrg_runs_free(runs, n);

	is_i64(create_run(st, &id1), 0, "create run 1");
	ok(id1 > 0, "run 1 has an id");
	is_i64(nrg_store_run_get(st, id1, &ri), 0, "get run 1");
	is_str(ri.state, "running", "a new run is running (this process is alive)");
	is_str(ri.host, host, "host recorded");
	is_str(ri.command_json, "[\"train\",\"--epochs\",\"3\"]", "command JSON recorded");
	ok(ri.settings_json == NULL, "no settings: NULL");
	is_i64(ri.exit_status, -1, "exit status unknown while running");
	is_i64(ri.end_mono_us, 0, "no end while running");
	is_i64(ri.interval_us, 10000, "interval recorded");
	is_i64(ri.start_wall_us, 1700000000000000, "wall anchor recorded");
	is_str(ri.nrg_version, NRG_VERSION, "nrg version recorded");
	nrg_run_info_free(&ri);
	ok(ri.command_json == NULL, "nrg_run_info_free clears owned strings");

	is_i64(nrg_store_run_layout(st, id1, &d, &nd, &c, &nc), 0, "layout of run 1");
	is_i64(nd, 3, "3 devices stored");
	is_i64(nc, 4, "4 channels stored");
	if (nd == 3 && nc == 4) {
		bool same = true;

		for (size_t i = 0; i < 3; i++) {
			const struct nrg_device_info *a = &devs[i], *b = &d[i];
			same = same && !strcmp(a->id, b->id) && a->kind == b->kind && a->role == b->role &&
			       a->parent == b->parent && !strcmp(a->vendor, b->vendor) &&
			       !strcmp(a->name, b->name) && !strcmp(a->source, b->source) &&
			       !strcmp(a->uuid, b->uuid) && !strcmp(a->bus_id, b->bus_id) &&
			       !strcmp(a->path, b->path) && a->visible == b->visible &&
			       a->estimated == b->estimated && a->caps == b->caps && a->rated_uw == b->rated_uw &&
			       a->limit_min_uw == b->limit_min_uw && a->limit_max_uw == b->limit_max_uw &&
			       a->limit_default_uw == b->limit_default_uw && !strcmp(a->note, b->note);
		}
		ok(same, "devices read back field for field (unknown -1 stays -1)");
		same = true;
		for (size_t i = 0; i < 4; i++) {
			const struct nrg_channel_info *a = &chans[i], *b = &c[i];
			same = same && a->device == b->device && a->quantity == b->quantity &&
			       !strcmp(a->name, b->name) && a->range_uj == b->range_uj &&
			       a->update_us == b->update_us && a->window_us == b->window_us &&
			       a->slow == b->slow && a->preferred == b->preferred;
		}
		ok(same, "channels read back field for field");
	}
	free(d);
	free(c);

	is_i64(nrg_store_device_note(st, id1, 1, "lost at +12.3 s"), 0, "set a device note");
	is_i64(nrg_store_device_note(st, id1, 9, "x"), -ENOENT, "note of a missing device is -ENOENT");
	nrg_store_run_layout(st, id1, &d, &nd, &c, &nc);
	is_str(nd > 1 ? d[1].note : NULL, "lost at +12.3 s", "the note is stored");
	free(d);
	free(c);

	is_i64(nrg_store_run_finish(st, id1, 1000, 5001000, 1700000000000001, 3), 0, "finish run 1");
	is_i64(nrg_store_run_finish(st, 999, 1, 2, 3, 0), -ENOENT, "finishing a missing run is -ENOENT");
	nrg_store_run_get(st, id1, &ri);
	is_str(ri.state, "done", "finished run is done");
	is_i64(ri.exit_status, 3, "exit status stored");
	is_i64(ri.start_mono_us, 1000, "start bracket stored");
	is_i64(ri.end_mono_us, 5001000, "end bracket stored");
	nrg_run_info_free(&ri);

	is_i64(create_run(st, &id2), 0, "create run 2");
	ok(id2 > id1, "ids increase");
	is_i64(nrg_store_latest_run(st, &latest), 0, "latest run");
	is_i64(latest, id2, "latest is run 2");
	is_i64(nrg_store_runs(st, &runs, &n), 0, "list runs");
	is_i64(n, 2, "two runs");
	if (n == 2) {
		is_i64(runs[0].id, id2, "newest first");
		is_i64(runs[1].id, id1, "then the older one");
		is_str(runs[1].state, "done", "listed state");
	}
	nrg_runs_free(runs, n);
	is_i64(nrg_store_run_get(st, 12345, &ri), -ENOENT, "a missing run is -ENOENT");
	nrg_store_close(st);

	/* reopen: data kept, schema current */
	is_i64(header_user_version(path), 2, "PRAGMA user_version is the current schema version (2)");
	st = NULL;
	is_i64(nrg_store_open(&st, path, err, sizeof err), 0, "reopen");
	is_i64(nrg_store_runs(st, &runs, &n), 0, "list after reopen");
	is_i64(n, 2, "both runs kept across reopen");
	nrg_runs_free(runs, n);
	is_i64(nrg_store_check(st, err, sizeof err), 0, "integrity check ok %s", err);
	nrg_store_close(st);

	/* NULL, not 0 or -1, for unknown values */
	if (sql_shell(path, "SELECT count(*) FROM devices WHERE rated_uw IS NULL AND limit_min_uw IS NULL"
			    " AND parent IS NULL AND uuid IS NULL", out, sizeof out)) {
		is_str(out, "2", "unknown rated power, limits, parent and uuid are NULL in SQL");
		sql_shell(path, "SELECT count(*) FROM runs WHERE exit_status IS NULL AND state = 'running'",
			  out, sizeof out);
		is_str(out, "1", "a running run's exit status is NULL in SQL");
		sql_shell(path, "PRAGMA journal_mode", out, sizeof out);
		is_str(out, "wal", "the database is in WAL mode");
		sql_shell(path, "SELECT count(*) FROM channels WHERE range_uj IS NULL AND update_us IS NULL",
			  out, sizeof out);
		is_str(out, "2", "range_uj of non-energy channels and unknown update periods are NULL");
	} else {
		ok(1, "NULL checks # SKIP no sqlite3 shell");
	}
}

static void test_newer_schema(void)
{
	char err[512] = "", path[512];
	nrg_store *st = NULL;
	unsigned char v99[4] = { 0, 0, 0, 99 };
	int fd;

	db_path(path, sizeof path, "newer.db");
	is_i64(nrg_store_open(&st, path, err, sizeof err), 0, "create a database");
	nrg_store_close(st);
	fd = open(path, O_WRONLY);
	ok(fd >= 0 && pwrite(fd, v99, 4, 60) == 4, "stamp schema version 99 into the header");
	close(fd);
	st = NULL;
	is_i64(nrg_store_open(&st, path, err, sizeof err), -EPROTO, "a newer schema is refused");
	ok(strstr(err, "newer") != NULL, "saying so: %s", err);
}

static void test_blocks(void)
{
	char err[512] = "", path[512], out[256];
	nrg_store *st = NULL;
	struct nrg_block_row row;
	struct collect c;
	int64_t run = 0;
	int decoded = 0;

	db_path(path, sizeof path, "blocks.db");
	nrg_store_open(&st, path, err, sizeof err);
	ok(st != NULL, "open %s", err);
	if (!st)
		return;
	is_i64(create_run(st, &run), 0, "create run");

	/* seq 0 written while open (10 readings), then replaced when it has grown (100) */
	row = make_block(0, 0, 1000000, 10, true);
	is_i64(nrg_store_put_block(st, run, &row), 0, "put open block 0");
	row = make_block(0, 0, 1000000, 100, true); /* 1.00 s .. 1.99 s */
	is_i64(nrg_store_batch_begin(st), 0, "begin a batch");
	is_i64(nrg_store_put_block(st, run, &row), 0, "replace block 0");
	row = make_block(0, 1, 2000000, 100, true); /* 2.00 s .. 2.99 s */
	is_i64(nrg_store_put_block(st, run, &row), 0, "put block 1");
	row = make_block(0, 2, 3000000, 100, false); /* all missing */
	is_i64(nrg_store_put_block(st, run, &row), 0, "put block 2 (no valid readings)");
	row = make_block(3, 0, 1000000, 5, true);
	is_i64(nrg_store_put_block(st, run, &row), 0, "put a block of another channel");
	is_i64(nrg_store_batch_commit(st), 0, "commit");
	is_i64(nrg_store_put_block(st, run + 100, &row), -EINVAL, "a block of a missing run is refused");

	c = (struct collect){ 0 };
	is_i64(nrg_store_blocks(st, run, 0, 0, UINT64_MAX, collect_cb, &c), 0, "query all of channel 0");
	is_i64(c.n, 3, "three blocks (the replaced one once)");
	ok(c.seq[0] == 0 && c.seq[1] == 1 && c.seq[2] == 2, "in sequence order");
	is_i64(c.count[0], 100, "block 0 is the replacement");
	ok(c.has_data && c.decoded, "rows carry decodable data");

	c = (struct collect){ 0 };
	nrg_store_blocks(st, run, 0, 2500000, 2600000, collect_cb, &c);
	ok(c.n == 1 && c.seq[0] == 1, "a window inside block 1 finds block 1 only");
	c = (struct collect){ 0 };
	nrg_store_blocks(st, run, 0, 1990000, 2000000, collect_cb, &c);
	ok(c.n == 2 && c.seq[0] == 0 && c.seq[1] == 1, "a window touching two blocks' edges finds both");
	c = (struct collect){ 0 };
	nrg_store_blocks(st, run, 0, 0, 999999, collect_cb, &c);
	is_i64(c.n, 0, "a window before the run finds nothing");
	c = (struct collect){ 0 };
	nrg_store_blocks(st, run, 0, 3990001, UINT64_MAX, collect_cb, &c);
	is_i64(c.n, 0, "a window after the run finds nothing");
	c = (struct collect){ 0 };
	nrg_store_blocks(st, run, 3, 0, UINT64_MAX, collect_cb, &c);
	is_i64(c.n, 1, "channels are kept apart");

	c = (struct collect){ .stop_after = 2 };
	is_i64(nrg_store_blocks(st, run, 0, 0, UINT64_MAX, collect_cb, &c), 42, "a callback's non-zero return stops and is returned");
	is_i64(c.n, 2, "stopped after two");
	c = (struct collect){ 0 };
	is_i64(nrg_store_block_summaries(st, run, 0, 0, UINT64_MAX, collect_cb, &c), 0, "summaries");
	ok(c.n == 3 && !c.has_data, "summaries: three rows without data");
	is_i64(count_blocks(st, run, 0, &decoded), 3, "query again after a stopped query (statement reset)");
	nrg_store_close(st);

	if (sql_shell(path, "SELECT count(*) FROM blocks WHERE n_valid = 0 AND v_min IS NULL AND v_max IS NULL"
			    " AND cum_first IS NULL", out, sizeof out)) {
		is_str(out, "1", "a block without valid readings has NULL summaries");
		sql_shell(path, "EXPLAIN QUERY PLAN SELECT * FROM blocks b WHERE b.run_id = 1 AND b.channel = 0"
				" AND b.t_last >= 5 AND b.t_first <= 10 ORDER BY b.t_last, b.seq", out, sizeof out);
		ok(strstr(out, "blocks_time") != NULL && !strstr(out, "TEMP B-TREE"),
		   "overlap query uses the time index: %s", out);
	} else {
		ok(1, "NULL summaries # SKIP no sqlite3 shell");
	}
}

/* Child: open, create a run, write `batches` batches of one block per channel 0 and 2;
 * after each commit, write the count to fd (if >= 0). Exit status 0 on success. */
static int writer_child(const char *path, int batches, int ready_fd, int go_fd, int fd)
{
	char err[512] = "";
	nrg_store *st = NULL;
	int64_t run;
	char go;

	if (nrg_store_open(&st, path, err, sizeof err) < 0 || create_run(st, &run) < 0) {
		fprintf(stderr, "writer: %s\n", err[0] ? err : "cannot create the run");
		if (ready_fd >= 0 && write(ready_fd, "f", 1) != 1) /* never leave the parent waiting */
			return 2;
		return 1;
	}
	if (ready_fd >= 0 && write(ready_fd, "r", 1) != 1)
		return 2;
	if (go_fd >= 0 && read(go_fd, &go, 1) != 1)
		return 3;
	for (int b = 0; batches < 0 || b < batches; b++) {
		struct nrg_block_row row;

		if (nrg_store_batch_begin(st) < 0)
			return 4;
		for (int ch = 0; ch <= 2; ch += 2) {
			row = make_block(ch, b, 1000000 + (uint64_t)b * 100000, 10, true);
			if (nrg_store_put_block(st, run, &row) < 0)
				return 5;
		}
		if (nrg_store_batch_commit(st) < 0)
			return 6;
		if (fd >= 0 && write(fd, &b, sizeof b) != sizeof b)
			return 7;
	}
	nrg_store_run_finish(st, run, 1, 2, 3, 0);
	nrg_store_close(st);
	return 0;
}

static void test_concurrent(void)
{
	char err[512] = "", path[512];
	int ready[2], go[2], status[2] = { -1, -1 };
	pid_t pid[2];
	nrg_store *st = NULL;
	struct nrg_run_info *runs = NULL;
	size_t n = 0;
	char ch;

	db_path(path, sizeof path, "concurrent.db");
	if (pipe(ready) < 0 || pipe(go) < 0) {
		ok(0, "pipe");
		return;
	}
	for (int i = 0; i < 2; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			close(ready[0]);
			close(go[1]);
			_exit(writer_child(path, 200, ready[1], go[0], -1));
		}
	}
	close(ready[1]);
	close(go[0]);
	/* start both writers together */
	for (int i = 0; i < 2; i++)
		if (read(ready[0], &ch, 1) != 1)
			break;
	ok(write(go[1], "gg", 2) == 2, "two writers started together");
	close(go[1]);
	close(ready[0]);
	for (int i = 0; i < 2; i++)
		waitpid(pid[i], &status[i], 0);
	ok(WIFEXITED(status[0]) && WEXITSTATUS(status[0]) == 0, "writer 1 succeeded (status %d)", status[0]);
	ok(WIFEXITED(status[1]) && WEXITSTATUS(status[1]) == 0, "writer 2 succeeded (status %d)", status[1]);

	is_i64(nrg_store_open(&st, path, err, sizeof err), 0, "open the shared database");
	if (!st)
		return;
	nrg_store_runs(st, &runs, &n);
	is_i64(n, 2, "two runs");
	for (size_t i = 0; i < n; i++) {
		is_str(runs[i].state, "done", "run %zu finished", i);
		is_i64(count_blocks(st, runs[i].id, 0, NULL), 200, "run %zu: 200 blocks of channel 0", i);
		is_i64(count_blocks(st, runs[i].id, 2, NULL), 200, "run %zu: 200 blocks of channel 2", i);
	}
	nrg_runs_free(runs, n);
	is_i64(nrg_store_check(st, err, sizeof err), 0, "integrity ok %s", err);
	nrg_store_close(st);
}

static void test_sigkill(void)
{
	char err[512] = "", path[512];
	int progress[2], status = 0, last = -1, b, decoded = 0, blocks;
	nrg_store *st = NULL;
	struct nrg_run_info *runs = NULL;
	size_t n = 0;
	pid_t pid;

	db_path(path, sizeof path, "killed.db");
	if (pipe(progress) < 0) {
		ok(0, "pipe");
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(progress[0]);
		_exit(writer_child(path, -1, -1, -1, progress[1]));
	}
	close(progress[1]);
	/* let it commit a good number of batches, then kill it mid-write */
	while (read(progress[0], &b, sizeof b) == sizeof b && b < 300)
		last = b;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	while (read(progress[0], &b, sizeof b) == sizeof b)
		last = b;
	close(progress[0]);
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "writer killed with SIGKILL");
	ok(last >= 299, "it had reported %d committed batches", last + 1);

	is_i64(nrg_store_open(&st, path, err, sizeof err), 0, "reopen after SIGKILL %s", err);
	if (!st)
		return;
	is_i64(nrg_store_check(st, err, sizeof err), 0, "integrity_check ok %s", err);
	nrg_store_runs(st, &runs, &n);
	is_i64(n, 1, "the run is there");
	if (n == 1) {
		is_str(runs[0].state, "killed", "a run whose process died is reported killed");
		blocks = count_blocks(st, runs[0].id, 0, &decoded);
		/* everything reported committed is there; at most the batch in flight is extra */
		ok(blocks >= last + 1 && blocks <= last + 2, "%d blocks stored, %d reported committed", blocks,
		   last + 1);
		ok(decoded, "the last stored block decodes");
	}
	nrg_runs_free(runs, n);
	nrg_store_close(st);
}

static void cleanup(void)
{
	char cmd[400];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof dir, "%s/nrg-t-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		skip_all("cannot create a temporary directory");
	test_open_errors();
	test_schema_and_runs();
	test_newer_schema();
	test_blocks();
	test_concurrent();
	test_sigkill();
	cleanup();
	return done_testing();
}
