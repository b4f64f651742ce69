# t_monitor.py - nrg.Monitor: a Python script measures its own regions without nrg run (TAP).
# SPDX-License-Identifier: MIT
import os
import sys
import time

sys.path.insert(0, os.environ["NRG_PYTHON_DIR"])
os.environ.pop("NRG_EVENTS", None)
os.environ["NRG_NVML_LIB"] = os.environ["FAKE_NVML"]  # the simulated GPUs
os.environ.pop("NRG_FAKE_NVML", None)
import nrg  # noqa: E402

n = 0
failed = 0


def ok(cond, what):
    global n, failed
    n += 1
    print("%sok %d - %s" % ("" if cond else "not ", n, what))
    failed += 0 if cond else 1


ok(not nrg.watched(), "nobody watches before the monitor starts")
with nrg.Monitor(interval=0.02) as m:
    ok(nrg.watched(), "the monitor watches this process")
    try:
        nrg.Monitor().start()
        ok(False, "a second monitor is refused")
    except RuntimeError as e:
        ok("already" in str(e), "a second monitor is refused: %s" % e)
    with nrg.region("train", kind="train"):
        for e in range(2):
            with nrg.region("epoch", kind="train", epoch=e):
                time.sleep(0.25)
                nrg.add_units(32, "samples")
    with nrg.region("infer", kind="infer"):
        time.sleep(0.2)
        nrg.add_units(5, "samples")
ok(not nrg.watched(), "nobody watches after it stops")
r = m.report
ok(isinstance(r, dict) and r["total"]["energy_j"] and r["total"]["energy_j"] > 0,
   "the report has the GPUs' energy")
regs = [(x["name"], x["kind"], x["epoch"], x["units"]) for x in r["regions"]]
ok(regs == [("train", "train", None, 64), ("epoch", "train", 0, 32), ("epoch", "train", 1, 32),
            ("infer", "infer", None, 5)], "regions, kinds, epochs and units: %s" % regs)
tr = r["regions"][0]
ok(tr["energy_j"] and 0 < tr["energy_j"] < r["total"]["energy_j"], "train's energy is part of the run's")
ok(r["phases"]["train_j"] > 0 and r["phases"]["infer_j"] > 0, "totals by kind")
print("1..%d" % n)
sys.exit(1 if failed else 0)
