/* t-monitor.c - the in-process monitor: a program measures its own regions without nrg run. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nrg.h"
#include "tap.h"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	struct nrg_options o = { .sources = "nvml" };
	struct nrg_report *rep = NULL;
	char err[256] = "";

	if (argc < 2)
		skip_all("usage: t-monitor FAKE_NVML_LIB");
	o.nvml_lib = argv[1];
	unsetenv("NRG_EVENTS");
	unsetenv("NRG_FAKE_NVML");

	is_i64(nrg_region_begin("before", NRG_REGION_OTHER, -1, -1), -ENOTCONN, "no monitor yet: -ENOTCONN");
	is_i64(nrg_monitor_stop(&rep, err, sizeof err), -ENOENT, "stopping a monitor that is not running fails");
	is_i64(nrg_monitor_start(&o, NULL, 20000, err, sizeof err), 0, "monitor started %s", err);
	is_i64(nrg_monitor_start(&o, NULL, 20000, err, sizeof err), -EALREADY, "a second monitor is refused");
	ok(nrg_watched(), "the process's events now reach the monitor");

	is_i64(nrg_region_begin("train", NRG_REGION_TRAIN, -1, -1), 0, "begin train");
	for (int e = 0; e < 2; e++) {
		nrg_region_begin("epoch", NRG_REGION_TRAIN, e, -1);
		sleep_ms(300);
		nrg_add_units(64, "samples");
		nrg_region_end("epoch");
	}
	nrg_region_end("train");
	nrg_region_begin("infer", NRG_REGION_INFER, -1, -1);
	sleep_ms(300);
	nrg_add_units(10, "samples");
	nrg_region_end("infer");

	is_i64(nrg_monitor_stop(&rep, err, sizeof err), 0, "monitor stopped, report built %s", err);
	ok(!nrg_watched(), "after stop nobody watches");
	if (!rep)
		return done_testing();
	ok(rep->n_devices >= 3, "the fake GPUs were measured (%zu devices)", rep->n_devices);
	ok(rep->has_node && rep->node_j > 0, "the run has energy (%.1f J)", rep->node_j);
	is_i64(rep->n_regions, 4, "train, two epochs and infer");
	if (rep->n_regions == 4) {
		const struct nrg_region_report *tr = &rep->regions[0];

		is_str(tr->name, "train", "first region is train");
		is_i64(tr->kind, NRG_REGION_TRAIN, "of kind train");
		is_str(rep->regions[1].name, "epoch", "then an epoch");
		is_i64(rep->regions[1].parent, 0, "nested in train");
		is_i64(rep->regions[2].epoch, 1, "epoch numbers kept");
		is_i64(rep->regions[3].kind, NRG_REGION_INFER, "infer last");
		ok(tr->has_units && tr->units == 128, "train sums its epochs' samples (%g)", tr->units);
		ok(tr->has_energy && tr->energy_j > 0, "train has energy (%.2f J)", tr->energy_j);
		ok(tr->energy_j < rep->node_j, "less than the whole run");
		ok(rep->regions[3].has_units && rep->regions[3].units == 10, "infer has its 10 samples");
	}
	nrg_report_free(rep);
	return done_testing();
}
