/* t-hwmon.c - the hwmon source through libsensors on a fake /sys/class/hwmon in a mount namespace. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include "fake-tree.h"
#include "nrg-config.h"
#include "nrg.h"
#include "tap.h"

#define CLASS "/sys/class"

static int device(nrg_session *s, const char *id)
{
	for (size_t i = 0; i < nrg_device_count(s); i++)
		if (strcmp(nrg_device_get(s, i)->id, id) == 0)
			return (int)i;
	return -1;
}

static int channel(nrg_session *s, int dev, const char *name)
{
	for (size_t i = 0; i < nrg_channel_count(s); i++)
		if (nrg_channel_get(s, i)->device == dev && strcmp(nrg_channel_get(s, i)->name, name) == 0)
			return (int)i;
	return -1;
}

static const struct nrg_source_status *source(nrg_session *s, const char *name)
{
	for (size_t i = 0; i < nrg_source_count(s); i++)
		if (strcmp(nrg_source_get(s, i)->name, name) == 0)
			return nrg_source_get(s, i);
	return NULL;
}

/* Check device id and, if given, the value of its channel `chan`. */
static void check(nrg_session *s, struct nrg_value *v, const char *id, enum nrg_kind kind, enum nrg_role role,
		  const char *chan, enum nrg_quantity q, int64_t want)
{
	int d = device(s, id), c;

	if (!ok(d >= 0, "device %s exists", id))
		return;
	is_i64(nrg_device_get(s, (size_t)d)->kind, kind, "%s kind %s", id, nrg_kind_name(kind));
	is_i64(nrg_device_get(s, (size_t)d)->role, role, "%s role %s", id, nrg_role_name(role));
	is_str(nrg_device_get(s, (size_t)d)->source, "hwmon", "%s source", id);
	c = channel(s, d, chan);
	if (!ok(c >= 0, "%s has channel %s", id, chan))
		return;
	is_i64(nrg_channel_get(s, (size_t)c)->quantity, q, "%s.%s quantity", id, chan);
	ok(v[c].valid && v[c].t_us > 0, "%s.%s valid and stamped", id, chan);
	is_i64(v[c].v, want, "%s.%s value", id, chan);
}

static void test_hwmon(void)
{
	struct nrg_options o = { .sources = "hwmon" };
	const struct nrg_source_status *st;
	struct nrg_value *v;
	nrg_session *s = NULL;
	char err[256] = "";
	int d, c, n_pref;

	if (!ok(nrg_session_open(&s, &o, err, sizeof(err)) == 0, "session opens"))
		return;
	st = source(s, "hwmon");
	if (!ok(st && st->state == NRG_SOURCE_FOUND, "hwmon FOUND: %s", st ? st->reason : "")) {
		nrg_session_close(s);
		return;
	}
	for (size_t i = 0; i < nrg_device_count(s); i++)
		printf("# device %s: %s\n", nrg_device_get(s, i)->id, nrg_device_get(s, i)->name);
	is_i64(nrg_device_count(s), 4, "4 devices: node, amdgpu0, fakepsu power1, intelgpu0 (coretemp ignored)");
	v = calloc(nrg_channel_count(s), sizeof(*v));
	is_i64(nrg_session_read(s, true, v), 0, "read");

	check(s, v, "node", NRG_KIND_NODE, NRG_ROLE_WHOLE, "power", NRG_Q_POWER, 345600000);
	check(s, v, "amdgpu0", NRG_KIND_GPU, NRG_ROLE_COMPONENT, "power", NRG_Q_POWER, 187000000);
	check(s, v, "amdgpu0", NRG_KIND_GPU, NRG_ROLE_COMPONENT, "power_instant", NRG_Q_POWER, 191000000);
	check(s, v, "amdgpu0", NRG_KIND_GPU, NRG_ROLE_COMPONENT, "energy", NRG_Q_ENERGY, 123456789012ll);
	check(s, v, "hwmon-fakepsu-power1", NRG_KIND_OTHER, NRG_ROLE_OTHER, "power", NRG_Q_POWER, 512250000);
	check(s, v, "intelgpu0", NRG_KIND_GPU, NRG_ROLE_COMPONENT, "energy", NRG_Q_ENERGY, 9876543);

	d = device(s, "node");
	c = channel(s, d, "power");
	if (c >= 0) {
		is_i64(nrg_channel_get(s, (size_t)c)->window_us, 1000000, "node power window from power1_average_interval");
		ok(nrg_channel_get(s, (size_t)c)->preferred, "node power is preferred");
	}
	d = device(s, "amdgpu0");
	if (d >= 0) {
		const struct nrg_device_info *di = nrg_device_get(s, (size_t)d);
		is_str(di->vendor, "amd", "amdgpu vendor");
		is_str(di->bus_id, "0000:03:00.0", "amdgpu bus id from the device link");
		ok(di->caps & NRG_CAP_ENERGY, "amdgpu has the energy capability");
		n_pref = 0;
		for (size_t i = 0; i < nrg_channel_count(s); i++)
			if (nrg_channel_get(s, i)->device == d && nrg_channel_get(s, i)->preferred)
				n_pref++;
		is_i64(n_pref, 1, "amdgpu has exactly one preferred power channel");
		c = channel(s, d, "power");
		ok(c >= 0 && nrg_channel_get(s, (size_t)c)->preferred, "amdgpu average power is the preferred one");
		c = channel(s, d, "energy");
		ok(c >= 0 && nrg_channel_get(s, (size_t)c)->range_uj == 0, "amdgpu energy has no known wrap");
	}
	d = device(s, "intelgpu0");
	if (d >= 0)
		is_str(nrg_device_get(s, (size_t)d)->vendor, "intel", "i915 vendor");
	d = device(s, "hwmon-fakepsu-power1");
	if (d >= 0)
		ok(strstr(nrg_device_get(s, (size_t)d)->name, "PSU input") != NULL, "label in the name: '%s'",
		   nrg_device_get(s, (size_t)d)->name);

	/* The values follow the files. */
	fk_write(CLASS "/hwmon/hwmon0/power1_average", 0, "%d\n", 400000000);
	fk_write(CLASS "/hwmon/hwmon1/energy1_input", 0, "%llu\n", 123556789012ull);
	is_i64(nrg_session_read(s, true, v), 0, "read again");
	c = channel(s, device(s, "node"), "power");
	ok(c >= 0 && v[c].valid && v[c].v == 400000000, "node power follows the file");
	c = channel(s, device(s, "amdgpu0"), "energy");
	ok(c >= 0 && v[c].valid && v[c].v == 123556789012ll, "amdgpu energy follows the file");

	/* A sensor that cannot be read is missing, not 0. */
	unlink(CLASS "/hwmon/hwmon2/power1_input");
	is_i64(nrg_session_read(s, true, v), 0, "read with one sensor gone");
	c = channel(s, device(s, "hwmon-fakepsu-power1"), "power");
	ok(c >= 0 && !v[c].valid, "a vanished sensor reads as invalid");
	c = channel(s, device(s, "node"), "power");
	ok(c >= 0 && v[c].valid, "the other sensors still read");

	free(v);
	nrg_session_close(s);
}

/* RAPL read with no root prefix from a fake powercap tree at the real /sys/class/powercap. */
static void test_rapl_real_path(void)
{
	struct nrg_options o = { .sources = "rapl" };
	const struct nrg_source_status *st;
	struct nrg_value *v;
	nrg_session *s = NULL;
	int d, c;

	unsetenv("NRG_SYSFS_ROOT");
	if (!ok(fk_build_powercap("", 0444) == 0, "fake powercap at /sys/class/powercap"))
		return;
	if (!ok(nrg_session_open(&s, &o, NULL, 0) == 0, "rapl session without a root prefix"))
		return;
	st = source(s, "rapl");
	ok(st && st->state == NRG_SOURCE_FOUND, "rapl FOUND at the real path: %s", st ? st->reason : "");
	is_i64(nrg_device_count(s), fk_n_zones, "one device per zone");
	d = device(s, "cpu0-mmio");
	ok(d >= 0 && nrg_device_get(s, (size_t)d)->role == NRG_ROLE_DUPLICATE &&
	   nrg_device_get(s, (size_t)d)->parent == device(s, "cpu0"), "cpu0-mmio duplicates cpu0");
	d = device(s, "cpu1");
	ok(d >= 0 && strcmp(nrg_device_get(s, (size_t)d)->path, "/sys/class/powercap/intel-rapl:1") == 0,
	   "cpu1 path is the real sysfs path");
	v = calloc(nrg_channel_count(s), sizeof(*v));
	is_i64(nrg_session_read(s, false, v), 0, "read");
	c = channel(s, d, "energy");
	ok(c >= 0 && v[c].valid && v[c].v == 5000000000ll, "cpu1 energy_uj read through the symlinked zone");
	free(v);
	nrg_session_close(s);
}

int main(void)
{
#if !HAVE_SENSORS
	skip_all("built without libsensors");
#else
	if (unshare(CLONE_NEWNS) < 0)
		skip_all("cannot unshare a mount namespace (needs root or CAP_SYS_ADMIN)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		skip_all("cannot make the mount namespace private");
	if (mount("nrg-fake", CLASS, "tmpfs", 0, "mode=0755") < 0)
		skip_all("cannot mount a tmpfs on /sys/class");
	if (fk_build_hwmon(CLASS) < 0)
		skip_all("cannot build the fake hwmon tree");
	test_hwmon();
	test_rapl_real_path();
	return done_testing();
#endif
}
