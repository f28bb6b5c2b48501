"""The CPU runtime settings of mpqlab.core.runtime: the allocator (tune_allocator, checked in fresh processes: it lasts
a process) and the intra-op thread count a pinned worker keeps."""
import json
import os
import platform
import subprocess
import sys

import pytest

glibc = pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"),
                           reason="mallopt and mallinfo2 are glibc's")

# In a fresh process: tune (or not), then malloc one 8 MiB block and read how many bytes glibc holds in mmapped
# blocks before and after (mallinfo2's hblkhd): a block served by mmap raises it by the block's size.
PROBE = r"""
import ctypes, ctypes.util, json
from mpqlab.core.runtime import tune_allocator
on = tune_allocator()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
class Info(ctypes.Structure):
    _fields_ = [(f, ctypes.c_size_t) for f in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                              "fsmblks", "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
before = libc.mallinfo2().hblkhd
p = libc.malloc(8 << 20)
after = libc.mallinfo2().hblkhd
libc.free(ctypes.c_void_p(p))
print(json.dumps({"on": on, "again": tune_allocator(), "mmapped": after - before}))
"""


def probe(allocator: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MPQLAB_ALLOCATOR"}
    if allocator:
        env["MPQLAB_ALLOCATOR"] = allocator
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@glibc
def test_tuned_allocator_serves_large_tensors_from_the_heap():
    r = probe(None)  # tuned is the default
    assert r["on"] and r["again"], "the settings are in force, and a second call reports the same"
    assert r["mmapped"] == 0, "an 8 MiB block comes from the heap, not a fresh mmap"


@glibc
def test_default_allocator_left_alone_on_request():
    r = probe("default")
    assert not r["on"]
    assert r["mmapped"] >= 8 << 20, "glibc as it comes serves an 8 MiB block with mmap"


def test_set_threads_tunes_the_allocator():
    from mpqlab.core import runtime

    runtime.set_threads()
    assert "on" in runtime._ALLOCATOR


def test_a_remeasure_worker_keeps_one_thread_when_the_fine_tune_asks_for_every_core(monkeypatch):
    """The fine-tune inside a re-measure calls set_threads() (every core); a worker of `remeasure --workers N` must
    stay at one intra-op thread, or N workers oversubscribe the machine (it did: 2 x 2 threads on 2 cores)."""
    import torch

    import mpqlab.experiments.remeasure as rm
    from mpqlab.experiments.cell import Cell
    from mpqlab.core.runtime import set_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    seen = []

    def fake_cell(cfg, cell, out, root, target):
        set_threads()  # what transfer() and the search loop do first
        seen.append(torch.get_num_threads())

    monkeypatch.setattr(rm, "remeasure_cell", fake_cell)
    before = torch.get_num_threads()
    from mpqlab.experiments.presets import smoke_config

    rm._one((smoke_config(), Cell("s", "edmips", 0, 2.5), "unused", None, True))
    assert seen == [1]
    assert torch.get_num_threads() == before  # restored for the caller



def test_a_remeasure_worker_skips_a_cell_another_live_process_holds(tmp_path, monkeypatch):
    """A cell whose folder a live process holds (e.g. a worker of a stopped run, still finishing) is skipped and stays
    pending; the call goes on with the others instead of ending with an error."""

    import mpqlab.experiments.remeasure as rm
    from mpqlab.experiments.cell import Cell
    from mpqlab.experiments.presets import smoke_config

    cell = Cell("s", "edmips", 0, 2.5)
    folder = cell.folder(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from mpqlab.core.locks import run_lock\n"
                               "with run_lock(sys.argv[1], quiet=True):\n print('held', flush=True); time.sleep(60)",
                               str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setattr(rm, "read_row", lambda path: pytest.fail("a held cell was read"))
        line = rm._one((smoke_config(), cell, str(tmp_path), None, True))
    finally:
        holder.kill()
        holder.wait()
    assert line.startswith(cell.label()) and "skipped" in line and "in use" in line
