# hf.py - nrg's Hugging Face Trainer callback (train/epoch/eval/infer regions, samples) and the Trainer hook of `nrg run --auto`.
# SPDX-License-Identifier: MIT
"""`nrg.hf.Callback` is a `transformers.TrainerCallback` that marks:

* Trainer.train:    region "train" (kind train) from on_train_begin to on_train_end, one region
                    "epoch" per epoch (epoch = int(state.epoch) at on_epoch_begin)
* evaluation:       region "eval" (kind eval) from the first on_prediction_step to on_evaluate
* Trainer.predict:  region "infer" (kind infer), when nrg knows a predict() call runs: under
                    `nrg run --auto`, or after `nrg.hf.instrument(trainer)`; else it reads "eval"

Samples are nominal, as the callbacks see no batches: each optimizer step adds
train_batch_size x gradient_accumulation_steps, each prediction step eval_batch_size (a short
last batch is counted full). While a Trainer runs, the generic PyTorch DataLoader hooks of
`nrg run --auto` stay quiet. Under `nrg run --auto` every Trainer gets the callback.

    trainer = transformers.Trainer(model, args, callbacks=[nrg.hf.Callback()])
    nrg.hf.instrument(trainer)  # or: adds the callback and tells predict() from evaluate()
"""
import functools
import importlib
import sys
import threading

from ._common import warn_once
from ._phases import Phases

_classes = {}
_hint = threading.local()  # "infer" while Trainer.predict runs, "eval" while Trainer.evaluate runs


def _tf_module():
    """transformers.trainer (Trainer) imported the way the script did, or now."""
    if "transformers.trainer" in sys.modules:
        return sys.modules["transformers.trainer"]
    return importlib.import_module("transformers.trainer")


def _base(mod):
    base = getattr(mod, "TrainerCallback", None)
    if base is None:
        base = importlib.import_module("transformers.trainer_callback").TrainerCallback
    return base


def _arg(args, *names, default=1):
    for n in names:
        v = getattr(args, n, None)
        if v:
            return v
    return default


class _Mixin:
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._nrg = Phases()
        self._nrg_pred = None  # the name of the open evaluation/prediction region

    def on_train_begin(self, args, state, control, **kwargs):
        self._nrg.enter()
        self._nrg.begin("train", "train")

    def on_train_end(self, args, state, control, **kwargs):
        self._nrg.end("train")
        self._nrg.exit()

    def on_epoch_begin(self, args, state, control, **kwargs):
        ep = getattr(state, "epoch", None)
        self._nrg.begin("epoch", "train", epoch=int(ep) if ep is not None else None)

    def on_epoch_end(self, args, state, control, **kwargs):
        self._nrg.end("epoch")

    def on_step_end(self, args, state, control, **kwargs):
        self._nrg.units(_arg(args, "train_batch_size", "per_device_train_batch_size")
                        * _arg(args, "gradient_accumulation_steps"))

    def on_prediction_step(self, args, state, control, **kwargs):
        if self._nrg_pred is None:
            kind = getattr(_hint, "kind", None) or "eval"
            self._nrg_pred = kind
            self._nrg.enter()
            self._nrg.begin(kind, kind)
        self._nrg.units(_arg(args, "eval_batch_size", "per_device_eval_batch_size"))

    def _end_pred(self):
        if self._nrg_pred is not None:
            self._nrg.end(self._nrg_pred)
            self._nrg_pred = None
            self._nrg.exit()

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self._end_pred()

    def on_predict(self, args, state, control, metrics=None, **kwargs):
        self._end_pred()


def callback_class(transformers=None):
    base = _base(transformers or _tf_module())
    cls = _classes.get(base)
    if cls is None:
        cls = type("Callback", (_Mixin, base), {"__module__": __name__, "__doc__": __doc__})
        _classes[base] = cls
    return cls


def __getattr__(name):
    if name == "Callback":
        return callback_class()
    raise AttributeError(name)


def _phase(orig, kind):
    @functools.wraps(orig)
    def wrapper(self, *args, **kwargs):
        prev = getattr(_hint, "kind", None)
        _hint.kind = kind
        try:
            return orig(self, *args, **kwargs)
        finally:
            _hint.kind = prev
            for c in getattr(getattr(self, "callback_handler", None), "callbacks", ()):
                if isinstance(c, _Mixin):
                    c._end_pred()  # no on_evaluate/on_predict came (an error): close the region
    wrapper.__wrapped__ = orig
    return wrapper


def _has_ours(trainer):
    return any(isinstance(c, _Mixin) for c in getattr(getattr(trainer, "callback_handler", None), "callbacks", ()))


def instrument(trainer, transformers=None):
    """Add nrg's callback to this trainer (if it has none) and mark its predict() calls as
    inference and its evaluate() calls as evaluation. Returns the trainer."""
    if not _has_ours(trainer):
        trainer.add_callback(callback_class(transformers)())
    if not getattr(type(trainer), "_nrg_patched", False) and not getattr(trainer, "_nrg_instrumented", False):
        for meth, kind in (("evaluate", "eval"), ("predict", "infer")):
            setattr(trainer, meth, _phase(getattr(type(trainer), meth), kind).__get__(trainer))
        trainer._nrg_instrumented = True
    return trainer


def install(trainer_module=None):
    """Make every transformers Trainer get nrg's callback and tell predict() from evaluate().
    `nrg run --auto` calls it when the script imports transformers.trainer (which
    `from transformers import Trainer` does), so importing transformers alone loads nothing."""
    tf = trainer_module or _tf_module()
    trainer = tf.Trainer
    if getattr(trainer, "_nrg_patched", False):
        return True
    orig_init = trainer.__init__

    @functools.wraps(orig_init)
    def __init__(self, *args, **kwargs):
        orig_init(self, *args, **kwargs)
        try:
            if not _has_ours(self):
                self.add_callback(callback_class(tf)())
        except Exception as e:
            warn_once("Hugging Face Trainer instrumentation is off", e)

    trainer.__init__ = __init__
    trainer.evaluate = _phase(trainer.evaluate, "eval")
    trainer.predict = _phase(trainer.predict, "infer")
    trainer._nrg_patched = True
    return True
