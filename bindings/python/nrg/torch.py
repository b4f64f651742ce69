# torch.py - nrg's PyTorch hooks: training/evaluation/inference passes, epochs and samples from DataLoaders.
# SPDX-License-Identifier: MIT
"""Automatic phases for PyTorch scripts (installed by `nrg run --auto`, or by `nrg.torch.install()`).

The rules (docs/phases.md has the long form):

* Mode: the argument of the most recent `Module.train(mode)` call in the process
  (`model.eval()` is `train(False)`); a module is in training mode until told otherwise.
* A *pass* is one iteration over a `torch.utils.data.DataLoader`, from `iter(loader)` to its
  `StopIteration`, or until it is abandoned (the iterator is freed, or the loader is iterated
  again). Its kind is decided when it starts:
    - under `torch.inference_mode()`                          -> "infer"
    - grad enabled and the mode is training                   -> "train"
    - anything else (`torch.no_grad()`, or the mode is eval)  -> "eval" once a training pass was
      seen in this process, "infer" before (a script that never trains only infers).
* A training pass is a region "epoch" (kind train, epoch 0, 1, 2, ...), inside a region "train"
  (kind train). "train" opens with the first training pass and closes at the next
  `model.eval()` or evaluation/inference pass made outside a training pass (or at exit).
  A DataLoader iterated in training mode while a training pass is open (a second loader read
  alongside) adds nothing.
* Other passes are regions "eval" (kind eval) or "infer" (kind infer), nested in the epoch when
  one is open (validation inside an epoch), else at the top.
* Samples: each batch adds its size (the first dimension of the first tensor in it, or len() of
  a list of plain items; 1 per item when the loader has no batch size) as unit "samples" to the
  open regions, in groups of up to 64 batches. Nothing else is done per batch: no syncs, no copies.
"""
import atexit
import threading
import weakref

import nrg
from ._common import warn_once, batch_size, framework_active

FLUSH_BATCHES = 64

_installed = False
_lock = threading.RLock()


class _State:
    model_train = True   # mode of the most recent Module.train(mode) call
    trained = False      # a training pass was seen
    train_open = False   # region "train" open
    epoch = 0            # number of the next epoch
    train_pass = None    # the open training pass
    open_passes = []     # all open passes, oldest first


S = _State


class _Pass:
    __slots__ = ("name", "kind", "epoch", "per_item", "units", "batches", "open", "ref", "__weakref__")

    def __init__(self, name, kind, epoch, per_item):
        self.name = name
        self.kind = kind
        self.epoch = epoch
        self.per_item = per_item
        self.units = 0
        self.batches = 0
        self.open = True
        self.ref = None


def _flush(p):
    if p.units:
        nrg.add_units(p.units, "samples")
    p.units = 0
    p.batches = 0


def _end_pass(p):
    with _lock:
        if not p.open:
            return
        p.open = False
        # close passes opened inside this one first (an abandoned inner pass)
        while S.open_passes and S.open_passes[-1] is not p:
            _end_pass(S.open_passes[-1])
        if S.open_passes and S.open_passes[-1] is p:
            S.open_passes.pop()
        _flush(p)
        nrg.end(p.name)
        if p is S.train_pass:
            S.train_pass = None
            S.epoch += 1


def _close_train():
    with _lock:
        if S.train_open and S.train_pass is None:
            while S.open_passes:
                _end_pass(S.open_passes[-1])
            nrg.end("train")
            S.train_open = False


def _freed(p):
    def cb(_ref):
        try:
            _end_pass(p)
        except Exception as e:
            warn_once("PyTorch instrumentation failed at the end of a DataLoader pass", e)
    return cb


def _kind_now(torch):
    inf = getattr(torch, "is_inference_mode_enabled", None)
    if inf is not None and inf():
        return "infer"
    if torch.is_grad_enabled() and S.model_train:
        return "train"
    return "eval" if S.trained else "infer"


def _start_pass(torch, loader, it):
    if framework_active():
        return
    with _lock:
        old = getattr(it, "_nrg_pass", None)
        if old is not None and old.open:  # a reused iterator (persistent workers)
            _end_pass(old)
        kind = _kind_now(torch)
        per_item = getattr(loader, "batch_size", 1) is None and getattr(loader, "batch_sampler", 1) is None
        if kind == "train":
            if S.train_pass is not None and S.train_pass.open:
                return  # another loader read inside a training pass
            if not S.train_open:
                nrg.begin("train", "train")
                S.train_open = True
            p = _Pass("epoch", "train", S.epoch, per_item)
            nrg.begin("epoch", "train", epoch=S.epoch)
            S.train_pass = p
            S.trained = True
        else:
            if S.train_pass is None:
                _close_train()
            p = _Pass(kind, kind, None, per_item)
            nrg.begin(kind, kind)
        S.open_passes.append(p)
        try:
            it._nrg_pass = p
            p.ref = weakref.ref(it, _freed(p))
        except Exception:
            pass  # an iterator without __dict__: the pass then ends at StopIteration or at exit


def _on_mode(mode):
    S.model_train = mode
    if not mode and S.train_open and S.train_pass is None:
        _close_train()


def _at_exit():
    try:
        with _lock:
            while S.open_passes:
                _end_pass(S.open_passes[-1])
            S.train_pass = None
            if S.train_open:
                nrg.end("train")
                S.train_open = False
    except Exception:
        pass


def install(torch=None):
    """Patch torch (imported if not given) once. Returns True when the hooks are in place."""
    global _installed
    if _installed:
        return True
    if torch is None:
        import torch
    from torch.utils.data import DataLoader
    from torch.utils.data import dataloader as dl_mod

    base_iter = getattr(dl_mod, "_BaseDataLoaderIter", None)
    orig_loader_iter = DataLoader.__iter__
    orig_train = torch.nn.Module.train
    orig_next = base_iter.__next__ if base_iter is not None else None

    def __iter__(self):
        it = orig_loader_iter(self)
        try:
            _start_pass(torch, self, it)
        except Exception as e:
            warn_once("PyTorch instrumentation failed at the start of a DataLoader pass", e)
        return it

    def __next__(self):
        try:
            batch = orig_next(self)
        except StopIteration:
            p = getattr(self, "_nrg_pass", None)
            if p is not None and p.open:
                try:
                    _end_pass(p)
                except Exception as e:
                    warn_once("PyTorch instrumentation failed at the end of a DataLoader pass", e)
            raise
        p = getattr(self, "_nrg_pass", None)
        if p is not None and p.open:
            try:
                p.units += 1 if p.per_item else batch_size(batch)
                p.batches += 1
                if p.batches >= FLUSH_BATCHES:
                    _flush(p)
            except Exception as e:
                warn_once("PyTorch instrumentation failed to count a batch", e)
        return batch

    def train(self, mode=True):
        r = orig_train(self, mode)
        try:
            _on_mode(bool(mode))
        except Exception as e:
            warn_once("PyTorch instrumentation failed in Module.train", e)
        return r

    for f, o in ((__iter__, orig_loader_iter), (__next__, orig_next), (train, orig_train)):
        if o is not None:
            for a in ("__module__", "__name__", "__qualname__", "__doc__"):
                try:
                    setattr(f, a, getattr(o, a))
                except Exception:
                    pass
            f.__wrapped__ = o
    DataLoader.__iter__ = __iter__
    torch.nn.Module.train = train
    if base_iter is not None:
        base_iter.__next__ = __next__
    atexit.register(_at_exit)
    _installed = True
    return True
