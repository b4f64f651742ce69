# t_frameworks.py - nrg's Keras, Lightning and Hugging Face callbacks and auto hooks, on fake frameworks with the real callback APIs.
# SPDX-License-Identifier: MIT
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import Tap, regions, run_watched, via  # noqa: E402

FAKES = os.path.join(HERE, "fakes")
os.environ["PYTHONPATH"] = FAKES + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
t = Tap()
print("# watched via %s" % via())


def tree(ev):
    rs = regions(ev)
    return [(r["name"], r["kind"], r["epoch"], rs[r["parent"]]["name"] if r["parent"] is not None else None,
             r["units"]) for r in rs], all(r["closed"] for r in rs)


def check(what, code, want, auto):
    rc, ev, rep = run_watched([sys.executable, "-c", code], auto=auto)
    t.eq(rc, 0, what + ": the script runs")
    got, closed = tree(ev)
    t.eq(got, want, what + ": regions, kinds, epochs, nesting and units")
    t.ok(closed, what + ": every region closed")


# ---- Keras ------------------------------------------------------------------------------------
KERAS_EXPLICIT = r'''
import keras, nrg, nrg.keras
from fakearray import FakeArray as A
m = keras.Model()
cb = nrg.keras.Callback(batch_size=32, samples=100, eval_batch_size=32, eval_samples=20)
assert isinstance(cb, keras.callbacks.Callback)
m.fit(A(100), A(100), batch_size=32, epochs=2, validation_data=(A(20), A(20)), callbacks=[cb])
m.evaluate(A(50), A(50), batch_size=16, callbacks=[nrg.keras.Callback(batch_size=16, samples=50)])
m.predict(A(30), callbacks=[nrg.keras.Callback()])  # sizes unknown: counts batches
'''
S = "samples"
want = [("train", "train", None, None, {S: 240}),
        ("epoch", "train", 0, "train", {S: 120}), ("eval", "eval", None, "epoch", {S: 20}),
        ("epoch", "train", 1, "train", {S: 120}), ("eval", "eval", None, "epoch", {S: 20}),
        ("eval", "eval", None, None, {S: 50}),
        ("infer", "infer", None, None, {"batches": 1})]
check("keras, explicit callback", KERAS_EXPLICIT, want, auto=False)

KERAS_AUTO = r'''
import sys
import keras
from fakearray import FakeArray as A
assert "nrg.torch" not in sys.modules and "torch" not in sys.modules
m = keras.Model()
m.fit(A(100), A(100), epochs=2, validation_split=0.2)
m.evaluate(A(50), A(50), batch_size=16)
m.predict(A(70))
'''
want = [("train", "train", None, None, {S: 200}),
        ("epoch", "train", 0, "train", {S: 100}), ("eval", "eval", None, "epoch", {S: 20}),
        ("epoch", "train", 1, "train", {S: 100}), ("eval", "eval", None, "epoch", {S: 20}),
        ("eval", "eval", None, None, {S: 50}),
        ("infer", "infer", None, None, {S: 70})]
check("keras, nrg run --auto", KERAS_AUTO, want, auto=True)

# ---- Lightning --------------------------------------------------------------------------------
PL = r'''
import lightning.pytorch as pl
from fakearray import FakeArray as A
EXPLICIT = %r
cbs = []
if EXPLICIT:
    import nrg.lightning
    cbs = [nrg.lightning.Callback()]
    assert isinstance(cbs[0], pl.Callback)
train = [A(8), A(8), A(8), A(5)]
val = [(A(4), A(4))] * 3
tr = pl.Trainer(max_epochs=2, callbacks=cbs)
tr.fit(pl.LightningModule(), train, val)
tr.validate(pl.LightningModule(), val)
tr.test(pl.LightningModule(), [{"x": A(6)}])
tr.predict(pl.LightningModule(), [[1, 2, 3], [4, 5]])
'''
want = [("eval", "eval", None, None, {S: 8}),  # the sanity check
        ("train", "train", None, None, {S: 2 * (29 + 12)}),
        ("epoch", "train", 0, "train", {S: 29 + 12}), ("eval", "eval", None, "epoch", {S: 12}),
        ("epoch", "train", 1, "train", {S: 29 + 12}), ("eval", "eval", None, "epoch", {S: 12}),
        ("eval", "eval", None, None, {S: 12}),
        ("eval", "eval", None, None, {S: 6}),
        ("infer", "infer", None, None, {S: 5})]
check("lightning, explicit callback", PL % True, want, auto=False)
check("lightning, nrg run --auto", PL % False, want, auto=True)

# ---- Hugging Face -----------------------------------------------------------------------------
HF = r'''
import sys
EXPLICIT = %r
import transformers
assert "transformers.trainer" not in sys.modules  # importing transformers alone loads no Trainer
from transformers import Trainer, TrainingArguments
args = TrainingArguments(per_device_train_batch_size=4, gradient_accumulation_steps=2, num_train_epochs=2,
                         per_device_eval_batch_size=5)
cbs = []
if EXPLICIT:
    import nrg.hf
    cbs = [nrg.hf.Callback()]
    assert isinstance(cbs[0], transformers.TrainerCallback)
tr = Trainer(model=None, args=args, train_dataset=list(range(20)), eval_dataset=list(range(12)), callbacks=cbs)
if EXPLICIT:
    nrg.hf.instrument(tr)
assert sum(type(c).__module__ == "nrg.hf" for c in tr.callback_handler.callbacks) == 1
tr.train()
tr.evaluate()
tr.predict(list(range(7)))
'''
want = [("train", "train", None, None, {S: 48}),
        ("epoch", "train", 0, "train", {S: 24}), ("epoch", "train", 1, "train", {S: 24}),
        ("eval", "eval", None, None, {S: 15}),
        ("infer", "infer", None, None, {S: 10})]
check("hugging face, explicit callback", HF % True, want, auto=False)
check("hugging face, nrg run --auto", HF % False, want, auto=True)

# ---- a hook that fails warns once on stderr and leaves the script alone -------------------------
BROKEN = r'''
import io, sys
err, sys.stderr = sys.stderr, io.StringIO()
import tf_keras  # a fake Keras without Model: nrg's hook fails right after this import
tf_keras.value += 1
import keras
from fakearray import FakeArray as A
keras.Model().predict(A(1))
msg, sys.stderr = sys.stderr.getvalue(), err
print(repr(msg))
assert msg.count("nrg:") == 1 and msg.startswith("nrg: automatic instrumentation of tf_keras is off"), msg
assert tf_keras.value == 42
'''
check("a failing hook", BROKEN, [("infer", "infer", None, None, {S: 1})], auto=True)
rc, ev, _ = run_watched([sys.executable, "-c", "import keras, fakearray; keras.Model().predict(fakearray.FakeArray(1))"], auto=True,
                        env={"NRG_AUTO_SKIP": "keras"})
t.eq((rc, tree(ev)[0]), (0, []), "NRG_AUTO_SKIP=keras: no keras hook")
t.done()
