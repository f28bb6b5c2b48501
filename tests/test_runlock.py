"""One run per folder: real processes contend for a run folder."""
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO
from mpqlab.core.locks import RunFolderBusy, run_lock

pytestmark = pytest.mark.slow  # real processes contend for a folder

HOLD = "import sys, time; from mpqlab.core.locks import run_lock\nwith run_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(120)\n"
SEARCH = ["-m", "mpqlab.cli", "search", "--model", "resnet20", "--data", "synthetic", "--epochs", "1",
          "--max-batches", "1", "--batch-size", "16", "--budget", "4"]


def _env():
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))


def _holder(folder):
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], env=_env(), stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_second_run_on_a_live_folder_exits_2_naming_the_pid_then_a_dead_holder_is_taken_over(tmp_path):
    holder = _holder(tmp_path / "p.run")
    try:
        busy = subprocess.run([sys.executable, *SEARCH, "--out", str(tmp_path / "p.json")], env=_env(),
                              capture_output=True, text=True, timeout=300)
        assert busy.returncode == 2
        lines = busy.stderr.strip().splitlines()
        assert len(lines) == 1 and f"PID {holder.pid}" in lines[0] and "in use" in lines[0], busy.stderr
        assert "Traceback" not in busy.stderr and not (tmp_path / "p.json").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    ok = subprocess.run([sys.executable, *SEARCH, "--out", str(tmp_path / "p.json")], env=_env(),
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert f"no longer alive (PID {holder.pid}" in ok.stderr and (tmp_path / "p.json").is_file()
    assert (tmp_path / "p.run" / "LOCK").read_text() == ""  # released cleanly


def test_two_training_runs_on_one_folder(tmp_path):
    """The same holds for training (and so for transfer, which trains through the same loop)."""
    out = tmp_path / "m.safetensors"
    holder = _holder(tmp_path / "m.run")
    try:
        busy = subprocess.run([sys.executable, "-m", "mpqlab.cli", "train", "--model", "resnet20", "--data",
                               "synthetic", "--epochs", "1", "--out", str(out)], env=_env(), capture_output=True,
                              text=True, timeout=300)
        assert busy.returncode == 2 and f"PID {holder.pid}" in busy.stderr and "Traceback" not in busy.stderr
    finally:
        holder.kill()
        holder.wait()


def test_lock_is_reentrant_in_one_process_and_exclusive_across_processes(tmp_path):
    with run_lock(tmp_path / "a"):
        with run_lock(tmp_path / "a"):
            pass
        assert "PID" in (tmp_path / "a" / "LOCK").read_text()
    holder = _holder(tmp_path / "b")
    try:
        with pytest.raises(RunFolderBusy, match=str(holder.pid)):
            with run_lock(tmp_path / "b"):
                pass
    finally:
        holder.kill()
        holder.wait()
    t0 = time.time()
    with run_lock(tmp_path / "b", quiet=True):
        assert time.time() - t0 < 5
