# lightning.py - nrg's PyTorch Lightning callback (train/epoch/eval/infer regions, samples) and the Trainer hook of `nrg run --auto`.
# SPDX-License-Identifier: MIT
"""`nrg.lightning.Callback` is a Lightning `Callback` (from lightning.pytorch, or
pytorch_lightning) that marks:

* fit:                 region "train" (kind train) from on_train_start to on_train_end, one
                       region "epoch" per training epoch (epoch = trainer.current_epoch);
                       validation (and the sanity check) is a region "eval" inside them
* validate, test:      region "eval" (kind eval)
* predict:             region "infer" (kind infer)

and adds the samples of every batch (its first dimension) as unit "samples". While a Trainer
runs, the generic PyTorch DataLoader hooks of `nrg run --auto` stay quiet, so nothing is counted
twice. Under `nrg run --auto`, every Trainer gets one automatically (unless it has one already).

    trainer = lightning.pytorch.Trainer(max_epochs=3, callbacks=[nrg.lightning.Callback()])
"""
import functools
import importlib
import sys

from ._common import warn_once, batch_size
from ._phases import Phases

_classes = {}


def _pl_module():
    for name in ("lightning.pytorch", "pytorch_lightning"):
        if name in sys.modules:
            return sys.modules[name]
    for name in ("lightning.pytorch", "pytorch_lightning"):
        try:
            return importlib.import_module(name)
        except ImportError:
            pass
    raise ImportError("nrg.lightning needs PyTorch Lightning (lightning.pytorch or pytorch_lightning)")


class _Mixin:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._nrg = Phases()
        self._nrg_depth = 0

    # a Trainer entry point (fit, validate, test, predict) runs between setup and teardown
    def setup(self, trainer, pl_module, stage):
        self._nrg_depth += 1
        self._nrg.enter()

    def teardown(self, trainer, pl_module, stage):
        self._nrg.close_all()
        if self._nrg_depth > 0:
            self._nrg_depth -= 1
            self._nrg.exit()

    def on_exception(self, trainer, pl_module, exception):
        self._nrg.close_all()

    def on_train_start(self, trainer, pl_module):
        self._nrg.begin("train", "train")

    def on_train_end(self, trainer, pl_module):
        self._nrg.end("train")

    def on_train_epoch_start(self, trainer, pl_module):
        self._nrg.begin("epoch", "train", epoch=getattr(trainer, "current_epoch", None))

    def on_train_epoch_end(self, trainer, pl_module):
        self._nrg.end("epoch")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._nrg.units(batch_size(batch))

    def on_validation_start(self, trainer, pl_module):
        self._nrg.begin("eval", "eval")

    def on_validation_end(self, trainer, pl_module):
        self._nrg.end("eval")

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._nrg.units(batch_size(batch))

    def on_test_start(self, trainer, pl_module):
        self._nrg.begin("eval", "eval")

    def on_test_end(self, trainer, pl_module):
        self._nrg.end("eval")

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._nrg.units(batch_size(batch))

    def on_predict_start(self, trainer, pl_module):
        self._nrg.begin("infer", "infer")

    def on_predict_end(self, trainer, pl_module):
        self._nrg.end("infer")

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._nrg.units(batch_size(batch))


def callback_class(pl=None):
    """nrg's callback class over that Lightning module's Callback (the one in use when None)."""
    base = (pl or _pl_module()).Callback
    cls = _classes.get(base)
    if cls is None:
        cls = type("Callback", (_Mixin, base), {"__module__": __name__, "__doc__": __doc__})
        _classes[base] = cls
    return cls


def __getattr__(name):
    if name == "Callback":
        return callback_class()
    raise AttributeError(name)


def install(pl=None):
    """Make every Trainer of that Lightning module get nrg's callback."""
    pl = pl or _pl_module()
    trainer = pl.Trainer
    if getattr(trainer, "_nrg_patched", False):
        return True
    orig = trainer.__init__

    @functools.wraps(orig)
    def __init__(self, *args, **kwargs):
        try:
            cbs = kwargs.get("callbacks")
            cbs = [] if cbs is None else (list(cbs) if isinstance(cbs, (list, tuple)) else [cbs])
            if not any(isinstance(c, _Mixin) for c in cbs):
                cbs.append(callback_class(pl)())
                kwargs["callbacks"] = cbs
        except Exception as e:
            warn_once("Lightning instrumentation is off", e)
        orig(self, *args, **kwargs)

    trainer.__init__ = __init__
    trainer._nrg_patched = True
    return True
