# %% [markdown]
# # 05 · Bitwidth policies side by side
#
# **Question.** Where do different searches spend their bits, and how did the choice form during the search?
#
# A policy file (`mpqlab.policy`) stores, per layer *name*, the weight and activation bits, plus cost totals and
# provenance (including the final softmaxes over the bit candidates). We compare the uniform W4A4 policy with the
# searched ones and watch the search's softmaxes evolve.

# %% tags=["parameters"]
smoke, data_root, figures_dir, runs_dir = True, None, "../figures", "../runs/notebooks"  # papermill parameters

# %%
import pandas as pd
from mpqlab import viz
from mpqlab.checkpoints import pretrained
from mpqlab.notebooks import notebook_setup
RUNS, show = notebook_setup(data_root, figures_dir, runs_dir)  # MPQLAB_DATA, folders; show() saves + displays

# %%
import json
from mpqlab.models import create_model
from mpqlab.policy import Policy
from mpqlab.search import SearchConfig, run, read_softmaxes
ckpt = str(pretrained("resnet20_cifar10-mini"))
pols = {"uniform W4A4": Policy.uniform(create_model("resnet20"), 4, 4).to_dict()}
for method in ("edmips", "edmips+asga", "hawq"):
    obj, _, sharp = method.partition("+")
    cfg = SearchConfig(data="cifar10-mini", subset=1000, checkpoint=ckpt, objective=obj, sharpness=sharp or "none",
                       epochs=1 if smoke else 2, max_batches=3 if smoke else None, batch_size=64,
                       hawq_batches=1, hawq_probes=4 if smoke else 16)
    pols[method] = run(cfg, RUNS / f"policy_{method.replace('+', '_')}.json", show_progress=False).to_dict()
pd.DataFrame({k: p["totals"] for k, p in pols.items()}).T

# %%
show(viz.bitwidth_bars(pols, title="Per-layer bits of four policies at the same budget"), "05_bitwidths")
sm = read_softmaxes(RUNS / "policy_edmips_asga.run")
show(viz.softmax_heatmap(sm, kind="w"), "05_softmax_heatmap_w")
show(viz.softmax_heatmap(sm, kind="a", layer="layer2.0.conv1"), "05_softmax_layer")

# %% [markdown]
# ## Explore: one layer's bits, its cost and its curvature
#
# Pick a layer and its bits: the control shows the BitOPs of the resulting policy, and the layer's Hessian trace
# (from the HAWQ search above) times its weight quantization error at those bits: HAWQ's sensitivity.

# %%
import ipywidgets as W
from mpqlab.cost import bitops
from mpqlab.notebooks import controls
base = pols["uniform W4A4"]
def layer_cost(layer="layer2.0.conv1", w_bits=4, a_bits=4):
    layers = json.loads(json.dumps(base["layers"]))
    layers[layer].update(w_bits=w_bits, a_bits=a_bits)
    b = bitops(layers, {n: (r["w_bits"], r["a_bits"]) for n, r in layers.items()})
    print(f"{layer} at W{w_bits}A{a_bits}: policy BitOPs {b / 1e9:.3f} G ({100 * b / base['totals']['bitops'] - 100:+.1f}% vs W4A4)")
    prov = pols["hawq"]["provenance"]
    bits_h = prov["hawq_bits"]
    if w_bits in bits_h:
        print(f"Hessian trace of {layer}: {prov['hawq_layer_traces'][layer]:.3g}; HAWQ sensitivity at {w_bits} bits: "
              f"{prov['hawq_sensitivity'][layer][bits_h.index(w_bits)]:.3g}")
searchable = [n for n, r in base["layers"].items() if r["searchable"]]
controls(layer_cost, layer=W.Dropdown(options=searchable, value="layer2.0.conv1"),
         w_bits=W.Dropdown(options=[2, 3, 4, 6, 8], value=4), a_bits=W.Dropdown(options=[2, 3, 4, 6, 8], value=4));
