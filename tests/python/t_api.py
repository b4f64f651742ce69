# t_api.py - tests of the nrg Python package API: no-op without nrg, context manager, decorator, events emitted.
# SPDX-License-Identifier: MIT
import errno
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Tap, python_env, run_watched  # noqa: E402

t = Tap()
HERE = os.path.dirname(os.path.abspath(__file__))

# 1. Nobody watching, with and without libnrg: calls are no-ops, the code runs, exceptions pass.
CHILD_NOOP = r'''
import errno, sys, nrg
want_loaded = sys.argv[1] == "1"
from nrg import _lib
assert _lib.loaded() == want_loaded, (_lib.loaded(), _lib.why())
assert nrg.watched() is False
r = nrg.begin("a", "train", epoch=1, step=2)
assert r == -errno.ENOTCONN, r
assert nrg.end("a") == -errno.ENOTCONN
assert nrg.add_units(3, "samples") == -errno.ENOTCONN
assert nrg.mark("m") == -errno.ENOTCONN
ran = []
with nrg.region("r", kind="eval") as reg:
    ran.append(reg.name)
@nrg.region("f", kind="infer")
def f(x, y=1):
    "doc of f"
    return x + y
assert f(2, y=3) == 5 and f.__name__ == "f" and f.__doc__ == "doc of f"
@nrg.region
def g():
    return "g"
assert g() == "g"
class Boom(Exception):
    pass
try:
    with nrg.region("x"):
        raise Boom("inside")
except Boom as e:
    ran.append(str(e))
@nrg.region("h")
def h():
    raise Boom("from h")
try:
    h()
except Boom as e:
    ran.append(str(e))
def gen():
    yield 1
    yield 2
assert list(nrg.region("gen")(gen)()) == [1, 2]
try:
    nrg.region("bad", kind="sideways")
except ValueError:
    ran.append("ValueError")
assert ran == ["r", "inside", "from h", "ValueError"], ran
print("OK")
'''
for loaded, env_extra, what in (
        (False, {"NRG_LIBNRG": "/nonexistent/libnrg.so", "LD_LIBRARY_PATH": "/nonexistent"}, "without libnrg"),
        (True, {}, "with libnrg, nobody watching")):
    env = python_env(False)
    env.pop("NRG_EVENTS", None)
    env.update(env_extra)
    if not loaded:
        # make sure find_library("nrg") finds nothing either: only when libnrg is not installed
        import ctypes.util
        if ctypes.util.find_library("nrg"):
            t.ok(True, "# SKIP libnrg is installed system-wide: cannot test its absence")
            continue
    r = subprocess.run([sys.executable, "-c", CHILD_NOOP, "1" if loaded else "0"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    t.ok(r.returncode == 0 and r.stdout.strip() == "OK", "no-op API " + what, r.stdout)

# 2. Watched: the events come out as called, in order, with kinds, epochs, steps and units.
CHILD_EV = r'''
import nrg, sys
assert nrg.watched() is True
with nrg.region("train", kind="train"):
    for ep in range(2):
        with nrg.region("epoch", kind="training", epoch=ep, step=10 + ep):
            nrg.add_units(32, "samples")
            nrg.add_units(1.5)
@nrg.region("evaluate", kind="eval")
def evaluate():
    nrg.mark("half")
    raise KeyError("k")
try:
    evaluate()
except KeyError:
    pass
nrg.begin("predict", kind="infer")
nrg.add_units(7, "tokens")
nrg.end("predict")
with nrg.region("a-very-long-region-name-that-is-longer-than-forty-seven-bytes", kind=0):
    pass
'''
LONG = "a-very-long-region-name-that-is-longer-than-forty-seven-bytes"
rc, ev, _ = run_watched([sys.executable, "-c", CHILD_EV])
t.eq(rc, 0, "the watched child exits 0")
got = [(e["type"], e["kind"], e["name"], e["epoch"], e["step"], e["units"], e["unit"]) for e in ev]
want = [("begin", "train", "train", None, None, None, None)]
for ep in range(2):
    want += [("begin", "train", "epoch", ep, 10 + ep, None, None),
             ("units", None, None, None, None, 32.0, "samples"),
             ("units", None, None, None, None, 1.5, None),
             ("end", None, "epoch", None, None, None, None)]
want += [("end", None, "train", None, None, None, None),
         ("begin", "eval", "evaluate", None, None, None, None),
         ("mark", None, "half", None, None, None, None),
         ("end", None, "evaluate", None, None, None, None),
         ("begin", "infer", "predict", None, None, None, None),
         ("units", None, None, None, None, 7.0, "tokens"),
         ("end", None, "predict", None, None, None, None),
         ("begin", "other", LONG[:47], None, None, None, None),
         ("end", None, LONG[:47], None, None, None, None)]
t.eq(got, want, "events of regions, decorator, units and marks")
t.eq(len({(e["pid"], e["tid"]) for e in ev}), 1, "all from one thread")
t.done()
