# %% [markdown]
# # 05 · Bitwidth policies side by side
#
# **You will learn** how to read a policy file, where searches spend their bits, how the softmax over candidates forms
# during a search, and why the budget repair can overrule it. **Time:** 20 minutes to read; the full run takes about 2
# minutes on 2 cores. (previous: [04_gradient_conflict](04_gradient_conflict.ipynb) · next:
# [06_paper_figures](06_paper_figures.ipynb))
#
# **Question.** Where do different searches spend their bits, and how did the choice form during the search?
#
# A policy file (`mpqlab.quant.policy`) stores, per layer *name*, the weight and activation bits, plus cost totals and
# provenance (including the final softmaxes over the bit candidates). We search three policies at the same budget
# as uniform W4A4 (EdMIPS, EdMIPS+ASGA and HAWQ), look at their bits, and watch a search's softmaxes evolve.
#
# **The quantities.** A gradient search (EdMIPS) keeps logits α_{l,b} per layer and candidate and mixes the
# candidates with a softmax at temperature τ (annealed from 1 to 0.1); HAWQ instead ranks layers by a
# second-order estimate of the loss a bitwidth costs:
#
# $$p_{l,b} = \frac{e^{\alpha_{l,b}/\tau}}{\sum_{b'} e^{\alpha_{l,b'}/\tau}}, \qquad
#   \Omega_l(b) = \frac{\operatorname{tr} H_{ll}}{n_l}\,\lVert Q_b(W_l) - W_l\rVert^2 .$$
#
# ## Worked example: HAWQ's sensitivity and the temperature, by hand
#
# One output channel W = (0.1, −0.3, 0.5, 0.9) with tr H_ll = 2 (n_l = 4). At 2 bits the max-|W| step is 0.9, so
# Q(W) = (0, 0, 0.9, 0.9) and ‖Q(W) − W‖² = 0.01 + 0.09 + 0.16 = 0.26: Ω(2) = 2/4 · 0.26 = 0.13. At 3 bits the
# step is 0.3, Q(W) = (0, −0.3, 0.6, 0.9), ‖Q(W) − W‖² = 0.02 and Ω(3) = 0.01. And the logits (1, 0, 0) give a
# largest probability of e/(e + 2) = 0.576 at τ = 1 but e¹⁰/(e¹⁰ + 2) = 0.9999 at τ = 0.1: the same logits look
# undecided or decided depending on τ alone.

# %%
import math
import torch
from mpqlab.experiments.report.derived import top_probability_at
from mpqlab.search.hawq import hawq_sensitivity
w = torch.tensor([[0.1, -0.3, 0.5, 0.9]])
omega = {b: hawq_sensitivity(2.0, w, b) for b in (2, 3)}
assert abs(omega[2] - 0.13) < 1e-6 and abs(omega[3] - 0.01) < 1e-6
p01 = [math.exp(10) / (math.exp(10) + 2), 1 / (math.exp(10) + 2), 1 / (math.exp(10) + 2)]  # (1, 0, 0) at τ = 0.1
at_one = top_probability_at({"l": {"w": p01, "a": p01}}, tau_end=0.1, tau=1.0)
assert abs(at_one - math.e / (math.e + 2)) < 1e-9
print(f"Ω(2) = {omega[2]:.4f}, Ω(3) = {omega[3]:.4f}; largest probability {max(p01):.4f} at τ = 0.1, {at_one:.3f} at τ = 1")

# %% tags=["parameters"]
smoke = True  # papermill parameters. True: a quick pass (CI); False: the full run behind figures/
data_root = None  # the datasets folder (None: $MPQLAB_DATA, else the embedded default)
figures_dir = "../runs/figures"  # where show() saves each figure (PNG + plotly JSON)
runs_dir = "../runs/notebooks"  # run folders of the searches and transfers this notebook starts

# %%
import pandas as pd
from mpqlab import viz
from mpqlab.quant.checkpoints import pretrained
from mpqlab.course.notebooks import notebook_setup
RUNS, show = notebook_setup(data_root, figures_dir, runs_dir)  # MPQLAB_DATA, folders; show() saves + displays

# %%
from mpqlab.models import create_model
from mpqlab.quant.policy import Policy
from mpqlab.course.notebooks import keyed_path
from mpqlab.search import SearchConfig, run, read_softmaxes, run_dir_of
ckpt = str(pretrained("resnet20_cifar10-mini"))
paths, pols = {}, {"uniform W4A4": Policy.uniform(create_model("resnet20"), 4, 4).to_dict()}
for method in ("edmips", "edmips+asga", "hawq"):
    obj, _, sharp = method.partition("+")
    cfg = SearchConfig(data="cifar10-mini", subset=1000, checkpoint=ckpt, objective=obj, sharpness=sharp or "none",
                       epochs=1 if smoke else 2, max_batches=3 if smoke else None, batch_size=64,
                       hawq_batches=1, hawq_probes=4 if smoke else 16)
    paths[method] = keyed_path(RUNS, f"policy_{method.replace('+', '_')}", cfg)  # other settings: another folder
    pols[method] = run(cfg, paths[method], show_progress=False).to_dict()
pd.DataFrame({k: p["totals"] for k, p in pols.items()}).T

# %%
show(viz.bitwidth_heatmap(pols, title="Bits per layer: four policies at the same budget"), "05_bitwidths");

# %% [markdown]
# **How to read it.** One row per layer in forward order, one column per policy; the left panel is the weight
# bits, the right one the activation bits, and the colour and the number in each cell are the bits. The first
# convolution and the classifier are fixed at 8 bits in every policy (checked below).

# %%
fixed = [n for n, r in pols["uniform W4A4"]["layers"].items() if not r["searchable"]]
assert all(p["layers"][n]["w_bits"] == p["layers"][n]["a_bits"] == 8 for p in pols.values() for n in fixed)
print("fixed at W8A8 in every policy:", ", ".join(fixed))
show(viz.bitops_share(pols), "05_bitops_share");

# %% [markdown]
# **How to read it.** Each line is one policy; a point is a layer's share (%) of that policy's BitOPs. Under uniform
# bits the shares follow the layers' MACs; a searched policy that lowers a layer's bits lowers its share. The
# layers with the largest share under uniform W4A4 are where going low saves the most:

# %%
from mpqlab.quant.cost import bitops_shares
share = pd.DataFrame({k: bitops_shares(p["layers"], {n: (r["w_bits"], r["a_bits"]) for n, r in p["layers"].items()})
                      for k, p in pols.items()})
share.sort_values("uniform W4A4", ascending=False).head(5).round(2)

# %%
sm = read_softmaxes(run_dir_of(paths["edmips+asga"]))
show(viz.softmax_heatmap(sm, kind="w", order=list(pols["edmips+asga"]["layers"])), "05_softmax_heatmap_w")
show(viz.softmax_heatmap(sm, kind="a", layer="layer2.0.conv1"), "05_softmax_layer")
last = sm[(sm.epoch == sm.epoch.max()) & (sm.kind == "a") & (sm.layer == "layer2.0.conv1")]
print(f"layer2.0.conv1, activation bits, last epoch: largest probability {last.prob.max():.2f} "
      f"(at {int(last.loc[last.prob.idxmax(), 'bits'])} bits)")

# %% [markdown]
# **How to read them.** The first map is the expected weight bits (softmax-weighted) per layer after each epoch of
# the EdMIPS+ASGA search; the second is one layer's probability for each activation bitwidth per epoch. How far
# that layer's choice got is printed above (its largest probability at the last epoch): the closer to 1, the less
# the final argmax depends on the last steps. The softmax temperature falls over the search, which sharpens the
# probabilities without any change of the logits' order.
#
# ## The budget repair: why the final policy can disagree with the softmaxes
#
# The search ends with a softmax per layer; its argmax is the policy only if that policy's BitOPs lie within
# [0.98 B, B]. Otherwise an integer program changes as few layers as it can (ties broken by the softmaxes'
# log-probabilities, ε below one changed layer) so that the cost fits:
#
# $$\min_{b}\; \sum_l \big[\, b_l \ne \hat b_l \,\big] \;-\; \varepsilon \sum_l \log p_l(b_l)
#   \qquad \text{s.t.}\quad 0.98\,B \le \mathrm{BitOPs}(b) \le B .$$
#
# A repaired layer's bits are then neither its argmax nor near its expected bits (the softmax-weighted mean the
# first map above shows). **Worked example.** Two layers with 100 and 300 MACs, candidates {2, 3}, budget
# B = 1,600 BitOPs (uniform W2A2). The argmax is W3A3 (900) and W2A2 (1,200): 2,100 BitOPs, over B. The only
# single-layer change that fits is the first layer to W2A2 (400 + 1,200 = 1,600), so the repair makes it, although
# that layer's expected bits are 0.2·2 + 0.8·3 = 2.8.

# %%
from mpqlab.search.budget import final_policy
toy_table = {"a": {"macs": 100}, "b": {"macs": 300}}
toy_soft = {"a": {"w": [0.2, 0.8], "a": [0.2, 0.8]}, "b": {"w": [0.9, 0.1], "a": [0.9, 0.1]}}
toy_bits, toy_changes = final_policy({"a": (3, 3), "b": (2, 2)}, toy_soft, toy_table, 1600, [2, 3], [2, 3])
assert toy_bits == {"a": (2, 2), "b": (2, 2)} and toy_changes == ["a: W3A3 -> W2A2"]
print("worked example:", toy_changes)
for k in ("edmips", "edmips+asga"):
    prov, layers = pols[k]["provenance"], pols[k]["layers"]
    cands = sorted(pols[k]["w_candidates"])  # the softmaxes list the candidates in increasing order
    print(f"{k}: budget {prov['budget_bitops'] / 1e6:.1f} M BitOPs, {len(prov['budget_changes'])} of "
          f"{prov['searchable_layers']} layers changed by the repair")
    for change in prov["budget_changes"]:
        name = change.split(":")[0]
        expected = sum(b * q for b, q in zip(cands, prov["final_softmaxes"][name]["w"]))
        print(f"  {change}; expected weight bits under the softmax {expected:.2f}, policy W{layers[name]['w_bits']}")

# %% [markdown]
# **How to read it.** Each line is a layer the repair rewrote, with the argmax it replaced and its expected bits:
# where the two disagree, the heatmap of expected bits above and the policy's bits differ for that layer by
# construction, not by a fault of either. When no layer is listed, the argmax already fit the budget.
#
# ## Explore: two policies of the experiment grid, with their cost and accuracy
#
# Pick two methods of the committed experiment grid and a seed (its subset-control setting; the seed fixes the proxy
# subset of both searches): their bits side by side, each column labelled with the policy's BitOPs and its target
# top-1 after fine-tuning. On the site the first method is uniform W3A2, the second any searched one, every seed.
# Without a committed grid, the four policies above are compared (no target accuracy for them).

# %%
import ipywidgets as W
from mpqlab.experiments.merge import cell_of, finished_cells
from mpqlab.course.notebooks import committed_grid, controls
folder = committed_grid()
grid = finished_cells(folder) if folder else {}
print(f"{len(grid)} finished cells of {folder}" if grid else "no committed grid here: the four policies above")
cells = grid or {k: {"policy": p} for k, p in pols.items()}
if grid:  # two policies of the same seed: methods as dropdowns, the seed as a slider
    methods = sorted({c["row"]["method"] for c in grid.values()})
    seeds = sorted({int(c["row"]["seed"]) for c in grid.values()})
    def pair(first="uniform:W3A2", second="edmips+asga", seed=0):
        a, b = (cell_of(cells, m, seed, "subset-control") for m in (first, second))
        if a is None or b is None:
            print(f"seed {seed} has no finished {first if a is None else second} cell")
            return viz.compare_cells({})
        print(f"seed {seed}: {first} {a['row']['target_top1']} % vs {second} {b['row']['target_top1']} % top-1 after the transfer")
        return viz.compare_cells({f"{first} · seed {seed}": a, f"{second} · seed {seed}": b})
    offline = {"first": [m for m in ("uniform:W3A2",) if m in methods],
               "second": [m for m in ("edmips+asga", "edmips", "edmips@target", "random") if m in methods], "seed": seeds}
    widgets = dict(first=W.Dropdown(options=methods, value="uniform:W3A2" if "uniform:W3A2" in methods else methods[0]),
                   second=W.Dropdown(options=methods, value="edmips+asga" if "edmips+asga" in methods else methods[-1]),
                   seed=W.IntSlider(value=seeds[0], min=seeds[0], max=seeds[-1]))
else:
    def pair(first, second):
        return viz.compare_cells({first: cells[first], second: cells[second]})
    labels = list(cells)
    offline = {"second": labels[-1:-6:-1]}
    widgets = dict(first=W.Dropdown(options=labels, value=labels[0]), second=W.Dropdown(options=labels, value=labels[-1]))
controls(pair, offline=offline, **widgets);

# %% [markdown]
# ## Explore: one layer's bits, its cost and its curvature
#
# Pick a layer and its bits: the chart re-plots every layer's share of the BitOPs of uniform W4A4 with that one
# layer changed (its line against uniform W4A4's), and the lines under the controls give the policy's BitOPs and the
# layer's Hessian trace (from the HAWQ search above) times its weight quantization error at those bits: HAWQ's
# sensitivity.

# %%
base = pols["uniform W4A4"]
def layer_cost(layer="layer2.0.conv1", w_bits=4, a_bits=4):
    changed = Policy.from_dict(base).with_layer_bits(layer, w_bits, a_bits).to_dict()
    print(f"{layer} at W{w_bits}A{a_bits}: policy BitOPs {changed['totals']['bitops'] / 1e9:.3f} G "
          f"({100 * changed['totals']['bitops'] / base['totals']['bitops'] - 100:+.1f}% vs W4A4)")
    prov = pols["hawq"]["provenance"]
    if w_bits in prov["hawq_bits"]:
        print(f"Hessian trace of {layer}: {prov['hawq_layer_traces'][layer]:.3g}; HAWQ sensitivity at {w_bits} bits: "
              f"{prov['hawq_sensitivity'][layer][prov['hawq_bits'].index(w_bits)]:.3g}")
    return viz.bitops_share({"uniform W4A4": base, f"{layer} at W{w_bits}A{a_bits}": changed},
                            title=f"BitOPs share with {layer} at W{w_bits}A{a_bits}")
from mpqlab.search.config import BIT_CANDIDATES  # the library's candidate bits, not a copy of them
searchable = [n for n, r in base["layers"].items() if r["searchable"]]
controls(layer_cost, offline={"layer": ["layer2.0.conv1", "layer1.0.conv1", "layer3.2.conv2"], "w_bits": [2, 4, 8]}, layer=W.Dropdown(options=searchable, value="layer2.0.conv1"),
         w_bits=W.Dropdown(options=list(BIT_CANDIDATES), value=4), a_bits=W.Dropdown(options=list(BIT_CANDIDATES), value=4));

# %% [markdown]
# ## Exercises
#
# 1. In the first explorer, put a seed's `uniform:W3A2` next to the same seed's `edmips+asga`. Controls: first =
#    uniform:W3A2, second = edmips+asga, seed = 3. Before looking: which layers do you expect the search to give 4
#    bits? Which does it take down to 2?
#    *Hint:* the BitOPs-share table above says where low bits save the most.
#    <details><summary>Solution</summary>
#    The solution cell below counts, over every EdMIPS+ASGA policy of the grid the explorer shows, how often each
#    layer gets 2 and 4 bits for its weights and activations; compare your seed's pair with those shares.
#    </details>
# 2. In the second explorer, set `layer3.2.conv2` to W2A2, then `layer1.0.conv1` to W2A2. Controls: layer =
#    layer3.2.conv2, w_bits = 2, then layer = layer1.0.conv1 (the site precomputes the weights' bits with the
#    activations at 4 bits, so it shows W2A4; the live notebook also moves the activations' bits). Predict which
#    change lowers the BitOPs more, and why (compare their MACs in `pols["uniform W4A4"]["layers"]`).
#    <details><summary>Solution</summary>
#    Both convolutions do the same MACs in ResNet-20 (channels double as the map halves), so both save the same
#    BitOPs; the printed percentages show it. Their HAWQ sensitivities differ.
#    </details>
# 3. Rerun the search cell with `epochs=3` (and `max_batches=None`) and look at the softmax maps again: does the
#    search end more decided? *Hint:* the worked example's temperature.
#    <details><summary>Solution</summary>
#    The temperature is annealed over the search whatever its length, so the last epoch ends at τ = 0.1 either way;
#    more epochs move the logits further apart as well. Compare the printed last-epoch probability.
#    </details>

# %%
# Solutions as code. Exercise 1: how often the grid's EdMIPS+ASGA searches give each layer 2 or 4 bits.
asga = [c["policy"] for k, c in cells.items() if "edmips+asga" in k]
if asga:
    names = [n for n, r in asga[0]["layers"].items() if r["searchable"]]
    share = pd.DataFrame({n: {f"{kind} = {b}": sum(p["layers"][n][f"{kind.lower()}_bits"] == b for p in asga) / len(asga)
                              for kind in ("W", "A") for b in (2, 4)} for n in names}).T
    print(f"Exercise 1: {len(asga)} EdMIPS+ASGA policies; share of them per layer and bits")
    print(share.round(2).to_string())

# %% [markdown]
# ## What this notebook found

# %%
from collections import Counter
for k, p in pols.items():  # how many searchable layers at each bitwidth, weights and activations
    bits = [(r["w_bits"], r["a_bits"]) for r in p["layers"].values() if r["searchable"]]
    count = lambda i: ", ".join(f"{b} bits × {n}" for b, n in sorted(Counter(x[i] for x in bits).items()))
    print(f"{k} ({p['totals']['bitops'] / 1e9:.3f} GBitOPs): weights {count(0)}; activations {count(1)}")
print(f"layer2.0.conv1, activation bits, last epoch of the EdMIPS+ASGA search: largest probability {last.prob.max():.2f}")

# %% [markdown]
# ## Questionnaire
#
# 1. Why can the final policy disagree with the largest softmax probability of a layer?
#    <details><summary>Answer</summary>
#
#    The budget repair moves bits after the search so the policy meets the budget; it changes the layers whose choice
#    costs least in the objective.
#    </details>
# 2. Why can two layers with the same bits cost different BitOPs?
#    <details><summary>Answer</summary>
#
#    A layer's BitOPs are its MACs times its weight and activation bits; layers differ in MACs, so the same bits cost
#    differently (the BitOPs-share chart shows each layer's share).
#    </details>
# 3. What does HAWQ's sensitivity multiply, and why both?
#    <details><summary>Answer</summary>
#
#    The per-weight Hessian trace by the quantization error of the layer's weights: curvature alone does not say how
#    far rounding moves the weights.
#    </details>
# 4. What does the temperature of the softmax over candidates control?
#    <details><summary>Answer</summary>
#
#    How soft the choice is during the search: a high temperature mixes candidates, a low one commits to one.
#    </details>
# 5. Why compare two policies at the same seed?
#    <details><summary>Answer</summary>
#
#    The seed fixes the proxy subset and the batch order, so the difference in bits is the methods', not the data's.
#    </details>
#
# ## Further research
#
# - Count, over the grid's seeds, how often EdMIPS and EdMIPS+ASGA give a layer the same bits.
# - Run HAWQ (`mpqlab search --objective hawq`) and place its policy beside the searched ones.
#
# ## References
#
# - Cai and Vasconcelos, [*Rethinking Differentiable Search for Mixed-Precision Neural Networks*](https://arxiv.org/abs/2004.05795) (EdMIPS), CVPR 2020
#   (the bit softmaxes and the cost term).
# - Wu et al., [*Mixed Precision Quantization of ConvNets via Differentiable Neural Architecture Search*](https://arxiv.org/abs/1812.00090), 2018.
# - Dong et al., [*HAWQ*](https://arxiv.org/abs/1905.03696), ICCV 2019; Wang et al., [*HAQ: Hardware-Aware Automated Quantization*](https://arxiv.org/abs/1811.08886), CVPR 2019.
# - The ASGA paper (ICML 2025).
