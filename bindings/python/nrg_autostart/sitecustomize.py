# sitecustomize.py - start-up hook of `nrg run --auto`: install nrg's lazy framework hooks, then chain-load the environment's own sitecustomize.
# SPDX-License-Identifier: MIT
"""`nrg run --auto` puts this directory first on PYTHONPATH (and the directory holding the `nrg`
package after it). Python imports this module at start-up. It imports nrg.auto, which imports
no framework: it only waits for the script to import one. Then the sitecustomize that would have
run without nrg (e.g. Debian's) is imported, with this directory taken off sys.path meanwhile."""
import os
import sys


def _nrg_autostart():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        try:
            import nrg  # noqa: F401
        except ImportError:
            sys.path.append(os.path.dirname(here))  # the installed layout: nrg/ beside nrg_autostart/
            import nrg  # noqa: F401
        if nrg.watched():
            import nrg.auto
            nrg.auto.install()
    except Exception as e:
        try:
            sys.stderr.write("nrg: automatic instrumentation is off: %s: %s\n" % (type(e).__name__, e))
        except Exception:
            pass

    # chain-load the next sitecustomize on the path
    me = sys.modules.get("sitecustomize")
    saved = list(sys.path)
    at = [i for i, p in enumerate(saved) if os.path.abspath(p or os.curdir) == here]
    sys.path[:] = [p for p in saved if os.path.abspath(p or os.curdir) != here]
    sys.modules.pop("sitecustomize", None)
    try:
        import sitecustomize  # noqa: F401  (the environment's own, if any)
    except ImportError as e:
        if getattr(e, "name", None) != "sitecustomize":
            sys.stderr.write("nrg: the environment's sitecustomize failed: %s\n" % (e,))
        if me is not None:
            sys.modules["sitecustomize"] = me
    except Exception as e:
        sys.stderr.write("nrg: the environment's sitecustomize failed: %s: %s\n" % (type(e).__name__, e))
        if me is not None:
            sys.modules.setdefault("sitecustomize", me)
    finally:
        if at and here not in [os.path.abspath(p or os.curdir) for p in sys.path]:
            sys.path.insert(min(at[0], len(sys.path)), saved[at[0]])


_nrg_autostart()
del _nrg_autostart
