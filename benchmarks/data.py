"""Loader throughput next to ResNet-20 training throughput (images/s, medians), in one run.

    python benchmarks/data.py [dataset]       # default cifar10 when present, else cifar10-mini
Goal: the loader (batch 128, random crop + flip, normalisation) at least 5x faster than training.
"""
import sys

import torch
import torch.nn.functional as F
from _common import median_time, table

from mpqlab.data import create_dataset, make_loader
from mpqlab.models import create_model
from mpqlab.core.runtime import set_threads

set_threads()
name = sys.argv[1] if len(sys.argv) > 1 else "cifar10"
try:
    data = create_dataset(name, "train")
except Exception:
    name, data = "cifar10-mini", create_dataset("cifar10-mini", "train")
bs = 128
loader = make_loader(data, bs, train=True, max_batches=20)
it = {"i": iter(loader)}


def next_batch():
    try:
        return next(it["i"])
    except StopIteration:
        it["i"] = iter(loader)
        return next(it["i"])


model = create_model("resnet20").to(memory_format=torch.channels_last)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
x, y = next_batch()


def train_step():
    xx = x.contiguous(memory_format=torch.channels_last)
    loss = F.cross_entropy(model(xx), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


t_load = median_time(next_batch, repeats=15)
t_train = median_time(train_step, repeats=7)
rows = [["loader (crop+flip+normalise)", f"{bs / t_load:,.0f}"], ["ResNet-20 training step", f"{bs / t_train:,.0f}"],
        ["ratio loader / training", f"{t_train / t_load:.1f}x"]]
print(f"dataset {name}, batch {bs}, {torch.get_num_threads()} threads")
table(rows, ["what", "images/s"])
