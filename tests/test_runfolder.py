"""The one run folder behind training, fine-tuning and search: settings check, resume, telemetry cut back."""
import json

import pytest
import torch

from mpqlab.core.errors import MpqlabError
from mpqlab.core.run_folders import RunFolder


def test_a_fresh_folder_drops_old_telemetry_and_a_saved_state_resumes(tmp_path):
    (tmp_path / "metrics.jsonl").parent.mkdir(exist_ok=True)
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 9}\n')  # left by an older run without a state
    with RunFolder(tmp_path, {"lr": 0.1, "epochs": 3}, "training run") as rf:
        assert rf.resume() is None and not (tmp_path / "metrics.jsonl").exists()
        rf.append("metrics.jsonl", [{"epoch": 1, "loss": 2.0}])
        rf.save(1, {"w": torch.ones(2)})
        rf.append("metrics.jsonl", [{"epoch": 2, "loss": 1.5}])  # epoch 2 killed before its state was saved
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 2, "lo')  # and a torn line
    with RunFolder(tmp_path, {"epochs": 3, "lr": 0.1}, "training run") as rf:  # key order does not matter
        state = rf.resume()
    assert state["epoch"] == 1 and torch.equal(state["w"], torch.ones(2))
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(l)["epoch"] for l in lines] == [1]


def test_other_settings_are_refused_by_name(tmp_path):
    with RunFolder(tmp_path, {"lr": 0.1, "seed": 0}, "search") as rf:
        rf.resume()
        rf.save(1, {})
    with pytest.raises(MpqlabError, match=r"other settings \(lr\)"):
        with RunFolder(tmp_path, {"lr": 0.2, "seed": 0}, "search") as rf:
            rf.resume()


def test_a_setting_added_later_reads_as_its_old_value_in_a_saved_run(tmp_path):
    """A run saved before a setting existed resumes under the setting's old value, and only under it."""
    with RunFolder(tmp_path, {"lr": 0.1}, "search") as rf:
        rf.resume()
        rf.save(1, {})
    with RunFolder(tmp_path, {"lr": 0.1, "precision": "fp32"}, "search", added={"precision": "fp32"}) as rf:
        assert rf.resume()["epoch"] == 1
    with pytest.raises(MpqlabError, match=r"other settings \(precision\)"):
        with RunFolder(tmp_path, {"lr": 0.1, "precision": "bf16"}, "search", added={"precision": "fp32"}) as rf:
            rf.resume()


def test_a_non_writer_reads_but_never_writes(tmp_path):
    rf = RunFolder(tmp_path / "run", {"a": 1}, "search", writer=False)
    with rf:
        assert rf.resume() is None
        rf.save(1, {})
        rf.append("metrics.jsonl", [{"epoch": 1}])
    assert not (tmp_path / "run").exists()


def test_atomic_writes_get_the_mode_a_plain_open_would_give(tmp_path):
    import os
    import stat

    from mpqlab.core.files import save_state, write_json

    write_json(tmp_path / "a.json", {"x": 1})
    save_state(tmp_path / "s.pt", {"x": 1})
    (tmp_path / "plain.txt").write_text("x")  # open() under this process's umask
    want = stat.S_IMODE(os.stat(tmp_path / "plain.txt").st_mode)
    for name in ("a.json", "s.pt"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == want, name  # not mkstemp's private 0600
