# transformers/__init__.py - a fake Hugging Face transformers for nrg's tests: Trainer, TrainingArguments, TrainerCallback.
# SPDX-License-Identifier: MIT
"""Like the real package, Trainer lives in transformers.trainer and is loaded only when first
asked for (module __getattr__), so that importing transformers alone loads no trainer."""
import importlib

from .trainer_callback import TrainerCallback, TrainerControl, TrainerState  # noqa: F401
from .training_args import TrainingArguments  # noqa: F401


def __getattr__(name):
    if name == "Trainer":
        return importlib.import_module(".trainer", __name__).Trainer
    raise AttributeError(name)
