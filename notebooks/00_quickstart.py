# %% [markdown]
# # 00 · Quickstart: search a mixed-precision policy on a proxy, transfer it, look at the bits
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

# %% tags=["parameters"]
smoke, data_root, figures_dir, runs_dir = True, None, "../figures", "../runs/notebooks"  # papermill parameters

# %%
from mpqlab import viz
from mpqlab.notebooks import notebook_setup
RUNS, show = notebook_setup(data_root, figures_dir, runs_dir)  # MPQLAB_DATA, folders; show() saves + displays

# %%
from mpqlab.quickstart import quickstart
summary = quickstart(out=str(RUNS / "quickstart"), smoke=smoke)
summary

# %% [markdown]
# **Reading the result.** `average_bits` is the uniform bitwidth with the same BitOPs (2.5 = as costly as
# W2.5A2.5 everywhere; uniform W3A2 is the closest uniform policy under it). Per policy, `top1_before_finetune` is
# the full-precision weights quantized by the policy and `top1` the same after fine-tuning the weights under the
# fixed policy; `target_top1_float` is the full-precision model. `decisiveness` is the median largest bit
# probability at the end of the search and `layers_changed_by_budget` how many layers the budget step had to
# change: a search whose policy is its own has the first near 1 and the second near 0. One seed on 1,000 test
# images demonstrates the workflow; comparing methods is the experiment grid's job (notebook 01).

# %%
import json
policy = json.loads((RUNS / "quickstart" / "policy.json").read_text())
show(viz.bitwidth_bars({"edmips+asga": policy}, title="Bits per layer found by EdMIPS+ASGA"), "00_quickstart_bitwidths")

# %% [markdown]
# Each pair of bars is one layer's weight and activation bits; the line is the layer's share of all BitOPs.
# The first convolution and the classifier are fixed at 8 bits. Layers with a large share of the BitOPs are where
# the search saves the most by going low; small layers (the 1×1 shortcuts) cost little at any precision.
