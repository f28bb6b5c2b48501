"""`mpqlab train` under torchrun with 2 CPU processes (gloo): DistributedDataParallel, sharded loaders, one writer."""
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_train_under_torchrun_two_cpu_processes(tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    env = dict(os.environ, OMP_NUM_THREADS="1", MPQLAB_COMPILE="0", PYTHONPATH=str(REPO))
    out = tmp_path / "m.safetensors"
    p = subprocess.run([str(torchrun), "--nproc_per_node", "2", "-m", "mpqlab.cli", "train", "--model", "resnet20",
                        "--data", "synthetic", "--epochs", "2", "--batch-size", "32", "--out", str(out), "--json"],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["world_size"] == 2 and out.is_file()
    hist = [json.loads(l) for l in (tmp_path / "m.run" / "metrics.jsonl").read_text().splitlines()]
    assert len(hist) == 2 and hist[1]["train_loss"] < hist[0]["train_loss"]
