# %% [markdown]
# # 03 · Hessian spectra of quantized models
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

# %% tags=["parameters"]
smoke, data_root, figures_dir, runs_dir = True, None, "../figures", "../runs/notebooks"  # papermill parameters

# %%
import pandas as pd
from mpqlab import viz
from mpqlab.checkpoints import pretrained
from mpqlab.notebooks import notebook_setup
RUNS, show = notebook_setup(data_root, figures_dir, runs_dir)  # MPQLAB_DATA, folders; show() saves + displays

# %%
from mpqlab.loading import model_under_policy
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
pd.DataFrame({"top eigenvalues": eigs, "trace": traces})

# %%
show(viz.eigenvalue_bars(eigs), "03_eigenvalues")
show(viz.spectral_density(dens), "03_density")
show(viz.layer_trace_bars({k: {n: v for n, v in t.items() if n.endswith(("conv1", "conv2", "0", "fc"))} for k, t in layer_tr.items()}),
     "03_layer_traces")

# %% [markdown]
# **Reading the spectra.** Most eigenvalues sit near zero (the bulk); a few outliers carry most of the
# curvature. Fewer bits typically raise σ_max and the trace. The per-layer traces tell which layers' weights the
# loss is most sensitive to: HAWQ uses exactly this (trace × quantization error) to choose bits.
#
# ## Two backends, one answer

# %%
m = models["W4A4"]
rows = []
for backend in ("mpqlab", "pyhessian"):
    h = Hessian(m, (x, y), backend=backend)
    e = h.eigenvalues(top_k=1, max_iter=it, seed=0)
    t = h.trace(n_probes=6 if smoke else 30, seed=0)
    rows.append({"backend": backend, "sigma_max": e["eigenvalues"][0], "eig time (s)": e["time_s"],
                 "trace": t["trace"], "trace std. error": t["std_error"], "trace time (s)": t["time_s"]})
pd.DataFrame(rows)
