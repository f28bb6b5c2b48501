import json

import pytest
import torch

from conftest import make_image_tree
from mpqlab.quant.checkpoints import save_checkpoint
from mpqlab.data import create_dataset
from mpqlab.core.errors import MpqlabError
from mpqlab.models import create_model
from mpqlab.quant.policy import Policy
from mpqlab.training.transfer import TransferConfig, transfer


def test_cifar_stem_policy_on_imagenet_resnet18_fake_imagefolder(tmp_path):
    make_image_tree(tmp_path / "img" / "train", ["a", "b"], 4, 64)
    make_image_tree(tmp_path / "img" / "val", ["a", "b"], 2, 64)
    train = create_dataset("imagefolder", "train", path=str(tmp_path / "img"), image_size=64)
    test = create_dataset("imagefolder", "test", path=str(tmp_path / "img"), image_size=64)
    pol = Policy.uniform(create_model("resnet18_cifar", num_classes=2), 4, 4)
    res = transfer(pol, "resnet18", train, test, None, tmp_path / "r.json",
                   TransferConfig(epochs=1, batch_size=4, max_batches=1, calib_batches=1), show_progress=False)
    assert not res.pop("model").training  # the fine-tuned model itself comes back, in eval mode
    assert res["history"][0]["epoch"] == 1 and res["n"] == 4
    assert any("conv1" in n for n in res["notes"])
    assert res["average_bits"] == pytest.approx(4.0)  # recomputed on the 64x64 ImageNet-stem model
    assert json.loads((tmp_path / "r.json").read_text())["top1"] == res["top1"]


def test_transfer_improves_loss_and_resumes(tmp_path, synth):
    train, test = synth
    torch.manual_seed(0)
    fp = create_model("resnet20", num_classes=4)
    save_checkpoint(tmp_path / "fp.safetensors", fp, {"model": "resnet20", "num_classes": 4})
    pol = Policy.uniform(fp, 2, 2)
    kw = dict(cfg=TransferConfig(epochs=3, batch_size=32, lr=0.05, calib_batches=1), show_progress=False)
    full = transfer(pol, "resnet20", train, test, str(tmp_path / "fp.safetensors"), tmp_path / "a.json", **kw)
    assert full["loss"] < full["history"][0]["train_loss"]
    first = full["history"][0]["train_loss"]
    assert full["history"][-1]["train_loss"] < first
    assert transfer(pol, "resnet20", train, test, str(tmp_path / "fp.safetensors"), tmp_path / "b.json",
                    stop_after_epochs=1, **kw) is None
    resumed = transfer(pol, "resnet20", train, test, str(tmp_path / "fp.safetensors"), tmp_path / "b.json", **kw)
    assert resumed["loss"] == pytest.approx(full["loss"], rel=1e-4)
    assert (tmp_path / "b.safetensors").is_file()


def test_transfer_refuses_mismatched_models(tmp_path, synth):
    train, test = synth
    pol = Policy.uniform(create_model("resnet32", num_classes=4), 4, 4)
    with pytest.raises(MpqlabError, match="layers in the policy but not in the model: layer1.3.conv1"):
        transfer(pol, "resnet20", train, test, None, tmp_path / "r.json", show_progress=False)
    fp = create_model("resnet20", num_classes=10)
    save_checkpoint(tmp_path / "ten.safetensors", fp, {"model": "resnet20", "num_classes": 10})
    with pytest.raises(MpqlabError, match="has 10 classes, the data has 4"):
        transfer(Policy.uniform(fp, 4, 4), "resnet20", train, test, str(tmp_path / "ten.safetensors"),
                 tmp_path / "r.json", show_progress=False)
    with pytest.raises(MpqlabError, match="made for model 'resnet20', not 'resnet32'"):
        transfer(pol, "resnet32", train, test, str(tmp_path / "ten.safetensors"), tmp_path / "r.json",
                 show_progress=False)
    with pytest.raises(MpqlabError, match="transfer takes a Policy"):
        transfer(str(tmp_path / "p.json"), "resnet20", train, test, None, tmp_path / "r.json", show_progress=False)


def test_finetuned_is_cached_per_policy_and_refuses_another_one_in_its_folder(tmp_path, synth):
    from mpqlab.training.transfer import finetuned

    train, test = synth
    pol = Policy.uniform(create_model("resnet20", num_classes=4), 4, 4)
    kw = dict(epochs=1, max_batches=2)
    net, res = finetuned(pol, "resnet20", train, test, None, tmp_path / "ft", **kw)
    assert not net.training and (tmp_path / "ft" / "transfer.json").is_file()
    stamp = (tmp_path / "ft" / "transfer.json").stat().st_mtime_ns
    net2, res2 = finetuned(pol, "resnet20", train, test, None, tmp_path / "ft", **kw)  # cached: nothing rerun
    assert (tmp_path / "ft" / "transfer.json").stat().st_mtime_ns == stamp and res2["top1"] == res["top1"]
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), net2.state_dict().values()))
    with pytest.raises(MpqlabError, match="another policy"):
        finetuned(pol.with_layer_bits("layer1.0.conv1", 2, 2), "resnet20", train, test, None, tmp_path / "ft", **kw)
    with pytest.raises(MpqlabError, match="1-epoch fine-tune, not 2"):
        finetuned(pol, "resnet20", train, test, None, tmp_path / "ft", epochs=2, max_batches=2)


def test_a_bf16_fine_tune_is_recorded_and_refused_across_precisions(tmp_path, synth):
    """``precision="bf16"`` runs the fine-tune's forward passes under bfloat16 autocast: the result records it (an
    fp32 transfer's arguments keep their old form), the weights stay float32, and a run folder started in one
    precision refuses to resume in the other instead of mixing them."""
    train, test = synth
    pol = Policy.uniform(create_model("resnet20", num_classes=4), 3, 2)
    kw = dict(show_progress=False, eval_float=False)
    fast = transfer(pol, "resnet20", train, test, None, tmp_path / "b.json",
                    TransferConfig(epochs=1, batch_size=32, calib_batches=1, precision="bf16"), **kw)
    plain = transfer(pol, "resnet20", train, test, None, tmp_path / "f.json",
                     TransferConfig(epochs=1, batch_size=32, calib_batches=1), **kw)
    assert fast["args"]["precision"] == "bf16" and "precision" not in plain["args"]
    assert all(p.dtype == torch.float32 for p in fast.pop("model").parameters())
    assert 0 <= fast["top1"] <= 100 and fast["loss"] == fast["loss"]  # a number, not NaN
    with pytest.raises(MpqlabError, match="precision"):  # the fp32 folder, asked to go on in bf16
        transfer(pol, "resnet20", train, test, None, tmp_path / "f.json",
                 TransferConfig(epochs=2, batch_size=32, calib_batches=1, precision="bf16"), **kw)


def test_a_grid_target_block_takes_the_fine_tune_precision_and_refuses_another_word():
    from mpqlab.experiments.config import GridConfig
    from mpqlab.experiments.presets import quick_config

    d = quick_config()
    d["target"] = dict(d["target"], precision="bf16")
    assert GridConfig.from_dict(d).transfer_config(0).precision == "bf16"
    d["target"]["precision"] = "fp16"
    with pytest.raises(MpqlabError, match="precision"):
        GridConfig.from_dict(d)


def test_the_transfer_top1_is_the_fine_tuned_model_on_the_whole_test_split(tmp_path, synth):
    """The last epoch's evaluation is the transfer's result (it is not evaluated a second time): the same numbers as
    evaluating the returned model afresh."""
    from mpqlab.training.train import evaluate

    train, test = synth
    pol = Policy.uniform(create_model("resnet20", num_classes=4), 3, 2)
    res = transfer(pol, "resnet20", train, test, None, tmp_path / "t.json",
                   TransferConfig(epochs=1, batch_size=32, calib_batches=1), show_progress=False, eval_float=False)
    again = evaluate(res.pop("model"), test)
    assert (res["top1"], res["loss"], res["n"]) == (again["top1"], again["loss"], again["n"]) == (
        res["history"][-1]["test_top1"], res["history"][-1]["test_loss"], len(test))
