"""The target side of the policy-landscape study on tiny synthetic data: each (seed, policy) is fine-tuned once with
the grid's own fine-tune, its weights and card kept and never recomputed; the kept weights reload to the model the
fine-tune measured; every direction is sliced; the report speaks of the target landscape."""
import json

import numpy as np
import pytest

from mpqlab.experiments.studies import landscape_report as R
from mpqlab.experiments.studies import target_landscapes as T
from mpqlab.models import create_model
from mpqlab.quant.loading import load_splits, model_under_policy
from mpqlab.quant.policy import Policy
from mpqlab.training.train import evaluate

pytestmark = pytest.mark.slow

GRID = {"name": "tiny", "model": "resnet20", "seeds": [0, 1], "budgets": [2.5], "methods": ["uniform"],
        "target": {"data": "synthetic-tiny", "init": None, "epochs": 1, "max_batches": 2},
        "settings": {"proxy-subset": {"proxy": "synthetic-tiny", "proxy_subset": 64, "proxy_init": None}},
        "search": {"epochs": 1, "max_batches": 1, "batch_size": 32}}


@pytest.fixture(scope="module")
def study(tmp_path_factory, monkeypatch_module):
    repo = tmp_path_factory.mktemp("repo")
    (repo / "grid.json").write_text(json.dumps(GRID))
    for seed in (0, 1):
        for label, bits in (("a", 4), ("b", 3)):
            cell = repo / "cells" / label / f"s{seed}"
            cell.mkdir(parents=True)
            Policy.uniform(create_model("resnet20"), bits, bits).save(cell / "policy.json")
    cfg = dict(T.DECLARED, grid_config="grid.json", proxy="synthetic-tiny", proxy_subset=64, seeds=[0, 1], n=16,
               random_seeds=[0, 1], points=5, eigen_iters=2, plane_points=3,
               policies={"EdMIPS": "cells/a/s{seed}", "EdMIPS+ASGA": "cells/b/s{seed}"}, baseline="EdMIPS",
               contrasts=[["EdMIPS+ASGA", "EdMIPS"]], families=[[0]])
    out = repo / "study"
    T.run(out, cfg, repo=repo, progress=False)
    return repo, out, cfg


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    mp.setenv("MPQLAB_COMPILE", "0")  # a few batches: compiling the quantizer kernels would not pay
    yield mp
    mp.undo()


def test_every_model_is_fine_tuned_once_kept_with_its_card_and_sliced_along_every_direction(study):
    repo, out, cfg = study
    data = T.PL.load(out)
    assert set(data["models"]) == {(s, p) for s in (0, 1) for p in cfg["policies"]}
    for (seed, label), m in data["models"].items():
        stem = T.weights_stem(out, seed, label)
        card = json.loads(stem.with_suffix(".json").read_text())
        assert stem.with_suffix(".safetensors").is_file() and card["args"]["seed"] == seed
        for key in ("random0", "random1", "eigen", "ascent", "gradient_gap"):
            assert np.isfinite(m[f"{key}/train/loss"]).all() and np.isfinite(m[f"{key}/held-out/loss"]).all()
        assert "gradient_gap/cos" in m
    models = data["models"]
    assert "plane_random/loss" in models[(0, "EdMIPS")] and "plane_random/loss" not in models[(1, "EdMIPS")]


def test_the_kept_weights_reload_to_the_model_the_fine_tune_measured(study):
    repo, out, cfg = study
    stem = T.weights_stem(out, 1, "EdMIPS+ASGA")
    train, test = load_splits("synthetic-tiny", None, None, 1)
    pol = Policy.load(repo / "cells" / "b" / "s1" / "policy.json")
    net, _ = model_under_policy("resnet20", str(stem.with_suffix(".safetensors")), train.num_classes, pol, None, train,
                                tuple(train.input_size))
    card = json.loads(stem.with_suffix(".json").read_text())
    again = evaluate(net.eval(), test, max_batches=GRID["target"]["max_batches"])
    assert again["top1"] == pytest.approx(card["top1"]) and again["loss"] == pytest.approx(card["loss"], rel=1e-5)


def test_a_rerun_recomputes_nothing_and_the_report_speaks_of_the_target(study):
    repo, out, cfg = study
    files = sorted((out / "weights").glob("*.safetensors")) + sorted((out / "models").glob("*.npz"))
    before = {p: p.stat().st_mtime_ns for p in files}
    T.run(out, cfg, repo=repo, progress=False)
    assert {p: p.stat().st_mtime_ns for p in files} == before
    text = R.write_report(out, repo=repo).read_text()
    assert "(target side, after the fine-tune)" in text and "EdMIPS+ASGA's target landscape is" in text
    assert "one contrast: no adjustment" in text and "No proxy-side study beside this one." in text
    draws = T.finetune_draws(cfg, out, repo)
    assert len(draws) == 0  # the made-up cells have no row.json: no grid draw to set beside the kept fine-tune
