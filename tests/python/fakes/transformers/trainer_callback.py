# transformers/trainer_callback.py - a fake TrainerCallback/CallbackHandler with the real hook signatures.
# SPDX-License-Identifier: MIT
class TrainerState:
    def __init__(self):
        self.epoch = None
        self.global_step = 0


class TrainerControl:
    pass


class TrainerCallback:
    def on_init_end(self, args, state, control, **kwargs): pass
    def on_train_begin(self, args, state, control, **kwargs): pass
    def on_train_end(self, args, state, control, **kwargs): pass
    def on_epoch_begin(self, args, state, control, **kwargs): pass
    def on_epoch_end(self, args, state, control, **kwargs): pass
    def on_step_begin(self, args, state, control, **kwargs): pass
    def on_step_end(self, args, state, control, **kwargs): pass
    def on_evaluate(self, args, state, control, **kwargs): pass
    def on_predict(self, args, state, control, metrics, **kwargs): pass
    def on_prediction_step(self, args, state, control, **kwargs): pass
    def on_log(self, args, state, control, **kwargs): pass


class CallbackHandler:
    def __init__(self, callbacks):
        self.callbacks = list(callbacks)

    def call_event(self, event, args, state, control, **kwargs):
        for c in self.callbacks:
            getattr(c, event)(args, state, control, model=None, **kwargs)
        return control
