"""Every random stream of mpqlab, from one seed: the one place seeds are turned into generators.

A run's ``seed`` fixes everything random in it. Independent streams of one run (the shuffle of epoch e, its
augmentation, its cutout) are derived as ``seed * multiplier + step + offset`` with the multipliers below (distinct
primes, so the streams of nearby seeds and epochs do not collide); these are the formulas every committed result
ran with, so they are data, not style, and must not change.
"""
from __future__ import annotations

import torch

# stream name -> (multiplier, offset): generator seed = seed * multiplier + step + offset
STREAMS = {
    "shuffle": (100_003, 0),  # the training loader's permutation of epoch ``step``
    "augment": (7919, 1),  # random crop and flip of epoch ``step``
    "cutout": (7907, 2),  # cutout squares of epoch ``step``
    "synthetic": (2, 1),  # synthetic images' labels and signal; ``step`` 0 = train split, 1 = test split
}


def stream_seed(seed: int, stream: str | None = None, step: int = 0) -> int:
    """The integer seed of ``stream`` at ``step`` (``seed`` itself when no stream is named)."""
    if stream is None:
        return int(seed)
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; use one of {', '.join(STREAMS)}")
    mult, offset = STREAMS[stream]
    return int(seed) * mult + int(step) + offset


def generator(seed: int, stream: str | None = None, step: int = 0) -> torch.Generator:
    """A CPU generator for ``stream`` at ``step`` of a run seeded ``seed`` (see :data:`STREAMS`)."""
    return torch.Generator().manual_seed(stream_seed(seed, stream, step))


def seed_global(seed: int) -> None:
    """Seed torch's global generator: what draws initial weights and anything not given a generator."""
    torch.manual_seed(int(seed))
