"""Is a network piecewise linear in each of its parameter tensors? Read from the autograd graph of its output.

The Gauss-Newton trace (``Hessian.trace(method="gauss-newton")``) rests on tr(H) = tr(G): the diagonal blocks of
the loss Hessian lose their second-derivative-of-the-network term when the output is piecewise linear in every
parameter tensor taken alone (ReLU networks, pooling, eval-mode BatchNorm, straight-through fake quantizers).
Whether that holds is a property of the derivatives autograd will differentiate, so it is read where they are:
the graph behind one forward pass. Each node is classified by its type:

- *linear* (add, views, sums, average pooling, ...) and *piecewise linear* (ReLU, clamp, max pooling, round, ...):
  fine whatever their inputs depend on;
- *multilinear* (mul, convolution, matrix products, eval-mode BatchNorm's affine map): fine when no two of their inputs
  depend on the same parameter tensor (x * x is curved, conv(x(W1), W2) is not);
- division: fine when the denominator depends on no parameter;
- mpqlab's own fused activation quantizer: straight-through, piecewise linear in its input (tested against the
  exact Hessian in tests/test_hessian.py);
- anything else that depends on a parameter (tanh, exp, softmax, a custom autograd Function, a node type not
  listed here) counts as curved. Unknown means curved: the check can refuse a network it could have accepted,
  never the other way round.

One function, :func:`curved_nodes`, returns the node types at which the output is curved in a single tensor.
"""
from __future__ import annotations

import re
from typing import Sequence

import torch

LINEAR = frozenset({
    "Add", "Sub", "Neg", "View", "UnsafeView", "Reshape", "ReshapeAlias", "Permute", "Transpose", "T", "Expand",
    "Clone", "Sum", "Mean", "Cat", "Stack", "Select", "Slice", "Index", "Squeeze", "Unsqueeze", "ToCopy",
    "AsStrided", "Split", "SplitWithSizes", "Unbind", "Alias", "Narrow", "Repeat", "Roll", "Flip",
    "ConstantPadNd", "ReflectionPad2D", "ReplicationPad2D", "PixelShuffle", "PixelUnshuffle", "Im2Col", "Col2Im",
    "AvgPool1D", "AvgPool2D", "AvgPool3D", "AdaptiveAvgPool1D", "AdaptiveAvgPool2D", "AdaptiveAvgPool3D",
    "UpsampleNearest2D", "UpsampleBilinear2D", "Dropout", "NativeDropout",
})
PIECEWISE_LINEAR = frozenset({
    "Relu", "LeakyRelu", "Hardtanh", "Threshold", "Clamp", "ClampMin", "ClampMax", "Maximum", "Minimum", "Max",
    "Min", "Amax", "Amin", "Abs", "Round", "Floor", "Ceil", "Trunc", "Sign", "Where", "MaskedFill", "Sort", "Topk",
    "MaxPool1DWithIndices", "MaxPool2DWithIndices", "MaxPool3DWithIndices", "AdaptiveMaxPool2D",
    "_MixedClippedQuant",
})
MULTILINEAR = frozenset({"Mul", "Convolution", "Addmm", "Mm", "Bmm", "Mv", "Dot", "Addmv", "Baddbmm",
                         "NativeBatchNorm", "NativeBatchNormLegitNoTraining", "Linear"})
DIVISION = frozenset({"Div"})

_SUFFIX = re.compile(r"Backward\d*$")


def node_kind(node) -> str:
    """The operation behind an autograd node: ``ConvolutionBackward0`` -> ``Convolution``."""
    return _SUFFIX.sub("", type(node).__name__)


def curved_nodes(output: torch.Tensor, params: Sequence[torch.Tensor]) -> list[str]:
    """Sorted kinds of the autograd nodes at which ``output`` is curved in a single tensor of ``params`` (an empty
    list: ``output`` is piecewise linear in each of them, almost everywhere). Parameters not in ``params`` must
    enter the graph detached (their curvature does not matter here); other leaves count as constants."""
    index = {id(p): k for k, p in enumerate(params)}
    root = output.grad_fn
    if root is None:
        return []
    deps: dict = {}  # node -> bitmask of the parameter tensors it depends on
    curved: set[str] = set()
    stack = [(root, False)]
    while stack:  # iterative post-order: deep networks exceed Python's recursion limit
        node, expanded = stack.pop()
        if node in deps:
            continue
        inputs = [nf for nf, _ in node.next_functions]
        if not expanded:
            stack.append((node, True))
            stack.extend((nf, False) for nf in inputs if nf is not None and nf not in deps)
            continue
        if hasattr(node, "variable"):  # AccumulateGrad: a leaf
            deps[node] = 1 << index[id(node.variable)] if id(node.variable) in index else 0
            continue
        masks = [deps[nf] if nf is not None else 0 for nf in inputs]
        union = 0
        for m in masks:
            union |= m
        deps[node] = union
        if not union:
            continue
        kind = node_kind(node)
        if kind in LINEAR or kind in PIECEWISE_LINEAR:
            continue
        if kind.startswith("NativeBatchNorm") and getattr(node, "_saved_training", False):
            curved.add(kind + " (batch statistics)")  # normalising by the batch's own statistics is curved
            continue
        if kind in MULTILINEAR:
            seen = 0
            for m in masks:
                if seen & m:
                    curved.add(kind)
                    break
                seen |= m
            continue
        if kind in DIVISION:
            if len(masks) > 1 and masks[1]:
                curved.add(kind)
            continue
        curved.add(kind)
    return sorted(curved)
