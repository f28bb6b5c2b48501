import pickle

import pytest
import torch

from conftest import TinyNet
from mpqlab.core.errors import DivergedError, MpqlabError
from mpqlab.core.files import load_state, load_weights, save_state, save_weights
from mpqlab.training.train import evaluate, fit


def test_fit_learns_synthetic_data(synth):
    train, test = synth
    torch.manual_seed(0)
    m = TinyNet(num_classes=4)
    before = evaluate(m, test)
    res = fit(m, train, test, epochs=8, batch_size=32, lr=0.2, show_progress=False)
    after = evaluate(m, test)
    assert after["loss"] < 0.5 * before["loss"] and after["top1"] > 90
    assert len(res["history"]) == 8 and res["history"][-1]["test_top1"] == pytest.approx(after["top1"])


def test_fit_resumes_exactly(tmp_path, synth):
    train, test = synth
    torch.manual_seed(0)
    a = TinyNet(num_classes=4)
    b = TinyNet(num_classes=4)
    b.load_state_dict(a.state_dict())
    fit(a, train, None, epochs=3, batch_size=32, show_progress=False, out_dir=tmp_path / "a")
    r1 = fit(b, train, None, epochs=3, batch_size=32, show_progress=False, out_dir=tmp_path / "b", stop_after_epochs=1)
    assert not r1["finished"]
    c = TinyNet(num_classes=4)  # a fresh process: only the run folder survives
    r2 = fit(c, train, None, epochs=3, batch_size=32, show_progress=False, out_dir=tmp_path / "b")
    assert r2["finished"] and len(r2["history"]) == 3
    for (n, p), q in zip(a.state_dict().items(), c.state_dict().values()):
        assert torch.allclose(p.float(), q.float(), atol=1e-6), n
    with pytest.raises(MpqlabError, match="other settings"):
        fit(TinyNet(num_classes=4), train, None, epochs=5, batch_size=32, show_progress=False, out_dir=tmp_path / "b")


def test_nan_loss_stops_and_keeps_last_checkpoint(tmp_path, synth):
    train, _ = synth
    m = TinyNet(num_classes=4)
    fit(m, train, None, epochs=1, batch_size=32, show_progress=False, out_dir=tmp_path)
    saved = load_state(tmp_path / "state.pt")
    with torch.no_grad():
        m.fc.weight.fill_(float("nan"))
    with pytest.raises(DivergedError, match="nan"):
        fit(m, train, None, epochs=3, batch_size=32, show_progress=False, out_dir=tmp_path / "other")
    assert load_state(tmp_path / "state.pt")["epoch"] == saved["epoch"] == 1


def test_weights_roundtrip_and_unsafe_or_corrupt_files_are_refused(tmp_path):
    m = TinyNet()
    save_weights(tmp_path / "m.safetensors", m.state_dict(), {"model": "tiny"})
    sd, meta = load_weights(tmp_path / "m.safetensors")
    assert meta["model"] == "tiny" and all(torch.equal(sd[k], v) for k, v in m.state_dict().items())
    data = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(MpqlabError, match="corrupt or truncated"):
        load_weights(tmp_path / "cut.safetensors")
    save_state(tmp_path / "s.pt", {"x": torch.ones(2)})
    raw = (tmp_path / "s.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(raw[:100])
    with pytest.raises(MpqlabError, match="corrupt or truncated"):
        load_state(tmp_path / "cut.pt")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


# torch warns about the plain pickle's protocol on the way to refusing it: expected here, not a fault
@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_malicious_pickle_checkpoint_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.ones(1)}, "payload": _Evil()}, path)
    with pytest.raises(MpqlabError, match="pickled objects"):
        load_state(path)
    with pytest.raises(MpqlabError):
        load_weights(path)
    assert "pwned" not in capsys.readouterr().out
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(MpqlabError):
        load_state(tmp_path / "plain.pkl")


def _weights(m):
    return {n: p.detach().clone() for n, p in m.named_parameters()}


def test_swa_checkpoint_is_the_mean_of_the_last_epochs_weights(tmp_path, synth):
    train, test = synth
    torch.manual_seed(0)
    init = TinyNet(num_classes=4).state_dict()
    kw = dict(batch_size=32, lr=0.05, schedule="constant", show_progress=False)
    # plain run: under a constant rate epoch e's weights do not depend on the run's length
    plain = TinyNet(num_classes=4)
    plain.load_state_dict(init)
    fit(plain, train, None, epochs=3, out_dir=tmp_path / "plain", stop_after_epochs=2, **kw)
    w2 = _weights(plain)
    fit(plain, train, None, epochs=3, out_dir=tmp_path / "plain", **kw)
    w3 = _weights(plain)
    # SWA over the last two epochs, stopped and resumed between the two averaged epochs
    averaged = TinyNet(num_classes=4)
    averaged.load_state_dict(init)
    r = fit(averaged, train, test, epochs=3, swa_epochs=2, out_dir=tmp_path / "swa", stop_after_epochs=2, **kw)
    assert not r["finished"] and r["swa_test_top1"] is None
    averaged = TinyNet(num_classes=4)  # a fresh process: only the run folder survives
    r = fit(averaged, train, test, epochs=3, swa_epochs=2, out_dir=tmp_path / "swa", **kw)
    assert r["finished"] and [h.get("swa_averaged") for h in r["history"]] == [None, 1, 2]
    for n, p in averaged.named_parameters():
        assert torch.allclose(p, (w2[n] + w3[n]) / 2, atol=1e-6), n
    # BatchNorm statistics are recomputed for the averaged weights, not kept from the last epoch
    # (a fresh BatchNorm's running mean is zero)
    assert averaged.bn1.running_mean.abs().sum() > 0
    assert not torch.allclose(averaged.bn1.running_mean, plain.bn1.running_mean)
    assert r["swa_test_top1"] == pytest.approx(evaluate(averaged, test)["top1"])
    with pytest.raises(MpqlabError, match="other settings"):  # a plain rerun does not resume an averaging run
        fit(TinyNet(num_classes=4), train, None, epochs=3, out_dir=tmp_path / "swa", **kw)
    with pytest.raises(MpqlabError, match="swa_epochs"):
        fit(TinyNet(num_classes=4), train, None, epochs=3, swa_epochs=4, **kw)


def test_train_from_a_checkpoint_with_swa(tmp_path):
    from mpqlab.quant.checkpoints import load_model
    from mpqlab.commands import train_command
    from mpqlab.training.train import TrainConfig

    base = tmp_path / "base.safetensors"
    train_command("resnet20", "cifar10-mini", str(base), TrainConfig(epochs=1, subset=40, batch_size=20))
    with pytest.raises(MpqlabError, match="--init .*missing.safetensors"):
        train_command("resnet20", "cifar10-mini", str(tmp_path / "x.safetensors"),
                      TrainConfig(init=str(tmp_path / "missing.safetensors")))
    with pytest.raises(MpqlabError, match="was made for model 'resnet20'"):
        train_command("resnet32", "cifar10-mini", str(tmp_path / "x.safetensors"),
                      TrainConfig(init=str(base), epochs=1, subset=40, batch_size=20))
    with pytest.raises(MpqlabError, match="--swa-epochs 3"):
        train_command("resnet20", "cifar10-mini", str(tmp_path / "x.safetensors"),
                      TrainConfig(epochs=2, swa_epochs=3))
    # a learning rate near zero leaves the initial weights: the run started from the checkpoint
    card = train_command("resnet20", "cifar10-mini", str(tmp_path / "swa.safetensors"),
                         TrainConfig(init=str(base), epochs=2, swa_epochs=2, subset=40, batch_size=20, lr=1e-9,
                                     schedule="constant"))
    start, _ = load_model("resnet20", base)
    end, _ = load_model("resnet20", tmp_path / "swa.safetensors")
    for (n, p), q in zip(start.named_parameters(), end.parameters()):
        assert torch.allclose(p, q, atol=1e-5), n
    assert card["init"] == str(base) and card["swa_epochs"] == 2 and "test_top1_last_epoch" in card
