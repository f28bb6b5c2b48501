"""The search step's fast arithmetic (a GPU's path, checked here on the CPU against float32 in the default layout):
channels-last and bfloat16 autocast, each for EdMIPS and EdMIPS+ASGA, from the trained checkpoint on the same
seeded class-balanced batch. Tolerances, stated per test: the float network in channels-last agrees to 1e-4; a
quantized step, where any change of arithmetic can move a value across a rounding boundary, to 5 % in its loss and
a cosine above 0.9 between the weights' updates."""
import functools

import pytest
import torch

from mpqlab.core.vectors import cosine, flatten
from mpqlab.data import create_dataset
from mpqlab.models import create_model
from mpqlab.quant.checkpoints import load_model, pretrained
from mpqlab.search.loop import Search, SearchConfig

pytestmark = pytest.mark.slow  # seven ResNet-20 supernet steps from the trained checkpoint


def _batch():
    """A seeded class-balanced batch of the embedded CIFAR-10 sample (cached: every step starts from the same one)."""
    if not BATCH:
        BATCH.extend(create_dataset("cifar10-mini", "train").tensors(64))
    return BATCH


BATCH = []


@functools.lru_cache(maxsize=None)  # the float32 reference of each rule is stepped once for both fast paths
def _cached_step(sharpness, fast):
    return _step(sharpness, **dict(fast))


def _step(sharpness, **fast):
    """One search step of a fresh supernet on the trained checkpoint, with the given fast-path settings."""
    x, y = _batch()
    cfg = SearchConfig(model="resnet20", data="cifar10-mini", sharpness=sharpness, budget=3.0, **fast)
    torch.manual_seed(1)
    s = Search(cfg, load_model("resnet20", pretrained("resnet20_cifar10-mini"), 10)[0], (3, 32, 32), x)
    before = [p.detach().clone() for _, p in s.net.named_weight_parameters()]
    rec = s.step(x, y)
    after = [p.detach().clone().contiguous() for _, p in s.net.named_weight_parameters()]
    return rec, before, after


def test_channels_last_float_network_equals_the_default_layout():
    """The layout itself changes only the order of float32 sums: the float network's logits agree to 1e-4."""
    x, _ = _batch()
    m = load_model("resnet20", pretrained("resnet20_cifar10-mini"), 10)[0].eval()
    with torch.no_grad():
        a = m(x)
        b = m.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("fast", [{"channels_last": True}, {"precision": "bf16"}], ids=["channels_last", "bf16"])
@pytest.mark.parametrize("sharpness", ["none", "asga"])
def test_a_fast_search_step_follows_the_float32_step(sharpness, fast):
    """Through the fake quantizers a value on a rounding boundary can move one level under any change of
    arithmetic (a reordered sum as much as bfloat16's rounding; the calibrated clips move with it), so both fast
    paths are held to the same tolerance: the step's loss within 5 % of float32's, the ascent raising the loss in
    both, the weights' update pointing the same way (cosine > 0.9), the weights still float32."""
    ref, b0, a0 = _cached_step(sharpness, ())
    got, b1, a1 = _cached_step(sharpness, tuple(fast.items()))
    assert all(torch.equal(u, v.contiguous()) for u, v in zip(b0, b1))  # the same start
    assert abs(got["loss"] - ref["loss"]) <= 0.05 * ref["loss"]
    if sharpness != "none":  # the perturbed pass sits where the (already different) gradient sent it: its loss is
        # more sensitive still (5.8 % apart on one machine with compiled kernels), so only its direction is held
        assert got["loss_p"] > got["loss"] and ref["loss_p"] > ref["loss"]
    d0 = flatten([(u - v).contiguous() for u, v in zip(a0, b0)])
    d1 = flatten([(u - v).contiguous() for u, v in zip(a1, b0)])
    assert d0.norm() > 0 and cosine(d0, d1) > 0.9, cosine(d0, d1)
    assert all(p.dtype == torch.float32 for p in a1)


def test_the_fast_path_settings_are_refused_when_unknown():
    from mpqlab.core.errors import MpqlabError

    with pytest.raises(MpqlabError, match="precision must be one of auto, fp32, bf16, got 'fp16'"):
        Search(SearchConfig(precision="fp16"), create_model("resnet20"), (3, 32, 32), torch.randn(4, 3, 32, 32))
