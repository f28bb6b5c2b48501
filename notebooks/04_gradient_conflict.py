# %% [markdown]
# # 04 · Gradient conflict: what sharpness-aware search does to the gradients
#
# **Question.** When the search minimises both the loss and its sharpness, do their gradients pull apart, and
# does ASGA's alignment keep them together?
#
# A sharpness-aware step takes the gradient g at θ and g_p at the perturbed point θ + e. If cos(g, g_p) is small,
# the loss and the sharpness objectives conflict. ASGA perturbs by e = (ρ/‖g‖ − β) g and updates with (g + g_p)/2
# (implicit gradient alignment), and adapts ρ to the measured surrogate gap. We run three short searches on the
# proxy and read the angles from their telemetry.

# %% tags=["parameters"]
smoke, data_root, figures_dir, runs_dir = True, None, "../runs/figures", "../runs/notebooks"  # papermill parameters

# %%
from mpqlab import viz
from mpqlab.checkpoints import pretrained
from mpqlab.notebooks import notebook_setup
RUNS, show = notebook_setup(data_root, figures_dir, runs_dir)  # MPQLAB_DATA, folders; show() saves + displays

# %%
from mpqlab.search import SearchConfig, run, read_metrics
ckpt = str(pretrained("resnet20_cifar10-mini"))
runs = {}
for sharp in ("none", "sam", "asga"):
    cfg = SearchConfig(data="cifar10-mini", subset=1000, checkpoint=ckpt, sharpness=sharp, epochs=1 if smoke else 2,
                       max_batches=3 if smoke else None, batch_size=64)
    run(cfg, RUNS / f"conflict_{sharp}.json", show_progress=False)
    runs[sharp] = read_metrics(RUNS / f"conflict_{sharp}.run")
runs["asga"][["step", "loss", "loss_p", "h", "rho", "cos_g_gp", "cos_alpha_task_cost"]].head()

# %%
show(viz.angle_series({k: (d.step, d.cos_g_gp) for k, d in runs.items() if k != "none"}, smooth=1 if smoke else 5),
     "04_cos_g_gp")
show(viz.angle_series({k: (d.step, d.cos_alpha_task_cost) for k, d in runs.items()},
                      title="cos between the bit-logit gradients of the task loss and of the cost", smooth=1 if smoke else 5,
                      full_range=True),
     "04_cos_alpha_task_cost")
for k, d in runs.items():  # where the cost hinge is inactive its gradient is zero and the cosine is undefined (a gap)
    c = d.cos_alpha_task_cost.dropna()
    print(f"{k}: task-vs-cost cosine defined on {len(c)} of {len(d)} steps"
          + (f", median {c.median():+.2f}, {(c < 0).mean():.0%} of those negative" if len(c) else ""))
last = runs["asga"].filter(like="cos_layer/").iloc[-1]
show(viz.layer_bars({"ASGA, last step": last.rename(lambda c: c.split("/", 1)[1]).to_dict()},
                    title="cos(g, g_p) per layer at the last ASGA step", yaxis="cos(g_l, g_p,l)"), "04_cos_per_layer")

# %% [markdown]
# **How to read them.** The first chart is cos(g, g_p) per step for SAM and ASGA: near 1, the perturbed gradient
# points where the plain one does. The second is the cosine between the bit logits' gradients from the task loss
# and from the cost hinge; it is negative when the cost pushes bits down while the task loss pushes them up. The
# hinge is zero while the realised cost is under the budget, and then the cosine is undefined: those steps are gaps
# in the line, and the lines printed above count them. The bars are cos(g, g_p) per layer at the last ASGA step.
#
# ## Proxy vs target gradients
# Does the quantized model's gradient on the proxy point where its gradient on the target does?

# %%
from mpqlab.analysis.conflict import proxy_target_conflict
from mpqlab.loading import model_under_policy
from mpqlab.policy import Policy
from mpqlab.data import create_dataset
target = create_dataset("cifar10-mini", "test")
proxy = create_dataset("cifar10-mini", "train")
m, _ = model_under_policy("resnet20", ckpt, 10, Policy.load(RUNS / "conflict_asga.json"), None, proxy)
n = 64 if smoke else 512
c = proxy_target_conflict(m.eval(), [proxy.tensors(n)], [target.tensors(n)])
print("global cosine, proxy vs target gradient:", round(c["global"], 3))

# %% [markdown]
# **How to read it.** One number: the cosine between the quantized model's loss gradient on proxy images and on
# target images (here both from cifar10-mini, train vs test split). Near 1, a step that helps the proxy helps the
# target.
#
# ## Try this
#
# 1. Rerun the searches with `epochs=2` and `max_batches=None`. Predict whether cos(g, g_p) for ASGA ends higher or
#    lower than for SAM, then compare the first chart.
# 2. Set `cost_weight=0.5` in the `SearchConfig` (a weaker cost term). What happens to the number of steps on which
#    the task-vs-cost cosine is defined, and why?
# 3. Replace the proxy in the last cell by `create_dataset("fashion-mnist", "train")` (if it is installed): does
#    the proxy-target cosine drop?
