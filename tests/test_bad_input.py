"""Every bad input is refused before work, with its own message, and nothing is written for a refused run: NaN
and infinities in any number of a grid config, an output path that is a file, lies under one or cannot be
written, a corrupt checkpoint (checked in the parent, before any worker), a corrupt run state or cell row (named
with the fix), a lock left empty by a clean exit (no takeover message)."""
import json
import math
import os
from pathlib import Path

import pytest
import torch

from mpqlab.core.errors import MpqlabError
from mpqlab.core.files import ensure_folder, load_state, save_state
from mpqlab.core.locks import run_lock
from mpqlab.experiments.cell import check_inputs, load_config, read_row
from mpqlab.experiments.executors import run_grid
from mpqlab.experiments.presets import smoke_config


def _with(path, value):
    cfg = smoke_config()
    *parents, leaf = path
    d = cfg
    for k in parents:
        d = d[k]
    d[leaf] = value
    return cfg


@pytest.mark.parametrize("path", [("search", "lr"), ("search", "rho"), ("target", "lr"), ("equivalence_margin",),
                                  ("gate_margin",)])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_number_is_refused_naming_its_key(path, value, tmp_path):
    out = tmp_path / "grid"
    with pytest.raises(MpqlabError, match=path[-1]):
        run_grid(_with(path, value), out, show_progress=False)
    assert not out.exists()  # nothing written for a refused run


def test_non_finite_budgets_method_options_and_json_constants_are_refused(tmp_path):
    with pytest.raises(MpqlabError, match="budgets"):
        check_inputs(dict(smoke_config(), budgets=[math.inf]))
    with pytest.raises(MpqlabError, match="rho"):
        check_inputs(dict(smoke_config(), methods=["edmips+sam:rho=NaN"]))
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(smoke_config()).replace('"lr": 0.01', '"lr": NaN').replace('"budgets": [2.5]',
                                                                                           '"budgets": [NaN]'))
    with pytest.raises(MpqlabError, match="holds NaN"):
        load_config(cfg)


def test_an_output_path_that_is_a_file_or_lies_under_one_or_cannot_be_written(tmp_path, monkeypatch):
    f = tmp_path / "a_file"
    f.write_text("x")
    with pytest.raises(MpqlabError, match="is a file, not a folder"):
        run_grid(smoke_config(), f, show_progress=False)
    with pytest.raises(MpqlabError, match="lies under .*a_file, which is a file"):
        run_grid(smoke_config(), f / "grid", show_progress=False)
    assert f.read_text() == "x"
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == locked else real(p, m))  # root writes anywhere
    with pytest.raises(MpqlabError, match="not writable"):
        ensure_folder(locked)


def test_a_corrupt_checkpoint_is_refused_in_the_parent_before_any_worker(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header")
    cfg = smoke_config()
    cfg["target"]["init"] = str(bad)
    out = tmp_path / "grid"
    with pytest.raises(MpqlabError, match="target init: checkpoint .*bad.safetensors cannot be read"):
        run_grid(cfg, out, workers=2, show_progress=False)
    assert not out.exists()


def test_a_corrupt_state_and_a_truncated_row_are_named_with_their_fix(tmp_path):
    state = tmp_path / "state.pt"
    save_state(state, {"w": torch.ones(3), "epoch": 1})
    state.write_bytes(state.read_bytes()[: len(state.read_bytes()) // 2])
    with pytest.raises(MpqlabError, match="corrupt or truncated.*remove this file"):
        load_state(state, "search state", fix="remove this file to restart the run from its beginning")
    row = tmp_path / "row.json"
    row.write_text('{"setting": "x", "method": ')
    with pytest.raises(MpqlabError, match=r"cell result .*row.json is not valid JSON.*remove this file to redo"):
        read_row(row)


def test_a_selection_that_does_not_fit_its_dataset_is_refused_before_work():
    cfg = dict(smoke_config(), methods=["edmips@selected"], selection={"candidates": 2, "subset": 100,
                                                                       "validation_images": 10 ** 6})
    with pytest.raises(MpqlabError, match="needs 1000100 training images of synthetic-tiny"):
        check_inputs(cfg)


def test_the_takeover_message_only_for_a_lock_whose_holder_died(tmp_path, capsys):
    folder = tmp_path / "run"
    with run_lock(folder):
        pass  # a clean exit leaves the LOCK file empty
    with run_lock(folder):
        pass
    assert "taking over" not in capsys.readouterr().err
    (folder / "LOCK").write_text(f"PID 999999999 on {os.uname().nodename} since 2026-01-01T00:00:00Z\n")
    with run_lock(folder):
        pass
    assert "taking over run folder" in capsys.readouterr().err
