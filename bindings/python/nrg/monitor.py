# monitor.py - nrg.Monitor: a script measures its own energy and regions, without nrg run.
# SPDX-License-Identifier: MIT
"""In-process measurement through libnrg's monitor (nrg_monitor_start/stop): the same sources,
sampling and report as `nrg run`, for the calling process only.

    with nrg.Monitor() as m:
        with nrg.region("train", kind="train"):
            train()
    print(m.report["total"]["energy_j"], m.report["regions"])

The report is the JSON report of `nrg run --json` as a dict. Under `nrg run` the monitor is not
needed (the run already records the regions): start() raises RuntimeError there, as it does when
libnrg cannot be loaded.
"""
import ctypes
import json

from . import _lib

__all__ = ["Monitor"]


def _c(lib):
    lib.nrg_monitor_start.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint64,
                                      ctypes.c_char_p, ctypes.c_size_t]
    lib.nrg_monitor_start.restype = ctypes.c_int
    lib.nrg_monitor_stop.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_size_t]
    lib.nrg_monitor_stop.restype = ctypes.c_int
    lib.nrg_report_json.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.nrg_report_json.restype = ctypes.c_void_p  # malloc'd char *, freed below
    lib.nrg_report_free.argtypes = [ctypes.c_void_p]
    lib.nrg_report_free.restype = None
    return lib


class Monitor:
    """Measure this process from start() to stop(); `report` then holds the JSON report (dict).

    db: keep the samples in this SQLite file (readable by `nrg report --db`), else a temporary
    file removed at stop. interval: sampling interval in seconds."""

    def __init__(self, db=None, interval=0.1):
        self.db = db
        self.interval = interval
        self.report = None
        self._on = False

    def start(self):
        lib = _lib._lib
        if lib is None:
            raise RuntimeError("nrg: libnrg cannot be loaded: %s" % _lib.why())
        _c(lib)
        err = ctypes.create_string_buffer(512)
        db = self.db.encode() if self.db else None
        rc = lib.nrg_monitor_start(None, db, int(self.interval * 1e6), err, len(err))
        if rc != 0:
            raise RuntimeError("nrg: cannot start the monitor: %s" % err.value.decode(errors="replace"))
        self._on = True
        return self

    def stop(self):
        if not self._on:
            return self.report
        lib = _lib._lib
        self._on = False
        rep = ctypes.c_void_p()
        err = ctypes.create_string_buffer(512)
        rc = lib.nrg_monitor_stop(ctypes.byref(rep), err, len(err))
        if rc != 0:
            raise RuntimeError("nrg: the monitor failed: %s" % err.value.decode(errors="replace"))
        try:
            p = lib.nrg_report_json(rep, None)
            if not p:
                raise MemoryError("nrg: out of memory writing the report")
            try:
                self.report = json.loads(ctypes.string_at(p).decode())
            finally:
                ctypes.CDLL(None).free(ctypes.c_void_p(p))
        finally:
            lib.nrg_report_free(rep)
        return self.report

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
