# %% [markdown]
# # 02b · Landscapes of searched policies: is EdMIPS+ASGA's minimum flatter?
#
# **You will learn** to read a landscape along the four directions that define sharpness (random, the top Hessian
# eigenvector, a sharpness-aware rule's ascent, the proxy-to-target gradient gap), to measure a landscape's
# *width* instead of eyeballing it, and to test a flatness claim across seeds. **Time:** 15 minutes to read and
# explore; the committed landscapes load in seconds (computing them took about 1.5 CPU-hours). (previous:
# [02_loss_landscape](02_loss_landscape.ipynb) · next: [03_hessian_spectra](03_hessian_spectra.ipynb))
#
# **Question.** Do the policies EdMIPS+ASGA searches sit in flatter minima of the proxy loss than EdMIPS's, along
# the directions that define sharpness?
#
# **The paper's claim.** ASGA finds policies that sit in flatter minima of the proxy loss, and flatter minima
# transfer better. Here we look at the first half, with the policies a committed grid searched: grid v3's
# subset-control setting (2,000 images of `cifar10-mini`, from the `cifar10-mini` checkpoint, budget 2.5 average
# bits), seeds 0-7, and the policies the paper compares: uniform W3A2, random, EdMIPS, EdMIPS+ASGA, EdMIPS+SAM
# (rho = 0.1, from the claim-3 grid, with that grid's own EdMIPS beside it) and the target-searched reference.
# Each policy quantizes the proxy checkpoint, calibrated and not fine-tuned: the model the search judged, as
# the grid's proxy side measured it. Then the second half: EdMIPS, EdMIPS+ASGA and the reference after the grid's
# target fine-tune, sliced the same way on CIFAR-10 images.
#
# **Directions.** A filter-normalised random direction has, filter by filter, the norm of the weights (Li et al.,
# 2018). Every other direction is rescaled to the same global norm, so `a = 1` moves the weights by their norm
# along any of them. They are
#
# $$d_{\text{eig}} = v_1(\nabla^2 L), \qquad d_{\text{ascent}} = \frac{\nabla L}{\lVert\nabla L\rVert}, \qquad
#   d_{\text{gap}} = \nabla L_{\text{target}} - \nabla L_{\text{proxy}},$$
#
# SAM's ascent step is rho times the normalised gradient and ASGA's is (rho/||g|| - beta) g: the same line, so one
# ascent direction stands for both (the library checks that their cosine is 1).
#
# **Width.** Along a slice the *width* is the smallest |a| at which the loss reaches k = 2 times its value at the
# trained point: wider is flatter. The span of every slice is chosen from the data: per seed and direction, it
# grows until the seed's EdMIPS model's loss doubles, and every policy of that seed is sliced over 2.5 times that.
# The declared test (written before any model was sliced) compares the mean log width over five random directions,
# paired by seed.

# %% tags=["parameters"]
smoke = True  # papermill parameters. True: a quick pass (CI); False: the full run behind figures/
data_root = None  # the datasets folder (None: $MPQLAB_DATA, else the embedded default)
figures_dir = "../runs/figures"  # where show() saves each figure (PNG + plotly JSON)
runs_dir = "../runs/notebooks"  # run folders of anything this notebook computes
study_dir = "../results/policy_landscapes"  # the committed study this notebook reads
target_dir = "../results/policy_landscapes_target"  # the same grid's policies after the target fine-tune

# %%
from mpqlab.course.notebooks import notebook_setup
from mpqlab.experiments.studies import landscape_report as R, landscape_views as V, policy_landscapes as P
from mpqlab.experiments.studies import target_landscapes as T
RUNS, show = notebook_setup(data_root, figures_dir, runs_dir)  # MPQLAB_DATA, folders; show() saves + displays
data = P.load(study_dir)  # every sliced model's arrays, with the declared config; nothing recomputed
target = P.load(target_dir)  # likewise, at the target; its fine-tuned weights are kept beside it
for side, d in (("proxy", data), ("target", target)):
    print(f"{side} side: {len(d['models'])} models sliced, {len(d['config']['seeds'])} seeds x "
          f"{len(d['config']['policies'])} policies declared")

# %% [markdown]
# ## What the landscapes say about the claim
#
# The gate first: the width must be able to tell a known-sharp direction (the top eigenvector) from random ones,
# or no comparison of widths means anything. Then the two declared contrasts, each paired by seed.

# %%
for line in R.finding_lines(data):
    print(line)
show(V.ratio_figure(data), "02p_width_ratios");

# %% [markdown]
# **How to read it.** One point per seed: the width of the first policy's proxy landscape divided by the second's,
# on a log axis; right of the dotted line is flatter. The sentences above it are printed from the same widths.
#
# ## After the target fine-tune
#
# The paper's claim does not end at the proxy: a flat proxy minimum should matter because the policy then
# transfers. Here every policy of the proxy side at each seed is fine-tuned on the target with the grid's own
# fine-tune (one epoch on the seed's 10,000 CIFAR-10 training images) and sliced the same way, on the fine-tune's
# training images and on held-out CIFAR-10 test images. The grids did not keep their fine-tuned weights, so each
# model was fine-tuned once more for this study and its weights kept with a card
# (`results/policy_landscapes_target/weights/`); a fine-tune is a fresh draw, so the table below sets each kept
# fine-tune's top-1 beside the grid's own two draws. The gate is the proxy side's. The contrasts are the proxy
# side's two, each declared as its own test before its models were fine-tuned: EdMIPS+ASGA vs EdMIPS first (the
# study then held those two and the reference), EdMIPS+SAM vs the claim-3 grid's EdMIPS when the other four
# policies were added. The printed lines say how many of the models are sliced.

# %%
for line in R.finding_lines(target) + R.proxy_target_lines(data, target):
    print(line)
show(V.ratio_figure(target), "02p_target_width_ratios");

# %% [markdown]
# **How to read it.** As the chart above, for the fine-tuned models. The last printed lines compare the two sides:
# on how many seeds the ratio falls on the same side of 1 at the proxy and at the target, and how well a model's
# proxy width ranks its target width (a descriptive correlation, no declared test). The kept fine-tunes:

# %%
T.finetune_draws(target["config"], target_dir, "..")

# %% [markdown]
# ## Explore: policies along each direction
#
# Pick the direction, the sample (the search's own training images or held-out test images of the proxy; on the
# target side the fine-tune's training images or held-out CIFAR-10 test images), the metric (loss or top-1), the
# side (proxy, or target after the fine-tune) and the seed. The x axis is `a / span`, so every view has the same
# frame; the span itself is in the view's first sentence. The loss axis stays fixed while you move the direction,
# sample and seed; it changes with the metric and the side. On the site the five controls sit above the chart; in
# JupyterLab without the site's controls, the slider above the chart walks through every combination. The target
# side draws the three policies the target study was first declared with (EdMIPS, EdMIPS+ASGA, the reference): all
# seven would take this page past 5 MB. The tables below and the live explorer have every policy on both sides.

# %%
drawn = P.only(target, ["EdMIPS", "EdMIPS+ASGA", "reference"])  # the target side of the static explorer
show(V.slice_explorer(data, seeds=data["config"]["seeds"][:2] if smoke else None, target=drawn), "02p_slices");

# %% [markdown]
# **How to read it.** One line per policy, all at the same seed; in the random view the line is the mean over five
# random directions and the shaded band their range, so you can see how much one random direction tells. The
# sentence under the controls names the widest and the narrowest policy of that view and EdMIPS+ASGA's width over
# EdMIPS's. A policy whose loss is already high at the centre (random) may never double inside the span: its width
# is then the span itself.
#
# ## Explore: two directions at once
#
# At seed 0, the loss over a plane: two random directions, or the top two Hessian eigenvectors.

# %%
show(V.plane_explorer(data), "02p_planes");

# %% [markdown]
# **How to read it.** Contours of log10 loss over `(a, b) / span`, the trained point marked with a cross. The colour
# scale is the same for every view, so a plane that turns yellow sooner is a sharper one.
#
# ## The plane of a search's own trajectory
#
# The directions above are chosen from outside the search. A search's own path is another: keep its weights every
# few steps, take the top two principal components of their offsets from the last state (Li et al., 2018, Sec. 7),
# and look at the loss over that plane with the path drawn on it. Here one EdMIPS+ASGA search of the study's kind
# (2,000 images of `cifar10-mini`, 2.5 average bits, one epoch) is run with its states kept; the loss is that of the
# policy it found, with the weights moved over the plane (the quantizers calibrated once, at the last state).

# %%
from mpqlab.course.notebooks import keyed_path
from mpqlab.quant.checkpoints import pretrained
from mpqlab.quant.loading import load_splits
from mpqlab.search import SearchConfig, run, run_dir_of
from mpqlab.search.trajectory import trajectory_landscape, trajectory_summary
from mpqlab.viz.landscapes import plane
proxy, _ = load_splits("cifar10-mini", subset=2000)  # the search's own 2,000 images (seed 0)
tcfg = SearchConfig(data="cifar10-mini", subset=2000, checkpoint=str(pretrained("resnet20_cifar10-mini")),
                    sharpness="asga", budget=2.5, epochs=1, batch_size=128, max_batches=3 if smoke else None,
                    w_candidates=[2, 3, 4], a_candidates=[2, 3, 4])
tpath = keyed_path(RUNS, "trajectory", tcfg)  # other settings (an exercise): another folder
tpol = run(tcfg, tpath, show_progress=False, keep_states=1 if smoke else 2)
traj = trajectory_landscape(run_dir_of(tpath), tpol, "resnet20", proxy.tensors(32 if smoke else 256), proxy,
                            points=3 if smoke else 11)  # smoke: three states span a plane; a 3 x 3 grid on it
print(trajectory_summary(traj))
show(plane(traj["ts1"], traj["loss"], "The plane of an EdMIPS+ASGA search's trajectory, the found policy's loss",
           axis_titles=("first principal component", "second principal component"), ts2=traj["ts2"],
           path=traj["path"], path_labels=traj["steps"]), "02p_trajectory");

# %% [markdown]
# **How to read it.** The axes are distances in weight space along the two components (not scaled to a span: the
# path sets the frame). The white line is the search, from its first kept state to its last, at the origin; the
# colour is log10 of the found policy's loss. A path that runs down the colour gradient into the origin ended in a
# basin of its own policy; the origin on a slope means the weights the search ended with are not a minimum of the
# policy it chose, which the target fine-tune then moves.
#
# ## The bits behind each landscape
#
# Each landscape above belongs to a policy: its weight and activation bits per layer. Pick a policy and a seed to see
# them beside EdMIPS's at the same seed; the sentence counts the layers whose bits differ. A point of Fig. 1
# (notebook 06) or a row of the forest plot (notebook 01) opens this page on its policy and seed.

# %%
show(V.bits_explorer(data, repo=".."), "02p_bits");

# %% [markdown]
# **How to read it.** Rows are layers in forward order, the left panel weight bits and the right activation bits,
# one colour scale for both (2 to 8 bits). The first and last layers stay at 8 bits in every policy (they are not
# searched); the column's second line is the policy's average bits, the uniform bitwidth with the same BitOPs.
#
# ## Width per policy

# %%
R.policy_table(data).round(4)

# %% [markdown]
# The table gives each policy's geometric-mean width over seeds along each kind of direction (training sample),
# and its top-1 at the centre on that sample. Beside it, what the grid cells themselves recorded on the proxy side
# (h at rho = 0.05, sigma_max and the Hessian trace; never recomputed here), with 95 % t intervals over seeds:

# %%
R.committed_sharpness(data["config"], "..").round(3)

# %% [markdown]
# ## Explore live (in JupyterLab)
#
# With a kernel, any seed, policy pair, direction (and random seed), span, normalisation, sample size and layer;
# each model and direction is computed once per session, and a re-plot costs one slice per policy (press Apply; the
# text area says which policy is being sliced; `benchmarks/live_explorer.py` measures the wait). The executed copy
# shows the default view only.

# %%
import ipywidgets as W
from mpqlab.course.notebooks import controls
layers = ["all layers", "layer1.0.conv1", "layer2.0.conv1", "layer3.2.conv2", "fc"]
def live(seed=0, policies=("EdMIPS", "EdMIPS+ASGA"), kind="random", direction_seed=0, span=1.0, normalise="filter",
         n=128, layer="all layers", sample="train", side="proxy"):
    fig, text = V.live_view(seed, policies, kind, direction_seed, span if kind == "random" else None, 7 if smoke else 11,
                            32 if smoke else n, layer, sample, normalise=normalise, repo="..", progress=True, side=side)
    print(text)
    return fig
controls(live, apply=True, seed=W.IntSlider(value=0, min=0, max=7),
         policies=W.SelectMultiple(options=list(data["config"]["policies"]), value=("EdMIPS", "EdMIPS+ASGA")),
         kind=W.Dropdown(options=["random", "eigen", "ascent", "gradient_gap"], value="random"),
         direction_seed=W.IntSlider(value=0, min=0, max=9), span=W.FloatSlider(value=1.0, min=0.25, max=2.0, step=0.25),
         normalise=W.Dropdown(options=["filter", "global"], value="filter"),
         n=W.Dropdown(options=[64, 128, 256, 512], value=128), layer=W.Dropdown(options=layers, value="all layers"),
         sample=W.Dropdown(options=["train", "held-out"], value="train"),
         side=W.Dropdown(options=["proxy", "target"], value="proxy"));

# %% [markdown]
# ## Exercises
#
# 1. *Does one random direction tell the story?* Controls: direction = random, sample = train, metric = loss,
#    seed = 3. Read the band around EdMIPS and EdMIPS+ASGA: do their bands overlap?
# 2. *Held-out vs training images.* Controls: direction = random, sample = held-out, metric = loss, seed = 0; then
#    sample = train. Is EdMIPS+ASGA / EdMIPS (the sentence) on the same side of 1 for both samples?
# 3. *The sharpest direction.* Controls: direction = eigen, sample = train, metric = top1, seed = 5. How far (in
#    a / span) does EdMIPS's top-1 fall before it halves, compared with the random view at the same seed?
# 4. *The plane.* Controls: policy = EdMIPS+SAM, plane = eigen; then plane = random. Which plane's lowest point lies
#    farther from the trained point?
# 5. *One layer* (in JupyterLab). Controls: kind = random, layer = layer1.0.conv1, span = 2; then layer = fc.
#    Which layer's slice is flatter for EdMIPS+ASGA?
# 6. *After the fine-tune.* Controls: direction = random, sample = held-out, metric = loss, side = target, seed = 2;
#    then side = proxy. Is EdMIPS+ASGA / EdMIPS (the sentence) on the same side of 1 before and after the fine-tune?
#
# <details><summary>How to check your answers</summary>
#
# Every answer is in the sentences the chosen view prints under its controls (the widths and the ratio) or in the
# plane's printed lowest point; exercise 5's in the live explorer's printed widths. The direction of the effect at
# one seed is one sample: compare with the per-seed points of the width-ratio chart above.
# </details>
#
# ## Summary
#
# The printed lines of the first two sections are the answer: they come from the committed widths, with the
# declared tests' verdicts and intervals, at the proxy and after the target fine-tune. What they mean for the paper:
# if EdMIPS+ASGA's proxy landscape is not wider than EdMIPS's here, the flat-minimum half of the paper's argument is
# not visible at this scale, whatever the transfer result; if it is wider, the target side says whether the
# flatness survives the fine-tune, and notebook 01's transfer comparison whether it pays.
#
# **Further research.** (1) Test, with a rule declared before you look, whether proxy width predicts target top-1
# across every policy of the study. (2) Draw each search's own weight trajectory on the plane of its
# saved states (`mpqlab.analysis.directions.trajectory_plane`).
#
# ## Questionnaire
#
# 1. Why are the non-random directions rescaled to the weights' global norm instead of filter-normalised?
#    <details><summary>Answer</summary>
#
#    Filter normalisation would change the direction itself: an eigenvector or a gradient would no longer be one. A
#    global scale keeps the direction and makes a = 1 mean the same distance.
#    </details>
# 2. Why is the span of each direction chosen from the data?
#    <details><summary>Answer</summary>
#
#    Along the top eigenvector the loss doubles far sooner than along a random direction (the spans printed in the
#    views' sentences show by how much); one fixed span would show one direction as a spike and the other as flat.
#    </details>
# 3. Why is the width taken relative to the centre loss (k times it)?
#    <details><summary>Answer</summary>
#
#    So that a policy is not called sharp only because its loss is low: the width asks how far one can move before the
#    loss is k times worse, whatever its level.
#    </details>
# 4. Why are SAM's and ASGA's ascent directions one direction?
#    <details><summary>Answer</summary>
#
#    Both perturbations are a positive multiple of the gradient (rho g/||g|| and (rho/||g|| - beta) g): they differ in
#    length, not in direction.
#    </details>
# 5. What does the gate check, and why first?
#    <details><summary>Answer</summary>
#
#    That the width measure can see a known difference (the top eigenvector is the sharpest direction); if it could
#    not, a 'no difference' between policies would mean nothing.
#    </details>
#
# ## Further research
#
# - Does the uniform or random policy's target landscape rank as its proxy landscape does? The widths of both sides
#   are in `P.load(study_dir)` and `P.load(target_dir)` (`R.flatness` per seed and policy).
# - Keep the states of every search of one seed (`run(..., keep_states=k)`) and compare the trajectory planes of
#   EdMIPS and EdMIPS+ASGA: does the sharpness-aware search end nearer the bottom of its own policy's basin?
#
# ## References
#
# - Li, Xu, Taylor, Studer and Goldstein, [*Visualizing the Loss Landscape of Neural Nets*](https://arxiv.org/abs/1712.09913),
#   NeurIPS 2018 (filter-normalised directions, 2-D planes, the plane of a trajectory).
# - Keskar et al., [*On Large-Batch Training for Deep Learning: Generalization Gap and Sharp Minima*](https://arxiv.org/abs/1609.04836),
#   ICLR 2017 (flatness and generalisation).
# - Foret et al., [*Sharpness-Aware Minimization for Efficiently Improving Generalization*](https://arxiv.org/abs/2010.01412),
#   ICLR 2021 (the ascent direction).
# - Yao, Gholami, Keutzer and Mahoney, [*PyHessian: Neural Networks Through the Lens of the Hessian*](https://arxiv.org/abs/1912.07145),
#   2020 (the top eigenvectors).
# - The ASGA paper (ICML 2025): searched policies in flatter minima transfer better.
