"""Run-time plumbing shared by training, search and transfer: the process group under ``torchrun``, intra-op
threads, the progress bar, the finite-loss guard."""
from __future__ import annotations

import contextlib
import os
import sys

import torch

from .errors import DivergedError

_PINNED: list[int] = []  # thread counts pinned by the caller (innermost last); set_threads() leaves them alone


def dist_info() -> tuple[int, int]:
    """(rank, world_size); (0, 1) outside ``torch.distributed``."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(device: str = "cpu") -> tuple[int, int]:
    """Join the process group torchrun set up (``WORLD_SIZE`` > 1): NCCL on GPUs, gloo on CPU."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if str(device).startswith("cuda") else "gloo")
        if str(device).startswith("cuda"):
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return dist_info()


def check_finite(loss: torch.Tensor, where: str) -> None:
    """Raise DivergedError when the loss is NaN or infinite (the last good checkpoint is kept)."""
    if not torch.isfinite(loss).all():
        raise DivergedError(f"loss became {loss.item()} during {where}; stopped, the last good checkpoint is kept")


def progress(iterable, desc: str, enabled: bool = True, total: int | None = None):
    """A tqdm progress bar on an interactive terminal (or when MPQLAB_PROGRESS=1), plain iteration otherwise."""
    on = enabled and (sys.stderr.isatty() or os.environ.get("MPQLAB_PROGRESS") == "1") and dist_info()[0] == 0
    if not on:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True)


def set_threads():
    """Use every core for intra-op parallelism, unless the user set OMP_NUM_THREADS or a caller pinned a count
    (:func:`pinned_threads`, e.g. one grid cell per core)."""
    if _PINNED:
        torch.set_num_threads(_PINNED[-1])
    elif "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, os.cpu_count() or 1))


@contextlib.contextmanager
def pinned_threads(n: int):
    """Run the block with ``n`` intra-op threads, whatever the code inside asks for; restored afterwards."""
    before = torch.get_num_threads()
    _PINNED.append(n)
    torch.set_num_threads(n)
    try:
        yield
    finally:
        _PINNED.pop()
        torch.set_num_threads(before)
