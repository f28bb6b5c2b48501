"""A search's own trajectory: the weights it keeps every k steps (and at step 0) do not change the search, read
back in step order, and give the plane of the trajectory with the path drawn on it, the last state at its origin."""
import json

import numpy as np
import pytest

from mpqlab.core.errors import MpqlabError
from mpqlab.data import create_dataset
from mpqlab.search import SearchConfig, read_trajectory, run, run_dir_of
from mpqlab.search.trajectory import trajectory_landscape, trajectory_summary


def _cfg():
    return SearchConfig(model="resnet20", data="synthetic-tiny", subset=64, epochs=1, max_batches=6, batch_size=8,
                        w_candidates=[2, 4], a_candidates=[2, 4], budget=3.0, sharpness="asga")


@pytest.mark.slow  # two short searches
def test_kept_states_leave_the_search_unchanged_and_give_the_plane_of_its_path(tmp_path, monkeypatch):
    monkeypatch.setenv("MPQLAB_COMPILE", "0")
    plain = run(_cfg(), tmp_path / "plain" / "policy.json", show_progress=False)
    kept = run(_cfg(), tmp_path / "kept" / "policy.json", show_progress=False, keep_states=2)
    assert kept.layers == plain.layers  # the same policy: keeping states changes what is kept, not the search
    lines = [json.loads(l)["loss"] for l in (run_dir_of(tmp_path / "kept" / "policy.json") / "metrics.jsonl").open()]
    plain_lines = [json.loads(l)["loss"] for l in (run_dir_of(tmp_path / "plain" / "policy.json") / "metrics.jsonl").open()]
    assert lines == plain_lines
    steps, states = read_trajectory(run_dir_of(tmp_path / "kept" / "policy.json"))
    assert len(lines) >= 4 and steps == [0] + list(range(2, len(lines) + 1, 2))  # step 0, then every 2nd step
    assert all("conv1.weight" in s and "bn1.running_mean" in s for s in states)
    data = create_dataset("synthetic-tiny", "train")
    view = trajectory_landscape(run_dir_of(tmp_path / "kept" / "policy.json"), kept, "resnet20", data.tensors(16),
                                data, points=3)
    assert view["loss"].shape == (3, 3) and np.isfinite(view["loss"]).all()
    assert np.allclose(view["path"][-1], 0) and view["path"].shape == (len(steps), 2)  # the last state: the origin
    assert view["ts1"][0] < view["path"][:, 0].min() and view["ts1"][-1] > view["path"][:, 0].max()  # path inside
    assert 0 < view["explained"].sum() <= 1 + 1e-9
    words = trajectory_summary(view)
    assert words.startswith(f"{len(steps)} states over {steps[-1]} steps") and f"{view['loss'].min():.3f}" in words
    with pytest.raises(MpqlabError, match="holds no saved states: run the search with keep_states"):
        read_trajectory(run_dir_of(tmp_path / "plain" / "policy.json"))
