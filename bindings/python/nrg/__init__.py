# __init__.py - nrg's Python API: regions (context manager and decorator), work units, marks.
# SPDX-License-Identifier: MIT
"""Mark the phases of a Python workload for nrg (see docs/phases.md).

    import nrg

    with nrg.region("train", kind="train"):
        for epoch in range(3):
            with nrg.region("epoch", kind="train", epoch=epoch):
                for x, y in loader:
                    ...
                    nrg.add_units(len(x), "samples")

    @nrg.region("evaluate", kind="eval")
    def evaluate(model): ...

Events reach nrg when the process runs under `nrg run` (or an in-process monitor of libnrg).
Without nrg, or without libnrg, every call is a cheap no-op, `watched()` is False, and the code
inside regions runs unchanged; exceptions pass through untouched. Only the standard library is
used (Python >= 3.7).
"""
import functools
import inspect

from . import _lib

__all__ = ["region", "begin", "end", "add_units", "mark", "watched", "KINDS", "Region", "Monitor"]
__version__ = "0.1.0"

# Region kinds, as in libnrg (enum nrg_region_kind), with the aliases libnrg accepts.
KINDS = {
    "other": 0,
    "train": 1, "training": 1,
    "eval": 2, "evaluation": 2, "validation": 2,
    "infer": 3, "inference": 3, "predict": 3,
}


def _kind(kind):
    if kind is None:
        return 0
    if isinstance(kind, int) and not isinstance(kind, bool) and 0 <= kind <= 3:
        return kind
    try:
        return KINDS[kind.lower()]
    except (AttributeError, KeyError):
        raise ValueError("nrg: unknown region kind %r (train, eval, infer or other)" % (kind,)) from None


def _b(s):
    if isinstance(s, bytes):
        return s
    return str(s).encode("utf-8", "replace")


def _n(v):
    return -1 if v is None else int(v)


def begin(name, kind="other", epoch=None, step=None):
    """Open region `name` on this thread. Returns 0, or a negative errno: -ENOTCONN when nobody
    watches, -ENOBUFS when nrg's event ring was full (the event is lost and counted)."""
    return _lib.region_begin(_b(name), _kind(kind), _n(epoch), _n(step))


def end(name):
    """Close the innermost open region `name` of this thread."""
    return _lib.region_end(_b(name))


def add_units(n, unit=None):
    """Add n units of work (unit: "samples", "tokens", ...; None: "units") to the regions open on
    this thread."""
    return _lib.add_units(float(n), None if unit is None else _b(unit))


def mark(name):
    """Record an instant event."""
    return _lib.mark(_b(name))


def watched():
    """Whether this process's events reach a running nrg (or an in-process monitor)."""
    try:
        return bool(_lib.watched())
    except Exception:
        return False


class Region:
    """A region, usable as a context manager (`with nrg.region(...)`) and as a decorator
    (`@nrg.region(...)`: every call of the function is one region). Regions are per thread;
    the same object may be entered again, nested, or from several threads."""

    __slots__ = ("name", "kind", "epoch", "step", "_name", "_kind")

    def __init__(self, name, kind="other", epoch=None, step=None):
        self.name = name
        self.kind = kind
        self.epoch = epoch
        self.step = step
        self._name = _b(name)
        self._kind = _kind(kind)

    def __enter__(self):
        _lib.region_begin(self._name, self._kind, _n(self.epoch), _n(self.step))
        return self

    def __exit__(self, exc_type, exc, tb):
        _lib.region_end(self._name)
        return False  # exceptions propagate

    def __call__(self, fn):
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def awrapper(*args, **kwargs):
                with self:
                    return await fn(*args, **kwargs)
            return awrapper
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gwrapper(*args, **kwargs):
                with self:
                    return (yield from fn(*args, **kwargs))
            return gwrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return wrapper

    def __repr__(self):
        return "nrg.region(%r, kind=%r, epoch=%r, step=%r)" % (self.name, self.kind, self.epoch, self.step)


def region(name, kind="other", epoch=None, step=None):
    """A region named `name` of kind "train", "eval", "infer" or "other", with an optional epoch
    and step number. Use it with `with`, or as a decorator. `@nrg.region` without arguments
    names the region after the function."""
    if callable(name) and not isinstance(name, (str, bytes)):
        fn = name
        return Region(getattr(fn, "__qualname__", getattr(fn, "__name__", "function")), kind, epoch, step)(fn)
    return Region(name, kind, epoch, step)

from .monitor import Monitor  # noqa: E402  (in-process measurement without nrg run)
