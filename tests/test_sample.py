"""The stratified sampler: every fixed analysis batch and every partial evaluation sees every class in near-equal
share, on a dataset stored sorted by class (as CIFAR-10's JPEG tree and the class-balanced subsets are).

A spy on ``TensorData.normalize`` (every batch a model sees goes through it) decodes each image's class from its
pixels and records the class counts of every batch outside training; each entry point is then run on the sorted
dataset and every batch it took must hold every class within one image of an equal share."""
import inspect

import pytest
import torch

from mpqlab.data import TensorData, class_shares, make_loader, register_dataset, stratified_order
from mpqlab.data.sample import sample_indices
from mpqlab.core.errors import MpqlabError

K = 4  # classes
STEP = 40  # pixel value of class c: c * STEP + 10


def sorted_data(split: str = "train", n: int = 256, size: int = 16) -> TensorData:
    """``n`` images sorted by class; every pixel of an image of class c is c * STEP + 10 plus a little texture
    (so the class is readable from any pixel of the uint8 batch)."""
    labels = torch.arange(K).repeat_interleave(n // K)
    g = torch.Generator().manual_seed(1 if split == "train" else 2)
    texture = torch.randint(0, 8, (n, 3, size, size), generator=g)
    images = (labels.view(-1, 1, 1, 1) * STEP + 10 + texture).to(torch.uint8)
    return TensorData("sorted-synthetic", split, images, labels, [f"c{i}" for i in range(K)], (0.5,) * 3,
                      (0.25,) * 3)


def _sorted_synthetic(split="train", root=None, **_):
    return sorted_data(split, 256 if split == "train" else 128)


@pytest.fixture(autouse=True, scope="module")
def _registered():
    """The class-sorted dataset, registered for this module's tests only: an entry left behind would be a plugin
    that every later grid's worker processes try to import."""
    from mpqlab.data.sources import DATASETS

    register_dataset("sorted-synthetic")(_sorted_synthetic)
    yield
    DATASETS.pop("sorted-synthetic")


@pytest.fixture
def spy(monkeypatch):
    """Class counts of every batch normalised outside a training loop (``fit``'s epochs are shuffled and
    augmented: not an analysis batch)."""
    seen: list[list[int]] = []
    original = TensorData.normalize

    def normalize(self, x):
        if not any(f.function in ("fit", "_train_epoch") for f in inspect.stack()[1:12]):
            cls = (x[:, 0, 0, 0].long() - 10) // STEP
            seen.append(torch.bincount(cls.cpu(), minlength=K).tolist())
        return original(self, x)

    monkeypatch.setattr(TensorData, "normalize", normalize)
    return seen


def assert_balanced(seen: list[list[int]], where: str):
    assert seen, f"{where}: no batch was recorded"
    for counts in seen:
        size = sum(counts)
        lo, hi = size // K - 1, -(-size // K) + 1
        assert all(lo <= c <= hi for c in counts), f"{where}: a batch of {size} has class counts {counts}"


def uniform_policy():
    from mpqlab.models import create_model
    from mpqlab.quant.policy import Policy

    return Policy.uniform(create_model("resnet20", num_classes=K), 4, 4, input_size=(3, 16, 16))


# ------------------------------------------------------------------------------------------------ the sampler
def test_every_prefix_of_the_order_is_balanced():
    labels = torch.arange(5).repeat_interleave(40)  # sorted, 5 classes x 40
    order = stratified_order(labels, seed=3)
    assert sorted(order.tolist()) == list(range(200))  # a permutation
    counts = torch.zeros(5, dtype=torch.long)
    for m, i in enumerate(order.tolist(), start=1):
        counts[labels[i]] += 1
        assert counts.max() - counts.min() <= 1, f"prefix {m} has counts {counts.tolist()}"


def test_order_is_seeded_and_shuffled():
    labels = torch.arange(4).repeat_interleave(50)
    a, b, c = stratified_order(labels, 0), stratified_order(labels, 0), stratified_order(labels, 1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    # within a class the images come in shuffled order, not in stored order
    first_class = [i for i in a.tolist() if labels[i] == 0]
    assert first_class != sorted(first_class)


def test_unequal_classes_stay_balanced_while_the_smallest_lasts():
    labels = torch.cat([torch.zeros(30), torch.ones(10), torch.full((20,), 2)]).long()
    order = stratified_order(labels, 0)
    assert class_shares(labels[order[:30]]) == {0: 1 / 3, 1: 1 / 3, 2: 1 / 3}
    assert sorted(order.tolist()) == list(range(60))


def test_bad_sizes_are_refused():
    with pytest.raises(MpqlabError, match="positive"):
        sample_indices(torch.zeros(4).long(), 0)
    with pytest.raises(MpqlabError, match="empty"):
        stratified_order(torch.zeros(0).long())


# -------------------------------------------------------------------------------------- every entry point
def test_tensors_and_partial_evaluation_see_every_class(spy):
    from mpqlab.models import create_model
    from mpqlab.training.train import evaluate

    data = sorted_data("test", 128)
    x, y = data.tensors(32)
    assert class_shares(y) == {c: 0.25 for c in range(K)}
    net = create_model("resnet20", num_classes=K).eval()
    evaluate(net, data, batch_size=16, max_batches=2)
    assert len(spy) == 3  # tensors, then two evaluation batches
    assert_balanced(spy, "tensors / evaluate(max_batches)")


def test_a_sampled_sub_dataset_holds_every_class_and_notebooks_take_no_prefix():
    import re

    from conftest import REPO

    data = sorted_data("test", 128)
    part = data.sample(32, seed=3)
    assert len(part) == 32 and class_shares(part.labels) == {c: 0.25 for c in range(K)}
    assert not torch.equal(part.labels, data.sample(32, seed=4).labels) or not torch.equal(
        part.images, data.sample(32, seed=4).images)  # another seed, another sample
    prefixes = {p.name: re.findall(r"subset\(range\(\d+\)\)", p.read_text())
                for p in (REPO / "notebooks").glob("[0-9][0-9]_*.py")}
    assert not any(prefixes.values()), f"notebooks take a prefix of a dataset: {prefixes}"


def test_calibration_batches_see_every_class(spy):
    data = sorted_data("train", 256)
    batches = list(make_loader(data, 32, train=False, max_batches=3))
    assert len(batches) == 3
    assert_balanced(spy, "calibration loader")


def test_proxy_side_sees_every_class(spy):
    from mpqlab.experiments.cell import proxy_side
    from mpqlab.quant.policy import Policy

    pol = uniform_policy()
    out = proxy_side(pol, "resnet20", None, "sorted-synthetic", 64, 0, None, n=32)
    assert {"proxy_top1", "proxy_h", "proxy_sigma_max", "proxy_trace"} <= set(out)
    assert len(spy) >= 3  # calibration, top-1 batches, the sharpness batch
    assert_balanced(spy, "proxy_side")


def test_transfer_calibration_and_evaluations_see_every_class(spy, tmp_path):
    from mpqlab.quant.loading import load_splits
    from mpqlab.quant.policy import Policy
    from mpqlab.training.transfer import TransferConfig, transfer

    train, test = load_splits("sorted-synthetic")
    pol = uniform_policy()
    transfer(pol, "resnet20", train, test, None, tmp_path / "t.json",
             TransferConfig(epochs=1, batch_size=32, calib_batches=2, max_batches=2), show_progress=False)
    assert len(spy) == 5  # float eval, calibration (2 batches), before and after the fine-tune (the test set: 1 batch)
    assert_balanced(spy, "transfer")


def test_dataset_calibration_order_reproduces_the_old_prefix(spy, tmp_path):
    """``calib_order="dataset"`` (only to redo fine-tunes made before the sampler) reads the stored order."""
    data = sorted_data("train", 256)
    first = next(iter(make_loader(data, 32, train=False, eval_order="dataset")))[1]
    assert first.tolist() == [0] * 32


def test_hessian_and_landscape_commands_see_every_class(spy, tmp_path):
    from mpqlab.analysis.hessian import HessianConfig
    from mpqlab.analysis.landscape import LandscapeConfig
    from mpqlab.commands import hessian_command, landscape_command

    hessian_command("resnet20", "sorted-synthetic", None, uniform="4/4",
                    cfg=HessianConfig(n=32, trace_probes=2))
    assert_balanced(spy, "hessian command")
    spy.clear()
    landscape_command("resnet20", "sorted-synthetic", None, tmp_path / "l.npz", uniform="4/4",
                      cfg=LandscapeConfig(dims=1, points=3, n=32))
    assert_balanced(spy, "landscape command")


def test_hawq_sensitivities_see_every_class(spy, tmp_path):
    from mpqlab.search import SearchConfig, run

    cfg = SearchConfig(model="resnet20", data="sorted-synthetic", objective="hawq", budget=4.0, batch_size=32,
                       hawq_batches=2, hawq_probes=1, w_candidates=[2, 4], a_candidates=[4], epochs=1)
    run(cfg, tmp_path / "p.json", show_progress=False)
    assert_balanced(spy, "HAWQ")
