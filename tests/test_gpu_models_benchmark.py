"""``benchmarks/gpu_models.py``, the per-model table that ``scripts/gpu_check.sh`` prints on a GPU, runs on the CPU on
tiny inputs (its numbers there mean nothing; what is checked is that the script a GPU session relies on works)."""
import os
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.slow  # six supernets per model, compiled quantizer kernels included
def test_the_gpu_table_script_runs_on_the_cpu():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    args = ["--device", "cpu", "--models", "resnet20", "--repeats", "2", "--batch", "4", "--arithmetics", "eager,fast",
            "--skip-cell"]
    p = subprocess.run([sys.executable, "gpu_models.py", *args], cwd=REPO / "benchmarks", env=env, capture_output=True,
                       text=True, timeout=1200)
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.splitlines()
    rows = [line for line in lines if line.startswith("| resnet20")]
    assert len(rows) == 4 + 1  # 2 methods x 2 arithmetics (the fast one compiled), and the Hessian-vector product row
    assert {"eager", "fast"} <= {c.strip() for r in rows for c in r.split("|")}
