# transformers/trainer.py - a fake transformers Trainer: train/evaluate/predict firing callbacks as the real one does.
# SPDX-License-Identifier: MIT
import math

from .trainer_callback import CallbackHandler, TrainerCallback, TrainerControl, TrainerState  # noqa: F401


class Trainer:
    def __init__(self, model=None, args=None, train_dataset=None, eval_dataset=None, callbacks=None, **kwargs):
        self.model = model
        self.args = args
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self.state = TrainerState()
        self.control = TrainerControl()
        self.callback_handler = CallbackHandler(callbacks or [])
        self.callback_handler.call_event("on_init_end", args, self.state, self.control)

    def add_callback(self, callback):
        self.callback_handler.callbacks.append(callback)

    def _ev(self, name, **kw):
        return self.callback_handler.call_event(name, self.args, self.state, self.control, **kw)

    def train(self):
        a = self.args
        per_step = a.train_batch_size * a.gradient_accumulation_steps
        steps = math.ceil(len(self.train_dataset) / per_step)
        self._ev("on_train_begin")
        for epoch in range(int(a.num_train_epochs)):
            self.state.epoch = float(epoch)
            self._ev("on_epoch_begin")
            for s in range(steps):
                self._ev("on_step_begin")
                self.state.global_step += 1
                self.state.epoch = epoch + (s + 1) / steps
                self._ev("on_step_end")
            self._ev("on_epoch_end")
        self._ev("on_train_end")

    def _loop(self, dataset):
        for _ in range(math.ceil(len(dataset) / self.args.eval_batch_size)):
            self._ev("on_prediction_step")

    def evaluate(self, eval_dataset=None):
        self._loop(eval_dataset or self.eval_dataset)
        metrics = {"eval_loss": 0.1}
        self._ev("on_evaluate", metrics=metrics)
        return metrics

    def predict(self, test_dataset):
        self._loop(test_dataset)
        metrics = {"test_loss": 0.1}
        self._ev("on_predict", metrics=metrics)
        return metrics
