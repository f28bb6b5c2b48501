# %% [markdown]
# # 02 · Loss landscapes of one model under several policies
#
# **You will learn** how a filter-normalised direction makes a slice's axis mean the same for every layer, how the
# quantized loss landscape differs from the float one, and what one layer's bits do to it. **Time:** 25 minutes to
# read; the full run takes about 15 minutes on 2 cores. (previous:
# [01_search_and_transfer](01_search_and_transfer.ipynb) · next: [02_policy_landscapes](02_policy_landscapes.ipynb))
#
# **Question.** How does the loss around a quantized model change with its bits, and what does one layer's
# bitwidth do to it?
#
# We take the full-precision ResNet-20 (trained on full CIFAR-10 when that data is here, on `cifar10-mini` in smoke
# runs), quantize it under uniform W8A8, W4A4 and W2A2 and fine-tune each one briefly with its bits fixed: the models
# a user would deploy, not freshly rounded ones. Then we evaluate the loss at `θ + a·d1 (+ b·d2)`, where `d1`, `d2`
# are *filter-normalised* random directions (Li et al., 2018): each filter of the direction has the norm of the
# corresponding weight filter, so the axis units mean the same for every layer. The latent weights move and the
# quantizers re-quantize them at every point: this is the landscape the quantized network actually sees, with its
# staircase structure.
#
# **The quantity.** For a direction d with one entry d_{l,f} per filter f of layer l,
#
# $$\hat d_{l,f} = \frac{d_{l,f}}{\lVert d_{l,f}\rVert}\,\lVert\theta_{l,f}\rVert, \qquad
#   \ell(a) = L(\theta + a\,\hat d), \qquad \ell(a, b) = L(\theta + a\,\hat d_1 + b\,\hat d_2),$$
#
# so a = 1 moves every filter by its own norm (Li et al., 2018); biases and BatchNorm are not moved.
#
# ## Worked example: filter normalisation, checked
#
# On a small convolution whose filters have known norms, every filter of the normalised direction must have the
# norm of its weight filter, and a direction restricted to one layer moves nothing else.

# %%
import torch
import torch.nn as nn
from mpqlab.analysis import landscape as L
toy = nn.Sequential(nn.Conv2d(1, 3, 2, bias=False), nn.Conv2d(3, 2, 1, bias=False))
with torch.no_grad():  # filter f of the first layer has norm f + 1 (each of its 4 weights is (f + 1) / 2)
    toy[0].weight.copy_(torch.arange(1.0, 4.0).view(3, 1, 1, 1).expand(3, 1, 2, 2) / 2)
d = L.random_direction(toy, seed=0)
norms = d["0.weight"].flatten(1).norm(dim=1)
assert torch.allclose(norms, torch.tensor([1.0, 2.0, 3.0]), atol=1e-5)
assert not L.restrict(d, "0")["1.weight"].any()
print("filter norms of the normalised direction:", [round(v, 4) for v in norms.tolist()], "(weight filters: 1, 2, 3)")

# %% tags=["parameters"]
smoke = True  # papermill parameters. True: a quick pass (CI); False: the full run behind figures/
data_root = None  # the datasets folder (None: $MPQLAB_DATA, else the embedded default)
figures_dir = "../runs/figures"  # where show() saves each figure (PNG + plotly JSON)
runs_dir = "../runs/notebooks"  # run folders of the searches and transfers this notebook starts

# %%
import numpy as np
import pandas as pd
from mpqlab import viz
from mpqlab.course.notebooks import notebook_setup
RUNS, show = notebook_setup(data_root, figures_dir, runs_dir)  # MPQLAB_DATA, folders; show() saves + displays

# %%
from mpqlab.data import proxy_subset
from mpqlab.quant.loading import analysis_target, model_under_policy
from mpqlab.models import create_model
from mpqlab.quant.policy import Policy
from mpqlab.training.transfer import finetuned
data, ckpt, train, test = analysis_target(smoke)
ft_train, _ = proxy_subset(train, size=min(len(train), 10000), seed=0)  # one short fine-tune per policy, cached
ft_test = test.sample(128) if smoke else test  # the fine-tune's own before / after top-1
x, y = test.tensors(64 if smoke else 500)  # smoke: enough to draw every view, not to read it
models, results, pols = {"float": model_under_policy("resnet20", ckpt, 10)[0].eval()}, {}, {}
for name, bits in (("W8A8", 8), ("W4A4", 4), ("W2A2", 2)):
    pols[name] = Policy.uniform(create_model("resnet20"), bits, bits)
    models[name], results[name] = finetuned(pols[name], "resnet20", ft_train, ft_test, ckpt,
                                            RUNS / f"finetuned_{data}_{name}", epochs=1,
                                            max_batches=1 if smoke else None)
pd.DataFrame({k: {"top-1 before fine-tune": r["top1_before_finetune"], "top-1 after": r["top1"]}
              for k, r in results.items()}).T.round(2)

# %%
points = 5 if smoke else 17
ts = np.linspace(-1, 1, points)
curves = {k: (ts, L.slice_1d(m, (x, y), L.random_direction(m, seed=0), ts)["loss"]) for k, m in models.items()}
show(viz.landscape_curves(curves, title="1-D slices along the same filter-normalised direction"), "02_landscape_1d")
summary = L.slice_summary(curves)
print(L.describe_slices(summary))
pd.DataFrame(summary).set_index("policy").round(4)

# %% [markdown]
# **How to read it.** One line per model, the loss on held-out test images along one random filter-normalised
# direction; a = 0 is the model as trained, a = ±1 moves every filter by its own norm. The sentences and the table
# under the figure are computed from these curves: the loss at the centre, the rise from the centre to the two
# ends, and the curvature k of a fit loss ≈ c + k·a². Read the order of the models from those lines, not from the
# legend: the float model was not fine-tuned and the quantized ones were, so a float curve that rises faster than
# a fine-tuned W8A8 one compares two different points in weight space, not two bit widths at one point (why the
# fine-tune lands flatter is not measured here).
#
# **Why the trained point need not be a slice's minimum** (the last printed sentence says where each slice is lowest:
# in this run, on a class-balanced sample of test images, every slice is lowest at a = 0; on the class-sorted
# prefix the notebook used before the sampler, the float slice was lowest near a = −0.25). Three reasons a slice can
# dip off the centre, each enough on its own: the slice's loss is measured on held-out test images, while training
# minimised the loss on training images, so the test loss's minimum can lie elsewhere along a direction (and a batch
# of a few classes moves it further); training stopped after a fixed budget of noisy SGD steps with weight decay,
# which minimises loss + λ‖θ‖², not the loss, and does not end at a stationary point; and under quantization the
# loss is a staircase in the weights (each quantized weight jumps between grid points), so a small move along a
# random direction can land on a lower step. A shallow dip a step or two from a = 0 says the model sits on a wide,
# slightly tilted floor.

# %%
m = models["W4A4"]
grid = np.linspace(-1, 1, 5 if smoke else 13)
r2 = L.slice_2d(m, (x, y), L.random_direction(m, 0), L.random_direction(m, 1), grid, grid, meta={"policy": "W4A4"})
L.save_npz(r2, RUNS / "landscape_w4a4.npz")
show(viz.landscape_contour(r2["ts1"], r2["ts2"], r2["loss"], title="W4A4: 2-D slice (contours of log10 loss)",
                           log=True), "02_landscape_contour")
show(viz.landscape_surface(r2["ts1"], r2["ts2"], r2["loss"], title="W4A4: 2-D slice (surface, log10 loss)", log=True),
     "02_landscape_surface")
print(f"W4A4 2-D slice: loss {r2['loss'].min():.3f} to {r2['loss'].max():.3f}; lowest at "
      f"(a, b) = ({grid[np.unravel_index(r2['loss'].argmin(), r2['loss'].shape)[0]]:+.2f}, "
      f"{grid[np.unravel_index(r2['loss'].argmin(), r2['loss'].shape)[1]]:+.2f})")

# %% [markdown]
# **How to read them.** The fine-tuned W4A4 model's loss over a plane spanned by two random filter-normalised
# directions through it (contours, then the same grid as a surface), coloured by log10 of the loss because the loss
# on the plane spans more than a decade (its range is printed above, with where it is lowest).
#
# ## Explore: models, span, direction
#
# Overlay any of the models, choose the span, the direction's seed, whether the direction moves every layer or one,
# and a log loss axis (all of them live in JupyterLab; in the executed copy and the `make book` site the explorer
# is precomputed for direction seeds 0 to 4 and three choices of layer, with float and W4A4: the site draws one
# control for each above the chart, and its axes stay put while you move them).

# %%
import ipywidgets as W
from mpqlab.course.notebooks import controls
layers = ["all layers"] + [n for n, mod in models["float"].named_modules() if isinstance(mod, (nn.Conv2d, nn.Linear))]
slices = {}  # (model, span, seed, layer) -> its slice, computed once: moving the log axis recomputes nothing
def explore(policies=("float", "W4A4"), span=1.0, seed=0, layer="all layers", log_y=False):
    a = np.linspace(-span, span, 5 if smoke else 11)
    curves = {}
    for p in policies:
        if (p, span, seed, layer) not in slices:
            d = L.random_direction(models[p], seed)
            slices[p, span, seed, layer] = L.slice_1d(models[p], (x, y), d if layer == "all layers" else L.restrict(d, layer), a)["loss"]
        curves[p] = (a, slices[p, span, seed, layer])
    print(L.describe_slices(L.slice_summary(curves)))
    return viz.landscape_curves(curves, title=f"1-D slices, seed {seed}, {layer}, span ±{span:g}", log_y=log_y)
controls(explore, apply=True, offline={"seed": [0, 1, 2, 3, 4], "layer": ["all layers", "layer1.0.conv1", "layer3.2.conv2"]}, policies=W.SelectMultiple(options=list(models), value=("float", "W4A4")),
         span=W.FloatSlider(value=1.0, min=0.25, max=2.0, step=0.25), seed=W.IntSlider(value=0, min=0, max=9),
         layer=W.Dropdown(options=layers, value="all layers"), log_y=W.Checkbox(value=False, description="log loss"));

# %% [markdown]
# ## Explore: one layer's bits
#
# Pick a layer of the fine-tuned W4A4 model and new bits for it: the layer is re-quantized (its learned ranges
# kept) and three panels re-plot: the 1-D slice before and after, the layer's BitOPs, and the Hessian trace of its
# weights (Hutchinson).

# %%
def one_layer(layer="layer3.2.conv2", w_bits=2, a_bits=4):
    r = L.layer_bits_change(models["W4A4"], pols["W4A4"].to_dict(), layer, w_bits, a_bits, (x, y),
                            np.linspace(-1, 1, 3 if smoke else 11), trace_probes=2 if smoke else 16)
    print(f"policy BitOPs {r['bitops_before'] / 1e9:.3f} G -> {r['bitops_after'] / 1e9:.3f} G; "
          f"loss at the centre {r['loss_before'][len(r['ts']) // 2]:.3f} -> {r['loss_after'][len(r['ts']) // 2]:.3f}")
    return viz.layer_change(r)
searchable = [n for n, r in pols["W4A4"].layers.items() if r["searchable"]]
controls(one_layer, apply=True, offline={"layer": ["layer1.0.conv1", "layer3.2.conv2"], "w_bits": [2, 3, 4, 8]}, layer=W.Dropdown(options=searchable, value="layer3.2.conv2"),
         w_bits=W.Dropdown(options=[2, 3, 4, 6, 8], value=2), a_bits=W.Dropdown(options=[2, 3, 4, 6, 8], value=4));

# %% [markdown]
# ## Exercises
#
# 1. In the first explorer (in JupyterLab: the site precomputes float and W4A4 only), overlay W2A2 and W8A8 and
#    widen the span to 2. Controls: span = 2, log_y = True. Predict which one rises faster, then look. *Hint:* turn
#    on the log axis when one curve dwarfs the other.
#    <details><summary>Solution</summary>
#    The cell after the exercises prints the rise of both at span 2: whichever is larger for seed 0, a single
#    seed's direction is one sample; exercise 3 repeats it over seeds.
#    </details>
# 2. In the second explorer, take `layer1.0.conv1` and then `layer3.2.conv2` down to W2A4. Controls: layer =
#    layer1.0.conv1, w_bits = 2; then layer = layer3.2.conv2. Which costs more loss at the centre, which saves more
#    BitOPs, and does the layer's Hessian trace predict the loss change?
#    *Hint:* BitOPs scale with the layer's MACs; the loss change with its curvature and its quantization error.
#    <details><summary>Solution</summary>
#    The cell after the exercises prints, for each layer, the BitOPs saved, the loss change at the centre and
#    the layer's trace. The trace alone need not predict the loss change: HAWQ multiplies the per-weight trace
#    by the quantization error ‖Q(W) − W‖² (notebook 05).
#    </details>
# 3. Step the explorer's seed from 0 to 4 with W4A4 and float. Controls: seed = 0, then seed = 4. Do the summary
#    sentences keep their order?
#    <details><summary>Solution</summary>
#    The cell after the exercises prints, per seed, which of the two rises more and how many seeds agree. If the
#    order flips between seeds, a 1-D slice along one random direction cannot rank the two models: that is what
#    the Hessian's trace (an average over all directions, notebook 03) is for.
#    </details>
# 4. Restrict the direction to `layer1.0.conv1`, then to `layer3.2.conv2`. Controls: layer = layer1.0.conv1; then
#    layer = layer3.2.conv2. Which layer's slice is flatter?
#    <details><summary>Solution</summary>
#    The cell after the exercises prints both rises and names the flatter layer. Compare with the per-parameter
#    traces in notebook 03: a flatter slice should go with a smaller tr(H_ll)/n_l, up to the noise of one
#    direction.
#    </details>

# %%
# Solutions as code (exercises 1 to 4), computed on the same batch and models as above
rise = lambda curves: {r["policy"]: r["edge_rise"] for r in L.slice_summary(curves)}
a2 = np.linspace(-2, 2, 5 if smoke else 11)
r1 = rise({p: (a2, L.slice_1d(models[p], (x, y), L.random_direction(models[p], 0), a2)["loss"]) for p in ("W2A2", "W8A8")})
print(f"1: rise at span 2 (seed 0): W2A2 {r1['W2A2']:.3g}, W8A8 {r1['W8A8']:.3g}; "
      f"{max(r1, key=r1.get)} rises faster along this direction")
for layer in ("layer1.0.conv1", "layer3.2.conv2"):
    c2 = L.layer_bits_change(models["W4A4"], pols["W4A4"].to_dict(), layer, 2, 4, (x, y), np.linspace(-1, 1, 3),
                             trace_probes=2 if smoke else 16)
    mid = len(c2["ts"]) // 2
    print(f"2: {layer} to W2A4: BitOPs saved {(c2['bitops_before'] - c2['bitops_after']) / 1e6:.1f} M, loss at the "
          f"centre {c2['loss_before'][mid]:.3f} -> {c2['loss_after'][mid]:.3f}, layer trace "
          f"{c2['trace_before']:.3g} -> {c2['trace_after']:.3g}")
order3 = []
for s_ in range(5):
    r3 = rise({p: (ts, L.slice_1d(models[p], (x, y), L.random_direction(models[p], s_), ts)["loss"])
               for p in ("float", "W4A4")})
    order3.append(max(r3, key=r3.get))
print(f"3: the model that rises more, seeds 0-4: {order3}; "
      f"{max(order3.count('W4A4'), order3.count('float'))} of 5 seeds agree")
d4 = L.random_direction(models["W4A4"], 0)
r4 = rise({lay: (ts, L.slice_1d(models["W4A4"], (x, y), L.restrict(d4, lay), ts)["loss"])
           for lay in ("layer1.0.conv1", "layer3.2.conv2")})
print(f"4: rise of W4A4 along one layer: {', '.join(f'{k} {v:.3g}' for k, v in r4.items())}; "
      f"flatter: {min(r4, key=r4.get)}")

# %% [markdown]
# ## What this notebook found

# %%
print(L.describe_slices(summary))
i, j = np.unravel_index(r2["loss"].argmin(), r2["loss"].shape)
print(f"W4A4 plane: loss {r2['loss'].min():.3f} to {r2['loss'].max():.3f} ({r2['loss'].max() / r2['loss'].min():.0f}x), "
      f"lowest at (a, b) = ({grid[i]:+.2f}, {grid[j]:+.2f})")

# %% [markdown]
# ## Questionnaire
#
# 1. Why normalise a random direction filter by filter?
#    <details><summary>Answer</summary>
#
#    Batch normalisation makes a filter's scale irrelevant to its output; without filter normalisation, a step of the
#    same size means little for large filters and a lot for small ones, and slices of different models are not
#    comparable.
#    </details>
# 2. Why is a quantized model's slice a staircase at fine resolution?
#    <details><summary>Answer</summary>
#
#    The quantizer rounds the moved latent weights to its grid: the loss changes only when a weight crosses a rounding
#    boundary.
#    </details>
# 3. Why can the trained point not be the lowest point of a slice?
#    <details><summary>Answer</summary>
#
#    The slice is taken on held-out images, training minimised loss plus weight decay on training images, and it
#    stopped after a fixed budget of noisy steps.
#    </details>
# 4. What does restricting a direction to one layer measure?
#    <details><summary>Answer</summary>
#
#    The loss's sensitivity to that layer's weights alone, the 1-D analogue of the layer's block of the Hessian.
#    </details>
# 5. Why is one random direction a weak basis for ranking two models?
#    <details><summary>Answer</summary>
#
#    It is one sample of a high-dimensional space; the order of two slices can flip between direction seeds, which is
#    why notebook 02b shows a band over several.
#    </details>
#
# ## Further research
#
# - Slice along the top Hessian eigenvector (`mpqlab.analysis.directions.eigen`) and compare its span with a random
#   direction's.
# - Repeat the one-layer explorer for every searchable layer and rank layers by the loss their 2-bit weights cost.
#
# ## References
#
# - Li, Xu, Taylor, Studer and Goldstein, [*Visualizing the Loss Landscape of Neural Nets*](https://arxiv.org/abs/1712.09913), NeurIPS 2018 (filter-
#   normalised random directions, 1-D and 2-D slices).
# - Keskar et al., [*On Large-Batch Training for Deep Learning: Generalization Gap and Sharp Minima*](https://arxiv.org/abs/1609.04836), ICLR 2017.
# - Esser et al., [*Learned Step Size Quantization*](https://arxiv.org/abs/1902.08153), ICLR 2020 (the quantizer the slices pass through).
# - The ASGA paper (ICML 2025): flat minima of the quantized loss transfer better.
