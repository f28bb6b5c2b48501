# %% [markdown]
# # 02 · Loss landscapes of one model under several policies
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

# %% tags=["parameters"]
smoke, data_root, figures_dir, runs_dir = True, None, "../runs/figures", "../runs/notebooks"  # papermill parameters

# %%
import numpy as np
import pandas as pd
from mpqlab import viz
from mpqlab.notebooks import notebook_setup
RUNS, show = notebook_setup(data_root, figures_dir, runs_dir)  # MPQLAB_DATA, folders; show() saves + displays

# %%
from mpqlab.analysis import landscape as L
from mpqlab.data import proxy_subset
from mpqlab.loading import analysis_target, model_under_policy
from mpqlab.models import create_model
from mpqlab.policy import Policy
from mpqlab.transfer import finetuned
data, ckpt, train, test = analysis_target(smoke)
ft_train, _ = proxy_subset(train, size=min(len(train), 10000), seed=0)  # one short fine-tune per policy, cached
ft_test = test.subset(range(128)) if smoke else test  # the fine-tune's own before / after top-1
x, y = test.tensors(128 if smoke else 500)
models, results, pols = {"float": model_under_policy("resnet20", ckpt, 10)[0].eval()}, {}, {}
for name, bits in (("W8A8", 8), ("W4A4", 4), ("W2A2", 2)):
    pols[name] = Policy.uniform(create_model("resnet20"), bits, bits)
    models[name], results[name] = finetuned(pols[name], "resnet20", ft_train, ft_test, ckpt,
                                            RUNS / f"finetuned_{data}_{name}", epochs=1,
                                            max_batches=2 if smoke else None)
pd.DataFrame({k: {"top-1 before fine-tune": r["top1_before_finetune"], "top-1 after": r["top1"]}
              for k, r in results.items()}).T.round(2)

# %%
points = 7 if smoke else 17
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
# ends, and the curvature k of a fit loss ≈ c + k·a². At 2 bits the curve is step-like: small moves of the latent
# weights do not change the quantized weights until they cross a rounding boundary.

# %%
m = models["W4A4"]
grid = np.linspace(-1, 1, 5 if smoke else 13)
r2 = L.slice_2d(m, (x, y), L.random_direction(m, 0), L.random_direction(m, 1), grid, grid, meta={"policy": "W4A4"})
L.save_npz(r2, RUNS / "landscape_w4a4.npz")
show(viz.landscape_contour(r2["ts1"], r2["ts2"], r2["loss"], title="W4A4: 2-D slice (contours)"), "02_landscape_contour")
show(viz.landscape_surface(r2["ts1"], r2["ts2"], r2["loss"], title="W4A4: 2-D slice (surface)"), "02_landscape_surface")
print(f"W4A4 2-D slice: loss {r2['loss'].min():.3f} to {r2['loss'].max():.3f}; lowest at "
      f"(a, b) = ({grid[np.unravel_index(r2['loss'].argmin(), r2['loss'].shape)[0]]:+.2f}, "
      f"{grid[np.unravel_index(r2['loss'].argmin(), r2['loss'].shape)[1]]:+.2f})")

# %% [markdown]
# **How to read them.** The fine-tuned W4A4 model's loss over a plane spanned by two random filter-normalised
# directions through it (contours, then the same grid as a surface); the numbers printed above are the range of the
# loss on the plane and where it is lowest.
#
# ## Explore: pick a model and a span
#
# The control recomputes the 1-D slice for the chosen model (run the notebook in JupyterLab to use it; run headless
# it shows the default choice).

# %%
import ipywidgets as W
from mpqlab.notebooks import controls
def explore(policy="W4A4", span=1.0):
    a = np.linspace(-span, span, 5 if smoke else 11)
    mm = models[policy]
    return viz.landscape_curves({policy: (a, L.slice_1d(mm, (x, y), L.random_direction(mm, 0), a)["loss"])},
                                title=f"{policy}: 1-D slice, span ±{span:g}")
controls(explore, policy=W.Dropdown(options=list(models), value="W4A4"),
         span=W.FloatSlider(value=1.0, min=0.25, max=2.0, step=0.25));

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
controls(one_layer, layer=W.Dropdown(options=searchable, value="layer3.2.conv2"),
         w_bits=W.Dropdown(options=[2, 3, 4, 6, 8], value=2), a_bits=W.Dropdown(options=[2, 3, 4, 6, 8], value=4));

# %% [markdown]
# ## Try this
#
# 1. In the first explorer, widen the span to 2 for W2A2 and for W8A8. Predict which one rises faster, then look.
# 2. In the second explorer, take `layer1.0.conv1` and then `layer3.2.conv2` down to W2A4. Which costs more loss at
#    the centre, which saves more BitOPs, and does the layer's Hessian trace predict the loss change?
# 3. Change the direction's seed (`L.random_direction(m, seed=1)` in the slice cell). Do the summary sentences
#    under the 1-D figure keep their order?
