/* t-limit.c - power limits: set/read back, journal before change, errors, restore after SIGKILL. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

#include "nvml-test.h"
#include "sysfs/fake-tree.h"

#define W(x) ((int64_t)(x) * 1000000)

static char tmp[256], journal[300], state[300];

static void slurp(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "r");
	size_t got = f ? fread(buf, 1, n - 1, f) : 0;

	buf[got] = '\0';
	if (f)
		fclose(f);
}

static int64_t limit_of(nrg_session *s, int dev)
{
	int64_t uw = -1;
	char err[256];

	return nrg_limit_get(s, dev, &uw, err, sizeof err) == 0 ? uw : -1;
}

/* Child mode: set gpu0 to 222 W and gpu1 to 333 W, say so on fd 1, then wait to be killed. */
static int child_set(void)
{
	nrg_session *s = open_nvml(NULL);
	char err[256];

	if (!s || nrg_limit_set(s, find_dev(s, "gpu0"), W(222), err, sizeof err) < 0 ||
	    nrg_limit_set(s, find_dev(s, "gpu1"), W(333), err, sizeof err) < 0)
		return 1;
	if (write(1, "k", 1) != 1)
		return 1;
	for (;;)
		pause();
}

/* Child mode (a fresh process): the killed child's limits are seen, restore puts back 700 W. */
static int child_restore(void)
{
	nrg_session *s = open_nvml(NULL);
	unsigned restored = 0;
	char err[256];
	int bad = 0;

	if (!s)
		return 10;
	bad |= (limit_of(s, find_dev(s, "gpu0")) != W(222)) << 0;
	bad |= (limit_of(s, find_dev(s, "gpu1")) != W(333)) << 1;
	bad |= !nrg_limit_pending(NULL, 0) << 2;
	bad |= (nrg_limit_restore(s, &restored, err, sizeof err) != 0 || restored != 2) << 3;
	bad |= (limit_of(s, find_dev(s, "gpu0")) != W(700)) << 4;
	bad |= (limit_of(s, find_dev(s, "gpu1")) != W(700)) << 5;
	bad |= (access(journal, F_OK) == 0) << 6;
	nrg_session_close(s);
	return bad;
}

static pid_t spawn(const char *self, const char *mode, int out_fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		char *args[] = { (char *)self, (char *)fake_lib, (char *)mode, NULL };

		if (out_fd >= 0)
			dup2(out_fd, 1);
		execv(self, args);
		_exit(127);
	}
	return pid;
}

static void test_nvml(const char *self)
{
	typedef double (*truth_fn)(unsigned, unsigned long long, unsigned long long);
	typedef double (*speed_fn)(unsigned);
	nrg_session *s = open_nvml(NULL);
	char err[512], buf[1024], want[512];
	const struct nrg_device_info *d0, *d1;
	unsigned restored = 99;
	int g0, g1, r, fds[2], status = -1;
	truth_fn truth = (truth_fn)fake_sym("fake_nvml_true_energy_j");
	speed_fn speed = (speed_fn)fake_sym("fake_nvml_speed");
	pid_t pid;

	if (!s)
		return;
	g0 = find_dev(s, "gpu0");
	g1 = find_dev(s, "gpu1");
	d0 = nrg_device_get(s, (size_t)g0);
	d1 = nrg_device_get(s, (size_t)g1);
	is_i64(limit_of(s, g0), W(700), "gpu0 enforces its default 700 W");
	ok(!nrg_limit_pending(NULL, 0), "no journal to begin with");

	/* The journal comes first: where it cannot be written, nothing changes. */
	setenv("NRG_JOURNAL", "/nonexistent-dir-nrg/limits.journal", 1);
	r = nrg_limit_set(s, g0, W(250), err, sizeof err);
	ok(r < 0, "no journal, no change (%d: %s)", r, err);
	is_i64(limit_of(s, g0), W(700), "the limit is untouched when the journal cannot be written");
	setenv("NRG_JOURNAL", journal, 1);

	r = nrg_limit_set(s, g0, W(250), err, sizeof err);
	is_i64(r, 0, "set gpu0 to 250 W (%s)", r ? err : "");
	is_i64(limit_of(s, g0), W(250), "the enforced limit reads back 250 W");
	slurp(journal, buf, sizeof buf);
	snprintf(want, sizeof want, "nvml %s 700000000\n", d0->uuid);
	is_str(buf, want, "the journal holds gpu0's original by UUID");
	is_i64(nrg_limit_set(s, g0, W(300), err, sizeof err), 0, "set gpu0 again to 300 W");
	ok(nrg_limit_pending(buf, sizeof buf) && strstr(buf, d0->uuid), "pending names gpu0's UUID");

	/* The simulated GPU responds: power is min(demand, limit), speed drops below the demand. */
	if (truth && speed) {
		/* demand 200/400 W square wave of 700 ms; at 300 W: 10 periods x (0.35 x 300 + 0.35 x 200) */
		is_near(truth(0, 0, 7000000), 1750.0, 1e-6, "true energy follows the capped power");
		double v = speed(0);

		ok(v == 1.0 || fabs(v - cbrt(300.0 / 400.0)) < 1e-9, "speed at 300 W is 1 or (300/400)^(1/3): %g", v);
	} else {
		ok(0, "the fake exports its truth and speed hooks");
	}

	r = nrg_limit_set(s, g0, W(100), err, sizeof err);
	is_i64(r, -ERANGE, "100 W is below gpu0's minimum: -ERANGE (%s)", err);
	r = nrg_limit_set(s, g1, W(701), err, sizeof err);
	is_i64(r, -ERANGE, "701 W is above the maximum: -ERANGE");

	setenv("NRG_FAKE_NVML_NOROOT", "1", 1);
	r = nrg_limit_set(s, g1, W(400), err, sizeof err);
	is_i64(r, -EPERM, "without permission: -EPERM");
	is_str(err, "setting power limits needs root (or CAP_SYS_ADMIN): run nrg as root", "the message says root");
	unsetenv("NRG_FAKE_NVML_NOROOT");
	slurp(journal, buf, sizeof buf);
	ok(!strstr(buf, d1->uuid), "a refused change leaves no journal line");

	r = nrg_limit_restore(s, &restored, err, sizeof err);
	is_i64(r, 0, "restore (%s)", r ? err : "");
	is_i64(restored, 1, "one device put back");
	is_i64(limit_of(s, g0), W(700), "gpu0 back at its first original, 700 W");
	is_i64(limit_of(s, g1), W(700), "gpu1 untouched");
	ok(access(journal, F_OK) < 0, "the journal is removed");
	restored = 99;
	is_i64(nrg_limit_restore(s, &restored, err, sizeof err), 0, "restore with nothing journaled");
	is_i64(restored, 0, "nothing put back");
	nrg_session_close(s);

	/* A process that changed limits is SIGKILLed; a fresh process restores them. */
	if (pipe(fds) < 0) {
		ok(0, "pipe");
		return;
	}
	pid = spawn(self, "--child-set", fds[1]);
	close(fds[1]);
	r = (int)read(fds[0], buf, 1);
	close(fds[0]);
	ok(r == 1, "the child set the limits");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child was SIGKILLed");
	ok(nrg_limit_pending(NULL, 0), "its changes are pending");
	pid = spawn(self, "--child-restore", -1);
	waitpid(pid, &status, 0);
	is_i64(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0,
	       "a fresh process sees 222/333 W, restores 700/700 W and removes the journal (bit mask of failures)");
}

static void test_powercap(void)
{
	char root[300], path[400], buf[256], err[512];
	struct nrg_options o = { .sources = "rapl" };
	nrg_session *s = NULL;
	unsigned restored = 0;
	int dev = -1, r;

	snprintf(root, sizeof root, "%s/sysroot", tmp);
	if (fk_build_powercap(root, 0444) < 0) {
		ok(0, "fake powercap tree");
		return;
	}
	o.sysfs_root = root;
	if (!ok(nrg_session_open(&s, &o, err, sizeof err) == 0, "rapl session on the fake tree"))
		return;
	for (size_t i = 0; i < nrg_device_count(s); i++)
		if (!strcmp(nrg_device_get(s, i)->id, "cpu0"))
			dev = (int)i;
	is_i64(limit_of(s, dev), W(270), "cpu0 limit reads 270 W");
	r = nrg_limit_set(s, dev, W(150), err, sizeof err);
	is_i64(r, 0, "set cpu0 to 150 W (%s)", r ? err : "");
	snprintf(path, sizeof path, "%s/sys/class/powercap/intel-rapl:0/constraint_0_power_limit_uw", root);
	slurp(path, buf, sizeof buf);
	is_str(buf, "150000000\n", "written to constraint_0_power_limit_uw");
	slurp(journal, buf, sizeof buf);
	is_str(buf, "rapl /sys/class/powercap/intel-rapl:0 270000000\n", "journaled by zone path");
	is_i64(nrg_limit_set(s, dev, W(300), err, sizeof err), -ERANGE, "above constraint_0_max_power_uw: -ERANGE");
	r = nrg_limit_restore(s, &restored, err, sizeof err);
	is_i64(r, 0, "restore (%s)", r ? err : "");
	is_i64(restored, 1, "one zone put back");
	slurp(path, buf, sizeof buf);
	is_str(buf, "270000000\n", "cpu0 back at 270 W");
	ok(access(journal, F_OK) < 0, "the journal is removed");
	for (size_t i = 0; i < nrg_device_count(s); i++)
		if (!strcmp(nrg_device_get(s, i)->id, "dram0"))
			is_i64(nrg_limit_set(s, (int)i, W(10), err, sizeof err), -ENOTSUP, "dram0: -ENOTSUP");
	nrg_session_close(s);
	fk_rmtree(root);
}

int main(int argc, char **argv)
{
	const char *dir = getenv("TMPDIR"), *cfg = getenv("NRG_FAKE_NVML");
	char cfg_copy[300];

	snprintf(cfg_copy, sizeof cfg_copy, "%s", cfg ? cfg : "");
	test_init(argc, argv);
	if (cfg_copy[0])
		setenv("NRG_FAKE_NVML", cfg_copy, 1); /* a child runs on its parent's configuration */
	if (argc > 2 && !strcmp(argv[2], "--child-set"))
		return child_set();
	if (argc > 2 && !strcmp(argv[2], "--child-restore"))
		return child_restore();

	snprintf(tmp, sizeof tmp, "%s/nrg-limit-XXXXXX", dir && *dir ? dir : "/tmp");
	if (!mkdtemp(tmp)) {
		printf("Bail out! cannot create a temporary directory\n");
		return 1;
	}
	snprintf(journal, sizeof journal, "%s/limits.journal", tmp);
	snprintf(state, sizeof state, "%s/fake-state", tmp);
	setenv("NRG_JOURNAL", journal, 1);
	setenv("NRG_FAKE_NVML_STATE", state, 1);
	unsetenv("NRG_FAKE_NVML_NOROOT");
	fake_config("gpus 2\n");

	test_nvml(argv[0]);
	test_powercap();

	fake_config(NULL);
	unlink(state);
	unlink(journal);
	rmdir(tmp);
	return done_testing();
}
