# _lib.py - loads libnrg through ctypes; without it every call is a cheap no-op.
# SPDX-License-Identifier: MIT
"""The ctypes binding to libnrg's region and event calls.

libnrg is looked for in NRG_LIBNRG (set by `nrg run`), then by ctypes.util.find_library("nrg"),
then as "libnrg.so.0". When none loads, the functions below return -ENOTCONN and do nothing.
Nothing here raises.
"""
import ctypes
import ctypes.util
import errno
import os

ENOTCONN = -errno.ENOTCONN

_lib = None
_why = ""


def _load():
    global _lib, _why
    names = []
    env = os.environ.get("NRG_LIBNRG")
    if env:
        names.append(env)
    try:
        found = ctypes.util.find_library("nrg")
    except Exception:  # find_library runs tools; never let that break the user's program
        found = None
    if found:
        names.append(found)
    names.append("libnrg.so.0")
    errors = []
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            lib.nrg_region_begin.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
            lib.nrg_region_begin.restype = ctypes.c_int
            lib.nrg_region_end.argtypes = [ctypes.c_char_p]
            lib.nrg_region_end.restype = ctypes.c_int
            lib.nrg_add_units.argtypes = [ctypes.c_double, ctypes.c_char_p]
            lib.nrg_add_units.restype = ctypes.c_int
            lib.nrg_mark.argtypes = [ctypes.c_char_p]
            lib.nrg_mark.restype = ctypes.c_int
            lib.nrg_watched.argtypes = []
            lib.nrg_watched.restype = ctypes.c_bool
        except (OSError, AttributeError) as e:
            errors.append("%s: %s" % (name, e))
            continue
        _lib = lib
        _why = ""
        return
    _why = "; ".join(errors) or "libnrg not found"


try:
    _load()
except Exception as e:  # pragma: no cover - belt and braces
    _lib = None
    _why = str(e)


def loaded():
    """Whether libnrg was loaded."""
    return _lib is not None


def why():
    """Why libnrg is not loaded ("" when it is)."""
    return _why


if _lib is not None:
    region_begin = _lib.nrg_region_begin  # (bytes name, int kind, int epoch, int step) -> int
    region_end = _lib.nrg_region_end      # (bytes name) -> int
    add_units = _lib.nrg_add_units        # (float n, bytes unit) -> int
    mark = _lib.nrg_mark                  # (bytes name) -> int
    watched = _lib.nrg_watched            # () -> bool
else:
    def region_begin(name, kind, epoch, step):
        return ENOTCONN

    def region_end(name):
        return ENOTCONN

    def add_units(n, unit):
        return ENOTCONN

    def mark(name):
        return ENOTCONN

    def watched():
        return False
