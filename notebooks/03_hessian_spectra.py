# %% [markdown]
# # 03 · Hessian spectra of quantized models
#
# **You will learn** how Lanczos and stochastic Lanczos quadrature estimate a Hessian's top eigenvalues and spectral
# density without forming it, how Hutchinson's estimator gives the trace, and what per-layer curvature says about bit
# allocation. **Time:** 30 minutes to read; the full run takes about 12 minutes on 2 cores. (previous:
# [02_policy_landscapes](02_policy_landscapes.ipynb) · next: [04_gradient_conflict](04_gradient_conflict.ipynb))
#
# **Question.** How sharp is the quantized loss at the trained point, measured by curvature?
#
# The Hessian H of the loss with respect to the weights has one eigenvalue per weight (270k here), so we never
# form it: every quantity comes from Hessian-vector products. The *top eigenvalue* (σ_max, Lanczos) is the
# sharpest direction; the *trace* (Hutchinson: the mean of v^T H v over random ±1 vectors v) is the sum of all
# curvatures; the *spectral density* (stochastic Lanczos quadrature) shows how the eigenvalues are spread.
# mpqlab has its own estimators and wraps PyHessian; both are shown here and cross-checked. mpqlab's trace gives
# every chunk of 16 images its own random vector, which keeps the estimate unbiased and cuts its variance: compare
# the standard errors in the last table.
#
# **The quantities.** With v a random vector of independent ±1 entries (Hutchinson) and H_ll the diagonal block of
# layer l (n_l weights), HAWQ's sensitivity of layer l at b bits is the per-weight curvature times the squared
# quantization error:
#
# $$\operatorname{tr} H = \mathbb{E}_v\!\left[v^\top H v\right], \qquad
#   \Omega_l(b) = \frac{\operatorname{tr} H_{ll}}{n_l}\,\lVert Q_b(W_l) - W_l\rVert^2 .$$
#
# ## Worked example: a 2-D quadratic whose Hessian is known
#
# L(θ) = ½ (θ − c)ᵀ H (θ − c) with H of eigenvalues 3 and 0.5, rotated by 30°: tr H = 3.5 and σ_max = 3 exactly.
# mpqlab's estimators run on it unchanged (`mpqlab.analysis.toy`); with a rotated H each probe's vᵀHv is
# 3.5 ± 2·H₁₂, so the trace estimate has a spread that shrinks as 1/√n.

# %%
import math
from mpqlab.analysis.hessian import Hessian
from mpqlab.analysis.toy import Quadratic, quadratic_loss, rotated_hessian
quad = Quadratic(rotated_hessian([3.0, 0.5], math.pi / 6), theta=[1.0, -2.0])
hq = Hessian(quad, quad.batch(), loss_fn=quadratic_loss)
top_q = hq.eigenvalues(top_k=2)["eigenvalues"]
for n in (10, 100, 1000):
    t = hq.trace(n_probes=n, method="hutchinson", seed=0)
    print(f"{n:>5} probes: trace {t['trace']:.3f} ± {t['std_error']:.3f} (exact {quad.trace():.3f})")
assert all(abs(a - b) < 1e-6 for a, b in zip(top_q, quad.eigenvalues()))
assert abs(t["trace"] - quad.trace()) < 5 * t["std_error"]
print("eigenvalues (Lanczos):", [round(v, 6) for v in top_q], "exact:", quad.eigenvalues())

# %% [markdown]
# ## Lanczos and stochastic Lanczos quadrature (SLQ)
#
# **Lanczos.** From a start vector v₁ (random ±1 entries, normalised) and m Hessian-vector products, Lanczos builds
# an orthonormal basis V_m = (v₁ … v_m) of the Krylov space span{v₁, Hv₁, …, H^(m−1)v₁} in which H is tridiagonal:
#
# $$H v_j = \beta_{j-1} v_{j-1} + \alpha_j v_j + \beta_j v_{j+1}, \qquad
#   T_m = V_m^\top H V_m = \operatorname{tridiag}(\beta, \alpha, \beta).$$
#
# The eigenvalues θ_k of the small matrix T_m (Ritz values) approach H's extreme eigenvalues first, after a few
# dozen products even when H has 270k eigenvalues: that is how σ_max is found.
#
# **SLQ.** The same T_m gives the whole spectrum's shape. The spectral density φ(λ) = (1/n) Σ_i δ(λ − λ_i) satisfies
# (1/n) tr f(H) = ∫ f(λ) φ(λ) dλ, and for a random unit v₁, E[v₁ᵀ f(H) v₁] = (1/n) tr f(H). Gauss quadrature
# evaluates v₁ᵀ f(H) v₁ from T_m = Σ_k θ_k u_k u_kᵀ as Σ_k τ_k f(θ_k) with weights τ_k = (first entry of u_k)²:
#
# $$\phi(\lambda) \approx \frac{1}{n_v} \sum_{\text{runs}} \sum_{k=1}^{m} \tau_k\, g_\sigma(\lambda - \theta_k),$$
#
# each node smoothed by a Gaussian g_σ for the plot. **Check on a diagonal matrix**: with H = diag(4, 2, 1, 0.5,
# 0.25) and m = n = 5 steps the Ritz values are H's eigenvalues exactly, and each weight is v_i² / ‖v‖² = 1/5 for a
# ±1 start vector, so one SLQ run recovers the spectrum exactly; the cell asserts both.

# %%
import numpy as np
diag = Quadratic(np.diag([4.0, 2.0, 1.0, 0.5, 0.25]), theta=[1.0] * 5)
slq = Hessian(diag, diag.batch(), loss_fn=quadratic_loss).density(iters=5, n_v=1, seed=0)
nodes, weights = np.array(slq["nodes"][0]), np.array(slq["weights"][0])
assert np.allclose(np.sort(nodes), [0.25, 0.5, 1.0, 2.0, 4.0], atol=1e-8) and np.allclose(weights, 0.2, atol=1e-8)
print("SLQ on diag(4, 2, 1, 0.5, 0.25): nodes", np.round(np.sort(nodes), 6).tolist(), "weights",
      np.round(weights, 6).tolist())

# %% tags=["parameters"]
smoke = True  # papermill parameters. True: a quick pass (CI); False: the full run behind figures/
data_root = None  # the datasets folder (None: $MPQLAB_DATA, else the embedded default)
figures_dir = "../runs/figures"  # where show() saves each figure (PNG + plotly JSON)
runs_dir = "../runs/notebooks"  # run folders of the searches and transfers this notebook starts

# %%
import pandas as pd
from mpqlab import viz
from mpqlab.course.notebooks import notebook_setup
RUNS, show = notebook_setup(data_root, figures_dir, runs_dir)  # MPQLAB_DATA, folders; show() saves + displays

# %%
from mpqlab.analysis.density import gaussian_density
from mpqlab.quant.cost import layer_table
from mpqlab.data import proxy_subset
from mpqlab.quant.loading import analysis_target
from mpqlab.models import create_model
from mpqlab.quant.policy import Policy
from mpqlab.training.transfer import finetuned
data, ckpt, train, test = analysis_target(smoke)
ft_train, _ = proxy_subset(train, size=min(len(train), 10000), seed=0)  # the same cached fine-tunes as notebook 02
ft_test = test.sample(128) if smoke else test  # the fine-tune's own before / after top-1
x, y = test.tensors(16 if smoke else 128)  # smoke: enough to run every estimator, not to trust it
models = {name: finetuned(Policy.uniform(create_model("resnet20"), b, b), "resnet20", ft_train, ft_test, ckpt,
                          RUNS / f"finetuned_{data}_{name}", epochs=1, max_batches=1 if smoke else None)[0]
          for name, b in (("W8A8", 8), ("W4A4", 4), ("W2A2", 2))}
it = 4 if smoke else 20
eigs, traces, trace_se, dens, layer_tr = {}, {}, {}, {}, {}
for k, m in models.items():
    h = Hessian(m, (x, y))
    eigs[k] = h.eigenvalues(top_k=3 if not smoke else 2, max_iter=it)["eigenvalues"]
    t = h.trace(n_probes=4 if smoke else 30)
    traces[k], trace_se[k] = t["trace"], t["std_error"]
    d = h.density(iters=6 if smoke else 30)
    dens[k] = gaussian_density(d["nodes"], d["weights"])
    layer_tr[k] = h.layer_traces(n_probes=2 if smoke else 16)
from mpqlab.experiments.stats import order_within_errors  # "<" only where 2 standard errors apart, else "≈"
print("σ_max, smallest first:", order_within_errors({k: (e[0], 0.0) for k, e in eigs.items()}))
print("trace, smallest first:", order_within_errors({k: (traces[k], trace_se[k]) for k in traces}))
pd.DataFrame({"top eigenvalues": eigs, "trace": traces, "trace std. error": trace_se})

# %%
show(viz.eigenvalue_bars(eigs), "03_eigenvalues")
show(viz.spectral_density(dens), "03_density")
sizes = {n: r["params"] for n, r in layer_table(create_model("resnet20")).items()}  # n_l, conv / linear layers
per_param = {k: {n: v / sizes[n] for n, v in t.items() if n in sizes} for k, t in layer_tr.items()}
show(viz.layer_trace_bars(per_param, title="Per-layer Hessian trace per parameter, tr(H_ll) / n_l (HAWQ's sensitivity)",
                          per_parameter=True), "03_layer_traces")
top = {k: max(v, key=v.get) for k, v in per_param.items()}
print("most sensitive layer per parameter:", top)
share = {k: sum(sorted(e, reverse=True)[:3]) / traces[k] for k, e in eigs.items()}
print("share of the trace in the top eigenvalues computed:", {k: f"{v:.0%}" for k, v in share.items()})

# %% [markdown]
# **How to read them.** The bars are the top Hessian eigenvalues of each fine-tuned model; the density is the
# smoothed spectrum (log scale, ticks in powers of ten, drawn down to 10⁻⁶ of its peak and left blank below,
# where the smoothed sum of a few nodes falls towards zero: most of the spectrum's mass sits near zero, with a thin
# tail of large eigenvalues; the share of the trace that the top eigenvalues hold is printed above, from the same
# numbers); the last chart is each layer's trace divided by its number of weights, tr(H_ll) / n_l, the mean
# curvature per weight, which is what HAWQ multiplies by the quantization error ‖Q(W) − W‖² to rank layers. The raw
# trace would rank large layers first only because they have more weights. Which policy has the larger σ_max and
# trace is printed above the figures: two traces within two standard errors of each other are joined by ≈, not
# ordered, since 30 probes cannot tell them apart.
#
# ## Two backends, one answer

# %%
m = models["W4A4"]
rows = []
for backend in ("mpqlab", "pyhessian"):
    h = Hessian(m, (x, y), backend=backend)
    e = h.eigenvalues(top_k=1, max_iter=it, seed=0)
    t = h.trace(n_probes=4 if smoke else 30, seed=0, method="hutchinson")  # the default would take Gauss-Newton
    rows.append({"backend": backend, "sigma_max": e["eigenvalues"][0], "eig time (s)": e["time_s"],
                 "trace": t["trace"], "trace std. error": t["std_error"], "trace time (s)": t["time_s"]})
gn = Hessian(m, (x, y)).trace(n_probes=12 if smoke else 90, method="gauss-newton", seed=0)
rows.append({"backend": "mpqlab, Gauss-Newton trace", "trace": gn["trace"], "trace std. error": gn["std_error"],
             "trace time (s)": gn["time_s"]})
gap = abs(gn["trace"] - rows[0]["trace"]) / (gn["std_error"] ** 2 + rows[0]["trace std. error"] ** 2) ** 0.5
print(f"Gauss-Newton trace vs mpqlab's Hutchinson trace: {gap:.1f} combined standard errors apart")
assert gap < 4, "tr(G) should equal tr(H) for this piecewise-linear network"
pd.DataFrame(rows)

# %% [markdown]
# **How to read it.** One row per backend on the same W4A4 model and images: σ_max and the trace with their times;
# the trace's standard error is over its probes, so the two backends' traces should agree within a few of them.
# The last row needs no Hessian-vector product at all (it is what `trace()` runs by default, `method="auto"`, on
# networks like this one; the first row names `method="hutchinson"` to compare the two). ResNet-20 is piecewise linear
# in each weight tensor (ReLU,
# pooling, eval-mode BatchNorm, straight-through quantizers), so each tensor's own Hessian block equals that of the
# Gauss-Newton matrix G = JᵀΛJ and tr(H) = tr(G); and tr(G) is the expected squared gradient norm when the labels
# are drawn from the model's own softmax: one back-propagation per sample of the estimate, about a third of the
# cost of a pass of Hessian-vector products. The printed distance in standard errors (the cell asserts it is below 4)
# is the check.
#
# ## Explore: one model's spectrum and per-layer curvature
#
# Pick a model and the number of Lanczos steps and trace probes, then press Apply (each recompute takes seconds to a
# minute): the top eigenvalues, the trace with its standard error and the per-parameter layer traces are printed,
# and the chart shows the layer traces.

# %%
import ipywidgets as W
from mpqlab.course.notebooks import controls
def spectrum(model="W4A4", lanczos_steps=it, probes=4 if smoke else 16):
    h = Hessian(models[model], (x, y))
    e = h.eigenvalues(top_k=3, max_iter=lanczos_steps)["eigenvalues"]
    t = h.trace(n_probes=probes, method="hutchinson")
    lt = {n: v / sizes[n] for n, v in h.layer_traces(n_probes=max(2, probes // 2)).items() if n in sizes}
    print(f"{model}: top eigenvalues {[round(v, 3) for v in e]}, trace {t['trace']:.4g} ± {t['std_error']:.2g}; "
          f"largest tr(H_ll)/n_l: {max(lt, key=lt.get)}")
    return viz.layer_trace_bars({model: lt}, title=f"{model}: tr(H_ll) / n_l per layer", per_parameter=True)
controls(spectrum, apply=True, offline={"model": list(models)}, model=W.Dropdown(options=list(models), value="W4A4"),
         lanczos_steps=W.IntSlider(value=it, min=2, max=40), probes=W.IntSlider(value=4 if smoke else 16, min=2, max=64));

# %% [markdown]
# ## Exercises
#
# 1. Double `n_probes` of the trace in the last table's cell. Predict how much the standard error shrinks, then
#    check. *Hint:* the worked example's three lines.
#    <details><summary>Solution</summary>
#    By about √2 (the standard error of a mean of n independent probes is sd/√n): the cell after the exercises
#    prints both standard errors and their ratio.
#    </details>
# 2. In the worked example, set the angle to 0 (H diagonal). Predict the standard error of the trace, then run.
#    *Hint:* vᵀHv = Σᵢ Hᵢᵢ vᵢ² + 2 Σᵢ<ⱼ Hᵢⱼ vᵢ vⱼ and vᵢ² = 1.
#    <details><summary>Solution</summary>
#    Zero: with no off-diagonal entries every probe gives exactly tr H = 3.5 (the cell asserts it). Hutchinson's
#    variance comes only from the off-diagonal part of H.
#    </details>
# 3. In the explorer, compare the largest per-parameter layer of W8A8 and W2A2. Controls: model = W8A8, then
#    model = W2A2. Does the most sensitive layer change with the bits? *Hint:* the order printed above the first figure is for the whole network.
#    <details><summary>Solution</summary>
#    The cell after the exercises prints the top layer of each and whether they differ; HAWQ uses each layer's
#    rank by tr(H_ll)/n_l times its quantization error, not the raw trace.
#    </details>
# 4. Put an `nn.Tanh()` in front of the W4A4 model's `fc` and ask for the Gauss-Newton trace again: predict what
#    mpqlab says, and why the identity tr(H) = tr(G) no longer holds.
#    <details><summary>Solution</summary>
#    mpqlab refuses the Gauss-Newton trace and names the curved node (`Hessian.gauss_newton_issue()`, printed by
#    the cell after the exercises): the network is no longer piecewise linear in the weights before the loss, so H
#    has a second term that G lacks.
#    </details>

# %%
# Solutions as code (exercises 1 to 4)
import copy
import torch.nn as nn
n1 = 4 if smoke else 16
se = [Hessian(models["W4A4"], (x, y)).trace(n_probes=n, seed=0)["std_error"] for n in (n1, 2 * n1)]
print(f"1: trace standard error with {n1} probes {se[0]:.3g}, with {2 * n1} {se[1]:.3g}: ratio {se[0] / se[1]:.2f} "
      f"(√2 = {math.sqrt(2):.2f})")
flat = Quadratic(rotated_hessian([3.0, 0.5], 0.0), theta=[1.0, -2.0])
t0 = Hessian(flat, flat.batch(), loss_fn=quadratic_loss).trace(n_probes=100, method="hutchinson", seed=0)
assert abs(t0["trace"] - 3.5) < 1e-9 and t0["std_error"] < 1e-9
print(f"2: angle 0: trace {t0['trace']:.3f} ± {t0['std_error']:.1g}")
print(f"3: most sensitive layer per parameter: W8A8 {top['W8A8']}, W2A2 {top['W2A2']}: "
      + ("the same layer" if top["W8A8"] == top["W2A2"] else "it changes with the bits"))
curved = copy.deepcopy(models["W4A4"])
curved.fc = nn.Sequential(nn.Tanh(), curved.fc)
issue = Hessian(curved.eval(), (x, y)).gauss_newton_issue()
assert issue is not None
print("4:", issue)

# %% [markdown]
# ## What this notebook found

# %%
print("σ_max, smallest first:", order_within_errors({k: (e[0], 0.0) for k, e in eigs.items()}))
print("trace, smallest first (≈: within 2 standard errors):",
      order_within_errors({k: (traces[k], trace_se[k]) for k in traces}))
print("most sensitive layer per parameter:", top)
print(f"Gauss-Newton and Hutchinson traces of W4A4 agree within {gap:.1f} combined standard errors")

# %% [markdown]
# ## Questionnaire
#
# 1. Why can the Hessian of a 270k-parameter network not be formed, and what is computed instead?
#    <details><summary>Answer</summary>
#
#    It would have 270k x 270k entries; Hessian-vector products cost about two gradients each and are all Lanczos, SLQ
#    and Hutchinson need.
#    </details>
# 2. Why is Hutchinson's trace estimate unbiased, and what sets its error?
#    <details><summary>Answer</summary>
#
#    E[v^T H v] = tr(H) for Rademacher v; its variance is 2 times the sum of squared off-diagonal entries, so the
#    error falls as one over the square root of the probes.
#    </details>
# 3. What does stochastic Lanczos quadrature give that the top eigenvalue does not?
#    <details><summary>Answer</summary>
#
#    The whole spectral density: how much of the spectrum is near zero, how heavy the tail is, negative eigenvalues.
#    </details>
# 4. Why can the Gauss-Newton trace differ from the Hessian's?
#    <details><summary>Answer</summary>
#
#    Gauss-Newton drops the term weighted by the residuals' second derivatives of the network; it is positive
#    semi-definite, the Hessian need not be.
#    </details>
# 5. Why does HAWQ use the per-layer trace divided by the number of parameters?
#    <details><summary>Answer</summary>
#
#    The average curvature per weight of a layer, times the quantization error of its weights, approximates the loss
#    the layer's rounding costs.
#    </details>
#
# ## Further research
#
# - Compute the density for W4A4 before and after its fine-tune and compare the tails.
# - Compare the per-layer traces with the bits a search chose for each layer (notebook 05).
#
# ## References
#
# - Yao, Gholami, Keutzer and Mahoney, [*PyHessian: Neural Networks Through the Lens of the Hessian*](https://arxiv.org/abs/1912.07145), 2020.
# - Ghorbani, Krishnan and Xiao, [*An Investigation into Neural Net Optimization via Hessian Eigenvalue Density*](https://arxiv.org/abs/1901.10159),
#   ICML 2019 (stochastic Lanczos quadrature).
# - Hutchinson, [*A Stochastic Estimator of the Trace of the Influence Matrix*](https://doi.org/10.1080/03610918908812806), 1989; Ubaru, Chen and Saad, [*Fast
#   Estimation of tr(f(A)) via Stochastic Lanczos Quadrature*](https://doi.org/10.1137/16M1104974), 2017.
# - Dong et al., [*HAWQ: Hessian AWare Quantization*](https://arxiv.org/abs/1905.03696), ICCV 2019 (per-layer traces as bit sensitivity).
