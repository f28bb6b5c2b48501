"""The command line: JSON outputs, the shipped checkpoint's recorded accuracy, one-line errors with exit code 2."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO

MPQ = [sys.executable, "-m", "mpqlab.cli"]


def run(*args, ok=True, env=None):
    p = subprocess.run(MPQ + list(args), capture_output=True, text=True, cwd=REPO, timeout=600,
                       env=None if env is None else dict(os.environ, **env))
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def test_every_subcommand_has_help(capsys):
    """The installed entry point answers --help; every subcommand's help is checked in-process (one interpreter
    start instead of one per subcommand)."""
    import argparse

    from mpqlab.cli import build_parser

    assert run("--help").stdout.startswith("usage: mpqlab")
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"train", "eval", "cost", "search", "transfer", "hessian", "landscape", "quickstart", "experiment",
            "figures", "notebooks"} <= set(sub.choices)
    for cmd in sub.choices:
        with pytest.raises(SystemExit) as e:
            parser.parse_args([cmd, "--help"])
        assert e.value.code == 0 and capsys.readouterr().out.startswith("usage: mpqlab " + cmd)


def in_process(capsys, monkeypatch, *args) -> dict:
    """``mpqlab ARGS --json`` through the entry point's ``main`` in this interpreter (no start-up of its own)."""
    from mpqlab.cli import main

    monkeypatch.chdir(REPO)
    capsys.readouterr()
    assert main(list(args) + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cost_json(capsys, monkeypatch):
    out = json.loads(run("cost", "--model", "resnet20", "--uniform", "4/4", "--json").stdout)
    assert out["macs"] == 40_813_184 and out["average_bits"] == 4.0
    assert out["bitops"] == 40_813_184 * 16 + (442368 + 640) * (64 - 16)
    flt = in_process(capsys, monkeypatch, "cost", "--model", "mobilenet_v2", "--input-size", "224")
    assert flt["bitops"] == flt["macs"] * 1024


def test_eval_of_the_shipped_mini_checkpoint_matches_its_card(capsys, monkeypatch):
    card = json.loads((REPO / "checkpoints" / "resnet20_cifar10-mini.json").read_text())
    out = in_process(capsys, monkeypatch, "eval", "--model", "resnet20", "--data", "cifar10-mini", "--checkpoint",
                     "checkpoints/resnet20_cifar10-mini.safetensors")
    assert out["n"] == 1000 and abs(out["top1"] - card["test_top1"]) <= 0.1


@pytest.mark.slow
def test_hessian_json_both_backends_agree():
    common = ["hessian", "--model", "resnet20", "--data", "cifar10-mini", "--checkpoint",
              "checkpoints/resnet20_cifar10-mini.safetensors", "--uniform", "4/4", "--n", "16", "--json"]
    eager = {"MPQLAB_COMPILE": "0"}  # 16 images: compiling the quantizer kernel would cost more than it saves
    ours = json.loads(run(*common, "--trace-probes", "12", "--chunk-size", "8", env=eager).stdout)
    theirs = json.loads(run(*common, "--trace-probes", "12", "--backend", "pyhessian", env=eager).stdout)
    assert ours["chunk_size"] == 8 and ours["trace_decoupled"] and ours["eigen_method"] == "lanczos"
    assert ours["params"] == theirs["params"] > 250_000
    # top eigenvalue: Lanczos (residual <= 1e-3) vs power iteration (relative change < 1e-3)
    assert ours["eigenvalues"][0] == pytest.approx(theirs["eigenvalues"][0], rel=0.02)
    # two independent 12-sample trace estimates agree within 4 combined standard errors
    gap = abs(ours["trace"] - theirs["trace"])
    assert gap < 4 * (ours["trace_std_error"] ** 2 + theirs["trace_std_error"] ** 2) ** 0.5
    gn = json.loads(run(*common, "--trace-probes", "24", "--trace-method", "gauss-newton", env=eager).stdout)
    assert gn["trace_method"] == "gauss-newton"  # tr(G) = tr(H) on ResNet-20: same estimate within the noise
    assert abs(gn["trace"] - ours["trace"]) < 4 * (ours["trace_std_error"] ** 2 + gn["trace_std_error"] ** 2) ** 0.5


@pytest.mark.slow
def test_landscape_json_and_npz(tmp_path):
    out = tmp_path / "slice.npz"
    res = json.loads(run("landscape", "--model", "resnet20", "--data", "cifar10-mini", "--checkpoint",
                         "checkpoints/resnet20_cifar10-mini.safetensors", "--uniform", "4/4", "--dims", "1",
                         "--points", "5", "--n", "64", "--out", str(out), "--json").stdout)
    from mpqlab.analysis.landscape import load_npz

    z = load_npz(out)
    assert z["loss"].shape == (5,) and z["meta"]["uniform"] == "4/4" and res["out"] == str(out)
    assert res["loss_center"] == pytest.approx(z["loss"][2]) and res["loss_max"] == pytest.approx(z["loss"].max())
    assert np.all(np.isfinite(z["loss"])) and np.ptp(z["loss"]) > 0.1  # the slice leaves the trained point


@pytest.mark.parametrize("args,msg", [
    (("hessian", "--model", "resnet20", "--data", "cifar10-mini", "--checkpoint",
      "checkpoints/resnet20_cifar10-mini.safetensors", "--backend", "pyhessian", "--chunk-size", "8"),
     "--chunk-size applies to the mpqlab backend"),
    (("hessian", "--model", "resnet20", "--data", "cifar10-mini", "--checkpoint",
      "checkpoints/resnet20_cifar10-mini.safetensors", "--backend", "pyhessian", "--trace-method", "gauss-newton"),
     "--trace-method gauss-newton applies to the mpqlab backend"),
    (("cost", "--model", "resnet99"), "argument --model: invalid choice: 'resnet99' (choose from"),
    (("cost", "--model", "resnet20", "--uniform", "3/1"), "uniform a_bits must be"),
    (("cost", "--model", "resnet20", "--uniform", "x"), "--uniform must look like W/A"),
    (("eval", "--model", "resnet20", "--data", "nope", "--checkpoint", "c.safetensors"), "argument --data: unknown dataset 'nope'; known datasets: cifar10"),
    (("eval", "--model", "resnet20", "--data", "cifar10", "--root", "/nonexistent", "--checkpoint", "x"),
     "dataset 'cifar10' not found; looked in: /nonexistent/cifar-10-batches-py"),
    (("eval", "--model", "resnet32", "--data", "cifar10-mini", "--checkpoint",
      "checkpoints/resnet20_cifar10-mini.safetensors"), "made for model 'resnet20', not 'resnet32'"),
    (("cost", "--model", "resnet20", "--policy", "tests/data/bad_version.json"), "version 99 is not supported"),
    (("search", "--model", "resnet20", "--data", "synthetic", "--objective", "hawq", "--sharpness", "asga", "--out",
      "/tmp/x.json"), "not a gradient search"),
])
def test_bad_input_exits_2_with_one_line(args, msg):
    p = run(*args, ok=False)
    assert p.returncode == 2, p.stderr
    lines = [l for l in p.stderr.splitlines() if l.startswith("mpqlab")]
    assert len(lines) == 1 and msg in lines[0], p.stderr


@pytest.mark.parametrize("data,layout,msg", [
    ("cifar10", "cifar10-jpeg/train", "cifar10-jpeg/train has no class folders"),
    ("cifar10", "cifar10-jpeg/train/airplane", "cifar10-jpeg/train holds no images"),
    ("imagefolder", "imagenet/train", "imagenet/train is empty or unreadable: Couldn't find any class folder"),
    ("imagefolder", "imagenet/train/a", "imagenet/train is empty or unreadable: Found no valid file"),
])
def test_empty_data_folders_exit_2_naming_the_folder(tmp_path, data, layout, msg):
    (tmp_path / layout).mkdir(parents=True)
    p = subprocess.run(MPQ + ["eval", "--model", "resnet20", "--data", data, "--root", str(tmp_path), "--checkpoint",
                              "checkpoints/resnet20_cifar10-mini.safetensors"], capture_output=True, text=True,
                       cwd=REPO, timeout=600, env={**os.environ, "MPQLAB_CACHE": str(tmp_path / "c")})
    assert p.returncode == 2, p.stderr
    lines = [l for l in p.stderr.splitlines() if l.startswith("mpqlab")]
    assert len(lines) == 1 and msg in lines[0] and str(tmp_path) in lines[0], p.stderr
