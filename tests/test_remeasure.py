"""Re-measuring a finished grid: the proxy side (and with ``target`` the target surrogate gap) taken again with the
sampler, the old values kept in the row, the code recorded, nothing searched again, resumable; and the report's
code-version flags."""
import csv
import json

import pytest

from mpqlab.experiments.executors import run_grid
from mpqlab.experiments.cell import COLUMNS, PREFIX_TARGET_H, SAMPLED, grid_cells, read_row
from mpqlab.experiments.config import GridConfig
from mpqlab.experiments.presets import smoke_config
from mpqlab.core.provenance import FIELDS, code_version
from mpqlab.experiments.remeasure import pending, remeasure_grid
from mpqlab.experiments.report.code_versions import cell_code, comparison_code

pytestmark = pytest.mark.slow  # a smoke grid, then its re-measure


def _age(row_path, **old):
    """Make a finished cell look like one made before the sampler and before provenance."""
    row = json.loads(row_path.read_text())
    for k in ("proxy_side_sample", "target_h_sample", "proxy_side_code", *FIELDS, "proxy_h_common",
              "proxy_sigma_max_common", "proxy_trace_common"):
        row.pop(k, None)
    row.update(old)
    row_path.write_text(json.dumps(row))


def test_a_grid_is_remeasured_in_place_keeping_the_old_values(tmp_path, monkeypatch):
    monkeypatch.setenv("MPQLAB_COMPILE", "0")
    cfg_dict = smoke_config()
    cfg_path = tmp_path / "smoke.json"
    cfg_path.write_text(json.dumps(cfg_dict))
    out = tmp_path / "grid"
    run_grid(cfg_dict, out, show_progress=False)
    cfg = GridConfig.from_dict(cfg_dict)
    rows = {c: read_row(c.row_path(out)) for c in grid_cells(cfg)}
    # a new grid's rows record their code and the stratified sample
    assert all(r["proxy_side_sample"] == SAMPLED and r["code_commit"] == code_version()["code_commit"]
               for r in rows.values())
    assert pending(cfg, out, target=False) == []
    policies = {c: c.folder(out).joinpath("policy.json").read_text() for c in rows}

    aged = [c for c in rows if c.method in ("edmips+asga", "random")]
    for c in aged:
        _age(c.row_path(out), proxy_h=123.0, proxy_top1=1.0)
    assert set(pending(cfg, out, target=False)) == set(aged)
    remeasure_grid(cfg_path, out, target=True, log=lambda *a: None)
    for c in aged:
        row = read_row(c.row_path(out))
        assert row["before_sampler"]["proxy_h"] == 123.0 and row["before_sampler"]["proxy_top1"] == 1.0
        assert row["proxy_h"] == pytest.approx(rows[c]["proxy_h"], rel=1e-3)  # same policy, same sample: same h
        assert row["proxy_side_sample"] == SAMPLED and row["proxy_side_code"]
        assert row["target_h_sample"] == f"{SAMPLED} {cfg.sharpness_images}"
        assert 0 <= row["target_top1_redo"] <= 100 and "target_surrogate_gap" in row["before_sampler"]
        assert "code_inferred" in row
    # nothing searched again; the tables rewritten with every column
    assert {c: c.folder(out).joinpath("policy.json").read_text() for c in rows} == policies
    table = list(csv.DictReader((out / "results.csv").open()))
    assert list(table[0]) == COLUMNS and len(table) == len(rows)
    assert "## Code versions" in (out / "results.md").read_text()
    # resumable: a second call finds nothing to do (rows made since the sampler need no redo)
    assert pending(cfg, out, target=True) == []


def test_a_proxy_only_remeasure_marks_the_target_column_as_the_old_prefix(tmp_path, monkeypatch):
    monkeypatch.setenv("MPQLAB_COMPILE", "0")
    cfg_dict = dict(smoke_config(), methods=["uniform", "random"])
    cfg_path = tmp_path / "smoke.json"
    cfg_path.write_text(json.dumps(cfg_dict))
    out = tmp_path / "grid"
    run_grid(cfg_dict, out, show_progress=False)
    cell = next(c for c in grid_cells(GridConfig.from_dict(cfg_dict)) if c.method == "random")
    _age(cell.row_path(out))
    remeasure_grid(cfg_path, out, log=lambda *a: None)
    assert read_row(cell.row_path(out))["target_h_sample"] == PREFIX_TARGET_H


def test_comparisons_are_flagged_by_the_code_of_their_sides():
    def row(method, seed, commit=None, inferred=None, dirty=False):
        return {"method": method, "seed": seed, "budget": 2.5, "setting": "s", "code_commit": commit,
                "code_dirty": dirty, "code_inferred": inferred}

    comp = {"a": "x", "b": "y", "setting": "s", "budget": 2.5, "seeds": [0, 1]}
    same = [row("x", 0, "a" * 40), row("x", 1, "a" * 40), row("y", 0, "a" * 40), row("y", 1, "a" * 40)]
    assert comparison_code(same, comp) == "same"
    assert comparison_code(same[:3] + [row("y", 1, "b" * 40)], comp) == "differs"
    assert comparison_code(same[:3] + [row("y", 1, "a" * 40, dirty=True)], comp) == "differs"
    assert comparison_code(same[:3] + [row("y", 1)], comp) == "unknown"
    inferred = [row(m, s, inferred="c" * 40) for m in "xy" for s in (0, 1)]
    assert comparison_code(inferred, comp) == "same~" and cell_code(inferred[0]) == "~ccccccc"
    assert cell_code(row("x", 0, "d" * 40, dirty=True)) == "ddddddd+dirty"


def test_the_report_states_how_far_redone_fine_tunes_moved_from_the_committed_top1():
    from mpqlab.experiments.report.code_versions import code_lines

    rows = [{"method": "x", "seed": s, "budget": 2.5, "setting": "s", "code_commit": "a" * 40, "code_dirty": False,
             "target_top1": 80.0, "target_top1_redo": 80.0 + d} for s, d in enumerate([0.2, -0.4, 1.0, float("nan")])]
    text = "\n".join(code_lines(rows, []))
    assert "Fine-tunes redone by the re-measuring code (3 cells" in text  # the NaN row is not a redo
    assert "= +0.27 points on average, sd 0.70, largest 1.00; 67% within 0.5 points" in text
    assert "Fine-tunes redone" not in "\n".join(code_lines([dict(r, target_top1_redo=None) for r in rows], []))


def test_commits_that_leave_the_source_alone_are_one_code_version(tmp_path, monkeypatch):
    """A commit that touches only notebooks, tests or results does not split a grid: its cells and those of the
    commit before it ran the same source. A commit to mpqlab/ does split it; an unresolvable commit stays itself."""
    import subprocess

    import mpqlab.experiments.report.code_versions as cv
    from mpqlab.core.provenance import source_id

    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    git("config", "user.email", "t@t"), git("config", "user.name", "t")
    commits = []
    for path, text in [("mpqlab/a.py", "x = 1\n"), ("notebooks/n.py", "# n\n"), ("mpqlab/a.py", "x = 2\n")]:
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_text(text)
        git("add", "-A"), git("commit", "-qm", path)
        commits.append(git("rev-parse", "HEAD"))
    base, notebook_only, source_change = commits
    assert source_id(base, tmp_path) == source_id(notebook_only, tmp_path) != source_id(source_change, tmp_path)
    assert source_id("f" * 40, tmp_path) is None
    monkeypatch.setattr(cv.provenance, "source_id", lambda c: source_id(c, tmp_path))

    def row(method, seed, commit):
        return {"method": method, "seed": seed, "budget": 2.5, "setting": "s", "code_commit": commit,
                "code_dirty": False}

    comp = {"a": "x", "b": "y", "setting": "s", "budget": 2.5, "seeds": [0]}
    assert cv.comparison_code([row("x", 0, base), row("y", 0, notebook_only)], comp) == "same"
    assert cv.comparison_code([row("x", 0, base), row("y", 0, source_change)], comp) == "differs"
    assert cv.comparison_code([row("x", 0, base), row("y", 0, "f" * 40)], comp) == "differs"
    table = "\n".join(cv.code_lines([row("x", 0, base), row("y", 0, notebook_only)], [comp]))
    assert f"| {base[:7]} | {source_id(base, tmp_path)} | 1 | x |" in table and "differs" not in table


def test_a_record_written_after_the_source_moved_is_marked_dirty(tmp_path):
    """A process records the commit it imported; if the source was committed to or edited after that, the commit
    it names is not known to be the code that ran, and its record says so (dirty). A commit elsewhere is harmless."""
    import subprocess

    from mpqlab.core.provenance import source_moved

    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    def commit(path, text):
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_text(text)
        git("add", "-A"), git("commit", "-qm", path)
        return git("rev-parse", "HEAD")

    git("init", "-q")
    git("config", "user.email", "t@t"), git("config", "user.name", "t")
    started = {"code_commit": commit("mpqlab/a.py", "x = 1\n"), "code_dirty": False}
    assert not source_moved(started, tmp_path)
    commit("notebooks/n.py", "# n\n")
    assert not source_moved(started, tmp_path)  # notebooks only: same source
    (tmp_path / "mpqlab/a.py").write_text("x = 2\n")
    assert source_moved(started, tmp_path)  # edited, not committed
    commit("mpqlab/a.py", "x = 2\n")
    assert source_moved(started, tmp_path)  # committed: another source
    assert not source_moved({"code_commit": None, "code_dirty": None}, tmp_path)
