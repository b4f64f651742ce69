#!/usr/bin/env python3
# py-regions.py - the cost of marking a region from Python: nrg's package vs what peers do per window.
# SPDX-License-Identifier: MIT
"""usage: py-regions.py NVML_LIB

nrg.region() (ctypes over libnrg: one event each at begin and end, stamped in C), watched or
not, next to a window the way Python energy tools open and close one: read every GPU's energy
counter through NVML (ctypes, as pynvml does) at the start and the end of the window."""
import ctypes, os, sys, time

import nrg

N = 20000


def best(fn, rounds=5):
    b = 1e18
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        fn()
        b = min(b, (time.perf_counter_ns() - t0) / N)
    return b


def nrg_regions():
    for _ in range(N):
        with nrg.region("batch", kind="train"):
            pass


nvml = ctypes.CDLL(sys.argv[1])
nvml.nvmlInit_v2()
count = ctypes.c_uint()
nvml.nvmlDeviceGetCount_v2(ctypes.byref(count))
handles = []
for i in range(count.value):
    h = ctypes.c_void_p()
    nvml.nvmlDeviceGetHandleByIndex_v2(i, ctypes.byref(h))
    handles.append(h)


def nvml_windows():
    e = ctypes.c_ulonglong()
    for _ in range(N):
        start = []
        for h in handles:
            nvml.nvmlDeviceGetTotalEnergyConsumption(h, ctypes.byref(e))
            start.append(e.value)
        end = []
        for h in handles:
            nvml.nvmlDeviceGetTotalEnergyConsumption(h, ctypes.byref(e))
            end.append(e.value)


print("python %s, nrg %s" % (sys.version.split()[0], "watched" if nrg.watched() else "not watched"))
print("nrg.region() begin+end:                               %7.0f ns" % best(nrg_regions))
print("a window reading %d GPUs' NVML energy counters (peers):  %7.0f ns  (simulated NVML)"
      % (len(handles), best(nvml_windows)))
