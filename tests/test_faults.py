"""Fault tolerance: a search or a transfer killed with SIGKILL at a random moment resumes from its last checkpoint
and ends with the same policy / weights as an uninterrupted run; diverged runs never write a policy."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import REPO
from mpqlab.core.errors import DivergedError
from mpqlab.search import SearchConfig, run

pytestmark = pytest.mark.slow  # SIGKILL at random moments, then resume

ARGS = ["search", "--model", "resnet20", "--data", "synthetic", "--objective", "edmips", "--sharpness", "asga",
        "--budget", "3", "--epochs", "4", "--max-batches", "2", "--batch-size", "32", "--seed", "0"]
ENV = dict(os.environ, MPQLAB_COMPILE="0", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))


def _search(out, kill_after=None, args=ARGS):
    p = subprocess.Popen([sys.executable, "-m", "mpqlab.cli", *args, "--out", str(out)], env=ENV, cwd=REPO,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_after is None:
        assert p.wait(600) == 0, p.stderr.read().decode()
        return
    state = out.with_suffix(".run") / "state.pt"
    t0 = time.time()
    while not state.exists() and time.time() - t0 < 300:  # at least one checkpoint, then a random moment
        time.sleep(0.05)
    time.sleep(kill_after)
    alive = p.poll() is None
    p.send_signal(signal.SIGKILL)
    rc = p.wait()
    return alive and rc == -signal.SIGKILL  # whether the kill interrupted a running search


def _kills(out, rng, args=ARGS) -> list[bool]:
    """Two kills: the first as soon as the first checkpoint exists (several epochs are still to run, so it
    interrupts on any machine), the second at a random moment. The first must have interrupted the run: no
    result was written, and a checkpoint was left to resume from."""
    first = _search(out, kill_after=0.0, args=args)
    assert first and not out.exists() and out.with_suffix(".run").joinpath("state.pt").exists()
    return [first, _search(out, kill_after=rng.uniform(0.0, 1.5), args=args)]


def test_sigkill_at_random_moments_then_resume_gives_the_same_policy(tmp_path):
    _search(tmp_path / "ref.json")
    ref = json.loads((tmp_path / "ref.json").read_text())
    rng = random.Random(0)
    out = tmp_path / "killed.json"
    _kills(out, rng)
    _search(out)
    got = json.loads(out.read_text())
    assert {n: (r["w_bits"], r["a_bits"]) for n, r in got["layers"].items()} == \
        {n: (r["w_bits"], r["a_bits"]) for n, r in ref["layers"].items()}
    a = torch.load(tmp_path / "ref.run" / "state.pt", weights_only=True)["supernet"]
    b = torch.load(out.with_suffix(".run") / "state.pt", weights_only=True)["supernet"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)


def test_sigkill_during_transfer_then_resume_gives_the_same_weights(tmp_path):
    from mpqlab.core.files import load_weights
    from mpqlab.models import create_model
    from mpqlab.quant.policy import Policy

    Policy.uniform(create_model("resnet20"), 3, 3).save(tmp_path / "p.json")
    args = ["transfer", "--policy", str(tmp_path / "p.json"), "--model", "resnet20", "--data", "synthetic",
            "--epochs", "4", "--max-batches", "3", "--batch-size", "32", "--seed", "0"]
    _search(tmp_path / "ref.json", args=args)
    rng = random.Random(1)
    out = tmp_path / "killed.json"
    _kills(out, rng, args=args)
    _search(out, args=args)
    ref, got = json.loads((tmp_path / "ref.json").read_text()), json.loads(out.read_text())
    assert [h["epoch"] for h in got["history"]] == [1, 2, 3, 4]
    assert got["loss"] == pytest.approx(ref["loss"], rel=1e-4) and got["top1"] == pytest.approx(ref["top1"], abs=1e-6)
    a, b = load_weights(tmp_path / "ref.safetensors")[0], load_weights(tmp_path / "killed.safetensors")[0]
    assert a.keys() == b.keys() and all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)


def test_nan_during_search_stops_without_writing_a_policy(tmp_path, monkeypatch):
    import mpqlab.search.loop as loop

    real = loop.Search.step
    calls = {"n": 0}

    def poisoned(self, *args, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            with torch.no_grad():
                self.net.net.fc.weight.fill_(float("nan"))
        return real(self, *args, **kw)

    monkeypatch.setattr(loop.Search, "step", poisoned)
    cfg = SearchConfig(data="synthetic", sharpness="asga", epochs=3, max_batches=2, batch_size=32, budget=3.0)
    with pytest.raises(DivergedError, match="nan"):
        run(cfg, tmp_path / "p.json", show_progress=False)
    assert not (tmp_path / "p.json").exists()
    state = torch.load(tmp_path / "p.run" / "state.pt", weights_only=True)
    assert state["epoch"] == 1  # the last good checkpoint is kept
