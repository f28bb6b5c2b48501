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
