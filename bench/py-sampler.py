#!/usr/bin/env python3
# py-sampler.py - what users run today: a Python loop polling RAPL files and NVML (ctypes, as pynvml does).
# SPDX-License-Identifier: MIT
"""usage: py-sampler.py ROOT NVML_LIB RATE_HZ SECONDS

Polls every <ROOT>/sys/class/powercap/*/energy_uj (opened and read each time, as the Python
tools do) and, for each GPU of NVML_LIB, the energy counter and the power, at RATE_HZ, with
time.sleep between polls. Prints the CPU it used as a percentage of one core."""
import ctypes, glob, os, resource, sys, time

root, lib, rate, secs = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
nvml = ctypes.CDLL(lib)
nvml.nvmlInit_v2()
count = ctypes.c_uint()
nvml.nvmlDeviceGetCount_v2(ctypes.byref(count))
handles = []
for i in range(count.value):
    h = ctypes.c_void_p()
    nvml.nvmlDeviceGetHandleByIndex_v2(i, ctypes.byref(h))
    handles.append(h)
files = sorted(glob.glob(os.path.join(root, "sys/class/powercap/*/energy_uj")))
samples = []
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.monotonic()
period = 1.0 / rate
next_t = t0
while time.monotonic() - t0 < secs:
    row = [time.monotonic()]
    for f in files:
        with open(f) as fh:
            row.append(int(fh.read()))
    for h in handles:
        e = ctypes.c_ulonglong()
        p = ctypes.c_uint()
        nvml.nvmlDeviceGetTotalEnergyConsumption(h, ctypes.byref(e))
        nvml.nvmlDeviceGetPowerUsage(h, ctypes.byref(p))
        row += [e.value, p.value]
    samples.append(row)
    next_t += period
    d = next_t - time.monotonic()
    if d > 0:
        time.sleep(d)
r1 = resource.getrusage(resource.RUSAGE_SELF)
wall = time.monotonic() - t0
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
print("%6g Hz  python sampler  CPU %.2f%% of a core  (%d samples, %d files, %d GPUs)"
      % (rate, 100 * cpu / wall, len(samples), len(files), len(handles)))
