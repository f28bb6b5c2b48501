"""Mixed precision of full-precision training: the choice of arithmetic, bf16 autocast learning, resumption."""
import pytest
import torch

from conftest import TinyNet
from mpqlab.core.errors import MpqlabError
from mpqlab.core.precision import autocast, native_bf16, resolve_precision
from mpqlab.training.train import TrainConfig, evaluate, fit


def test_auto_follows_the_hardware_and_bad_values_are_named():
    assert resolve_precision("auto", "cpu") == ("bf16" if native_bf16("cpu") else "fp32")
    assert resolve_precision("fp32", "cpu") == "fp32" and resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(MpqlabError, match="precision must be one of auto, fp32, bf16, got 'fp16'"):
        resolve_precision("fp16", "cpu")
    assert TrainConfig().precision == "auto"


def test_bf16_autocast_runs_convolutions_in_bf16_and_fp32_leaves_them():
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.randn(2, 3, 8, 8)
    with autocast("bf16", "cpu"):
        assert conv(x).dtype == torch.bfloat16
    with autocast("fp32", "cpu"):
        assert conv(x).dtype == torch.float32


def test_bf16_training_learns_and_keeps_float32_weights(synth):
    """bf16 autocast (native or emulated, so on any CPU) learns the synthetic task as float32 does; the weights,
    and what evaluate() computes with, stay float32."""
    train, test = synth
    torch.manual_seed(0)
    m = TinyNet(num_classes=4)
    before = evaluate(m, test)
    res = fit(m, train, test, epochs=8, batch_size=32, lr=0.2, show_progress=False, precision="bf16")
    after = evaluate(m, test)
    assert res["precision"] == "bf16"
    assert after["loss"] < 0.5 * before["loss"] and after["top1"] > 90
    assert all(p.dtype == torch.float32 for p in m.parameters())


def test_a_run_folder_resumes_only_under_its_own_precision(tmp_path, synth):
    train, _ = synth
    fit(TinyNet(num_classes=4), train, None, epochs=2, batch_size=32, show_progress=False, out_dir=tmp_path,
        stop_after_epochs=1, precision="bf16")
    with pytest.raises(MpqlabError, match="other settings"):
        fit(TinyNet(num_classes=4), train, None, epochs=2, batch_size=32, show_progress=False, out_dir=tmp_path,
            precision="fp32")
    r = fit(TinyNet(num_classes=4), train, None, epochs=2, batch_size=32, show_progress=False, out_dir=tmp_path,
            precision="bf16")
    assert r["finished"] and len(r["history"]) == 2


def test_train_card_records_the_precision_asked_and_used(tmp_path):
    from mpqlab.commands import train_command

    card = train_command("resnet20", "cifar10-mini", str(tmp_path / "m.safetensors"),
                         TrainConfig(epochs=1, subset=40, batch_size=20, precision="bf16"))
    assert card["precision"] == "bf16" and card["precision_used"] == "bf16"
    assert card["train_cpu_s"] > 0 and card["train_time_s"] > 0
    assert (tmp_path / "m.json").exists()


def test_a_bf16_quantized_fine_tune_step_follows_the_float32_step():
    """The transfer's bf16 option on a quantized network (W8A8, the trained checkpoint, a seeded class-balanced batch)
    follows the float32 step to the search step's tolerance (tests/test_search_precision.py): the loss within 5 % and
    the weights' updates with a cosine above 0.9. Not asserted at low bits, where it does not hold: at W3A2 a value
    that bf16 moves across a rounding boundary of a 2-bit activation changes the next layer's input, and the flips
    compound over 19 layers. What bf16 does to a whole low-bit cell (search, fine-tune, top-1) is measured by
    benchmarks/cell_precision.py."""
    import torch.nn.functional as F

    from mpqlab.core.precision import autocast
    from mpqlab.core.vectors import cosine, flatten
    from mpqlab.data import create_dataset
    from mpqlab.quant.checkpoints import load_model, pretrained
    from mpqlab.quant.policy import Policy
    from mpqlab.quant.quantizers import calibrate
    from mpqlab.training.train import build_optimizer

    x, y = create_dataset("cifar10-mini", "train").tensors(64)

    def step(precision):
        net = load_model("resnet20", pretrained("resnet20_cifar10-mini"), 10)[0]
        Policy.uniform(net, 8, 8).apply(net, (3, 32, 32))
        calibrate(net, [x])
        net.train()
        opt = build_optimizer(net.named_parameters(), 0.01, 0.9, 4e-5)
        before = [p.detach().clone() for p in net.parameters()]
        with autocast(precision, "cpu"):
            out = net(x)
        loss = F.cross_entropy(out.float(), y)
        loss.backward()
        opt.step()
        return loss.item(), [p.detach() - b for p, b in zip(net.parameters(), before)]

    loss32, upd32 = step("fp32")
    loss16, upd16 = step("bf16")
    assert abs(loss16 - loss32) <= 0.05 * loss32
    assert cosine(flatten(upd16), flatten(upd32)) > 0.9
