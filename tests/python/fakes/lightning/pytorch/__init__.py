# lightning/pytorch/__init__.py - a fake lightning.pytorch: Callback and a Trainer calling its hooks in Lightning 2's order.
# SPDX-License-Identifier: MIT
"""Trainer(*, callbacks=None, max_epochs=None, ...) with fit/validate/test/predict; dataloaders
are lists of batches. Hooks and their signatures as in Lightning 2.x; validation runs at the end of
each training epoch, before on_train_epoch_end, and a sanity check of 2 validation batches runs
before training (trainer.sanity_checking)."""


class Callback:
    def setup(self, trainer, pl_module, stage): pass
    def teardown(self, trainer, pl_module, stage): pass
    def on_fit_start(self, trainer, pl_module): pass
    def on_fit_end(self, trainer, pl_module): pass
    def on_sanity_check_start(self, trainer, pl_module): pass
    def on_sanity_check_end(self, trainer, pl_module): pass
    def on_train_start(self, trainer, pl_module): pass
    def on_train_end(self, trainer, pl_module): pass
    def on_train_epoch_start(self, trainer, pl_module): pass
    def on_train_epoch_end(self, trainer, pl_module): pass
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx): pass
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx): pass
    def on_validation_start(self, trainer, pl_module): pass
    def on_validation_end(self, trainer, pl_module): pass
    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0): pass
    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0): pass
    def on_test_start(self, trainer, pl_module): pass
    def on_test_end(self, trainer, pl_module): pass
    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0): pass
    def on_predict_start(self, trainer, pl_module): pass
    def on_predict_end(self, trainer, pl_module): pass
    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0): pass
    def on_exception(self, trainer, pl_module, exception): pass


class LightningModule:
    pass


class Trainer:
    def __init__(self, *, callbacks=None, max_epochs=None, num_sanity_val_steps=2, **kwargs):
        if isinstance(callbacks, Callback):
            callbacks = [callbacks]
        self.callbacks = list(callbacks or [])
        for c in self.callbacks:
            if not isinstance(c, Callback):
                raise TypeError("expected a Callback, got %r" % (c,))
        self.max_epochs = 1000 if max_epochs is None else max_epochs
        self.num_sanity_val_steps = num_sanity_val_steps
        self.current_epoch = 0
        self.sanity_checking = False

    def _call(self, hook, *args, **kwargs):
        for c in self.callbacks:
            getattr(c, hook)(self, *args, **kwargs)

    def _eval_loop(self, model, loader, which, limit=None):
        self._call("on_%s_start" % which, model)
        for i, batch in enumerate(loader):
            if limit is not None and i >= limit:
                break
            if which == "validation":
                self._call("on_validation_batch_start", model, batch, i, 0)
            self._call("on_%s_batch_end" % which, model, None, batch, i, 0)
        self._call("on_%s_end" % which, model)

    def fit(self, model, train_dataloaders=None, val_dataloaders=None):
        self._call("setup", model, stage="fit")
        self._call("on_fit_start", model)
        if val_dataloaders and self.num_sanity_val_steps:
            self.sanity_checking = True
            self._call("on_sanity_check_start", model)
            self._eval_loop(model, val_dataloaders, "validation", self.num_sanity_val_steps)
            self._call("on_sanity_check_end", model)
            self.sanity_checking = False
        self._call("on_train_start", model)
        for epoch in range(self.max_epochs):
            self.current_epoch = epoch
            self._call("on_train_epoch_start", model)
            for i, batch in enumerate(train_dataloaders):
                self._call("on_train_batch_start", model, batch, i)
                self._call("on_train_batch_end", model, {"loss": 0.0}, batch, i)
            if val_dataloaders:
                self._eval_loop(model, val_dataloaders, "validation")
            self._call("on_train_epoch_end", model)
        self._call("on_train_end", model)
        self._call("on_fit_end", model)
        self._call("teardown", model, stage="fit")

    def validate(self, model, dataloaders=None):
        self._call("setup", model, stage="validate")
        self._eval_loop(model, dataloaders, "validation")
        self._call("teardown", model, stage="validate")

    def test(self, model, dataloaders=None):
        self._call("setup", model, stage="test")
        self._eval_loop(model, dataloaders, "test")
        self._call("teardown", model, stage="test")

    def predict(self, model, dataloaders=None):
        self._call("setup", model, stage="predict")
        self._eval_loop(model, dataloaders, "predict")
        self._call("teardown", model, stage="predict")
        return [len(b) for b in dataloaders]
