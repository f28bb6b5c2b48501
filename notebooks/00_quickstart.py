# %% [markdown]
# # 00 · Quickstart: search a mixed-precision policy on a proxy, transfer it, look at the bits
#
# **You will learn** what a bitwidth policy is, how the BitOPs budget is computed, how one proxy search and one
# transfer run from Python, and how to read the bits a search chose. **Time:** 20 minutes to read; the full run takes
# about 3 minutes on 2 cores (the smoke run about 1 minute). (next:
# [01_search_and_transfer](01_search_and_transfer.ipynb))
#
# **Question.** Can a bitwidth policy found cheaply on a small *proxy* dataset be used on the *target* dataset?
#
# Mixed-precision quantization (MPQ) gives every convolution its own number of bits for weights (W) and input
# activations (A). Fewer bits mean fewer *BitOPs* (MACs × W bits × A bits) and a smaller model, at some cost in
# accuracy. Searching the policy on the target dataset is expensive; ASGA searches it on a small proxy and prefers
# *flat* minima of the quantized loss, because flat minima are the ones that generalise to other data.
#
# This notebook runs mpqlab's main job on the embedded `cifar10-mini` data: an EdMIPS+ASGA search on a 2,000-image
# proxy subset at 2.5 average bits (candidates {2, 3, 4}), then a short fine-tune of the target model under the
# found policy, next to uniform bits at the same budget fine-tuned the same way.
#
# **The quantity.** The cost of a policy b = (b_w,l, b_a,l) over layers l is its BitOPs, and the budget is written
# as the uniform bitwidth k with the same BitOPs over the searchable layers S:
#
# $$\mathrm{BitOPs}(b) = \sum_l \mathrm{MACs}_l \, b_{w,l} \, b_{a,l}, \qquad
#   k = \sqrt{\frac{\mathrm{BitOPs}(b) - \mathrm{BitOPs}_{\text{fixed}}}{\sum_{l \in S} \mathrm{MACs}_l}}.$$

# %% tags=["parameters"]
smoke = True  # papermill parameters. True: a quick pass (CI); False: the full run behind figures/
data_root = None  # the datasets folder (None: $MPQLAB_DATA, else the embedded default)
figures_dir = "../runs/figures"  # where show() saves each figure (PNG + plotly JSON)
runs_dir = "../runs/notebooks"  # run folders of the searches and transfers this notebook starts

# %%
from mpqlab import viz
from mpqlab.course.notebooks import notebook_setup
RUNS, show = notebook_setup(data_root, figures_dir, runs_dir)  # MPQLAB_DATA, folders; show() saves + displays

# %%
from mpqlab.course.quickstart import quickstart
summary = quickstart(out=str(RUNS / "quickstart"), smoke=smoke)
summary

# %% [markdown]
# **Reading the result.** Read the first line printed above the table before its numbers: it says whether the search
# *decided* (median largest bit probability ≥ 0.9 and at most one layer rewritten by the budget step, taken from the
# values in `summary`). By default this notebook runs in smoke mode (one batch per search and fine-tune): whatever
# that line says, one seed's policy shows the workflow, and its top-1 against uniform bits says nothing about the
# method. `summary["status"]` holds the same line. `average_bits` is the uniform bitwidth with the same BitOPs (2.5 =
# as costly as W2.5A2.5 everywhere; uniform W3A2 is the closest uniform policy under it). Per policy,
# `top1_before_finetune` is the full-precision weights quantized by the policy and `top1` the same after fine-tuning
# the weights under the fixed policy; `target_top1_float` is the full-precision model. `decisiveness` is the median
# largest bit probability at the end of the search and `layers_changed_by_budget` how many layers the budget step had
# to change: a search whose policy is its own has the first near 1 and the second near 0. One seed on 1,000 test
# images (a class-balanced 250 of them in smoke mode) demonstrates the workflow; comparing methods is the
# experiment grid's job (notebook 01).

# %%
import json
found, uniform = summary["policies"]  # the two labels, in the table's order
pols = {found: json.loads((RUNS / "quickstart" / "policy.json").read_text()),
        uniform: json.loads((RUNS / "quickstart" / "uniform.json").read_text())}
notes = {k: f"top-1 {r['top1']:.2f} %, {r['gbitops']:.3f} GBitOPs" for k, r in summary["policies"].items()}
show(viz.bitwidth_heatmap(pols, title="Bits per layer: the found policy and uniform bits at the same budget",
                          notes=notes), "00_quickstart_bitwidths")
fixed = [n for n, r in pols[found]["layers"].items() if not r["searchable"]]
assert all(p["layers"][n]["w_bits"] == p["layers"][n]["a_bits"] == 8 for p in pols.values() for n in fixed)
print("fixed at W8A8:", ", ".join(fixed))

# %% [markdown]
# **How to read it.** One row per layer in forward order, one column per policy (labelled with its top-1 after
# fine-tuning and its BitOPs); the left panel is the weight bits, the right one the activation bits. The first
# convolution and the classifier are fixed at 8 bits (printed above). Notebook 05 compares more policies and shows
# each layer's share of the BitOPs.
#
# ## Worked example: BitOPs of one layer, by hand and by mpqlab
#
# A 3×3 convolution from 16 to 16 channels on an 8×8 map does 16 · 16 · 9 · 64 = 147,456 multiply-accumulates. At
# W2A3 that is 147,456 · 2 · 3 = 884,736 BitOPs, and a policy with only this layer at W2A3 has average bits
# √(2 · 3) ≈ 2.449: the cell checks mpqlab's cost model against these numbers.

# %%
import math
import torch.nn as nn
from mpqlab.quant.cost import average_bits, bitops, layer_table
toy = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, bias=False))
table = layer_table(toy, input_size=(16, 8, 8))
assert table["0"]["macs"] == 16 * 16 * 9 * 64 and bitops(table, {"0": (2, 3)}) == 884_736
assert math.isclose(average_bits(table, {"0": (2, 3)}), math.sqrt(6))
print("MACs", table["0"]["macs"], "· W2A3 BitOPs", bitops(table, {"0": (2, 3)}),
      f"· average bits {average_bits(table, {'0': (2, 3)}):.3f}")

# %% [markdown]
# ## The quantizer, in one dimension
#
# Every quantized layer computes with *fake-quantized* weights: a weight w becomes the nearest point of a uniform
# grid with step s, clipped to Q_p steps either side of 0 (b-bit symmetric weights: Q_p = 2^(b−1) − 1):
#
# $$q(w) = s \cdot \mathrm{clamp}\big(\mathrm{round}(w / s),\, -Q_p,\, Q_p\big).$$
#
# As a function of w that is a **staircase**: flat between grid points, a jump of s at each half-step, flat beyond
# ±Q_p s. Its true derivative is zero almost everywhere, so training uses the **straight-through estimator
# (STE)**: the backward pass treats round as the identity, ∂q/∂w := 1 inside the clipping range and 0 outside.
# mpqlab learns the step s per output channel as LSQ does (Esser et al., 2020; ∂q/∂s = round(w/s) − w/s inside
# the range, ±Q_p outside, scaled by 1/√(N Q_p)), and activations get a PACT-style learnable clip c (Choi et al.,
# 2018): clamp(x, 0, c) on the grid c / (2^b − 1). The landscapes of notebook 02 are taken through these
# staircases. The cell below quantizes 23 weights at 3 bits with s = 0.25 (grid −0.75 … 0.75) and checks the
# staircase and the straight-through gradient; the figure draws the 3-bit staircase and the 2-bit one with the same
# clipping range (s = 0.75: three levels), the 23 weights marked on it. Fewer bits, wider steps: the loss seen
# through the quantizer is flat over wider stretches of weight space, and jumps between them.

# %%
import torch
from mpqlab.quant.quantizers import quantize_symmetric
w = torch.linspace(-1.1, 1.1, 23, requires_grad=True)
step = torch.tensor(0.25, requires_grad=True)
q = quantize_symmetric(w, step, bits=3)  # Q_p = 3
q.sum().backward()
inside = (w.detach() / 0.25).abs() <= 3
assert torch.allclose(q, 0.25 * torch.clamp(torch.round(w.detach() / 0.25), -3, 3))  # the staircase
assert torch.equal(w.grad, inside.float())  # straight-through inside the range, zero outside
print(f"{int(inside.sum())} of {len(w)} weights inside ±Q_p·s = ±0.75 get gradient 1, the rest 0; "
      f"distinct quantized values: {sorted(set(q.detach().round(decimals=4).tolist()))}")
fine = torch.linspace(-1.1, 1.1, 881)
show(viz.quantizer_staircase(fine, {f"q(w): {b} bits, s = {0.75 / (2 ** (b - 1) - 1):.3g}":
                                    quantize_symmetric(fine, torch.tensor(0.75 / (2 ** (b - 1) - 1)), bits=b) for b in (2, 3)},
                             points=(w.detach(), q.detach())), "00_quantizer_staircase");

# %% [markdown]
# ## Exercises
#
# 1. Rerun with `smoke = False` (a few minutes). Before running, predict whether the found policy's lead over
#    uniform bits grows or shrinks; then compare the two tables. *Hint:* the solution cell below prints how much
#    data the search and the fine-tune saw in the mode you ran, from the run's own records.
#    <details><summary>Solution</summary>
#    There is no fixed answer: it is one seed. What to see is that both rows move, that the line above the table
#    says whether the search decided, and that the comparison needs seeds (notebook 01's grid), not one run.
#    </details>
# 2. Outside smoke mode `quickstart` takes `finetune_epochs` (default 2): run it with 1 and with 3 into two folders
#    and compare `top1_before_finetune` with `top1` for both policies. Which policy gains more from fine-tuning?
#    *Hint:* look at `top1_before_finetune` first: the lower a policy starts, the more fine-tuning can recover.
#    <details><summary>Solution</summary>
#    The policy that starts lower usually gains more: the cell below prints each policy's gain in this run's own
#    fine-tune. Whether the order of the two changes with 1 or 3 epochs is what the committed fine-tune-length
#    check measures on eight policies (`results/README.md`).
#    </details>
# 3. In the worked example, put the layer at W4A2 instead. Predict its BitOPs and its average bits before running.
#    <details><summary>Solution</summary>
#    147,456 · 4 · 2 = 1,179,648 BitOPs; average bits √8 ≈ 2.83 (computed in the cell below).
#    </details>

# %%
# Solutions as code. Exercise 1: how much data this run's search and fine-tune saw (from their own records).
prov = pols[found]["provenance"]
tr = json.loads((RUNS / "quickstart" / "transfer.json").read_text())
print(f"search: {prov['config']['epochs']} epoch(s) over {prov['proxy_size']} proxy images, "
      f"{prov['config']['max_batches'] or 'all'} batches per epoch; fine-tune: {tr['epochs']} epoch(s), "
      f"{tr['n']} test images scored")
# Exercise 2: what this run's fine-tune recovered, per policy.
for k, r in summary["policies"].items():
    print(f"{k}: {r['top1_before_finetune']:.2f} % before the fine-tune, {r['top1']:.2f} % after "
          f"({r['top1'] - r['top1_before_finetune']:+.2f} points)")
# Exercise 3: the layer at W4A2.
print("W4A2:", bitops(table, {"0": (4, 2)}), "BitOPs, average bits", round(average_bits(table, {"0": (4, 2)}), 3))

# %% [markdown]
# ## What this notebook found

# %%
f, u = summary["policies"][found], summary["policies"][uniform]
print(f"{found}: top-1 {f['top1']:.2f} % at {f['gbitops']:.3f} GBitOPs; {uniform}: top-1 {u['top1']:.2f} % at "
      f"{u['gbitops']:.3f} GBitOPs: the found policy is {f['top1'] - u['top1']:+.2f} points against uniform bits, "
      "on one seed (a demonstration, not a comparison).")
print(summary["status"])

# %% [markdown]
# ## Questionnaire
#
# 1. What does the average-bits budget 2.5 constrain: the weights' bits, the activations' bits, or both?
#    <details><summary>Answer</summary>
#
#    Both: BitOPs count MACs x w_bits x a_bits, and the budget is the square root of the searchable BitOPs per
#    searchable MAC, so a layer can trade weight bits against activation bits.
#    </details>
# 2. Why are the first convolution and the classifier kept at 8 bits?
#    <details><summary>Answer</summary>
#
#    They are fixed, not searchable (fixed_bits in the policy file): few MACs, and quantizing them hurts accuracy
#    most; the budget counts only the searchable layers.
#    </details>
# 3. What is the proxy in the quickstart, and why search there instead of on the target?
#    <details><summary>Answer</summary>
#
#    A small subset of a smaller dataset: a search costs a few epochs of a supernet, so a cheap proxy makes it
#    affordable; the paper's question is whether the policy still fits the target.
#    </details>
# 4. What does the transfer step change: the bits, the weights, or both?
#    <details><summary>Answer</summary>
#
#    Only the weights: the policy's bits are fixed and the quantized network is fine-tuned on the target.
#    </details>
# 5. A quantizer with a learned step s maps w to s * round(clip(w / s)). What happens to its gradient at the rounding
#    steps?
#    <details><summary>Answer</summary>
#
#    Rounding has zero gradient almost everywhere; the straight-through estimator passes the gradient as if round were
#    the identity inside the clipping range.
#    </details>
#
# ## Further research
#
# - Run `mpqlab search --budget 3` (the quickstart's search with a 3-bit budget) and compare where the extra bits go.
# - Search on Fashion-MNIST instead (`mpqlab search --data fashion-mnist`) and check whether the chosen bits move.
#
# ## References
#
# - Esser et al., [*Learned Step Size Quantization*](https://arxiv.org/abs/1902.08153), ICLR 2020 (the weight quantizer's learned step).
# - Choi et al., [*PACT: Parameterized Clipping Activation for Quantized Neural Networks*](https://arxiv.org/abs/1805.06085), 2018 (the activation clip).
# - Bengio, Léonard and Courville, [*Estimating or Propagating Gradients Through Stochastic Neurons*](https://arxiv.org/abs/1308.3432), 2013 (the
#   straight-through estimator).
# - Cai and Vasconcelos, [*Rethinking Differentiable Search for Mixed-Precision Neural Networks*](https://arxiv.org/abs/2004.05795) (EdMIPS), CVPR 2020.
# - The ASGA paper: *Learning from Loss Landscape: Generalizable Mixed-Precision Quantization via Adaptive
#   Sharpness-Aware Gradient Aligning*, ICML 2025.
