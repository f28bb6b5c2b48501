# %% [markdown]
# # 04 · Gradient conflict: what sharpness-aware search does to the gradients
#
# **You will learn** how the surrogate gap h and the angle between the gradient and the perturbed gradient measure
# what sharpness-aware search does, and how the proxy's and target's gradients relate. **Time:** 20 minutes to read;
# the full run takes about 2 minutes on 2 cores. (previous: [03_hessian_spectra](03_hessian_spectra.ipynb) · next:
# [05_bitwidth_policies](05_bitwidth_policies.ipynb))
#
# **Question.** When the search minimises both the loss and its sharpness, do their gradients pull apart, and
# does ASGA's alignment keep them together?
#
# A sharpness-aware step takes the gradient g at θ and g_p at the perturbed point θ + e. If cos(g, g_p) is small,
# the loss and the sharpness objectives conflict. ASGA perturbs by e = (ρ/‖g‖ − β) g and updates with (g + g_p)/2
# (implicit gradient alignment), and adapts ρ to the measured surrogate gap. We run three short searches on the
# proxy and read the angles from their telemetry.
#
# **The quantities.** SAM minimises the worst loss in a ball of radius ρ; to first order the worst point is
# θ + e with e = ρ g/‖g‖, and the sharpness it adds is the surrogate gap h:
#
# $$\min_\theta \max_{\lVert e\rVert \le \rho} L(\theta + e), \qquad
#   h(\rho) = L(\theta + \rho\,\tfrac{g}{\lVert g\rVert}) - L(\theta), \qquad
#   \cos(g, g_p) = \frac{g^\top g_p}{\lVert g\rVert\,\lVert g_p\rVert},\; g_p = \nabla L(\theta + e).$$
#
# ## Worked example: h and cos(g, g_p) on a quadratic, exactly
#
# For L(θ) = ½ (θ − c)ᵀ H (θ − c) the gradient is g = H(θ − c), so h(ρ) = ρ‖g‖ + ½ ρ² ĝᵀHĝ and g_p = g + ρHĝ
# exactly: the larger ρ, the more g_p turns towards the sharp eigenvector and the lower the cosine. The cell checks
# mpqlab's `surrogate_gap` and `perturbation_conflict` against these closed forms.

# %%
import math
from mpqlab.analysis.conflict import perturbation_conflict
from mpqlab.analysis.sharpness import surrogate_gap
from mpqlab.analysis.toy import Quadratic, quadratic_loss, rotated_hessian
quad = Quadratic(rotated_hessian([3.0, 0.5], math.pi / 6), theta=[1.0, -2.0])
for rho in (0.05, 0.5, 2.0):
    h = surrogate_gap(quad, [quad.batch()], rho=rho, loss_fn=quadratic_loss)["surrogate_gap"]
    c = perturbation_conflict(quad, *quad.batch(), rho=rho, loss_fn=quadratic_loss)["global"]
    assert abs(h - quad.surrogate_gap(rho)) < 1e-9 and abs(c - quad.cos_g_gp(rho)) < 1e-9
    print(f"ρ = {rho}: h = {h:.4f} (exact {quad.surrogate_gap(rho):.4f}), cos(g, g_p) = {c:.4f} "
          f"(exact {quad.cos_g_gp(rho):.4f})")

# %% tags=["parameters"]
smoke = True  # papermill parameters. True: a quick pass (CI); False: the full run behind figures/
data_root = None  # the datasets folder (None: $MPQLAB_DATA, else the embedded default)
figures_dir = "../runs/figures"  # where show() saves each figure (PNG + plotly JSON)
runs_dir = "../runs/notebooks"  # run folders of the searches and transfers this notebook starts

# %%
from mpqlab import viz
from mpqlab.quant.checkpoints import pretrained
from mpqlab.course.notebooks import notebook_setup
RUNS, show = notebook_setup(data_root, figures_dir, runs_dir)  # MPQLAB_DATA, folders; show() saves + displays

# %%
from mpqlab.course.notebooks import keyed_path
from mpqlab.search import SearchConfig, run, read_metrics, run_dir_of
ckpt = str(pretrained("resnet20_cifar10-mini"))
runs, paths = {}, {}  # keyed by method name: one colour per method in every chart of the kit
for sharp in ("none", "sam", "asga"):
    cfg = SearchConfig(data="cifar10-mini", subset=1000, checkpoint=ckpt, sharpness=sharp, epochs=1 if smoke else 2,
                       max_batches=3 if smoke else None, batch_size=64)
    paths[cfg.method] = keyed_path(RUNS, f"conflict_{sharp}", cfg)  # other settings (an exercise): another folder
    run(cfg, paths[cfg.method], show_progress=False)
    runs[cfg.method] = read_metrics(run_dir_of(paths[cfg.method]))
runs["edmips+asga"][["step", "loss", "loss_p", "h", "rho", "cos_g_gp", "cos_alpha_task_cost"]].head()

# %%
import json
import pandas as pd
from mpqlab.analysis.conflict import chance_cosine
from mpqlab.models import create_model
n_weights = sum(p.numel() for n_, p in create_model("resnet20").named_parameters() if n_.endswith("weight") and p.dim() > 1)
pol = json.loads(paths["edmips+asga"].read_text())
n_logits = sum(r["searchable"] for r in pol["layers"].values()) * (len(pol["w_candidates"]) + len(pol["a_candidates"]))
print(f"noise baselines (95 % of cosines between unrelated random directions): ±{chance_cosine(n_weights):.4f} in the "
      f"{n_weights:,} weights, ±{chance_cosine(n_logits):.3f} in the {n_logits} bit logits")
show(viz.angle_series({k: (d.step, d.cos_g_gp) for k, d in runs.items() if k != "edmips"}, smooth=1 if smoke else 5),
     "04_cos_g_gp")
# the task-vs-cost cosine is undefined where the cost hinge is inactive (its gradient is zero): a chart of a handful
# of defined steps would be a few dots, so those steps are listed instead
defined = pd.concat([d.loc[d.cos_alpha_task_cost.notna(), ["step", "cos_alpha_task_cost", "expected_over_budget"]]
                     .assign(method=k) for k, d in runs.items()], ignore_index=True)
for k, d in runs.items():
    c = d.cos_alpha_task_cost.dropna()
    print(f"{k}: task-vs-cost cosine defined on {len(c)} of {len(d)} steps"
          + (f", median {c.median():+.2f}, {(c < 0).mean():.0%} of those negative" if len(c) else ""))
defined.round(3)

# %%
last = runs["edmips+asga"].filter(like="cos_layer/").iloc[-1]
show(viz.layer_bars({"ASGA, last step": last.rename(lambda c: c.split("/", 1)[1]).to_dict()},
                    title="cos(g, g_p) per layer at the last ASGA step", yaxis="cos(g_l, g_p,l)"), "04_cos_per_layer");

# %% [markdown]
# **How to read them.** First, the noise baseline: two unrelated random directions in n dimensions have a cosine
# near 0, within ±1.96/√n for 95 % of pairs (its variance is exactly 1/n), printed above for the weights and for the
# bit logits. A cosine is only informative outside that band. The chart is cos(g, g_p) per step for SAM and ASGA:
# near 1, the perturbed gradient points where the plain one does. The table lists the steps where the bit logits'
# gradients from the task loss and from the cost hinge both exist, with their cosine: negative when the cost
# pushes bits down while the task loss pushes them up. The hinge is zero while the realised cost is under the
# budget (`expected_over_budget` below 1), and then the cosine is undefined, so only a few steps have one (too few
# for a chart). The bars are cos(g, g_p) per layer at the last ASGA step.
#
# ## Proxy vs target gradients
# Does the quantized model's gradient on the proxy point where its gradient on the target does?

# %%
from mpqlab.analysis.conflict import proxy_target_conflict
from mpqlab.quant.loading import model_under_policy
from mpqlab.quant.policy import Policy
from mpqlab.data import create_dataset
target = create_dataset("cifar10-mini", "test")
proxy = create_dataset("cifar10-mini", "train")
m, _ = model_under_policy("resnet20", ckpt, 10, Policy.load(paths["edmips+asga"]), None, proxy)
n = 64 if smoke else 512
c = proxy_target_conflict(m.eval(), [proxy.tensors(n)], [target.tensors(n)])
print("global cosine, proxy vs target gradient:", round(c["global"], 3),
      f"(unrelated directions: within ±{chance_cosine(n_weights):.4f})")

# %% [markdown]
# **How to read it.** One number: the cosine between the quantized model's loss gradient on proxy images and on
# target images (here both from cifar10-mini, train vs test split). Near 1, a step that helps the proxy helps the
# target.
#
# ## Explore: the radius ρ
#
# Move ρ: the chart shows, at the ASGA policy's quantized model on one batch of proxy images, L(θ), L(θ + e), the
# surrogate gap h and cos(g, g_p) for radii up to the chosen one (cheap: two gradients per radius).

# %%
import ipywidgets as W
import numpy as np
from mpqlab.course.notebooks import controls
xb, yb = proxy.tensors(16 if smoke else 64)  # smoke: a run check, not an estimate
def radius(rho_max=0.1):
    rows = []
    for r in np.linspace(rho_max / 8, rho_max, 4 if smoke else 8):
        g = surrogate_gap(m.eval(), [(xb, yb)], rho=float(r))
        rows.append({"ρ": r, "L(θ)": g["loss"], "L(θ+e)": g["loss_perturbed"], "h": g["surrogate_gap"],
                     "cos(g, g_p)": perturbation_conflict(m.eval(), xb, yb, rho=float(r))["global"]})
    print(f"at ρ = {rows[-1]['ρ']:.3g}: h = {rows[-1]['h']:.4f}, cos(g, g_p) = {rows[-1]['cos(g, g_p)']:+.3f}")
    return viz.radius_sweep(rows)
controls(radius, apply=True, offline={"rho_max": [0.01, 0.1, 1.0]}, rho_max=W.FloatLogSlider(value=0.1, base=10, min=-3, max=0.5, step=0.25));

# %% [markdown]
# **How to read it.** Left: the loss at θ and at the perturbed point θ + e, against ρ; right: their difference h and
# cos(g, g_p). On a quadratic h grows as ρ‖g‖ + ½ρ²ĝᵀHĝ (the worked example); here the quantizers make L
# piecewise, so h can grow in steps.
#
# ## Exercises
#
# 1. Rerun the searches with `epochs=2` and `max_batches=None`. Predict whether cos(g, g_p) for ASGA ends higher or
#    lower than for SAM, then compare the first chart. *Hint:* ASGA's ρ adapts; SAM's is fixed at 0.05.
#    <details><summary>Solution</summary>
#    The full run already uses 2 epochs and every batch. The cell after the exercises prints both medians over the
#    last steps and ASGA's median ρ beside SAM's fixed 0.05: on the worked example's quadratic a larger ρ turns g_p
#    further from g; whether the same holds here, where the quantizers make the loss piecewise, is what it shows.
#    </details>
# 2. Set `cost_weight=0.5` in the `SearchConfig` (a weaker cost term). What happens to the number of steps on which
#    the task-vs-cost cosine is defined, and why? *Hint:* the cost's gradient is zero under the budget.
#    <details><summary>Solution</summary>
#    Expected: a weaker cost lets the expected BitOPs drift above the budget more often, so the hinge is active on
#    more steps and the cosine is defined on more of them. The cell after the exercises runs the search with
#    `cost_weight=0.5` and prints both counts: it says whether this run bears the expectation out.
#    </details>
# 3. Replace the proxy in the last cell by `create_dataset("fashion-mnist", "train")` (if it is installed): does
#    the proxy-target cosine drop?
#    <details><summary>Solution</summary>
#    Fashion-MNIST images are grey clothes, not CIFAR-10 objects: expect a lower cosine. The cell after the
#    exercises prints both cosines (when Fashion-MNIST is installed); the grid's cross-dataset setting measures
#    what that does to a searched policy (`results/README.md`).
#    </details>
# 4. In the explorer, find between which two radii cos(g, g_p) falls below 0.9 for this model. Controls:
#    rho_max = 0.01, then rho_max = 0.1, then rho_max = 1.0 (the live notebook's slider narrows it to a quarter
#    decade). *Hint:* the worked example.
#    <details><summary>Solution</summary>
#    The cell after the exercises sweeps ρ on a log grid and prints the first ρ where the cosine is below 0.9 (or
#    that it never is up to ρ = 3); on the quadratic the same cosine falls with ρ as g_p = g + ρHĝ turns.
#    </details>

# %%
# Solutions as code (exercises 1 to 4)
for k in ("edmips+sam", "edmips+asga"):
    print(f"1: {k}: median cos(g, g_p) over its last 10 steps {runs[k].cos_g_gp.dropna().tail(10).median():+.3f}")
print(f"1: ASGA's median ρ {runs['edmips+asga'].rho.median():.3g} (SAM's: 0.05)")
weak = SearchConfig(data="cifar10-mini", subset=1000, checkpoint=ckpt, sharpness="asga", epochs=1 if smoke else 2,
                    max_batches=3 if smoke else None, batch_size=64, cost_weight=0.5)
run(weak, keyed_path(RUNS, "conflict_asga_weak", weak), show_progress=False)
weak_runs = read_metrics(run_dir_of(keyed_path(RUNS, "conflict_asga_weak", weak)))
print(f"2: task-vs-cost cosine defined on {weak_runs.cos_alpha_task_cost.notna().sum()} of {len(weak_runs)} steps with "
      f"cost_weight 0.5, {runs['edmips+asga'].cos_alpha_task_cost.notna().sum()} of {len(runs['edmips+asga'])} with 2")
from mpqlab.core.errors import MpqlabError
try:
    fashion = create_dataset("fashion-mnist", "train")
    cf = proxy_target_conflict(m.eval(), [fashion.tensors(n)], [target.tensors(n)])["global"]
    print(f"3: proxy-target cosine with a Fashion-MNIST proxy {cf:+.3f}, with the CIFAR proxy {c['global']:+.3f}")
except MpqlabError as e:  # Fashion-MNIST not installed here: mpqlab says what is missing
    print(f"3: Fashion-MNIST is not available here ({type(e).__name__}: {e})")
sweep = {float(r): perturbation_conflict(m.eval(), xb, yb, rho=float(r))["global"] for r in np.geomspace(0.01, 3, 4 if smoke else 12)}
below = [r for r, v in sweep.items() if v < 0.9]
print("4: " + (f"cos(g, g_p) first below 0.9 at ρ ≈ {below[0]:.3g}" if below else "cos(g, g_p) stays above 0.9 up to ρ = 3")
      + "; " + ", ".join(f"{r:.2g}: {v:+.2f}" for r, v in sweep.items()))

# %% [markdown]
# ## What this notebook found
#
# The first line answers the question from the runs above, in words: how far apart each rule's perturbation turns
# the two gradients, and whether ASGA's run keeps them closer together than SAM's.

# %%
from mpqlab.analysis.conflict import alignment_summary
print(alignment_summary({k: runs[k].cos_g_gp for k in ("edmips+sam", "edmips+asga")}, last=10))
print(f"proxy vs target gradient cosine of the ASGA policy: {c['global']:+.3f}")

# %% [markdown]
# ## Questionnaire
#
# 1. What is the surrogate gap h, and what does it approximate for small rho?
#    <details><summary>Answer</summary>
#
#    h = L(w + e) - L(w) with e the ascent step of radius rho; for small rho it approaches rho ||g||, and its
#    second-order part rho^2/2 times the curvature along g.
#    </details>
# 2. Why does a cosine near 1 between g and g_p mean little conflict?
#    <details><summary>Answer</summary>
#
#    The gradient at the perturbed point points the same way as at the point itself: minimising the loss and its
#    sharpness pull together.
#    </details>
# 3. What does ASGA's beta change in the perturbation?
#    <details><summary>Answer</summary>
#
#    It shortens the ascent step by beta g: e = (rho/||g|| - beta) g, a smaller step along the same line.
#    </details>
# 4. Why is the proxy-vs-target gradient cosine of interest for transfer?
#    <details><summary>Answer</summary>
#
#    A policy judged on the proxy transfers well when the losses it is judged by pull the weights the same way as the
#    target's.
#    </details>
# 5. What is the chance level of a cosine between two random directions in 270k dimensions?
#    <details><summary>Answer</summary>
#
#    Near 0: its spread is about one over the square root of the dimension, so even a small cosine can be far above
#    chance.
#    </details>
#
# ## Further research
#
# - Measure cos(g, g_p) along a whole search (`mpqlab search --sharpness asga` writes it per step) and plot it against
#   rho.
# - Compare the proxy-target cosine of the EdMIPS and EdMIPS+ASGA policies over the grid's seeds.
#
# ## References
#
# - Foret et al., [*Sharpness-Aware Minimization for Efficiently Improving Generalization*](https://arxiv.org/abs/2010.01412), ICLR 2021 (SAM).
# - Zhuang et al., [*Surrogate Gap Guided Sharpness-Aware Minimization*](https://arxiv.org/abs/2203.08065) (GSAM), ICLR 2022.
# - The ASGA paper (ICML 2025): the adaptive radius and the gradient alignment.
# - Cai and Vasconcelos, [*Rethinking Differentiable Search for Mixed-Precision Neural Networks*](https://arxiv.org/abs/2004.05795) (EdMIPS), CVPR 2020.
