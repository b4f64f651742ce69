# _common.py - helpers shared by nrg's framework hooks: warn once, batch sizes, hand-over between hooks.
# SPDX-License-Identifier: MIT
import sys
import threading

_warned = set()
_lock = threading.Lock()

# While > 0, a framework hook (Lightning, Hugging Face Trainer, Keras) reports the phases itself,
# and the generic PyTorch hooks (DataLoader passes) stay quiet so that nothing is counted twice.
_framework = [0]


def warn_once(what, exc=None):
    """Print `nrg: <what>: <exc>` on stderr, once per `what`. Never raises."""
    try:
        with _lock:
            if what in _warned:
                return
            _warned.add(what)
        msg = "nrg: %s" % what
        if exc is not None:
            msg += ": %s: %s" % (type(exc).__name__, exc)
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()
    except Exception:
        pass


def framework_enter():
    with _lock:
        _framework[0] += 1


def framework_exit():
    with _lock:
        if _framework[0] > 0:
            _framework[0] -= 1


def framework_active():
    return _framework[0] > 0


def batch_size(batch):
    """Samples in a batch: the first dimension of the first array-like (anything with a shape)
    found in it, looking into the first element of tuples/lists and the first value of dicts;
    len() of a list or tuple of plain items; 1 for anything else. Never copies or syncs."""
    b = batch
    for _ in range(8):
        shape = getattr(b, "shape", None)
        if shape is not None:
            try:
                return int(shape[0]) if len(shape) else 1
            except Exception:
                return 1
        if isinstance(b, (list, tuple)):
            if not b:
                return 0
            first = b[0]
            if hasattr(first, "shape") or isinstance(first, (list, tuple, dict)):
                b = first
                continue
            return len(b)
        if isinstance(b, dict):
            if not b:
                return 0
            b = next(iter(b.values()))
            continue
        # a dict-like batch (e.g. transformers' BatchEncoding) or another object
        values = getattr(b, "values", None)
        if callable(values):
            try:
                b = next(iter(values()))
                continue
            except Exception:
                return 1
        return 1
    return 1
