"""Every numeric option of every subcommand is checked before any work: 0 (where 0 is not allowed), a negative,
NaN and a huge value each give exit code 2 and one line on stderr, without a traceback."""
import argparse
import subprocess
import sys

import pytest

from conftest import REPO
from mpqlab.cli import Bounded, build_parser, main


def _numeric_options():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = []
    for cmd, sp in sub.choices.items():
        for act in sp._actions:
            if isinstance(act.type, Bounded):
                out.append((cmd, act.option_strings[-1], act.type))
            elif act.type is int:  # a plain int must come with choices
                assert act.choices, f"mpqlab {cmd} {act.option_strings}: unchecked integer option"
    return out


OPTIONS = _numeric_options()


def test_every_subcommand_with_numbers_is_covered():
    cmds = {c for c, _, _ in OPTIONS}
    assert {"train", "eval", "cost", "search", "transfer", "hessian", "landscape", "experiment", "quickstart"} <= cmds
    assert len(OPTIONS) >= 35


@pytest.mark.parametrize("cmd,opt,kind", OPTIONS, ids=[f"{c} {o}" for c, o, _ in OPTIONS])
def test_bad_numbers_exit_2_in_one_line(cmd, opt, kind, capsys):
    bad = ["-5", "nan", "inf", "1e30" if kind.kind is float else str(10 ** 30)]
    if kind.lo > 0 or kind.lo_open:
        bad.append("0")
    if kind.kind is int:
        bad.append("2.5")
    for value in bad:
        with pytest.raises(SystemExit) as e:
            main([cmd, f"{opt}={value}"])
        err = capsys.readouterr().err
        assert e.value.code == 2, (cmd, opt, value)
        assert len(err.strip().splitlines()) == 1 and opt in err and "Traceback" not in err, err


def test_out_of_range_budget_and_bad_candidates_are_refused_up_front(tmp_path):
    for extra, words in ((["--budget", "5", "--w-candidates", "2,3,4", "--a-candidates", "2,3,4"], "[2, 4]"),
                         (["--w-candidates", "2,0"], "between 1 and 32")):
        p = subprocess.run([sys.executable, "-m", "mpqlab.cli", "search", "--model", "resnet20", "--data", "synthetic",
                            "--out", str(tmp_path / "p.json"), *extra], capture_output=True, text=True, timeout=120,
                           cwd=REPO)
        assert p.returncode == 2 and words in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert not (tmp_path / "p.run").exists()  # refused before any work


def test_library_callers_get_the_choices_checked_before_work():
    from mpqlab.analysis.hessian import HessianConfig
    from mpqlab.analysis.landscape import LandscapeConfig
    from mpqlab.commands import hessian_command, landscape_command
    from mpqlab.core.errors import MpqlabError

    with pytest.raises(MpqlabError, match="--direction must be one of random, eigen, got 'sideways'"):
        landscape_command("resnet20", "cifar10-mini", "missing.safetensors", "x.npz",
                          cfg=LandscapeConfig(direction="sideways"))
    with pytest.raises(MpqlabError, match="--dims must be one of 1, 2, got 3"):
        landscape_command("resnet20", "cifar10-mini", "missing.safetensors", "x.npz", cfg=LandscapeConfig(dims=3))
    with pytest.raises(MpqlabError, match="--backend must be one of mpqlab, pyhessian"):
        hessian_command("resnet20", "cifar10-mini", "missing.safetensors", cfg=HessianConfig(backend="curvlinops"))
