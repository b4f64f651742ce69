# auto.py - `nrg run --auto`: patch ML frameworks right after the script imports them, with no code change.
# SPDX-License-Identifier: MIT
"""Automatic instrumentation.

`install()` puts a finder first on sys.meta_path. The finder imports nothing: when the script
itself imports one of the frameworks below, the finder lets the normal finders locate it, and
runs nrg's hook for it right after the module has executed. Frameworks already imported when
`install()` runs are patched at once. A hook that fails prints one `nrg:` warning on stderr and
leaves the framework as it was; the script goes on.

    torch                                  -> nrg.torch.install (DataLoader passes, train/eval mode)
    keras, tf_keras                        -> nrg.keras.install (Model.fit/evaluate/predict)
    pytorch_lightning, lightning.pytorch   -> nrg.lightning.install (Trainer callbacks)
    transformers.trainer                   -> nrg.hf.install (Trainer callbacks)

NRG_AUTO=0 in the environment turns it off; NRG_AUTO_SKIP=torch,keras skips some hooks.
"""
import importlib
import importlib.abc
import os
import sys
import threading

from ._common import warn_once

# module name -> (nrg module, function), run once the module has been imported
HOOKS = {
    "torch": ("nrg.torch", "install"),
    "keras": ("nrg.keras", "install"),
    "tf_keras": ("nrg.keras", "install"),
    "pytorch_lightning": ("nrg.lightning", "install"),
    "lightning.pytorch": ("nrg.lightning", "install"),
    "transformers.trainer": ("nrg.hf", "install"),
}
_SKIP_GROUPS = {
    "torch": ("torch",), "keras": ("keras", "tf_keras"),
    "lightning": ("pytorch_lightning", "lightning.pytorch"), "hf": ("transformers.trainer",),
    "transformers": ("transformers.trainer",),
}

_done = set()
_lock = threading.Lock()
_finder = None


def _run_hook(fullname, module):
    with _lock:
        if fullname in _done:
            return
        _done.add(fullname)
    modname, func = HOOKS[fullname]
    try:
        mod = importlib.import_module(modname)
        getattr(mod, func)(module)
    except Exception as e:
        warn_once("automatic instrumentation of %s is off" % fullname, e)


class _Loader(importlib.abc.Loader):
    """Wraps the real loader for one import: executes the module, puts the real loader back in
    its spec, then runs the hook."""

    def __init__(self, loader, fullname):
        self._loader = loader
        self._fullname = fullname

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = self._loader
        if getattr(module, "__loader__", None) is self:
            module.__loader__ = self._loader
        self._loader.exec_module(module)
        _run_hook(self._fullname, sys.modules.get(self._fullname, module))

    def __getattr__(self, name):
        return getattr(self._loader, name)


class Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: marks the imports of the hooked frameworks."""

    def __init__(self, names):
        self._names = frozenset(names)
        self._busy = threading.local()

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self._names or fullname in _done:
            return None
        busy = getattr(self._busy, "names", None)
        if busy is None:
            busy = self._busy.names = set()
        if fullname in busy:
            return None
        busy.add(fullname)
        try:
            for finder in sys.meta_path:
                if finder is self:
                    continue
                find = getattr(finder, "find_spec", None)
                if find is None:
                    continue
                spec = find(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            busy.discard(fullname)
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader, fullname)
        return spec


def install(names=None):
    """Install the import hooks (once). Returns the names hooked."""
    global _finder
    if os.environ.get("NRG_AUTO", "1") == "0":
        return []
    skip = set()
    for s in os.environ.get("NRG_AUTO_SKIP", "").split(","):
        skip.update(_SKIP_GROUPS.get(s.strip(), (s.strip(),)))
    names = [n for n in (names or HOOKS) if n in HOOKS and n not in skip]
    if _finder is None:
        _finder = Finder(names)
        sys.meta_path.insert(0, _finder)
    for n in names:
        if n in sys.modules:
            _run_hook(n, sys.modules[n])
    return names
