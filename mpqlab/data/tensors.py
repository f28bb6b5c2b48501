"""A labelled image set held in memory (:class:`TensorData`: uint8 images, labels, classes, normalisation) and the
batch augmentation applied to it on whole batches (random crop with padding, horizontal flip, Cutout)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..core.errors import MpqlabError
from .sample import sample_indices


@dataclass
class TensorData:
    """A labelled image set held in memory: ``images`` uint8 [N, C, H, W], ``labels`` int64 [N]."""

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise MpqlabError(f"dataset {self.name}: images must be uint8 [N,C,H,W], got {self.images.dtype} "
                              f"{tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise MpqlabError(f"dataset {self.name}: {len(self.images)} images but {len(self.labels)} labels")
        if len(self.images) == 0:
            raise MpqlabError(f"dataset {self.name} ({self.split}) is empty")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_size(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def subset(self, indices, name: str | None = None) -> "TensorData":
        idx = torch.as_tensor(indices, dtype=torch.long)
        return TensorData(name or self.name, self.split, self.images[idx], self.labels[idx], self.classes,
                          self.mean, self.std, dict(self.info, subset_size=len(idx)))

    def sample(self, n: int, seed: int = 0) -> "TensorData":
        """A sub-dataset of ``n`` samples drawn like :meth:`tensors` (seeded, shuffled, class-balanced), for a
        partial evaluation or a smoke run: never the first ``n`` of a class-sorted set."""
        return self.subset(sample_indices(self.labels, n, seed))

    def with_classes(self, classes, name: str) -> "TensorData":
        """The images of ``classes`` only (names, in the order given), relabelled 0 .. len(classes) - 1; the
        normalisation is the parent's (the same image statistics: only the task changes)."""
        missing = [c for c in classes if c not in self.classes]
        if missing or len(set(classes)) != len(classes):
            raise MpqlabError(f"dataset {self.name}: with_classes needs distinct classes of {self.classes}, got "
                              f"{list(classes)}")
        old = torch.tensor([self.classes.index(c) for c in classes])
        keep = torch.isin(self.labels, old)
        relabel = torch.full((len(self.classes),), -1, dtype=torch.long)
        relabel[old] = torch.arange(len(classes))
        return TensorData(name, self.split, self.images[keep], relabel[self.labels[keep]], list(classes), self.mean,
                          self.std, dict(self.info, parent=self.name, parent_classes=list(classes)))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 batch -> float, scaled to [0, 1] and standardised with the dataset's mean and std."""
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x.float().div_(255.0) - mean) / std

    def tensors(self, n: int | None = None, device="cpu", seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """A fixed analysis batch of ``n`` samples (all when None) as a normalised float batch and labels: a
        seeded, shuffled, class-balanced sample (:func:`~mpqlab.data.sample.sample_indices`), never a prefix."""
        idx = sample_indices(self.labels, n, seed)
        return self.normalize(self.images[idx].to(device)), self.labels[idx].to(device)


# --------------------------------------------------------------------------------------------- augmentation

def crop_flip_params(n: int, generator: torch.Generator, padding: int = 4):
    """Random (row offset, column offset, flip) for ``n`` samples."""
    oy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    ox = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    return oy, ox, torch.rand(n, generator=generator) < 0.5


def random_crop_flip(x: torch.Tensor, generator: torch.Generator | None = None, padding: int = 4,
                     params=None) -> torch.Tensor:
    """Random crop with zero padding and random horizontal flip, on a whole uint8 batch [B, C, H, W]
    (``params`` = (oy, ox, flip) per sample, else drawn from ``generator``)."""
    b, c, h, w = x.shape
    oy, ox, flip = params if params is not None else crop_flip_params(b, generator, padding)
    xp = F.pad(x, (padding,) * 4)
    rows = (oy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(w))[:, None, None, :]
    out = xp[torch.arange(b)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    out[flip] = out[flip].flip(3)
    return out


def cutout_params(n: int, generator: torch.Generator, size: int, h: int, w: int):
    """Random square centres (row, column) for Cutout, anywhere in the image (the square may be clipped)."""
    return torch.randint(0, h, (n,), generator=generator), torch.randint(0, w, (n,), generator=generator)


def cutout(x: torch.Tensor, centres, size: int, fill: torch.Tensor) -> torch.Tensor:
    """Cutout (DeVries & Taylor, 2017): a ``size`` x ``size`` square around each sample's centre is set to
    ``fill`` (uint8 per channel: the dataset mean, i.e. zero after standardisation). Returns a new batch."""
    b, c, h, w = x.shape
    cy, cx = centres
    rows, cols = torch.arange(h), torch.arange(w)
    top, left = (cy - size // 2)[:, None], (cx - size // 2)[:, None]
    inside = (((rows >= top) & (rows < top + size))[:, :, None] & ((cols >= left) & (cols < left + size))[:, None, :])
    return torch.where(inside[:, None], fill.view(1, -1, 1, 1).to(x.dtype), x)
