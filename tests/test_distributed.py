"""`mpqlab train` under torchrun with 2 CPU processes (gloo): DistributedDataParallel, sharded loaders, one writer."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO

# torchrun with real processes; one xdist worker runs them all (each torchrun listens on the default port)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("torchrun")]


def test_train_under_torchrun_two_cpu_processes(tmp_path):
    """Two gloo processes train together. What is asserted holds for any float rounding: the signal dominates
    (4 epochs at lr 0.05 on learnable synthetic data; over seeds 0, 2, 3 the train loss fell from 2.0-2.2 to
    0.14-0.42 and test top-1 reached 86-99 %), so the margins below are several times the seed-to-seed spread."""
    torchrun = Path(sys.executable).parent / "torchrun"
    env = dict(os.environ, OMP_NUM_THREADS="1", MPQLAB_COMPILE="0", PYTHONPATH=str(REPO))
    out = tmp_path / "m.safetensors"
    p = subprocess.run([str(torchrun), "--nproc_per_node", "2", "-m", "mpqlab.cli", "train", "--model", "resnet20",
                        "--data", "synthetic", "--epochs", "4", "--lr", "0.05", "--batch-size", "32", "--out", str(out),
                        "--json"],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["world_size"] == 2 and out.is_file()
    hist = [json.loads(l) for l in (tmp_path / "m.run" / "metrics.jsonl").read_text().splitlines()]
    assert len(hist) == 4
    assert hist[-1]["train_loss"] < 0.5 * hist[0]["train_loss"], [h["train_loss"] for h in hist]
    assert card["test_top1"] >= 40.0, card["test_top1"]  # chance is 10 %


def _search_pair(tmp_path, extra, tag, model=("--model", "resnet20", "--data", "synthetic"), batch=64, env=None):
    """The same search run by one process with batch ``batch`` and by two torchrun (gloo) processes with half each.
    ``--standalone`` lets torchrun pick a free port, so two such pairs can run at once."""
    torchrun = Path(sys.executable).parent / "torchrun"
    env = dict(env or os.environ, OMP_NUM_THREADS="1", MPQLAB_COMPILE="0", PYTHONPATH=str(REPO))
    common = ["-m", "mpqlab.cli", "search", *model, "--sharpness", "asga", "--freeze-bn", "--seed", "0", *extra]
    one = subprocess.run([sys.executable, *common, "--batch-size", str(batch), "--out",
                          str(tmp_path / f"one{tag}.json")], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", *common, "--batch-size",
                          str(batch // 2), "--out", str(tmp_path / f"two{tag}.json")], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-2000:]
    pols = [json.loads((tmp_path / f"{n}{tag}.json").read_text()) for n in ("one", "two")]
    mets = [[json.loads(l) for l in (tmp_path / f"{n}{tag}.run" / "metrics.jsonl").read_text().splitlines()]
            for n in ("one", "two")]
    states = [torch.load(tmp_path / f"{n}{tag}.run" / "state.pt", weights_only=True)["supernet"] for n in ("one", "two")]
    return pols, mets, states


def test_search_two_processes_equal_one_process_with_the_same_global_batch(tmp_path):
    """2 gloo processes with batch 32 each vs 1 process with batch 64. BatchNorm runs on its running statistics
    (``--freeze-bn``): per-rank batch statistics would differ from the single process's and SyncBatchNorm needs a
    GPU. After one step the weights, bit logits, losses and bit softmaxes agree to float round-off (1e-5); over more
    steps the fake quantizers' rounding amplifies the 1e-7 differences of the gradient all-reduce, so the losses
    are only required to agree to 2%."""
    pols, mets, states = _search_pair(tmp_path, ["--budget", "3", "--epochs", "1", "--max-batches", "1"], "a")
    a, b = states
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a if a[k].is_floating_point())
    for key in ("loss_p", "h", "rho", "grad_norm", "expected_bitops", "realised_bitops", "cos_alpha_task_cost"):
        u, v = mets[0][0][key], mets[1][0][key]
        assert (u is None) == (v is None), key  # the cosine is undefined while the cost hinge is inactive
        if u is not None:
            assert abs(u - v) <= 1e-5 * max(1.0, abs(u)), key
    # the policy is compared through its softmaxes: after one step they are all but uniform, so an argmax
    # would turn 1e-7 differences into different bits
    s1, s2 = (p["provenance"]["final_softmaxes"] for p in pols)
    assert all(abs(u - v) < 1e-5 for k in s1 for t in ("w", "a") for u, v in zip(s1[k][t], s2[k][t]))
    pols, mets, _ = _search_pair(tmp_path, ["--budget", "3", "--epochs", "2", "--max-batches", "2"], "b")
    assert len(mets[0]) == len(mets[1]) == 4
    for u, v in zip(*mets):
        assert abs(u["loss_p"] - v["loss_p"]) <= 0.02 * abs(u["loss_p"])
