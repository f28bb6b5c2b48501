"""Run-time plumbing shared by training, search and transfer: the process group under ``torchrun``, intra-op
threads, the CPU allocator, the progress bar, the finite-loss guard."""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys

import torch

from .errors import DivergedError

_PINNED: list[int] = []  # thread counts pinned by the caller (innermost last); set_threads() leaves them alone


def dist_info() -> tuple[int, int]:
    """(rank, world_size); (0, 1) outside ``torch.distributed``."""
    import torch.distributed as dist  # deferred: distributed runs only

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(device: str = "cpu") -> tuple[int, int]:
    """Join the process group torchrun set up (``WORLD_SIZE`` > 1): NCCL on GPUs, gloo on CPU."""
    import torch.distributed as dist  # deferred: distributed runs only

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
    from tqdm.auto import tqdm  # deferred: progress bars only

    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True)


# glibc's mallopt parameters (malloc.h) and the values tune_allocator sets
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
ALLOCATOR_SETTINGS = {
    "mmap_threshold": 32 * 2 ** 20,  # blocks up to 32 MiB (glibc's largest) come from the heap, not fresh mmaps
    "trim_threshold": 2 ** 31 - 1,  # freed heap memory is kept for the next step instead of returned to the OS
}
_ALLOCATOR: dict = {}  # what tune_allocator did in this process


def tune_allocator() -> bool:
    """Keep the CPU allocator from handing every large tensor back to the OS (glibc only; once per process).

    glibc serves blocks above a threshold (128 KiB, adjusted as blocks are freed) with fresh ``mmap`` calls and
    returns freed heap memory above another; a training or search step allocates and frees activation tensors of
    a few MiB each, so part of every step is page faults on zeroed pages. Raising both thresholds
    (:data:`ALLOCATOR_SETTINGS`) makes those tensors reuse the heap; ``benchmarks/allocator.py`` measures the
    gain on training and search steps. The cost is resident memory: the process keeps its peak heap.
    ``MPQLAB_ALLOCATOR=default`` leaves the allocator alone. Returns whether the settings are in force."""
    if "on" in _ALLOCATOR:
        return _ALLOCATOR["on"]
    on = False
    if os.environ.get("MPQLAB_ALLOCATOR", "tuned") != "default" and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):  # not glibc (musl has no mallopt)
            mallopt = None
        if mallopt is not None:
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            on = bool(mallopt(_M_MMAP_THRESHOLD, ALLOCATOR_SETTINGS["mmap_threshold"])) and bool(
                mallopt(_M_TRIM_THRESHOLD, ALLOCATOR_SETTINGS["trim_threshold"]))
    _ALLOCATOR["on"] = on
    return on


def set_threads():
    """Use every core for intra-op parallelism, unless the user set OMP_NUM_THREADS or a caller pinned a count
    (:func:`pinned_threads`, e.g. one grid cell per core); and :func:`tune_allocator`, as every run starts here."""
    tune_allocator()
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
