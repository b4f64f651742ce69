# t_torch.py - a real PyTorch training run (CPU) under `nrg run --auto`: epochs, train/eval/infer and samples as the script logged them.
# SPDX-License-Identifier: MIT
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Tap, python_for_torch, regions, run_watched, via  # noqa: E402

t = Tap()
py = python_for_torch()
if py is None:
    t.skip_all("no Python with torch (Debian's python3-torch for /usr/bin/python3)")
HERE = os.path.dirname(os.path.abspath(__file__))
script = os.path.join(HERE, "train_small.py")
tmp = tempfile.mkdtemp(prefix="nrg-torch-")
print("# watched via %s, python %s" % (via(), py))

# the script alone, without nrg anywhere in its environment
plain_log = os.path.join(tmp, "plain.json")
env = {k: v for k, v in os.environ.items() if not k.startswith("NRG") and k != "PYTHONPATH"}
plain = subprocess.run([py, script, "--log", plain_log, "--workers", "2"], env=env, stdout=subprocess.PIPE,
                       universal_newlines=True)
t.eq(plain.returncode, 0, "the script runs without nrg")

# the same under nrg run --auto; capture its stdout through a file to compare
auto_log = os.path.join(tmp, "auto.json")
out_txt = os.path.join(tmp, "stdout.txt")
wrapper = [py, "-c", "import runpy, sys; sys.stdout = open(%r, 'w'); sys.argv = %r; runpy.run_path(%r, run_name='__main__')"
           % (out_txt, [script, "--log", auto_log, "--workers", "2"], script)]
rc, ev, report = run_watched(wrapper, auto=True)
t.eq(rc, 0, "the script runs under nrg run --auto")
with open(plain_log) as f:
    log = json.load(f)
with open(auto_log) as f:
    log_auto = json.load(f)
with open(out_txt) as f:
    t.eq(f.read(), plain.stdout, "same output (losses, accuracy, predictions) with and without instrumentation")
t.eq(log_auto, log, "same own log with and without instrumentation")
t.eq(report.get("events_lost", 0), 0, "no event lost")

rs = regions(ev)
t.ok(all(r["closed"] for r in rs), "every region is closed", rs)
top = [(r["name"], r["kind"]) for r in rs if r["parent"] is None]
t.eq(top, [("train", "train"), ("eval", "eval"), ("infer", "infer")], "top-level regions: train, eval, infer")
train_i = next((i for i, r in enumerate(rs) if r["name"] == "train"), None)
epochs = [r for r in rs if r["name"] == "epoch"]
t.eq([(r["kind"], r["epoch"], r["parent"]) for r in epochs],
     [("train", e["epoch"], train_i) for e in log["epochs"]], "one epoch region per epoch, numbered, inside train")
t.eq([r["units"] for r in epochs], [{"samples": e["samples"]} for e in log["epochs"]], "samples per epoch")
t.eq(rs[train_i]["units"] if train_i is not None else None,
     {"samples": sum(e["samples"] for e in log["epochs"])}, "samples of the training region")
ev_r = [r for r in rs if r["name"] == "eval"]
t.eq([r["units"] for r in ev_r], [{"samples": log["eval"]["samples"]}], "samples of the evaluation")
in_r = [r for r in rs if r["name"] == "infer"]
t.eq([r["units"] for r in in_r], [{"samples": log["infer"]["samples"]}], "samples of the inference")
t.eq(len({(e["pid"], e["tid"]) for e in ev}), 1, "events from the script's main thread only")

# the report's regions, once nrg report has them
if "regions" in report:
    got = [(r.get("name"), r.get("kind"), r.get("epoch") if r.get("epoch", -1) not in (-1,) else None,
            r.get("units"), r.get("unit")) for r in report["regions"]]
    want = [("train", "train", None, float(sum(e["samples"] for e in log["epochs"])), "samples")]
    want += [("epoch", "train", e["epoch"], float(e["samples"]), "samples") for e in log["epochs"]]
    want += [("eval", "eval", None, float(log["eval"]["samples"]), "samples"),
             ("infer", "infer", None, float(log["infer"]["samples"]), "samples")]
    t.eq([g[:2] + (g[2],) + (float(g[3]) if g[3] is not None else None, g[4]) for g in got], want,
         "the JSON report's regions")
t.done()
