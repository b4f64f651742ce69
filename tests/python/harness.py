# harness.py - test helper: run a command watched by nrg and return the region events it emitted.
# SPDX-License-Identifier: MIT
"""Two ways to watch a command:

* "run": `$NRG run [--auto] --db DB --json JSON -- CMD`, then the events table of DB. This is the
  real path, used whenever `$NRG run --help` lists --auto (for auto) and the run stores events.
* "ring": this helper creates libnrg's event ring itself (nrg_ring_create from $NRG_LIBNRG),
  runs CMD with NRG_EVENTS, NRG_LIBNRG and, for auto, the PYTHONPATH that `nrg run --auto` sets,
  and drains the ring. It checks the Python side alone, before `nrg run` can.

NRG_PY_VIA=run|ring forces one. Events come back as the store has them: dicts with type
("begin", "end", "units", "mark"), kind (begin only), name, epoch, step, units, unit, pid, tid.
"""
import ctypes
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

TYPES = {1: "begin", 2: "end", 3: "units", 4: "mark"}
KINDS = {0: "other", 1: "train", 2: "eval", 3: "infer"}


class Event(ctypes.Structure):
    _fields_ = [("t_us", ctypes.c_uint64), ("pid", ctypes.c_int32), ("tid", ctypes.c_int32),
                ("type", ctypes.c_int), ("kind", ctypes.c_int), ("epoch", ctypes.c_int64),
                ("step", ctypes.c_int64), ("units", ctypes.c_double), ("unit", ctypes.c_char * 16),
                ("name", ctypes.c_char * 48)]


def python_env(auto):
    """The environment `nrg run --auto` gives a Python command (PYTHONPATH first)."""
    env = dict(os.environ)
    pydir = os.environ["NRG_PYTHON_DIR"]
    paths = ([os.path.join(pydir, "nrg_autostart")] if auto else []) + [pydir]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def nrg_has_auto():
    nrg = os.environ.get("NRG")
    if not nrg:
        return False
    r = subprocess.run([nrg, "run", "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return b"--auto" in r.stdout


def via():
    v = os.environ.get("NRG_PY_VIA")
    if v:
        return v
    return "run" if nrg_has_auto() else "ring"


def _norm(t, kind, name, epoch, step, units, unit, pid, tid):
    return {"type": t, "kind": kind if t == "begin" else None, "name": name or None,
            "epoch": epoch, "step": step, "units": units if t == "units" else None,
            "unit": (unit or None) if t == "units" else None, "pid": pid, "tid": tid}


def run_ring(cmd, auto=False, env=None, capacity=1 << 18):
    lib = ctypes.CDLL(os.environ["NRG_LIBNRG"])
    lib.nrg_ring_create.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_uint32,
                                    ctypes.c_char_p, ctypes.c_size_t]
    lib.nrg_ring_drain.argtypes = [ctypes.c_void_p, ctypes.POINTER(Event), ctypes.c_size_t]
    lib.nrg_ring_drain.restype = ctypes.c_size_t
    lib.nrg_ring_dropped.argtypes = [ctypes.c_void_p]
    lib.nrg_ring_dropped.restype = ctypes.c_uint64
    lib.nrg_ring_destroy.argtypes = [ctypes.c_void_p]
    d = tempfile.mkdtemp(prefix="nrg-py-")
    path = os.path.join(d, "events")
    ring = ctypes.c_void_p()
    err = ctypes.create_string_buffer(256)
    rc = lib.nrg_ring_create(ctypes.byref(ring), path.encode(), capacity, err, 256)
    if rc != 0:
        raise RuntimeError(err.value.decode())
    e = python_env(auto)
    e.update(env or {})
    e["NRG_EVENTS"] = path
    e["NRG_LIBNRG"] = os.environ["NRG_LIBNRG"]
    buf = (Event * 4096)()
    out = []

    def drain():
        while True:
            n = lib.nrg_ring_drain(ring, buf, 4096)
            for i in range(n):
                v = buf[i]
                out.append(_norm(TYPES.get(v.type, "?"), KINDS.get(v.kind, "?"), v.name.decode(),
                                 None if v.epoch < 0 else v.epoch, None if v.step < 0 else v.step,
                                 v.units, v.unit.decode(), v.pid, v.tid))
            if n < 4096:
                return

    p = subprocess.Popen(cmd, env=e)
    while p.poll() is None:
        drain()
        time.sleep(0.02)
    time.sleep(0.05)
    drain()
    dropped = lib.nrg_ring_dropped(ring)
    lib.nrg_ring_destroy(ring)
    os.rmdir(d)
    return p.returncode, out, {"events_lost": dropped}


def run_nrg(cmd, auto=False, env=None):
    d = tempfile.mkdtemp(prefix="nrg-py-")
    db = os.path.join(d, "nrg.db")
    js = os.path.join(d, "out.json")
    e = python_env(False)  # the nrg package on the path (--auto puts it there too)
    e.update(env or {})
    args = [os.environ["NRG"], "run", "-q", "--db", db, "--json", js] + (["--auto"] if auto else []) + ["--"] + cmd
    p = subprocess.run(args, env=e)
    report = {}
    if os.path.exists(js):
        with open(js) as f:
            report = json.load(f)
    con = sqlite3.connect(db)
    rows = con.execute("SELECT type, kind, name, epoch, step, units, unit, pid, tid FROM events"
                       " WHERE run_id = (SELECT max(id) FROM runs) ORDER BY seq").fetchall()
    lost = con.execute("SELECT events_lost FROM runs WHERE id = (SELECT max(id) FROM runs)").fetchone()[0]
    con.close()
    report["events_lost"] = lost
    return p.returncode, [_norm(*r) for r in rows], report


def run_watched(cmd, auto=False, env=None):
    """(exit status, events, report) of cmd run under nrg (see module doc)."""
    if via() == "run":
        return run_nrg(cmd, auto, env)
    return run_ring(cmd, auto, env)


def python_for_torch():
    """/usr/bin/python3 when it has torch (Debian's python3-torch), else None."""
    py = os.environ.get("NRG_TORCH_PYTHON", "/usr/bin/python3")
    try:
        r = subprocess.run([py, "-c", "import torch"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return None
    return py if r.returncode == 0 else None


class Tap:
    """Minimal TAP output."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, what, detail=None):
        self.n += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, what))
        if not cond:
            self.failed += 1
            if detail is not None:
                for line in str(detail).splitlines() or [""]:
                    print("#   " + line)
        sys.stdout.flush()
        return cond

    def eq(self, got, want, what):
        return self.ok(got == want, what, "got:  %r\nwant: %r" % (got, want))

    def skip_all(self, why):
        print("1..0 # SKIP %s" % why)
        sys.exit(0)

    def done(self):
        print("1..%d" % self.n)
        sys.exit(1 if self.failed else 0)


def regions(events):
    """Regions rebuilt from events as libnrg defines them: per (pid, tid), an end closes the
    innermost open region of its name; units go to every region open on that thread. Returns a
    list (in begin order) of dicts: name, kind, epoch, step, units {unit: n}, parent (index or
    None), closed, pid, tid."""
    out = []
    stacks = {}
    for e in events:
        key = (e["pid"], e["tid"])
        st = stacks.setdefault(key, [])
        if e["type"] == "begin":
            out.append({"name": e["name"], "kind": e["kind"], "epoch": e["epoch"], "step": e["step"],
                        "units": {}, "parent": st[-1] if st else None, "closed": False,
                        "pid": e["pid"], "tid": e["tid"]})
            st.append(len(out) - 1)
        elif e["type"] == "end":
            for i in range(len(st) - 1, -1, -1):
                if out[st[i]]["name"] == e["name"]:
                    for j in st[i:]:
                        out[j]["closed"] = True
                    del st[i:]
                    break
        elif e["type"] == "units":
            u = e["unit"] or "units"
            for j in st:
                out[j]["units"][u] = out[j]["units"].get(u, 0) + e["units"]
    return out
