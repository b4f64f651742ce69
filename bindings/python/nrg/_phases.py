# _phases.py - the region bookkeeping shared by nrg's framework callbacks (train, epoch, eval, infer).
# SPDX-License-Identifier: MIT
import nrg
from ._common import framework_enter, framework_exit


class Phases:
    """Opens and closes the standard regions of a framework run on the calling thread:
    "train" (kind train) > "epoch" (kind train, epoch n); "eval" (kind eval); "infer" (kind infer).
    Remembers what it opened, so that a crash or an unbalanced hook closes what is left."""

    def __init__(self):
        self.open = []  # names opened, innermost last

    def begin(self, name, kind, epoch=None):
        self.open.append(name)
        nrg.begin(name, kind, epoch=epoch)

    def end(self, name):
        if name not in self.open:
            return
        while self.open:
            n = self.open.pop()
            nrg.end(n)
            if n == name:
                break

    def is_open(self, name):
        return name in self.open

    def close_all(self):
        while self.open:
            nrg.end(self.open.pop())

    def units(self, n, unit="samples"):
        if n:
            nrg.add_units(n, unit)

    # the framework's own loop runs: the generic PyTorch DataLoader hooks stay quiet meanwhile
    enter = staticmethod(framework_enter)
    exit = staticmethod(framework_exit)
