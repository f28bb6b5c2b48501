"""Grid executors: cells in parallel on this machine and as submitit jobs give the table a sequential run gives,
a cell killed mid-run resumes, a held cell is left to its holder."""
import csv
import os
import signal
import time

import pytest

from mpqlab.experiments.executors import cell_states, run_claimed, run_grid
from mpqlab.experiments.cell import grid_cells
from mpqlab.experiments.presets import smoke_config
from mpqlab.core.locks import LOCK_NAME, holder_alive, run_lock

TIMES = {"search_wall_time_s", "search_cpu_time_s", "transfer_wall_time_s", "search_cost_ratio"}


def _table(path):
    return [{k: v for k, v in r.items() if k not in TIMES} for r in csv.DictReader(open(path))]


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    os.environ["MPQLAB_COMPILE"] = "0"  # a few batches: compiling the quantizer kernels would not pay
    out = tmp_path_factory.mktemp("sequential")
    return run_grid(smoke_config(), out, show_progress=False)  # one worker, in this process


def test_cells_are_listed_reference_first_and_states_add_up(tmp_path):
    cfg = smoke_config()
    cells = grid_cells(cfg)
    assert cells[0].method == "edmips@target" and len(cells) == 4 and len(set(cells)) == 4
    assert cell_states(cfg, tmp_path) == {"done": 0, "running": 0, "left": 4}


def test_a_cell_held_by_a_live_process_is_left_to_it(tmp_path):
    cfg = smoke_config()
    cell = grid_cells(cfg)[1]
    with run_lock(cell.folder(tmp_path)):
        # the lock is re-entrant within one process; look at it as another process would
        assert holder_alive(cell.folder(tmp_path) / LOCK_NAME)
    assert not holder_alive(cell.folder(tmp_path) / LOCK_NAME)  # a clean exit empties the LOCK file
    (cell.folder(tmp_path) / LOCK_NAME).write_text("PID 1 on elsewhere.example since 2026-01-01T00:00:00Z\n")
    assert holder_alive(cell.folder(tmp_path) / LOCK_NAME)  # another host: believed alive until emptied


@pytest.mark.slow
def test_a_cell_locked_by_another_process_is_skipped(tmp_path):
    import subprocess
    import sys

    cfg = smoke_config()
    cell = grid_cells(cfg)[2]
    folder = cell.folder(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from mpqlab.core.locks import run_lock\n"
        f"with run_lock({str(folder)!r}):\n    print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert run_claimed(cfg, cell, tmp_path) is None
        assert cell_states(cfg, tmp_path)["running"] == 1
    finally:
        holder.kill()
        holder.wait()
    assert cell_states(cfg, tmp_path)["running"] == 0


@pytest.mark.slow
def test_submitit_jobs_with_one_killed_mid_run_resume_to_the_sequential_table(sequential, tmp_path):
    pytest.importorskip("submitit")
    cfg = smoke_config()
    run_grid(cfg, tmp_path, executor="submitit", cluster="local", wait_jobs=False, show_progress=False)
    ref = grid_cells(cfg)[0].folder(tmp_path)  # the longest cell: search 4 batches, then transfer
    deadline, killed = time.time() + 300, None
    while time.time() < deadline and killed is None:
        lock = ref / LOCK_NAME
        started = any(ref.rglob("metrics.jsonl"))
        if started and holder_alive(lock) and not (ref / "row.json").exists():
            pid = int(lock.read_text().split()[1])
            os.kill(pid, signal.SIGKILL)  # the job's process, mid-cell
            killed = pid
        time.sleep(0.05)
    assert killed, "the reference cell's job never got under way"
    time.sleep(1.0)
    assert not (ref / "row.json").exists()
    path = run_grid(cfg, tmp_path, executor="submitit", cluster="local", show_progress=False)  # waits, merges
    assert _table(path) == _table(sequential)
    logs = "".join(p.read_text() for p in (tmp_path / "submitit").rglob("*.err"))
    assert f"from a run that is no longer alive (PID {killed}" in logs  # the rerun took the dead job's cell over


@pytest.mark.slow
def test_policies_from_reuses_another_grids_policies_and_checks_its_ranking(sequential, tmp_path):
    from mpqlab.core.errors import MpqlabError

    src = sequential.parent
    cfg = smoke_config()
    cfg["target"] = dict(cfg["target"], epochs=2)
    with pytest.raises(MpqlabError, match="policies_from .*nowhere.* is not a folder"):
        run_grid(dict(cfg, policies_from=str(tmp_path / "nowhere")), tmp_path / "out", show_progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MpqlabError, match="no policy.json for 4 cell"):
        run_grid(dict(cfg, policies_from=str(tmp_path / "empty")), tmp_path / "out", show_progress=False)
    assert not (tmp_path / "out").exists()  # refused before any work
    path = run_grid(dict(cfg, policies_from=str(src)), tmp_path / "out", show_progress=False)
    for cell in grid_cells(cfg):
        assert (cell.folder(tmp_path / "out") / "policy.json").read_text() == (
            cell.folder(src) / "policy.json").read_text()
        assert not (cell.folder(tmp_path / "out") / "policy.run").exists()  # no search ran
    here, there = _table(path), _table(sequential)
    assert [r["policy_bits"] for r in here] == [r["policy_bits"] for r in there]
    assert [r["proxy_h"] for r in here] == [r["proxy_h"] for r in there]  # the proxy side is reused
    assert "Ranking check: this grid against" in (path.parent / "results.md").read_text()


@pytest.mark.slow  # the module's sequential smoke grid
def test_policies_from_searches_again_a_cell_whose_start_checkpoint_changed(sequential, tmp_path):
    """A new target checkpoint: the proxy searches (started from the proxy checkpoint) and the null baselines are
    reused, the reference (started from the target checkpoint) is not."""
    from mpqlab.experiments.cell import REFERENCE, _source_cell

    cfg = dict(smoke_config(), policies_from=str(sequential.parent))
    same = {c.method: _source_cell(cfg, c.setting, c.method, c.seed, c.budget) for c in grid_cells(cfg)}
    assert all(f is not None and f == c.folder(sequential.parent) for c, f in zip(grid_cells(cfg), same.values()))
    cfg["target"] = dict(cfg["target"], init="checkpoints/another_target.safetensors")
    moved = {c.method: _source_cell(cfg, c.setting, c.method, c.seed, c.budget) for c in grid_cells(cfg)}
    assert moved[REFERENCE] is None
    assert all(moved[m] == same[m] for m in moved if m != REFERENCE)
    cfg["settings"] = {k: dict(v, proxy_init="checkpoints/another_proxy.safetensors") for k, v in cfg["settings"].items()}
    proxy_moved = {c.method: _source_cell(cfg, c.setting, c.method, c.seed, c.budget) for c in grid_cells(cfg)}
    assert proxy_moved["edmips+asga"] is None and proxy_moved["uniform"] == same["uniform"]


@pytest.mark.slow  # the module's sequential smoke grid
def test_finished_cells_lists_each_cell_with_its_row_and_policy(sequential, tmp_path):
    from mpqlab.experiments.merge import finished_cells

    cells = finished_cells(sequential.parent)
    assert sorted(cells) == sorted(f"{c.method} · seed 0" for c in grid_cells(smoke_config()))
    for label, c in cells.items():
        assert label.startswith(c["row"]["method"]) and "layers" in c["policy"]
        searchable = [r for r in c["policy"]["layers"].values() if r["searchable"]]
        assert c["row"]["policy_bits"] == " ".join(f"{r['w_bits']}/{r['a_bits']}" for r in searchable)
    assert finished_cells(tmp_path) == {}


def test_cell_of_finds_a_cell_by_method_and_seed_with_or_without_its_setting():
    from mpqlab.experiments.merge import cell_of

    one, two, ref = {"row": 1}, {"row": 2}, {"row": 3}
    cells = {"subset-control edmips · seed 0": one, "wide edmips · seed 0": two, "edmips@target · seed 0": ref}
    assert cell_of(cells, "edmips", 0, "subset-control") is one and cell_of(cells, "edmips", 0, "wide") is two
    assert cell_of(cells, "edmips@target", 0, "subset-control") is ref  # the reference is shared by settings
    assert cell_of(cells, "edmips", 1, "subset-control") is None and cell_of(cells, "edmips", 0) is None


@pytest.mark.slow  # the module's sequential smoke grid
def test_a_half_run_grids_report_says_it_is_partial_and_the_finished_one_does_not(sequential, tmp_path):
    import shutil

    from mpqlab.experiments.merge import merge

    grid = tmp_path / "grid"
    shutil.copytree(sequential.parent, grid)
    assert "PARTIAL" not in (grid / "results.md").read_text()
    (grid_cells(smoke_config())[-1].folder(grid) / "row.json").unlink()  # as if stopped before its last cell
    merge(smoke_config(), grid)
    text = (grid / "results.md").read_text()
    assert "**PARTIAL: 3 of 4 cells finished." in text and "grid is incomplete" in text
    assert len(_table(grid / "results.csv")) == 3


def test_rows_written_before_the_column_rename_read_as_target_surrogate_gap(tmp_path):
    from mpqlab.experiments.cell import read_row
    from mpqlab.core.files import write_json

    write_json(tmp_path / "old.json", {"method": "edmips", "sharpness": 0.25})
    write_json(tmp_path / "new.json", {"method": "edmips", "target_surrogate_gap": 0.5})
    assert read_row(tmp_path / "old.json") == {"method": "edmips", "target_surrogate_gap": 0.25}
    assert read_row(tmp_path / "new.json")["target_surrogate_gap"] == 0.5


@pytest.mark.slow
def test_a_grid_with_two_local_workers_gives_the_one_worker_table(sequential, tmp_path, capsys):
    """The grid with 2 worker processes and with 1 (the module's sequential run): every column but the times is
    equal. Each cell seeds its own generators and runs single-threaded, so the order in which cells run, and in
    which process, cannot change a number. (The same holds for ``--quick``, whose cells differ only in their
    data; its run time is measured, not tested: see the README.)"""
    two = run_grid(smoke_config(), tmp_path / "two", workers=2)
    rows = _table(two)
    assert rows == _table(sequential) and len(rows) == 4
    assert len({r["method"] for r in rows}) == 4 and all(r["policy_bits"] for r in rows)
    lines = [l for l in capsys.readouterr().out.splitlines() if "top1=" in l]  # one per finished cell
    assert len(lines) == 4 and all("done" in l and "running" in l and "left" in l for l in lines)


def test_a_missing_initial_checkpoint_is_refused_before_any_cell(tmp_path):
    from mpqlab.core.errors import MpqlabError

    cfg = smoke_config()
    cfg["target"] = dict(cfg["target"], init=str(tmp_path / "nowhere.safetensors"))
    with pytest.raises(MpqlabError, match="target init: checkpoint .*nowhere.safetensors does not exist"):
        run_grid(cfg, tmp_path / "out", show_progress=False)
    cfg = smoke_config()
    cfg["settings"] = {"proxy-subset": dict(cfg["settings"]["proxy-subset"], proxy_init="no/such.safetensors")}
    with pytest.raises(MpqlabError, match="settings.proxy-subset.proxy_init: checkpoint no/such.safetensors"):
        run_grid(cfg, tmp_path / "out", show_progress=False)
    assert not (tmp_path / "out").exists()


def test_shared_nulls_run_each_null_baseline_once_per_seed():
    cfg = dict(smoke_config(), shared_nulls=True)
    cfg["settings"] = {"a": cfg["settings"]["proxy-subset"], "b": cfg["settings"]["proxy-subset"]}
    cells = grid_cells(cfg)
    assert [(c.setting, c.method) for c in cells] == [
        ("reference", "edmips@target"), ("shared", "uniform"), ("shared", "random"), ("a", "edmips+asga"),
        ("b", "edmips+asga")]
    assert len(grid_cells(dict(cfg, shared_nulls=False))) == 7


def test_method_seeds_run_a_method_on_some_seeds_only(tmp_path):
    import json

    from mpqlab.core.errors import MpqlabError
    from mpqlab.experiments.cell import load_config

    cfg = dict(smoke_config(), seeds=[0, 1, 2], method_seeds={"uniform": [0]})
    methods = [(c.method, c.seed) for c in grid_cells(cfg)]
    assert ("uniform", 0) in methods and ("uniform", 1) not in methods and ("random", 2) in methods
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(cfg, method_seeds={"uniform": [7]})))
    with pytest.raises(MpqlabError, match="method_seeds"):
        load_config(bad)


def test_a_validation_chosen_reference_picks_its_best_candidate_and_counts_every_search(tmp_path):
    from mpqlab.experiments.cell import run_cell
    from mpqlab.core.files import read_json
    from mpqlab.quant.policy import Policy

    cfg = smoke_config()
    cfg["reference"] = {"candidates": 2, "subset": 40, "validation_images": 40, "bn_batches": 2, "max_batches": 2}
    out = tmp_path / "ref"
    row = run_cell(cfg, "reference", "edmips@target", 0, 2.5, out)
    sel = read_json(out / "selection.json")["candidates"]
    assert [c["k"] for c in sel] == [0, 1] and all(0 <= c["val_top1"] <= 100 for c in sel)
    pol = Policy.load(out / "policy.json")
    chosen = pol.provenance["reference_selection"]["chosen"]
    assert sel[chosen]["val_top1"] == max(c["val_top1"] for c in sel)
    assert pol.bits() == Policy.load(out / f"candidate{chosen}.json").bits()
    searches = sum(Policy.load(out / f"candidate{k}.json").provenance["search_cpu_time_s"] for k in (0, 1))
    assert pol.provenance["search_cpu_time_s"] >= searches and float(row["search_cpu_time_s"]) >= searches
    # the held-out images are not in any candidate's search set
    from mpqlab.data import create_dataset, split_holdout
    from mpqlab.search.loop import prepare_data
    from mpqlab.search import SearchConfig

    cand = SearchConfig(**{k: v for k, v in pol.provenance["config"].items()})
    seen, _ = prepare_data(cand)
    _, val = split_holdout(create_dataset("synthetic-tiny", "train"), 40, 0)
    as_rows = lambda d: {tuple(r.flatten()[:64].tolist()) for r in d.images}  # noqa: E731
    assert not as_rows(seen) & as_rows(val)


def test_a_misspelt_grid_key_is_refused_naming_it(tmp_path):
    from mpqlab.core.errors import MpqlabError
    from mpqlab.experiments.executors import run_grid

    for where, bad in (("", {"seed": [0]}), ("search", {"search": {"epoch": 2}}),
                       ("target", {"target": dict(smoke_config()["target"], finetune_epoch=2)}),
                       ("reference", {"reference": {"candidate": 4}})):
        with pytest.raises(MpqlabError, match=f"unknown key.*{where}"):
            run_grid(dict(smoke_config(), **bad), tmp_path / "g", show_progress=False)
    assert not (tmp_path / "g" / "cells").exists()
