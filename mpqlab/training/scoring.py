"""A policy scored where the transfer starts, before any weight moves: the target checkpoint quantized by the
policy, its quantizers calibrated as :func:`mpqlab.training.transfer.transfer` calibrates them, top-1 on the target test
set with the checkpoint's BatchNorm statistics (what ``top1_before_finetune`` records) and again with them
re-estimated under the policy (:func:`mpqlab.quant.batchnorm.reestimate_bn`, forward passes only).

The second number asks how good a policy is *for the checkpoint the transfer uses*, free of the full-precision
BatchNorm statistics that quantization invalidates, and free of anything a search or a fine-tune trained.
"""
from __future__ import annotations

from ..quant.batchnorm import reestimate_bn
from ..data import make_loader
from ..quant.loading import model_under_policy
from ..quant.policy import Policy
from ..core.seeding import seed_global
from .train import evaluate


def score_at_checkpoint(policy: Policy, model: str, init: str | None, train, test, bn_batches: int = 40,
                        batch_size: int = 128, calib_batches: int = 4, seed: int = 0) -> dict:
    """``{"top1_checkpoint_bn", "top1_bn_reestimated", "bn_images"}``: test top-1 (%) of ``init`` under
    ``policy``, calibrated on ``calib_batches`` of ``train`` (seeded as the transfer does), with the checkpoint's
    BatchNorm statistics, then with them re-estimated on ``bn_batches`` shuffled training batches (``seed``)."""
    seed_global(seed)  # without a checkpoint: seeded random weights, as the transfer starts (smoke runs)
    net, _ = model_under_policy(model, init, train.num_classes, policy, None, train, tuple(train.input_size),
                                calib_batches=calib_batches, calib_batch_size=batch_size)
    before = evaluate(net, test)["top1"]
    seen = reestimate_bn(net, (x for x, _ in make_loader(train, batch_size, train=True, seed=seed,
                                                          max_batches=bn_batches)))
    after = evaluate(net, test)["top1"]
    return {"top1_checkpoint_bn": before, "top1_bn_reestimated": after, "bn_images": seen}
