"""The CPU allocator settings of mpqlab.runtime.tune_allocator, checked in fresh processes (they last a process)."""
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
from mpqlab.runtime import tune_allocator
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
    from mpqlab import runtime

    runtime.set_threads()
    assert "on" in runtime._ALLOCATOR
