"""Batches: :class:`TensorLoader` over in-memory data (shuffle, augmentation, sharding, reseeded per epoch) and
a ``DataLoader`` over an ``ImageFolder`` with the same interface; :func:`make_loader` picks one."""
from __future__ import annotations

from typing import Iterator

import torch

from ..core.errors import MpqlabError
from ..core.seeding import generator
from .sample import stratified_order
from .tensors import TensorData, crop_flip_params, cutout, cutout_params, random_crop_flip


class TensorLoader:
    """Batches from a :class:`TensorData`: shuffled and augmented when ``train``; sharded over ``world_size``.
    Without ``train`` the order is :func:`~mpqlab.data.sample.stratified_order` (seeded by ``seed``), so a loader
    cut short by ``max_batches`` (a partial evaluation, calibration batches) sees every class in near-equal share.

    ``set_epoch(e)`` reseeds the shuffle (as ``DistributedSampler`` does), so an interrupted run that resumes
    at epoch ``e`` sees the same batches it would have seen.
    """

    def __init__(self, data: TensorData, batch_size: int, train: bool, seed: int = 0, augment: bool | None = None,
                 drop_last: bool | None = None, device="cpu", rank: int = 0, world_size: int = 1,
                 max_batches: int | None = None, cutout: int = 0, eval_order: str = "stratified"):
        if eval_order not in ("stratified", "dataset"):
            raise MpqlabError(f"eval_order must be 'stratified' or 'dataset', got {eval_order!r}")
        self.eval_order = eval_order
        if batch_size <= 0:
            raise MpqlabError(f"batch_size must be positive, got {batch_size}")
        self.data, self.batch_size, self.train, self.seed = data, batch_size, train, seed
        self.augment = train if augment is None else augment
        self.drop_last = train if drop_last is None else drop_last
        self.device, self.rank, self.world_size = torch.device(device), rank, world_size
        self.max_batches, self.epoch = max_batches, 0
        self._eval_order = None
        if cutout < 0 or cutout > min(data.images.shape[-2:]):
            raise MpqlabError(f"cutout must be between 0 and the image size {min(data.images.shape[-2:])}, got {cutout}")
        self.cutout = cutout

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _positions(self) -> torch.Tensor:
        """This rank's positions in the epoch's global order (every rank gets the same number of samples, as
        DistributedSampler). Rank r takes every world_size-th sample, so a global batch of B = world_size * b
        holds the same samples as one process's batch of B."""
        n = len(self.data)
        pos = torch.arange(n)
        if self.world_size > 1:
            per = n // self.world_size if self.drop_last else -(-n // self.world_size)
            pos = torch.cat([pos, pos[: per * self.world_size - n]]) if per * self.world_size > n else pos
            pos = pos[: per * self.world_size].view(-1, self.world_size)[:, self.rank]
        return pos

    def _order(self) -> torch.Tensor:
        if not self.train:  # every prefix class-balanced: max_batches and calibration batches see every class
            if self._eval_order is None:
                self._eval_order = (stratified_order(self.data.labels, self.seed) if self.eval_order == "stratified"
                                    else torch.arange(len(self.data)))
            return self._eval_order
        return torch.randperm(len(self.data), generator=generator(self.seed, "shuffle", self.epoch))

    def _indices(self) -> torch.Tensor:
        return self._order()[self._positions()]

    def __len__(self) -> int:
        n = len(self._indices())
        nb = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return min(nb, self.max_batches) if self.max_batches else nb

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order, pos = self._order(), self._positions()
        if self.augment:  # drawn per global position, so sharding does not change any sample's augmentation
            g = generator(self.seed, "augment", self.epoch)
            oy, ox, flip = crop_flip_params(len(order), g)
            if self.cutout:  # its own stream, so crops and flips do not depend on whether Cutout is on
                gc = generator(self.seed, "cutout", self.epoch)
                cy, cx = cutout_params(len(order), gc, self.cutout, *self.data.images.shape[-2:])
                fill = torch.tensor([round(255 * m) for m in self.data.mean], dtype=torch.uint8)
        for i in range(len(self)):
            p = pos[i * self.batch_size:(i + 1) * self.batch_size]
            j = order[p]
            x = self.data.images[j]
            if self.augment:
                x = random_crop_flip(x, params=(oy[p], ox[p], flip[p]))
                if self.cutout:
                    x = cutout(x, (cy[p], cx[p]), self.cutout, fill)
            yield self.data.normalize(x.to(self.device, non_blocking=True)), self.data.labels[j].to(self.device)


def make_loader(data, batch_size: int, train: bool, seed: int = 0, device="cpu", rank: int = 0,
                world_size: int = 1, max_batches: int | None = None, num_workers: int = 2, cutout: int = 0,
                eval_order: str = "stratified"):
    """A loader for any dataset :func:`create_dataset` returns (in-memory tensors or an ``ImageFolder``);
    ``cutout`` > 0 adds Cutout squares of that size to training batches (in-memory data only); ``eval_order``
    "dataset" reads a non-training loader in stored order instead of the stratified one (only to reproduce runs made
    before the sampler; in-memory data only)."""
    if isinstance(data, TensorData):
        return TensorLoader(data, batch_size, train, seed=seed, device=device, rank=rank, world_size=world_size,
                            max_batches=max_batches, cutout=cutout, eval_order=eval_order)
    if eval_order != "stratified":
        raise MpqlabError("eval_order 'dataset' is implemented for in-memory datasets only")
    if cutout:
        raise MpqlabError("cutout is implemented for in-memory datasets only (cifar10, fashion-mnist, ...)")
    return _FolderLoader(data, batch_size, train, seed, device, rank, world_size, max_batches, num_workers)


class _FolderLoader:
    """``DataLoader`` over an ``ImageFolder`` with a (distributed) sampler; same interface as TensorLoader."""

    def __init__(self, data, batch_size, train, seed, device, rank, world_size, max_batches, num_workers):
        from torch.utils.data import DataLoader, DistributedSampler  # deferred: this path only

        if train:
            self.sampler = DistributedSampler(data, num_replicas=world_size, rank=rank, shuffle=True, seed=seed,
                                              drop_last=True)
        else:  # the stratified order (an ImageFolder is sorted by class), this rank's share of it
            self.sampler = _Fixed(stratified_order(data.targets, seed)[rank::world_size].tolist())
        self.loader = DataLoader(data, batch_size=batch_size, sampler=self.sampler, num_workers=num_workers,
                                 drop_last=train)
        self.device, self.max_batches, self.data = torch.device(device), max_batches, data

    def set_epoch(self, epoch):
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __len__(self):
        return min(len(self.loader), self.max_batches) if self.max_batches else len(self.loader)

    def __iter__(self):
        for i, (x, y) in enumerate(self.loader):
            if i >= len(self):
                break
            yield x.to(self.device), y.to(self.device)


class _Fixed:
    """A sampler over a fixed list of indices (evaluation order)."""

    def __init__(self, indices: list[int]):
        self.indices = indices

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)
