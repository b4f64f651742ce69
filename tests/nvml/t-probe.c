/* t-probe.c - the NVML source's probe through the fake library: devices, channels, selection. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "nvml-test.h"

static const char *const uuids[4] = {
	"GPU-8e2f41c7-3f1a-4b6e-9c2d-7a5e0b1c0000", "GPU-5b0d9e23-3f1a-4b6e-9c2d-7a5e0b1c0001",
	"GPU-c41a7f60-3f1a-4b6e-9c2d-7a5e0b1c0002", "GPU-19e6b2d8-3f1a-4b6e-9c2d-7a5e0b1c0003",
};

static void default_devices(void)
{
	nrg_session *s = open_nvml(NULL);
	const struct nrg_source_status *st;

	if (!s)
		return;
	st = nvml_status(s);
	ok(st && st->state == NRG_SOURCE_FOUND, "built-in fake: nvml found (%s)", st ? st->reason : "?");
	is_i64(count_nvml_devices(s), 4, "four GPUs");
	for (unsigned i = 0; i < 4; i++) {
		char id[8];
		int dev;
		const struct nrg_device_info *d;

		snprintf(id, sizeof id, "gpu%u", i);
		dev = find_dev(s, id);
		if (!ok(dev >= 0, "%s present", id))
			continue;
		d = nrg_device_get(s, (size_t)dev);
		is_str(d->name, "NVIDIA H100 80GB HBM3", "%s name", id);
		is_str(d->uuid, uuids[i], "%s uuid", id);
		is_str(d->vendor, "nvidia", "%s vendor", id);
		is_str(d->source, "nvml", "%s source", id);
		ok(d->kind == NRG_KIND_GPU && d->role == NRG_ROLE_COMPONENT && d->parent == -1,
		   "%s is a GPU component without parent", id);
		ok(d->visible && !d->estimated, "%s visible, measured", id);
		is_i64(d->rated_uw, 700000000, "%s rated = default limit 700 W in µW", id);
		is_i64(d->limit_min_uw, 200000000, "%s min limit", id);
		is_i64(d->limit_max_uw, 700000000, "%s max limit", id);
		is_i64(d->limit_default_uw, 700000000, "%s default limit", id);
		ok(strstr(d->note, "25 ms window every 100 ms") != NULL, "%s note has the Hopper coverage: %s",
		   id, d->note);
		if (i == 2) {
			ok(!(d->caps & NRG_CAP_ENERGY), "gpu2 has no energy cap");
			ok(strstr(d->note, "no energy counter: energy from integrated power") != NULL,
			   "gpu2 note says power integration");
			ok(find_chan(s, dev, "energy") < 0, "gpu2 has no energy channel");
		} else {
			uint32_t want = NRG_CAP_ENERGY | NRG_CAP_POWER_AVG | NRG_CAP_POWER_INSTANT |
					NRG_CAP_POWER_LIMIT | NRG_CAP_UTIL | NRG_CAP_CLOCK | NRG_CAP_TEMP;

			ok((d->caps & want) == want, "%s caps 0x%x include 0x%x", id, d->caps, want);
			ok(strstr(d->note, "no energy counter") == NULL, "%s note does not claim integration", id);
		}
		if (i == 0)
			is_str(d->bus_id, "00000000:18:00.0", "gpu0 PCI bus id");
	}

	int dev = find_dev(s, "gpu0"), c;
	const struct nrg_channel_info *ci;
	if (dev >= 0) {
		c = find_chan(s, dev, "energy");
		ci = c >= 0 ? nrg_channel_get(s, (size_t)c) : NULL;
		ok(ci && ci->quantity == NRG_Q_ENERGY && ci->range_uj == 0 && ci->update_us == 100000 && !ci->slow,
		   "gpu0 energy: never wraps, 100 ms updates, fast");
		c = find_chan(s, dev, "power");
		ci = c >= 0 ? nrg_channel_get(s, (size_t)c) : NULL;
		ok(ci && ci->quantity == NRG_Q_POWER && ci->window_us == 1000000 && ci->update_us == 100000 &&
		   !ci->preferred, "gpu0 power: 1 s average every 100 ms, not preferred");
		c = find_chan(s, dev, "power_instant");
		ci = c >= 0 ? nrg_channel_get(s, (size_t)c) : NULL;
		ok(ci && ci->quantity == NRG_Q_POWER && ci->window_us == 25000 && ci->update_us == 100000 &&
		   ci->preferred, "gpu0 power_instant: 25 ms window, preferred");
		static const struct { const char *n; enum nrg_quantity q; } gauges[] = {
			{ "util", NRG_Q_UTIL }, { "sm_clock", NRG_Q_CLOCK }, { "temp", NRG_Q_TEMP },
			{ "power_limit", NRG_Q_LIMIT },
		};
		for (size_t k = 0; k < 4; k++) {
			c = find_chan(s, dev, gauges[k].n);
			ci = c >= 0 ? nrg_channel_get(s, (size_t)c) : NULL;
			ok(ci && ci->quantity == gauges[k].q && ci->slow, "gpu0 %s: slow gauge", gauges[k].n);
		}
	}
	/* exactly one preferred power channel per GPU */
	for (size_t i = 0; i < nrg_device_count(s); i++) {
		int pref = 0;

		for (size_t k = 0; k < nrg_channel_count(s); k++) {
			ci = nrg_channel_get(s, k);
			pref += ci->device == (int)i && ci->preferred;
		}
		is_i64(pref, 1, "%s: one preferred power channel", nrg_device_get(s, i)->id);
	}
	nrg_session_close(s);
}

/* Visibility mask of gpu0..gpu3 under CUDA_VISIBLE_DEVICES=cvd (NULL: unset). */
static void visibility(const char *cvd, const char *want)
{
	char got[5] = "????";
	nrg_session *s;

	if (cvd)
		setenv("CUDA_VISIBLE_DEVICES", cvd, 1);
	else
		unsetenv("CUDA_VISIBLE_DEVICES");
	s = open_nvml(NULL);
	if (s) {
		for (unsigned i = 0; i < 4; i++) {
			char id[8];
			int d;

			snprintf(id, sizeof id, "gpu%u", i);
			d = find_dev(s, id);
			got[i] = d < 0 ? '?' : nrg_device_get(s, (size_t)d)->visible ? '1' : '0';
		}
		nrg_session_close(s);
	}
	is_str(got, want, "visible with CUDA_VISIBLE_DEVICES=%s", cvd ? cvd : "(unset)");
	unsetenv("CUDA_VISIBLE_DEVICES");
}

static void selection(void)
{
	nrg_session *s = open_nvml("1, GPU-19e6");
	const struct nrg_source_status *st;

	if (s) {
		is_i64(count_nvml_devices(s), 2, "gpus='1, GPU-19e6' selects two GPUs");
		ok(find_dev(s, "gpu1") >= 0 && find_dev(s, "gpu3") >= 0, "the devices keep NVML ids gpu1, gpu3");
		ok(find_dev(s, "gpu0") < 0 && find_dev(s, "gpu2") < 0, "gpu0 and gpu2 left out");
		nrg_session_close(s);
	}
	s = open_nvml("7");
	if (s) {
		st = nvml_status(s);
		ok(st && st->state == NRG_SOURCE_ABSENT && strstr(st->reason, "selection"),
		   "gpus='7' matches nothing: absent (%s)", st ? st->reason : "?");
		is_i64(count_nvml_devices(s), 0, "no devices");
		nrg_session_close(s);
	}
}

static void architectures(void)
{
	nrg_session *s;
	const struct nrg_channel_info *ci;
	const struct nrg_device_info *d;
	int dev, c;

	fake_config("gpus 4\n"
		    "gpu 0 name=Tesla V100-SXM2-16GB arch=volta watts=200 swing=50\n"
		    "gpu 1 name=NVIDIA A100-SXM4-40GB arch=ampere\n"
		    "gpu 2 name=Mystery GPU arch=unknown noinstant=1\n"
		    "gpu 3 name=NVIDIA GeForce RTX 4090 arch=ada energy=0 nopower=1 noinstant=1\n");
	s = open_nvml(NULL);
	if (!s)
		return;
	is_i64(count_nvml_devices(s), 4, "configured fake: four GPUs");
	if ((dev = find_dev(s, "gpu0")) >= 0) {
		d = nrg_device_get(s, (size_t)dev);
		is_str(d->name, "Tesla V100-SXM2-16GB", "gpu0 name with spaces from the config");
		ok(strstr(d->note, "10 ms window every 20 ms") != NULL, "Volta note: %s", d->note);
		c = find_chan(s, dev, "energy");
		ci = c >= 0 ? nrg_channel_get(s, (size_t)c) : NULL;
		ok(ci && ci->update_us == 20000, "Volta energy counter: 20 ms updates");
		c = find_chan(s, dev, "power");
		ci = c >= 0 ? nrg_channel_get(s, (size_t)c) : NULL;
		ok(ci && ci->window_us == 10000 && ci->update_us == 20000, "Volta power: 10 ms window, 20 ms");
	}
	if ((dev = find_dev(s, "gpu1")) >= 0) {
		d = nrg_device_get(s, (size_t)dev);
		ok(strstr(d->note, "25 ms window every 100 ms") != NULL, "A100 (GA100) note: %s", d->note);
		c = find_chan(s, dev, "power");
		ci = c >= 0 ? nrg_channel_get(s, (size_t)c) : NULL;
		ok(ci && ci->window_us == 25000, "A100 power usage is the 25 ms instant value");
	}
	if ((dev = find_dev(s, "gpu2")) >= 0) {
		d = nrg_device_get(s, (size_t)dev);
		ok(strstr(d->note, "unknown") != NULL, "unknown architecture said so: %s", d->note);
		ok(find_chan(s, dev, "power_instant") < 0, "noinstant: no power_instant channel");
		ok(!(d->caps & NRG_CAP_POWER_INSTANT), "noinstant: no instant cap");
		c = find_chan(s, dev, "power");
		ci = c >= 0 ? nrg_channel_get(s, (size_t)c) : NULL;
		ok(ci && ci->preferred, "without instant power, 'power' is preferred");
	}
	if ((dev = find_dev(s, "gpu3")) >= 0) {
		d = nrg_device_get(s, (size_t)dev);
		ok(find_chan(s, dev, "energy") < 0 && find_chan(s, dev, "power") < 0 &&
		   find_chan(s, dev, "power_instant") < 0, "gpu3: no energy or power channel");
		ok(find_chan(s, dev, "temp") >= 0, "gpu3 still has gauges");
		ok(strstr(d->note, "no energy counter and no power reading") != NULL, "gpu3 note: %s", d->note);
	}
	nrg_session_close(s);
	fake_config(NULL);
}

/* The source state and reason after opening with a given library / fake config. */
static void expect_state(const char *lib, const char *config, enum nrg_source_state want,
			 const char *reason_part, const char *what)
{
	nrg_session *s;
	const struct nrg_source_status *st;

	if (lib)
		setenv("NRG_NVML_LIB", lib, 1);
	fake_config(config);
	s = open_nvml(NULL);
	if (s) {
		st = nvml_status(s);
		ok(st && st->state == want, "%s: state %s (%s)", what,
		   st ? nrg_source_state_name(st->state) : "?", st ? st->reason : "?");
		ok(st && strstr(st->reason, reason_part), "%s: reason mentions '%s'", what, reason_part);
		ok(st && st->err < 0, "%s: negative errno %d", what, st ? st->err : 0);
		ok(st && st->fix[0], "%s: a fix is given (%s)", what, st ? st->fix : "");
		is_i64(count_nvml_devices(s), 0, "%s: no devices", what);
		nrg_session_close(s);
	}
	fake_config(NULL);
	setenv("NRG_NVML_LIB", fake_lib, 1);
}

int main(int argc, char **argv)
{
	const char *broken = argc > 2 ? argv[2] : NULL;
	const char *llp = getenv("LD_LIBRARY_PATH");

	test_init(argc, argv);
	default_devices();

	visibility(NULL, "1111");
	visibility("", "0000");
	visibility("2,GPU-8e2f", "1010");
	visibility("1,bogus,3", "0100");
	visibility("4,0", "0000");
	visibility("MIG-GPU-c41a7f60-3f1a-4b6e-9c2d-7a5e0b1c0002/1/0", "0010");

	selection();
	architectures();

	expect_state("nonexistent-dir/libnvidia-ml.so.1", NULL, NRG_SOURCE_ABSENT, "cannot load",
		     "library absent");
	if (broken)
		expect_state(broken, NULL, NRG_SOURCE_ERROR, "nvmlShutdown", "required symbol missing");
	expect_state(NULL, "init_error 9\ngpus 1\n", NRG_SOURCE_ABSENT, "the NVIDIA kernel driver is not loaded",
		     "driver not loaded");
	expect_state(NULL, "init_error 4\ngpus 1\n", NRG_SOURCE_DENIED, "permission", "no permission");
	expect_state(NULL, "init_error 18\ngpus 1\n", NRG_SOURCE_ERROR, "versions", "version mismatch");
	expect_state(NULL, "gpus 0\n", NRG_SOURCE_ABSENT, "no NVIDIA GPU found", "zero GPUs");

	/* The default search by soname, when the test runs with the fake on the loader path. */
	if (llp && strstr(llp, "fake")) {
		nrg_session *s;
		const struct nrg_source_status *st;

		unsetenv("NRG_NVML_LIB");
		s = open_nvml(NULL);
		if (s) {
			st = nvml_status(s);
			ok(st && st->state == NRG_SOURCE_FOUND && strstr(st->reason, "libnvidia-ml.so.1"),
			   "found libnvidia-ml.so.1 on the loader path (%s)", st ? st->reason : "?");
			nrg_session_close(s);
		}
		setenv("NRG_NVML_LIB", fake_lib, 1);
	} else {
		ok(1, "soname search # SKIP the fake is not on LD_LIBRARY_PATH");
	}
	return done_testing();
}
