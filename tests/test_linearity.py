"""The autograd-graph check behind the Gauss-Newton trace: which networks are piecewise linear in each parameter
tensor. Exact answers (a classification of graph nodes), no tolerances."""
import pytest
import torch
import torch.nn as nn

from conftest import TinyNet
from mpqlab.analysis.linearity import curved_nodes
from mpqlab.quant.quantizers import calibrate, quantize_model


def _params(m):
    return [p for p in m.parameters() if p.requires_grad]


def test_relu_batchnorm_network_and_its_fake_quantized_version_are_piecewise_linear():
    torch.manual_seed(0)
    m, x = TinyNet().eval(), torch.randn(2, 3, 8, 8)
    assert curved_nodes(m(x), _params(m)) == []
    quantize_model(m, {"conv1": (8, 8), "conv2": (4, 4), "conv3": (4, 4), "fc": (8, 8)})
    calibrate(m, [x])
    weights = [p for n, p in m.named_parameters() if n.endswith(("weight", "bias")) and "quant" not in n]
    frozen = {n: p.detach() for n, p in m.named_parameters() if "quant" in n}
    out = torch.func.functional_call(m, frozen, (x,), strict=False)
    assert curved_nodes(out, weights) == []


class Functional(nn.Module):
    """A linear layer followed by one functional operation: ``what`` picks it."""

    def __init__(self, what):
        super().__init__()
        self.what, self.l1, self.l2 = what, nn.Linear(4, 4), nn.Linear(4, 3)

    def forward(self, x):
        h = self.l1(x)
        if self.what == "tanh":
            h = torch.tanh(h)
        elif self.what == "square":  # quadratic in l1's parameters
            h = h * h
        elif self.what == "product":  # l1 times l2: bilinear, linear in each tensor alone
            return self.l2(x) * h[:, :3]
        elif self.what == "divide":
            h = h / (1 + self.l1.bias.abs().sum())
        elif self.what == "softmax":
            h = torch.softmax(h, 1)
        elif self.what == "relu":
            h = torch.relu(h).clamp(max=2.0) + h.mean()
        return self.l2(h)


@pytest.mark.parametrize("what,expected", [("tanh", ["Tanh"]), ("square", ["Mul"]), ("product", []),
                                           ("divide", ["Div"]), ("softmax", ["Softmax"]), ("relu", [])])
def test_functional_calls_are_seen_in_the_graph(what, expected):
    torch.manual_seed(0)
    m = Functional(what)
    assert curved_nodes(m(torch.randn(2, 4)), _params(m)) == expected


def test_batch_statistics_are_curved_and_parameters_outside_the_set_do_not_count():
    torch.manual_seed(0)
    m, x = TinyNet(), torch.randn(4, 3, 8, 8)
    assert curved_nodes(m(x), _params(m)) == ["NativeBatchNorm (batch statistics)"]
    m = Functional("tanh")
    out = m.l2(torch.tanh(m.l1(torch.randn(2, 4)).detach()))  # tanh acts on nothing that depends on l2
    assert curved_nodes(out, [m.l2.weight, m.l2.bias]) == []


def test_unknown_operations_count_as_curved():
    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x ** 2 * g

    w = torch.randn(3, requires_grad=True)
    assert curved_nodes(Cube.apply(w).sum(), [w]) == ["Cube"]


def test_a_graph_deeper_than_the_recursion_limit():
    w = torch.ones(2, requires_grad=True)
    h = w
    for _ in range(3000):
        h = torch.relu(h + 1)
    assert curved_nodes(h, [w]) == [] and curved_nodes(torch.exp(h), [w]) == ["Exp"]
