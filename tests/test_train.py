import pickle

import pytest
import torch

from conftest import TinyNet
from mpqlab.errors import DivergedError, MpqlabError
from mpqlab.io import load_state, load_weights, save_state, save_weights
from mpqlab.train import evaluate, fit


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
