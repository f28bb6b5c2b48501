"""The one sampler for fixed analysis batches and partial evaluations: a seeded, shuffled, class-balanced order.

Datasets are stored sorted by class (the JPEG tree is read class by class; class-balanced subsets keep dataset
order), so "the first n images" of one is a few classes only. Every fixed batch a measurement takes (sharpness,
Hessian, landscapes, gradient conflict, HAWQ's sensitivities, quantizer calibration) and every evaluation cut short
by ``max_batches`` reads a prefix of :func:`stratified_order` instead: each class's indices shuffled, then dealt
round-robin with the class order reshuffled every round, so every prefix holds every class in near-equal share
(while the smallest class lasts) and the same seed gives the same batch.
"""
from __future__ import annotations

import torch

from ..core.errors import MpqlabError
from ..core.seeding import generator


def stratified_order(labels, seed: int = 0) -> torch.Tensor:
    """A seeded permutation of ``range(len(labels))`` whose every prefix of length m holds each class
    ``floor(m / k)`` or ``ceil(m / k)`` times (k classes, as long as no class has run out).

    Sample i of class c at shuffled rank r_i within c gets the key r_i + u_i (u_i uniform in [0, 1), a random
    class order within each round); the order is the argsort of the keys."""
    labels = torch.as_tensor(labels, dtype=torch.long).flatten()
    n = len(labels)
    if n == 0:
        raise MpqlabError("cannot sample from an empty dataset")
    g = generator(int(seed))
    shuffled = torch.randperm(n, generator=g)
    lab = labels[shuffled]
    # rank of each (shuffled) sample within its class: position minus the first position of its class after sorting
    by_class = torch.sort(lab, stable=True)
    counts = torch.bincount(lab)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty(n, dtype=torch.long)
    rank[by_class.indices] = torch.arange(n) - starts[by_class.values]
    round_order = torch.rand(int(rank.max()) + 1, int(counts.numel()), generator=g)  # class order per round
    key = rank.double() + round_order[rank, lab].double()
    return shuffled[torch.argsort(key, stable=True)]


def sample_indices(labels, n: int | None, seed: int = 0) -> torch.Tensor:
    """``n`` indices (all when ``n`` is None or larger than the set) from :func:`stratified_order`: seeded,
    shuffled, class-balanced."""
    if n is not None and n <= 0:
        raise MpqlabError(f"a sample needs a positive number of images, got {n}")
    order = stratified_order(labels, seed)
    return order if n is None else order[:n]


def class_shares(labels) -> dict[int, float]:
    """Each class's share of ``labels`` (for checks and reports of what a batch holds)."""
    labels = torch.as_tensor(labels).flatten()
    counts = torch.bincount(labels)
    return {c: counts[c].item() / len(labels) for c in range(len(counts)) if counts[c] > 0}


def labels_of(dataset) -> torch.Tensor:
    """The class labels of any dataset mpqlab reads: an in-memory :class:`~mpqlab.data.TensorData` (``labels``) or
    a torchvision dataset (``targets``, as ``ImageFolder``, ``Flowers102`` and ``Food101`` keep them, or ``_labels``)."""
    for attr in ("labels", "targets", "_labels"):
        labels = getattr(dataset, attr, None)
        if labels is not None:
            return torch.as_tensor(labels)
    raise MpqlabError(f"dataset {getattr(dataset, 'name', type(dataset).__name__)} keeps no labels "
                      "(labels, targets or _labels) to draw a class-balanced sample from")


def analysis_batch(dataset, n: int | None, device="cpu", seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed analysis batch of ``n`` samples of any dataset kind, drawn by the one sampler
    (:func:`sample_indices`: seeded, shuffled, class-balanced): an in-memory set's own ``tensors``, or a
    torchvision dataset's items (its test transform applied) stacked into one batch."""
    if hasattr(dataset, "tensors"):
        return dataset.tensors(n, device, seed)
    idx = sample_indices(labels_of(dataset), n, seed)
    items = [dataset[int(i)] for i in idx]
    x = torch.stack([torch.as_tensor(img) for img, _ in items]).to(device)
    y = torch.tensor([int(label) for _, label in items], device=device)
    return x, y
