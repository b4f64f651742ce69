# transformers/training_args.py - a fake TrainingArguments (the batch-size fields nrg reads).
# SPDX-License-Identifier: MIT
class TrainingArguments:
    def __init__(self, output_dir="out", per_device_train_batch_size=8, per_device_eval_batch_size=8,
                 gradient_accumulation_steps=1, num_train_epochs=3.0, **kwargs):
        self.output_dir = output_dir
        self.per_device_train_batch_size = per_device_train_batch_size
        self.per_device_eval_batch_size = per_device_eval_batch_size
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.num_train_epochs = num_train_epochs

    @property
    def train_batch_size(self):
        return self.per_device_train_batch_size  # x max(1, n_gpu) in the real one; no GPU here

    @property
    def eval_batch_size(self):
        return self.per_device_eval_batch_size
