# keras.py - nrg's Keras callback (train/epoch/eval/infer regions, samples) and the Model.fit/evaluate/predict hook of `nrg run --auto`.
# SPDX-License-Identifier: MIT
"""`nrg.keras.Callback` is a `keras.callbacks.Callback` (from the Keras the script imported:
keras, tf_keras or tensorflow.keras) that marks:

* fit:      region "train" (kind train), in it one region "epoch" per epoch (epoch = Keras's
            epoch index); validation inside fit is a region "eval" inside the epoch
* evaluate: region "eval" (kind eval)
* predict:  region "infer" (kind infer)

and adds work per batch: samples when the batch size is known (`Callback(batch_size=32,
samples=1000)` for passes over 1000 samples: the last batch counts the remainder;
`eval_batch_size`/`eval_samples` for the validation inside fit), else one unit "batches" per batch. Under `nrg run --auto`, Model.fit/evaluate/predict add one
automatically, with the batch size and sample counts taken from their arguments when x is an
array (Keras's default batch size of 32 included).
"""
import functools
import importlib
import inspect
import sys

from ._common import warn_once, batch_size as _first_dim
from ._phases import Phases

_classes = {}


def _keras_module():
    for name in ("keras", "tf_keras", "tensorflow.keras"):
        if name in sys.modules:
            return sys.modules[name]
    for name in ("keras", "tf_keras"):
        try:
            return importlib.import_module(name)
        except ImportError:
            pass
    raise ImportError("nrg.keras needs Keras (keras, tf_keras or tensorflow.keras)")


def _callback_base(keras):
    cbs = getattr(keras, "callbacks", None)
    if cbs is None:
        cbs = importlib.import_module(keras.__name__ + ".callbacks")
    return cbs.Callback


class _Mixin:
    """The hooks; mixed into a subclass of the real keras.callbacks.Callback."""

    def __init__(self, batch_size=None, samples=None, eval_batch_size=None, eval_samples=None):
        super().__init__()
        self._nrg = Phases()
        self._sizes = {"train": (batch_size, samples), "eval": (eval_batch_size or batch_size, eval_samples),
                       "infer": (batch_size, samples)}

    def _units(self, phase, batch):
        if phase == "eval" and not self._nrg.is_open("train"):
            phase = "infer"  # a standalone evaluate(): the callback's own batch_size/samples
        bs, n = self._sizes.get(phase, (None, None))
        if bs:
            if n is not None:
                self._nrg.units(max(0, min(bs, n - batch * bs)), "samples")
            else:
                self._nrg.units(bs, "samples")
        else:
            self._nrg.units(1, "batches")

    def on_train_begin(self, logs=None):
        self._nrg.enter()
        self._nrg.begin("train", "train")

    def on_train_end(self, logs=None):
        self._nrg.end("train")
        self._nrg.exit()

    def on_epoch_begin(self, epoch, logs=None):
        self._nrg.begin("epoch", "train", epoch=epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._nrg.end("epoch")

    def on_train_batch_end(self, batch, logs=None):
        self._units("train", batch)

    def on_test_begin(self, logs=None):
        self._nrg.enter()
        self._nrg.begin("eval", "eval")

    def on_test_end(self, logs=None):
        self._nrg.end("eval")
        self._nrg.exit()

    def on_test_batch_end(self, batch, logs=None):
        self._units("eval", batch)

    def on_predict_begin(self, logs=None):
        self._nrg.enter()
        self._nrg.begin("infer", "infer")

    def on_predict_end(self, logs=None):
        self._nrg.end("infer")
        self._nrg.exit()

    def on_predict_batch_end(self, batch, logs=None):
        self._units("infer", batch)


def callback_class(keras=None):
    """nrg's callback class for that Keras module (the one imported when None)."""
    base = _callback_base(keras or _keras_module())
    cls = _classes.get(base)
    if cls is None:
        cls = type("Callback", (_Mixin, base), {"__module__": __name__, "__doc__": __doc__})
        _classes[base] = cls
    return cls


def __getattr__(name):  # nrg.keras.Callback, built over the Keras in use when first asked for
    if name == "Callback":
        return callback_class()
    raise AttributeError(name)


def _samples(x):
    """Samples in x when it is array data (an array, or a list/tuple/dict of arrays), else None
    (a dataset or a generator: its size is unknown)."""
    if hasattr(x, "shape"):
        return _first_dim(x)
    if isinstance(x, (list, tuple)) and x and hasattr(x[0], "shape"):
        return _first_dim(x)
    if isinstance(x, dict) and x and hasattr(next(iter(x.values())), "shape"):
        return _first_dim(x)
    return None


def _wrap(keras, orig, phase):
    sig = inspect.signature(orig)

    @functools.wraps(orig)
    def wrapper(self, *args, **kwargs):
        try:
            bound = sig.bind(self, *args, **kwargs)
            a = bound.arguments
            cbs = a.get("callbacks")
            cbs = [] if cbs is None else (list(cbs) if isinstance(cbs, (list, tuple)) else [cbs])
            if not any(isinstance(c, _Mixin) for c in cbs):
                n = _samples(a.get("x"))
                steps = a.get("steps_per_epoch") if phase == "train" else a.get("steps")
                bs = a.get("batch_size") or (32 if n is not None else None)
                if steps is not None:
                    n = None  # a step count cuts or repeats the data: count the nominal batch size
                kw = {}
                if phase == "train":
                    split = a.get("validation_split") or 0.0
                    if n is not None and split:
                        n, vn = int(n * (1.0 - split)), n - int(n * (1.0 - split))
                    else:
                        vd = a.get("validation_data")
                        vn = _samples(vd[0]) if isinstance(vd, (list, tuple)) and vd else None
                    kw = {"eval_batch_size": a.get("validation_batch_size") or bs, "eval_samples": vn}
                    cb = callback_class(keras)(batch_size=bs, samples=n, **kw)
                elif phase == "eval":
                    cb = callback_class(keras)(batch_size=bs, samples=n, eval_batch_size=bs, eval_samples=n)
                else:
                    cb = callback_class(keras)(batch_size=bs, samples=n)
                cbs.append(cb)
                a["callbacks"] = cbs
            args, kwargs = bound.args[1:], bound.kwargs
        except Exception as e:
            warn_once("Keras instrumentation is off for Model.%s" % orig.__name__, e)
        return orig(self, *args, **kwargs)

    wrapper.__wrapped__ = orig
    return wrapper


def install(keras=None):
    """Make keras.Model.fit/evaluate/predict add nrg's callback (once per Keras module)."""
    keras = keras or _keras_module()
    model = getattr(keras, "Model", None)
    if model is None:
        model = importlib.import_module(keras.__name__ + ".models").Model
    if getattr(model, "_nrg_patched", False):
        return True
    for meth, phase in (("fit", "train"), ("evaluate", "eval"), ("predict", "infer")):
        setattr(model, meth, _wrap(keras, getattr(model, meth), phase))
    model._nrg_patched = True
    return True
