# train_small.py - a small PyTorch training run on synthetic data (train, evaluate, infer) that logs what it did as JSON.
# SPDX-License-Identifier: MIT
"""Used by t_torch.py under `nrg run --auto`. It knows nothing of nrg: it trains a small MLP on
synthetic data for --epochs passes over a DataLoader, evaluates it (model.eval() and
torch.no_grad()), then infers (torch.inference_mode()), and writes its own count of epochs,
batches and samples to --log. It prints its losses and a checksum of its predictions so that
runs with and without instrumentation can be compared."""
import argparse
import json

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

ap = argparse.ArgumentParser()
ap.add_argument("--log", required=True)
ap.add_argument("--epochs", type=int, default=3)
ap.add_argument("--train-samples", type=int, default=203)  # not a multiple of the batch size
ap.add_argument("--eval-samples", type=int, default=61)
ap.add_argument("--infer-samples", type=int, default=45)
ap.add_argument("--batch-size", type=int, default=16)
ap.add_argument("--workers", type=int, default=0, help="DataLoader workers of the evaluation loader")
args = ap.parse_args()

torch.manual_seed(1234)
torch.set_num_threads(1)
D, C = 20, 4
w_true = torch.randn(D, C)


def data(n):
    x = torch.randn(n, D)
    y = (x @ w_true).argmax(dim=1)
    return TensorDataset(x, y)


train_loader = DataLoader(data(args.train_samples), batch_size=args.batch_size, shuffle=True)
eval_loader = DataLoader(data(args.eval_samples), batch_size=args.batch_size, num_workers=args.workers)
infer_x = torch.randn(args.infer_samples, D)
infer_loader = DataLoader(list(infer_x), batch_size=10)  # batches of plain tensors, not tuples

model = nn.Sequential(nn.Linear(D, 32), nn.ReLU(), nn.Linear(32, C))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
loss_fn = nn.CrossEntropyLoss()
log = {"epochs": [], "eval": None, "infer": None}

for epoch in range(args.epochs):
    model.train()
    batches = samples = 0
    total = 0.0
    for x, y in train_loader:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        batches += 1
        samples += x.shape[0]
        total += loss.item() * x.shape[0]
    log["epochs"].append({"epoch": epoch, "batches": batches, "samples": samples})
    print("epoch %d loss %.6f" % (epoch, total / samples))

model.eval()
correct = batches = samples = 0
with torch.no_grad():
    for x, y in eval_loader:
        correct += int((model(x).argmax(dim=1) == y).sum())
        batches += 1
        samples += x.shape[0]
log["eval"] = {"batches": batches, "samples": samples}
print("eval accuracy %.6f" % (correct / samples))

batches = samples = 0
checksum = 0.0
with torch.inference_mode():
    for x in infer_loader:
        checksum += float(model(x).sum())
        batches += 1
        samples += x.shape[0]
log["infer"] = {"batches": batches, "samples": samples}
print("infer checksum %.6f" % checksum)

with open(args.log, "w") as f:
    json.dump(log, f)
