# %% [markdown]
# # 02 · Loss landscapes of one model under several policies
#
# **Question.** Does the quantized model's loss landscape get sharper as bits go down, and does it differ between
# policies with the same cost?
#
# We take the full-precision ResNet-20 trained on `cifar10-mini`, quantize it under several policies, and
# evaluate the loss at `θ + a·d1 (+ b·d2)`, where `d1`, `d2` are *filter-normalised* random directions (Li et al.,
# 2018): each filter of the direction has the norm of the corresponding weight filter, so the axis units mean the
# same for every layer. The latent weights move and the quantizers re-quantize them at every point: this is the
# landscape the quantized network actually sees, with its staircase structure.

# %% tags=["parameters"]
smoke, data_root, figures_dir, runs_dir = True, None, "../figures", "../runs/notebooks"  # papermill parameters

# %%
import numpy as np
from mpqlab import viz
from mpqlab.checkpoints import pretrained
from mpqlab.notebooks import notebook_setup
RUNS, show = notebook_setup(data_root, figures_dir, runs_dir)  # MPQLAB_DATA, folders; show() saves + displays

# %%
from mpqlab.loading import model_under_policy
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
show(viz.landscape_curves(curves, title="1-D slices along the same filter-normalised direction"), "02_landscape_1d")

# %% [markdown]
# Lower-bit policies sit higher (quantization error) and rise faster away from the centre: a sharper
# basin. The curves are step-like at 2 bits because small moves of the latent weights do not change the
# quantized weights until they cross a rounding boundary.

# %%
m = models["W4A4"]
grid = np.linspace(-1, 1, 5 if smoke else 13)
r2 = L.slice_2d(m, (x, y), L.random_direction(m, 0), L.random_direction(m, 1), grid, grid, meta={"policy": "W4A4"})
L.save_npz(r2, RUNS / "landscape_w4a4.npz")
show(viz.landscape_contour(r2["alphas"], r2["betas"], r2["loss"], title="W4A4: 2-D slice (contours)"), "02_landscape_contour")
show(viz.landscape_surface(r2["alphas"], r2["betas"], r2["loss"], title="W4A4: 2-D slice (surface)"), "02_landscape_surface")

# %% [markdown]
# ## Explore: pick a policy and a span
#
# The control below recomputes the 1-D slice for the chosen policy (run the notebook in JupyterLab to use it;
# run headless it shows the default choice).

# %%
import ipywidgets as W
from mpqlab.notebooks import controls
def explore(policy="W4A4", span=1.0):
    mm = models[policy]
    a = np.linspace(-span, span, 5 if smoke else 11)
    r = L.slice_1d(mm, (x, y), L.random_direction(mm, 0), a)
    viz.landscape_curves({policy: (a, r["loss"])}, title=f"{policy}: 1-D slice").show()
controls(explore, policy=W.Dropdown(options=list(models), value="W4A4"),
         span=W.FloatSlider(value=1.0, min=0.25, max=2.0, step=0.25));
