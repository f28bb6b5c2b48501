"""Writes notebooks/*.ipynb from the cell sources below (the notebooks are thin: prose + library calls).

    python scripts/make_notebooks.py
"""
from pathlib import Path

import nbformat as nbf

NB = Path(__file__).resolve().parent.parent / "notebooks"

PARAMS = '''# Parameters (papermill): smoke = a few batches / a tiny evaluation set; the data root; where figures go.
smoke = True
data_root = None
figures_dir = "../figures"
runs_dir = "../runs/notebooks"'''

SETUP = '''import os, sys
from pathlib import Path
if data_root:
    os.environ["MPQLAB_DATA"] = str(data_root)
sys.path.insert(0, str(Path.cwd().parent))  # run from a checkout without installing
import numpy as np, pandas as pd, torch
import plotly.io as pio
from mpqlab import viz
from mpqlab.checkpoints import pretrained
FIG = Path(figures_dir); RUNS = Path(runs_dir); RUNS.mkdir(parents=True, exist_ok=True)
def show(fig, name):
    """Save the figure as HTML + PNG in figures/ and display it (a static PNG is kept in the notebook too)."""
    saved = viz.save_figure(fig, FIG / name)
    fig.show()
    return saved'''

NOTEBOOKS = {
"00_quickstart": [
("md", """# 00 · Quickstart: search a mixed-precision policy on a proxy, transfer it, look at the bits

**Question.** Can a bitwidth policy found cheaply on a small *proxy* dataset be used on the *target* dataset?

Mixed-precision quantization (MPQ) gives every convolution its own number of bits for weights (W) and input
activations (A). Fewer bits mean fewer *BitOPs* (MACs × W bits × A bits) and a smaller model, at some cost in
accuracy. Searching the policy on the target dataset is expensive; ASGA searches it on a small proxy and prefers
*flat* minima of the quantized loss, because flat minima are the ones that generalise to other data.

This notebook runs mpqlab's main job on the embedded `cifar10-mini` data: an EdMIPS+ASGA search on a 2,000-image
proxy subset at 2.5 average bits (candidates {2, 3, 4}), then a short fine-tune of the target model under the
found policy, next to uniform bits at the same budget fine-tuned the same way."""),
("code", PARAMS),
("code", SETUP),
("code", """from mpqlab.quickstart import quickstart
summary = quickstart(out=str(RUNS / "quickstart"), smoke=smoke)
summary"""),
("md", """**Reading the result.** `average_bits` is the uniform bitwidth with the same BitOPs (2.5 = as costly as
W2.5A2.5 everywhere; uniform W3A2 is the closest uniform policy under it). Per policy, `top1_before_finetune` is
the full-precision weights quantized by the policy and `top1` the same after fine-tuning the weights under the
fixed policy; `target_top1_float` is the full-precision model. `decisiveness` is the median largest bit
probability at the end of the search and `layers_changed_by_budget` how many layers the budget step had to
change: a search whose policy is its own has the first near 1 and the second near 0. One seed on 1,000 test
images demonstrates the workflow; comparing methods is the experiment grid's job (notebook 01)."""),
("code", """import json
policy = json.loads((RUNS / "quickstart" / "policy.json").read_text())
show(viz.bitwidth_bars({"edmips+asga": policy}, title="Bits per layer found by EdMIPS+ASGA"), "00_quickstart_bitwidths")"""),
("md", """Each pair of bars is one layer's weight and activation bits; the line is the layer's share of all BitOPs.
The first convolution and the classifier are fixed at 8 bits. Layers with a large share of the BitOPs are where
the search saves the most by going low; small layers (the 1×1 shortcuts) cost little at any precision."""),
],
"01_search_and_transfer": [
("md", """# 01 · Search and transfer: the comparison table

**Question.** Does ASGA-on-proxy match a search on the target itself, and at what fraction of the search cost?

Each cell of the experiment grid searches a policy on a proxy (or, for the reference `edmips@target`, on one full
epoch of the target training set), transfers it to CIFAR-10 and fine-tunes. Two null baselines search nothing:
`uniform` (every layer at the budget-matched bits) and `random` (random budget-matched policies). The report is
written by `mpqlab experiment` and committed under `results/` (a checkout without them runs a 4-cell grid on the embedded data here instead)."""),
("code", PARAMS),
("code", SETUP),
("code", """from mpqlab.experiment import quick_config
from mpqlab.grid import run_grid
candidates = [Path("../results/grid_v2/results.csv"), Path("../results/grid_v2_pilot/results.csv")]
committed = next((c for c in candidates if c.is_file()), None)
if committed is None:  # a checkout without committed results: a 4-cell grid on the embedded data, here
    csv_path = run_grid(quick_config(), RUNS / "quick_grid", show_progress=False)
else:
    csv_path = committed
print("results:", csv_path)
df = pd.read_csv(csv_path)
df"""),
("code", """from IPython.display import Markdown
Markdown(Path(csv_path).with_suffix(".md").read_text())"""),
("md", """**How to read it.** The gates come first: the comparisons mean something only if the reference beats
uniform bits by at least a point (search matters at this budget), the searches ended decisive (their policy is
their own, not the budget step's) and ASGA's radius moved inside its bounds. Cells that share a seed share the
proxy subset, batch order and fine-tune subset, so every comparison is a paired difference over seeds, with a
95 % interval and a Holm-corrected p-value over the pre-declared family; a failed gate withholds every verdict.
*Search cost vs reference* is search CPU time over the reference's."""),
("code", """fig = viz.pareto(df.assign(bitops_g=df.bitops / 1e9), x="bitops_g", y="target_top1", color="method",
                 symbol="setting", title="Target top-1 vs BitOPs (mean ± std over seeds; symbol = proxy setting)")
show(fig, "01_pareto")"""),
],
"02_loss_landscape": [
("md", """# 02 · Loss landscapes of one model under several policies

**Question.** Does the quantized model's loss landscape get sharper as bits go down, and does it differ between
policies with the same cost?

We take the full-precision ResNet-20 trained on `cifar10-mini`, quantize it under several policies, and
evaluate the loss at `θ + a·d1 (+ b·d2)`, where `d1`, `d2` are *filter-normalised* random directions (Li et al.,
2018): each filter of the direction has the norm of the corresponding weight filter, so the axis units mean the
same for every layer. The latent weights move and the quantizers re-quantize them at every point: this is the
landscape the quantized network actually sees, with its staircase structure."""),
("code", PARAMS),
("code", SETUP),
("code", """from mpqlab.loading import model_under_policy
from mpqlab.data import create_dataset
from mpqlab.analysis import landscape as L
train, test = create_dataset("cifar10-mini", "train"), create_dataset("cifar10-mini", "test")
x, y = test.tensors(128 if smoke else 500)
ckpt = str(pretrained("resnet20_cifar10-mini"))
policies = {"float": None, "W8A8": "8/8", "W4A4": "4/4", "W2A2": "2/2"}
models = {k: model_under_policy("resnet20", ckpt, 10, uniform=u, calib_data=train)[0].eval() for k, u in policies.items()}
points = 7 if smoke else 17
alphas = np.linspace(-1, 1, points)
curves = {}
for k, m in models.items():
    r = L.slice_1d(m, (x, y), L.random_direction(m, seed=0), alphas)
    curves[k] = (alphas, r["loss"])
show(viz.landscape_curves(curves, title="1-D slices along the same filter-normalised direction"), "02_landscape_1d")"""),
("md", """Lower-bit policies sit higher (quantization error) and rise faster away from the centre: a sharper
basin. The curves are step-like at 2 bits because small moves of the latent weights do not change the
quantized weights until they cross a rounding boundary."""),
("code", """m = models["W4A4"]
grid = np.linspace(-1, 1, 5 if smoke else 13)
r2 = L.slice_2d(m, (x, y), L.random_direction(m, 0), L.random_direction(m, 1), grid, grid, meta={"policy": "W4A4"})
L.save_npz(r2, RUNS / "landscape_w4a4.npz")
show(viz.landscape_contour(r2["alphas"], r2["betas"], r2["loss"], title="W4A4: 2-D slice (contours)"), "02_landscape_contour")
show(viz.landscape_surface(r2["alphas"], r2["betas"], r2["loss"], title="W4A4: 2-D slice (surface)"), "02_landscape_surface")"""),
("md", """## Explore: pick a policy and a span

The control below recomputes the 1-D slice for the chosen policy (run the notebook in JupyterLab to use it;
run headless it shows the default choice)."""),
("code", """import ipywidgets as W
from mpqlab.notebooks import controls
def explore(policy="W4A4", span=1.0):
    mm = models[policy]
    a = np.linspace(-span, span, 5 if smoke else 11)
    r = L.slice_1d(mm, (x, y), L.random_direction(mm, 0), a)
    viz.landscape_curves({policy: (a, r["loss"])}, title=f"{policy}: 1-D slice").show()
controls(explore, policy=W.Dropdown(options=list(models), value="W4A4"),
         span=W.FloatSlider(value=1.0, min=0.25, max=2.0, step=0.25));"""),
],
"03_hessian_spectra": [
("md", """# 03 · Hessian spectra of quantized models

**Question.** How sharp is the quantized loss at the trained point, measured by curvature?

The Hessian H of the loss with respect to the weights has one eigenvalue per weight (270k here), so we never
form it: every quantity comes from Hessian-vector products. The *top eigenvalue* (σ_max, Lanczos) is the
sharpest direction; the *trace* (Hutchinson: the mean of v^T H v over random ±1 vectors v) is the sum of all
curvatures; the *spectral density* (stochastic Lanczos quadrature) shows how the eigenvalues are spread.
mpqlab has its own estimators and wraps PyHessian; both are shown here and cross-checked. mpqlab's trace gives
every chunk of 16 images its own random vector, which keeps the estimate unbiased and cuts its variance: compare
the standard errors in the last table."""),
("code", PARAMS),
("code", SETUP),
("code", """from mpqlab.loading import model_under_policy
from mpqlab.data import create_dataset
from mpqlab.analysis.density import gaussian_density
from mpqlab.analysis.hessian import Hessian
train, test = create_dataset("cifar10-mini", "train"), create_dataset("cifar10-mini", "test")
x, y = test.tensors(64 if smoke else 128)
ckpt = str(pretrained("resnet20_cifar10-mini"))
models = {k: model_under_policy("resnet20", ckpt, 10, uniform=u, calib_data=train)[0].eval()
          for k, u in {"W8A8": "8/8", "W4A4": "4/4", "W2A2": "2/2"}.items()}
it = 5 if smoke else 20
eigs, traces, dens, layer_tr = {}, {}, {}, {}
for k, m in models.items():
    h = Hessian(m, (x, y))
    eigs[k] = h.eigenvalues(top_k=3 if not smoke else 2, max_iter=it)["eigenvalues"]
    traces[k] = h.trace(n_probes=6 if smoke else 30)["trace"]
    d = h.density(iters=8 if smoke else 30)
    dens[k] = gaussian_density(d["nodes"], d["weights"])
    layer_tr[k] = h.layer_traces(n_probes=3 if smoke else 16)
pd.DataFrame({"top eigenvalues": eigs, "trace": traces})"""),
("code", """show(viz.eigenvalue_bars(eigs), "03_eigenvalues")
show(viz.spectral_density(dens), "03_density")
show(viz.layer_trace_bars({k: {n: v for n, v in t.items() if n.endswith(("conv1", "conv2", "0", "fc"))} for k, t in layer_tr.items()}),
     "03_layer_traces")"""),
("md", """**Reading the spectra.** Most eigenvalues sit near zero (the bulk); a few outliers carry most of the
curvature. Fewer bits typically raise σ_max and the trace. The per-layer traces tell which layers' weights the
loss is most sensitive to: HAWQ uses exactly this (trace × quantization error) to choose bits.

## Two backends, one answer"""),
("code", """m = models["W4A4"]
rows = []
for backend in ("mpqlab", "pyhessian"):
    h = Hessian(m, (x, y), backend=backend)
    e = h.eigenvalues(top_k=1, max_iter=it, seed=0)
    t = h.trace(n_probes=6 if smoke else 30, seed=0)
    rows.append({"backend": backend, "sigma_max": e["eigenvalues"][0], "eig time (s)": e["time_s"],
                 "trace": t["trace"], "trace std. error": t["std_error"], "trace time (s)": t["time_s"]})
pd.DataFrame(rows)"""),
],
"04_gradient_conflict": [
("md", """# 04 · Gradient conflict: what sharpness-aware search does to the gradients

**Question.** When the search minimises both the loss and its sharpness, do their gradients pull apart, and
does ASGA's alignment keep them together?

A sharpness-aware step takes the gradient g at θ and g_p at the perturbed point θ + e. If cos(g, g_p) is small,
the loss and the sharpness objectives conflict. ASGA perturbs by e = (ρ/‖g‖ − β) g and updates with (g + g_p)/2
(implicit gradient alignment), and adapts ρ to the measured surrogate gap. We run three short searches on the
proxy and read the angles from their telemetry."""),
("code", PARAMS),
("code", SETUP),
("code", """from mpqlab.search import SearchConfig, run, read_metrics
ckpt = str(pretrained("resnet20_cifar10-mini"))
runs = {}
for sharp in ("none", "sam", "asga"):
    cfg = SearchConfig(data="cifar10-mini", subset=1000, checkpoint=ckpt, sharpness=sharp, epochs=1 if smoke else 2,
                       max_batches=3 if smoke else None, batch_size=64)
    run(cfg, RUNS / f"conflict_{sharp}.json", show_progress=False)
    runs[sharp] = read_metrics(RUNS / f"conflict_{sharp}.run")
runs["asga"][["step", "loss", "loss_p", "h", "rho", "cos_g_gp", "cos_alpha_task_cost"]].head()"""),
("code", """show(viz.angle_series({k: (d.step, d.cos_g_gp) for k, d in runs.items() if k != "none"}, smooth=1 if smoke else 5),
     "04_cos_g_gp")
show(viz.angle_series({k: (d.step, d.cos_alpha_task_cost) for k, d in runs.items()},
                      title="cos between the bit-logit gradients of the task loss and of the cost", smooth=1 if smoke else 5),
     "04_cos_alpha_task_cost")
last = runs["asga"].filter(like="cos_layer/").iloc[-1]
show(viz.layer_trace_bars({"ASGA, last step": last.rename(lambda c: c.split("/", 1)[1]).to_dict()},
                          title="cos(g, g_p) per layer at the last ASGA step"), "04_cos_per_layer")"""),
("md", """**Reading the angles.** cos(g, g_p) near 1 means the perturbed gradient points where the plain one does.
The task-vs-cost cosine is negative while the cost term pushes bits down and the task loss pushes them up: the
budget is the compromise.

## Proxy vs target gradients
Does the quantized model's gradient on the proxy point where its gradient on the target does?"""),
("code", """from mpqlab.analysis.conflict import proxy_target_conflict
from mpqlab.loading import model_under_policy
from mpqlab.data import create_dataset
target = create_dataset("cifar10-mini", "test")
proxy = create_dataset("cifar10-mini", "train")
m, _ = model_under_policy("resnet20", ckpt, 10, str(RUNS / "conflict_asga.json"), None, proxy)
n = 64 if smoke else 512
c = proxy_target_conflict(m.eval(), [proxy.tensors(n)], [target.tensors(n)])
print("global cosine, proxy vs target gradient:", round(c["global"], 3))"""),
],
"05_bitwidth_policies": [
("md", """# 05 · Bitwidth policies side by side

**Question.** Where do different searches spend their bits, and how did the choice form during the search?

A policy file (`mpqlab.policy`) stores, per layer *name*, the weight and activation bits, plus cost totals and
provenance (including the final softmaxes over the bit candidates). We compare the uniform W4A4 policy with the
searched ones and watch the search's softmaxes evolve."""),
("code", PARAMS),
("code", SETUP),
("code", """import json
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
pd.DataFrame({k: p["totals"] for k, p in pols.items()}).T"""),
("code", """show(viz.bitwidth_bars(pols, title="Per-layer bits of four policies at the same budget"), "05_bitwidths")
sm = read_softmaxes(RUNS / "policy_edmips_asga.run")
show(viz.softmax_heatmap(sm, kind="w"), "05_softmax_heatmap_w")
show(viz.softmax_heatmap(sm, kind="a", layer="layer2.0.conv1"), "05_softmax_layer")"""),
("md", """## Explore: one layer's bits, its cost and its curvature

Pick a layer and its bits: the control shows the BitOPs of the resulting policy, and the layer's Hessian trace
(from the HAWQ search above) times its weight quantization error at those bits: HAWQ's sensitivity."""),
("code", """import ipywidgets as W
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
         w_bits=W.Dropdown(options=[2, 3, 4, 6, 8], value=4), a_bits=W.Dropdown(options=[2, 3, 4, 6, 8], value=4));"""),
],
"06_paper_figures": [
("md", """# 06 · The paper's figures, at CPU scale

**Question.** Do the paper's analyses reproduce on ResNet-20 with CIFAR-10 as the target?

| paper | here |
|---|---|
| Fig. 1: sharpness vs generalization | proxy-side sharpness of each policy vs its target penalty against the same seed's reference, from the experiment grid |
| Fig. 4: fixed vs adaptive ρ | ASGA searches with fixed ρ, the literal adaptive rule and mpqlab's reconstruction, 3 seeds: loss and ρ with bands |
| Table 3: σ_max per proxy dataset | σ_max and surrogate gap of the W4A4-quantized proxy models |
| Table 4: search on a target subset | the `subset-control` rows of the experiment grid |"""),
("code", PARAMS),
("code", SETUP),
("md", """**Fig. 1 analogue.** For every policy of the grid (searched or null), its sharpness *on the proxy side*
(the proxy checkpoint under the policy, on the images the search saw: surrogate gap h at ρ = 0.05) against its
*target penalty*: its target top-1 minus the same seed's reference. The paper's claim is a negative relation:
sharper proxy landscapes transfer worse. The correlation and its bootstrap interval are printed from the data."""),
("code", """from mpqlab.report import fig1_correlations, fig1_points
candidates = [Path("../results/grid_v2/results.csv"), Path("../results/grid_v2_pilot/results.csv")]
committed = next((c for c in candidates if c.is_file() and fig1_points(pd.read_csv(c).to_dict("records"))), None)
print("results:", committed or "the quick grid")
if committed is None:
    from mpqlab.experiment import quick_config
    from mpqlab.grid import run_grid
    res = pd.read_csv(run_grid(quick_config(), RUNS / "quick_grid", show_progress=False))
else:
    res = pd.read_csv(committed)
points = pd.DataFrame(fig1_points(res.to_dict("records")))
if len(points):
    show(viz.sharpness_vs_generalization(points, sharpness="proxy_h", gap="penalty", color="method",
         title="Fig. 1 analogue: proxy-side sharpness vs target penalty", xaxis="proxy-side surrogate gap h(ρ=0.05)",
         yaxis="target penalty: top-1 − same seed's reference (points)"), "06_fig1")
    corr = pd.DataFrame(fig1_correlations(points.to_dict("records")))
    print(corr[["label", "n", "spearman", "ci_low", "ci_high"]].round(3).to_string(index=False))
else:
    print("no cell with proxy-side sharpness and a reference yet")"""),
("md", """**Fig. 4 analogue.** Three ASGA searches per seed on the grid's proxy (2,000 cifar10-mini images, 2.5 average
bits): a fixed radius ρ = 0.05, the paper's rule ρ ← min(ρ_max, ln(1 + h)) taken literally, and mpqlab's
reconstruction (`radius="relative"`: the gap per unit radius over its running scale, see `mpqlab.sharpness`).
Lines are medians over seeds, bands the 10th to 90th percentiles. The numbers printed under the figures are
computed from the same runs."""),
("code", """from mpqlab.search.radius_study import bands, radius_study
committed = Path("../results/radius_study")
study_dir = committed if committed.is_dir() else RUNS / "radius_study"  # committed runs are reused, not rerun
study = radius_study(study_dir, seeds=(0, 1) if smoke else (0, 1, 2), max_batches=2 if smoke else None)
show(viz.band_series(bands(study, "loss"), title="Fig. 4 analogue: training loss over the search (median, 10-90 % band)",
                     yaxis="cross-entropy loss"), "06_fig4_loss")
show(viz.band_series(bands(study, "rho"), title="Fig. 4 analogue: the radius ρ over the search (median, 10-90 % band)",
                     yaxis="ρ"), "06_fig4_rho")
rho_min, rho_max = 0.01, 0.1
at_bound = study.assign(at=lambda d: (d.rho - rho_min).abs().le(1e-9) | (d.rho - rho_max).abs().le(1e-9))
summary = at_bound.groupby("radius").agg(share_at_bound=("at", "mean"), rho_median=("rho", "median"),
                                         rho_low=("rho", "min"), rho_high=("rho", "max"))
print(summary.round(4).to_string())
assert summary.loc["relative", "share_at_bound"] < 0.5, 'the reconstructed radius sat at a bound on most steps'"""),
("code", """from mpqlab.analysis.sharpness import sharpness_report
from mpqlab.loading import model_under_policy
from mpqlab.data import create_dataset
rows = []
for proxy, name in (("cifar10-mini", "resnet20_cifar10-mini"), ("fashion-mnist", "resnet20_fashion-mnist")):
    try:
        ck = str(pretrained(name)); tr = create_dataset(proxy, "train"); te = create_dataset(proxy, "test")
    except Exception as e:
        rows.append({"proxy": proxy, "note": str(e)}); continue
    m, _ = model_under_policy("resnet20", ck, 10, uniform="4/4", calib_data=tr)
    x, y = te.tensors(64 if smoke else 256)
    r = sharpness_report(m.eval(), x, y, eig_iters=5 if smoke else 20, trace_probes=6 if smoke else 18)
    rows.append({"proxy": proxy, "sigma_max": r["sigma_max"], "surrogate gap h(0.05)": r["surrogate_gap"],
                 "trace": r["trace"]})
pd.DataFrame(rows)  # Table 3 analogue"""),
("code", """t4 = res[res.setting.isin(["subset-control", "reference"])]
t4.groupby(["setting", "method"])[["target_top1", "bitops", "search_cpu_time_s"]].agg(["mean", "std"])  # Table 4 analogue"""),
],
}


def build():
    NB.mkdir(exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        nb = nbf.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        for kind, src in cells:
            if kind == "md":
                nb.cells.append(nbf.v4.new_markdown_cell(src))
            else:
                c = nbf.v4.new_code_cell(src)
                if src.startswith("# Parameters"):
                    c.metadata["tags"] = ["parameters"]
                nb.cells.append(c)
        for i, c in enumerate(nb.cells):  # stable ids: regenerating an unchanged notebook changes nothing
            c.id = f"{name[:2]}-cell-{i:02d}"
        nbf.write(nb, NB / f"{name}.ipynb")
        print("wrote", NB / f"{name}.ipynb")


if __name__ == "__main__":
    build()
