"""Does bfloat16 autocast train ResNet-20 as well as float32? Paired by seed: each seed trains twice from the same
initial weights, batch order and augmentation, once per precision, on a class-balanced CIFAR-10 subset; the table
gives test top-1 per seed, the mean paired difference (bf16 - fp32) with its 95 % t interval and sign-flip p, and
the wall time per epoch (data included) of each. Pre-declared margin: the interval inside +-1 point reads
"equivalent within 1 point"; an interval that excludes 0 reads "differs"; anything else "cannot tell".

    python benchmarks/train_precision.py [--seeds 6] [--subset 5000] [--epochs 10]
"""
import argparse
import statistics

import torch

from _common import table

from mpqlab.quant.loading import load_splits  # noqa: E402
from mpqlab.models import create_model  # noqa: E402
from mpqlab.experiments.stats import paired, paired_test  # noqa: E402
from mpqlab.training.train import evaluate, fit  # noqa: E402

MARGIN = 1.0  # points of test top-1: the equivalence margin declared before the runs


def run(train, test, seed: int, epochs: int, precision: str) -> tuple[float, float]:
    torch.manual_seed(seed)
    net = create_model("resnet20", num_classes=10)
    res = fit(net, train, None, epochs=epochs, lr=0.2, seed=seed, show_progress=False, precision=precision)
    return evaluate(net, test)["top1"], statistics.median(h["epoch_time_s"] for h in res["history"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--subset", type=int, default=5000)
    ap.add_argument("--epochs", type=int, default=10)
    a = ap.parse_args()
    top1 = {"fp32": {}, "bf16": {}}
    epoch_s = {"fp32": [], "bf16": []}
    for seed in range(a.seeds):
        train, test = load_splits("cifar10", subset=a.subset, seed=seed)
        for precision in ("fp32", "bf16") if seed % 2 == 0 else ("bf16", "fp32"):  # alternate the order
            acc, t = run(train, test, seed, a.epochs, precision)
            top1[precision][seed] = acc
            epoch_s[precision].append(t)
    print(f"ResNet-20, CIFAR-10 subset of {a.subset} (test set 10,000), {a.epochs} epochs one-cycle lr 0.2, "
          f"{torch.get_num_threads()} thread(s), torch {torch.__version__}")
    table([[s, f"{top1['fp32'][s]:.2f}", f"{top1['bf16'][s]:.2f}", f"{top1['bf16'][s] - top1['fp32'][s]:+.2f}"]
           for s in sorted(top1["fp32"])], ["seed", "fp32 top-1", "bf16 top-1", "bf16 - fp32"])
    _, diffs = paired(top1["bf16"], top1["fp32"])
    t = paired_test(diffs)
    word = ("equivalent within 1 point" if -MARGIN < t["ci_low"] and t["ci_high"] < MARGIN
            else "differs" if t["ci_low"] > 0 or t["ci_high"] < 0 else "cannot tell")
    print(f"bf16 - fp32: {t['mean']:+.2f} points [{t['ci_low']:+.2f}, {t['ci_high']:+.2f}] (95 % t), "
          f"p_t = {t['p_t']:.2f}, sign-flip p = {t['p_sign_flip']:.2f}, n = {t['n']}: {word}")
    ratio = [f / b for f, b in zip(epoch_s["fp32"], epoch_s["bf16"])]
    print(f"median epoch (data included): fp32 {statistics.median(epoch_s['fp32']):.1f} s, bf16 "
          f"{statistics.median(epoch_s['bf16']):.1f} s; fp32/bf16 per seed: median {statistics.median(ratio):.2f}x "
          f"(range {min(ratio):.2f}-{max(ratio):.2f})")


if __name__ == "__main__":
    main()
