# t_concurrency.py - 4 processes x 4 threads emitting regions and units through the Python package at once: no event lost.
# SPDX-License-Identifier: MIT
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Tap, regions, run_watched, via  # noqa: E402

P, T, N = 4, 4, 1000
CHILD = r'''
import subprocess, sys, threading, nrg
P, T, N = %d, %d, %d
if len(sys.argv) == 1:  # the parent: start P workers at once
    ps = [subprocess.Popen([sys.executable, "-c", CODE, str(i)]) for i in range(P)]
    sys.exit(max(p.wait() for p in ps))
me = int(sys.argv[1])
bad = []
start = threading.Barrier(T)
def work(t):
    name = "p%%d-t%%d" %% (me, t)
    start.wait()
    for i in range(N):
        r1 = nrg.begin(name, "train", epoch=i, step=t)
        r2 = nrg.add_units(me + 1, "samples")
        r3 = nrg.end(name)
        if r1 or r2 or r3:
            bad.append((r1, r2, r3))
ths = [threading.Thread(target=work, args=(t,)) for t in range(T)]
for th in ths: th.start()
for th in ths: th.join()
if bad:
    print("failed calls:", len(bad), bad[:3]); sys.exit(1)
''' % (P, T, N)
CODE = "CODE = %r\n" % CHILD + CHILD

t = Tap()
print("# watched via %s" % via())
rc, ev, report = run_watched([sys.executable, "-c", CODE])
t.eq(rc, 0, "every call returned 0 in every process and thread")
t.eq(report.get("events_lost", 0), 0, "the run counts no lost event")
t.eq(len(ev), P * T * N * 3, "every event stored: P*T*N*2 begin/end + P*T*N units")
by = {}
for e in ev:
    by.setdefault((e["pid"], e["tid"]), []).append(e)
t.eq(len({pid for pid, _ in by}), P, "events from %d processes" % P)
t.eq(sorted(len(v) for v in by.values()), [3 * N] * (P * T), "%d threads with %d events each" % (P * T, 3 * N))
ok = True
for key, v in by.items():
    name = v[0]["name"]
    want_units = float(int(name[1:name.index("-")]) + 1)
    for i in range(N):
        b, u, e = v[3 * i:3 * i + 3]
        if not (b["type"] == "begin" and b["name"] == name and b["epoch"] == i and b["kind"] == "train"
                and u["type"] == "units" and u["units"] == want_units and u["unit"] == "samples"
                and e["type"] == "end" and e["name"] == name):
            ok = False
            t.ok(False, "thread %r event %d in order" % (key, i), (b, u, e))
            break
t.ok(ok, "each thread's events arrive complete and in its order")
rs = regions(ev)
t.ok(len(rs) == P * T * N and all(r["closed"] and r["parent"] is None for r in rs),
     "%d closed top-level regions" % (P * T * N))
t.done()
