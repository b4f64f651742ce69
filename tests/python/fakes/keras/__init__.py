# keras/__init__.py - a fake Keras for nrg's tests: Model.fit/evaluate/predict calling callbacks as Keras 3 does.
# SPDX-License-Identifier: MIT
"""Only what nrg touches: keras.callbacks.Callback and keras.Model with the real signatures of
fit/evaluate/predict and the real order of callback calls (fit validates at the end of each
epoch, before on_epoch_end). Keras's default batch size is 32."""
import math

from . import callbacks  # noqa: F401
from .callbacks import CallbackList


def _n(x):
    return len(x[0]) if isinstance(x, (list, tuple)) else len(x)


class Model:
    def __init__(self):
        self.history = []

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None, sample_weight=None,
            initial_epoch=0, steps_per_epoch=None, validation_steps=None, validation_batch_size=None,
            validation_freq=1):
        bs = batch_size or 32
        n = _n(x)
        if validation_split:
            split = int(n * (1.0 - validation_split))
            n, val_n = split, n - split
        else:
            val_n = _n(validation_data[0]) if validation_data else 0
        steps = steps_per_epoch or math.ceil(n / bs)
        cbl = CallbackList(callbacks, model=self, params={"verbose": verbose, "epochs": epochs, "steps": steps})
        cbl.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cbl.on_epoch_begin(epoch)
            for b in range(steps):
                cbl.on_train_batch_begin(b)
                self.history.append(("train", epoch, b))
                cbl.on_train_batch_end(b, {"loss": 1.0 / (b + 1)})
            logs = {"loss": 0.5}
            if val_n:
                self._test(cbl, val_n, validation_batch_size or bs)
            cbl.on_epoch_end(epoch, logs)
        cbl.on_train_end()
        return self.history

    def _test(self, cbl, n, bs):
        cbl.on_test_begin()
        for b in range(math.ceil(n / bs)):
            cbl.on_test_batch_begin(b)
            self.history.append(("test", b))
            cbl.on_test_batch_end(b, {"loss": 0.1})
        cbl.on_test_end({"loss": 0.1})

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, **kwargs):
        cbl = CallbackList(callbacks, model=self, params={"verbose": verbose, "epochs": 1, "steps": steps})
        self._test(cbl, _n(x), batch_size or 32)
        return 0.1

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        bs = batch_size or 32
        cbl = CallbackList(callbacks, model=self, params={"verbose": verbose, "epochs": 1, "steps": steps})
        cbl.on_predict_begin()
        out = []
        for b in range(math.ceil(_n(x) / bs)):
            cbl.on_predict_batch_begin(b)
            out.append(b)
            cbl.on_predict_batch_end(b, {"outputs": b})
        cbl.on_predict_end()
        return out
