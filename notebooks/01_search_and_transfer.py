# %% [markdown]
# # 01 · Search and transfer: the comparison table
#
# **You will learn** how a grid of searches and transfers answers the paper's claims, why comparisons are paired by
# seed, how Holm's correction and a powered design decide a verdict, and how to read an effect with its interval.
# **Time:** 30 minutes to read; the full run takes under a minute (it reads the committed grids). (previous:
# [00_quickstart](00_quickstart.ipynb) · next: [02_loss_landscape](02_loss_landscape.ipynb))
#
# **Question.** Does ASGA-on-proxy match a search on the target itself, and at what fraction of the search cost?
#
# Each cell of the experiment grid searches a policy on a proxy (or, for the reference `edmips@target`, on one full
# epoch of the target training set), transfers it to CIFAR-10 and fine-tunes. Two null baselines search nothing:
# `uniform` (every layer at the budget-matched bits) and `random` (random budget-matched policies). The report is
# written by `mpqlab experiment` and committed under `results/` (a checkout without them runs a 4-cell grid on the
# embedded data here instead).
#
# **The quantity.** For methods A and B run on the same seeds s = 1..n (a seed fixes the proxy subset, the batch
# order and the fine-tune subset), the effect is the mean paired difference in target top-1 with its t interval:
#
# $$d_s = \mathrm{top1}_A(s) - \mathrm{top1}_B(s), \qquad
#   \bar d \pm t_{0.975,\,n-1} \, \frac{s_d}{\sqrt n}.$$
#
# Several comparisons are tested together, so their p-values are Holm-corrected: a verdict needs the corrected p
# below 0.05.

# %% tags=["parameters"]
smoke = True  # papermill parameters. True: a quick pass (CI); False: the full run behind figures/
data_root = None  # the datasets folder (None: $MPQLAB_DATA, else the embedded default)
figures_dir = "../runs/figures"  # where show() saves each figure (PNG + plotly JSON)
runs_dir = "../runs/notebooks"  # run folders of the searches and transfers this notebook starts

# %%
from pathlib import Path
import pandas as pd
from mpqlab import viz
from mpqlab.course.notebooks import notebook_setup
RUNS, show = notebook_setup(data_root, figures_dir, runs_dir)  # MPQLAB_DATA, folders; show() saves + displays

# %%
from mpqlab.experiments.presets import quick_config
from mpqlab.experiments.executors import run_grid
from mpqlab.course.notebooks import committed_grid
committed = committed_grid()
if committed is None:  # a checkout without committed results: a 4-cell grid on the embedded data, here
    csv_path = run_grid(quick_config(), RUNS / "quick_grid", show_progress=False)
else:
    csv_path = committed / "results.csv"
df = pd.read_csv(csv_path)
print(f"results: {csv_path} ({len(df)} cells: {df.method.nunique()} methods x {df.seed.nunique()} seeds; one row per "
      "cell, its columns explained in the report below)")

# %% [markdown]
# ## The answers: one per claim and setting
#
# Each claim of the paper is answered, in each setting, by one committed grid's declared test, written in its
# config before any of its cells ran. The table is computed by `mpqlab.experiments.report.answers` from the
# committed rows, the same function that writes the README's findings table and each grid's "The answer"
# section: nowhere is a verdict restated by hand. The interval column names its kind (a repeated-confidence
# interval for a group-sequential test, a 90 % interval for an equivalence test, a 95 % t interval otherwise).

# %%
from IPython.display import Markdown
from mpqlab.experiments.report.answers import answers_table
Markdown(answers_table())

# %%
Markdown(Path(csv_path).with_suffix(".md").read_text())

# %% [markdown]
# **How to read it.** The gates come first: the comparisons mean something only if the reference beats
# uniform bits by at least a point (search matters at this budget), the searches ended decisive (their policy is
# their own, not the budget step's) and ASGA's radius moved inside its bounds. Cells that share a seed share the
# proxy subset, batch order and fine-tune subset, so every comparison is a paired difference over seeds, with a
# 95 % interval and a Holm-corrected p-value over the pre-declared family; a failed gate withholds every verdict.
# *Search cost vs reference* is search CPU time over the reference's.

# %%
import json
from mpqlab.experiments.report import comparisons, gate_marks
cfg = json.loads(Path(f"../configs/{committed.name}.json").read_text()) if committed is not None else quick_config()
from mpqlab.experiments.report.finetunes import finetune_mean, redone
records = finetune_mean(df.to_dict("records"))  # where every fine-tune was redone, the mean of the two (the report's rule)
comps = comparisons(records, cfg)
marks = gate_marks(Path(csv_path).with_suffix(".md").read_text())
status = " · ".join(f"{g} {m}" for m, g in marks)
from mpqlab.experiments.studies.landscape_views import landscape_link  # a row whose A the landscape study sliced
links = [landscape_link(cfg["name"], c["setting"], c["a"]) for c in comps]
show(viz.effects_forest(comps, links=links, title=f"{cfg['name']}: paired effects on target top-1"
                        + (" (mean of two fine-tunes)" if redone(df.to_dict("records")) else ""), margin=cfg.get("gate_margin"),
                        note="gates: " + status + "<br>bars: 95 % intervals, not adjusted for the "
                             f"{len(comps)} comparisons; the verdicts use Holm-adjusted p"), "01_effects")
for c in comps:  # the report's verdict: Holm-corrected over the budget's family, not the row's own interval
    print(f"{c['a']} − {c['b']} ({c['setting']}): {c['mean']:+.2f} [{c['ci_low']:+.2f}, {c['ci_high']:+.2f}], "
          f"{c['n']} seeds, Holm p = {c['p_holm']:.3g}: {c['verdict']}")

# %% [markdown]
# **How to read it.** One row per pre-declared comparison of the grid: the mean over seeds of the paired
# difference in target top-1, with its 95 % interval; each row's verdict in words is printed above, from the
# same numbers. The short dashed mark on the gate row (the reference against uniform bits) is the gate's threshold:
# that row alone must clear it for the grid to answer anything; the gates' status is written under the figure. A row
# far outside the others (the random policies) is drawn at the axis edge with its value and interval written beside
# it, so it does not squash the rows whose differences are a point or two. Every policy here
# sits at the same budget (BitOPs within 2 % of it), so a BitOPs axis would show nothing: the question at one
# budget is which policy is more accurate, seed by seed. On the course site, a click on a row whose first policy the
# landscape study sliced (grid v3's subset-control EdMIPS, EdMIPS+ASGA, the reference, uniform and random) opens
# [02_policy_landscapes](02_policy_landscapes.ipynb) on that policy: its landscapes and its bits.
#
# ## Worked example: a paired interval by hand, and the power of a grid
#
# Three seeds give differences 1, 2 and 3 points: mean 2, sd 1, and t(0.975, 2) = 4.303, so the 95 % interval is
# 2 ± 4.303/√3 = [−0.48, +4.48]: it includes zero although every seed favours A. How many seeds would find 0.5
# points when the paired sd is 1.44 (the powered test's assumption)? The cell checks mpqlab's statistics against
# these numbers and prints the answer.

# %%
from mpqlab.experiments.stats import detectable_effect, paired_power, paired_test, pairs_for_power
t = paired_test([1.0, 2.0, 3.0])
assert abs(t["mean"] - 2) < 1e-12 and abs(t["ci_low"] - (2 - 4.302653 / 3 ** 0.5)) < 1e-5
print(f"[1, 2, 3]: {t['mean']:+.2f} [{t['ci_low']:+.2f}, {t['ci_high']:+.2f}], p = {t['p_t']:.3f}")
n = pairs_for_power(1.44, 0.5)
print(f"seeds for 80 % power at 0.5 points, sd 1.44: {n} (power {paired_power(1.44, 0.5, n):.2f}); "
      f"8 seeds detect {detectable_effect(1.44, 8):.2f} points with 80 % power")

# %% [markdown]
# ## Worked examples: the three tools behind every verdict
#
# **Holm's correction.** A grid asks several questions at once; with m tests at 5 % each, the chance of at least
# one false "difference" grows towards 1 − 0.95^m. Holm sorts the m p-values, p₍₁₎ ≤ … ≤ p₍ₘ₎, multiplies the
# k-th smallest by (m − k + 1), and keeps the running maximum, so the adjusted values never decrease:
# p₍ₖ₎ᴴ = max_{j ≤ k} min(1, (m − j + 1) p₍ⱼ₎). A difference is shown when its adjusted p is below 0.05, and the
# chance of any false claim in the family stays at most 5 %. For p = (0.01, 0.04, 0.03): sorted 0.01, 0.03, 0.04
# → 3·0.01 = 0.03, 2·0.03 = 0.06, 1·0.04 = 0.04 → running max 0.03, 0.06, 0.06.
#
# **The sign-flip test.** If A and B do not differ, each seed's difference is as likely to be +d as −d. Flip the
# signs in all 2ⁿ ways, and the p-value is the share of flips whose |mean| is at least the observed one. It
# assumes no normal distribution, but with n seeds it cannot go below 2/2ⁿ: with 3 seeds all positive, 2/8 = 0.25.
#
# **The bootstrap interval.** To put an interval on a statistic with no formula (Fig. 1's Spearman correlation),
# resample the n points with replacement many times, recompute the statistic each time, and take the 2.5 and 97.5
# percentiles of those values. The cell checks all three against these numbers.

# %%
import random
from mpqlab.experiments.stats import bootstrap_ci, holm, sign_flip_p, spearman
assert [round(p, 6) for p in holm([0.01, 0.04, 0.03])] == [0.03, 0.06, 0.06]
assert abs(sign_flip_p([1.0, 2.0, 3.0]) - 2 / 8) < 1e-12  # all 8 sign patterns enumerated
rng = random.Random(0)
x = [rng.gauss(0, 1) for _ in range(40)]
y = [xi + rng.gauss(0, 1) for xi in x]  # a true correlation of about 0.7
lo, hi = bootstrap_ci(spearman, x, y)
assert lo < spearman(x, y) < hi
print(f"Holm of (0.01, 0.04, 0.03): {holm([0.01, 0.04, 0.03])}; sign-flip p of [1, 2, 3]: "
      f"{sign_flip_p([1.0, 2.0, 3.0]):.3f}; Spearman of 40 noisy points {spearman(x, y):+.2f}, "
      f"bootstrap 95 % interval [{lo:+.2f}, {hi:+.2f}]")

# %% [markdown]
# ## The powered test: `asga_powered`
#
# Grid v3's eight seeds cannot tell whether ASGA improves EdMIPS. `results/asga_powered` asks only that, with a
# sample planned in advance (68 seeds from a power calculation, its rule written in the config before any cell
# ran) in the same-distribution setting (a CIFAR-10 subset as proxy). Its report's declared test, printed from its
# committed rows:

# %%
from mpqlab.experiments.report import gate_marks, section
powered = Path("../results/asga_powered/results.md")
if powered.is_file():  # the report's own section (gates checked, all planned seeds finished), not a recomputation
    text = powered.read_text()
    print(text[text.index("## Pre-declared primary test"):].split("\n## ")[0])
else:
    print("results/asga_powered is not in this checkout")

# %% [markdown]
# It is powered where the paper does not make its claim: the paper's setting is across datasets.
# `results/claim2_cross_dataset` declared the same question for the Fashion-MNIST proxy, and
# `results/claim2_class_shift` for a natural-image shift of task (five animal classes of CIFAR-10 as proxy, all ten
# as target): each a group-sequential design (one interim look, O'Brien-Fleming bounds, an sd re-estimate that can
# only extend the run) whose positive control (EdMIPS must beat uniform bits) is checked first. The cell prints
# each report's gates, its look, its verdict and the tests beside it.

# %%
claim2 = {}  # each grid's verdict line, for the summary at the end
for name in ("claim2_cross_dataset", "claim2_class_shift"):
    md = Path(f"../results/{name}/results.md")
    if not md.is_file():
        print(f"results/{name} is not in this checkout")
        continue
    text = md.read_text()
    seq = section(text, "Pre-declared group-sequential test").splitlines()
    print(f"{name}: gates " + " · ".join(f"{g} {m}" for m, g in gate_marks(text)))
    print("\n".join("  " + l for l in seq if l.startswith(("Interim sd", "At look", "Verdict", "Beside it"))))
    claim2[name] = next((l for l in seq if l.startswith("Verdict")), "no verdict line")

# %% [markdown]
# ## A shift of task only: `shift_classes`
#
# Grid v3's cross-dataset proxy (Fashion-MNIST) changes the images, the classes and the proxy checkpoint at once.
# `results/shift_classes` keeps CIFAR-10's images and changes only the task: searches see five animal classes and
# start from a checkpoint trained on them; the target is all ten classes (the kind of shift CIFAR-10 → ImageNet is).
# Its gates and claims, printed from its report:

# %%
shift = Path("../results/shift_classes/results.md")
if shift.is_file():  # the report's own sections, not a recomputation
    print(section(shift.read_text(), "Validity gates"))
    print(section(shift.read_text(), "Effects behind the paper's claims"))
    print("Not traceable: shift_classes' cells record +dirty code with no source id (run before rows carried a "
          "source hash); its effects are context, and no claim's answer rests on it.")
else:
    print("results/shift_classes is not in this checkout")

# %% [markdown]
# ## Claim 1 like with like: `claim1_symmetric`
#
# The reference above is *selected*: the best of 4 target searches, chosen on held-out target images. Each proxy
# arm is one *unselected* search, so the comparison mixes the method with the selection. `results/claim1_symmetric`
# compares like with like. **Selected against selected** (the declared answer): the best of 4 proxy searches, chosen
# on held-out *proxy* images, against the reference, paired by seed; "matches" means the 90 % interval of the
# difference lies within ±0.5 points. **Unselected against unselected** (beside it): one proxy search against the
# mean of the reference's 4 candidates, every one of them transferred. The last column reads the interval
# one-sided: a proxy arm can fail "matches" by being better. The cell prints the report's section and its claim
# lines, from the committed rows.

# %%
symmetric = Path("../results/claim1_symmetric/results.md")
if symmetric.is_file():  # the report's own section and claim lines, not a recomputation
    text = symmetric.read_text()
    print(section(text, "Validity gates"), end="\n\n")
    print(section(text, "Claim 1, like with like: a proxy search against a target search"), end="\n\n")
else:
    print("results/claim1_symmetric is not in this checkout")

# %% [markdown]
# ## Exercises
#
# 1. In the Markdown report above, find EdMIPS+ASGA vs EdMIPS. Before reading its interval, guess from the table of
#    means whether it will exclude zero; then read it. *Hint:* the interval is about the per-seed differences, not
#    the two columns' spreads.
#    <details><summary>Solution</summary>
#    Two means can differ by more than each method's spread over seeds and still not be a shown difference when the
#    per-seed differences vary (they do not share the seeds' luck), and the reverse when the methods move together
#    from seed to seed: the paired sd, not the columns' sds, sets the interval. The cell after the exercises prints
#    both sds for this grid's pair and the interval each would give.
#    </details>
# 2. Run `mpqlab experiment --quick --out runs/my_quick` in a terminal (a few minutes) and open its `results.md`.
#    Which gates can a 1-seed grid pass at all? *Hint:* a paired t-test needs an sd.
#    <details><summary>Solution</summary>
#    "Search matters" needs a p-value from at least two seeds, so it cannot pass; "searches decide" and "the radius
#    adapts" are per-search measurements and can. The cell after the exercises shows the first: a paired test on
#    one difference has no sd and so no p-value.
#    </details>
# 3. With the worked example's functions: how many seeds does 1 point need at sd 1.44, and at sd 1.78?
#    <details><summary>Solution</summary>
#    `pairs_for_power(1.44, 1.0)` and `pairs_for_power(1.78, 1.0)`, printed by the cell after the exercises. The
#    seed count grows with the square of sd / effect.
#    </details>

# %%
# Solutions as code (exercises 1 to 3)
import numpy as np
pair = next((c for c in comps if c["a"] == "edmips+asga" and c["b"] == "edmips"), comps[0] if comps else None)
if pair is not None:
    dm = pd.DataFrame(records)  # the rows the comparisons used
    sub = dm[(dm.setting == pair["setting"]) & dm.method.isin([pair["a"], pair["b"]])]
    wide = sub.pivot_table(index="seed", columns="method", values="target_top1").dropna()
    d = wide[pair["a"]] - wide[pair["b"]]
    t_ = paired_test(list(d))
    half_unpaired = 1.96 * np.sqrt(wide[pair["a"]].var() / len(wide) + wide[pair["b"]].var() / len(wide))
    print(f"1: {pair['a']} − {pair['b']} ({pair['setting']}, {len(wide)} seeds): column sds "
          f"{wide[pair['a']].std():.2f} and {wide[pair['b']].std():.2f}, paired sd {d.std():.2f}; paired interval "
          f"[{t_['ci_low']:+.2f}, {t_['ci_high']:+.2f}], as if unpaired ±{half_unpaired:.2f} around {d.mean():+.2f}")
one = paired_test([1.5])
print(f"2: a paired test on one seed: p = {one['p_t']} (no sd, so no p-value: 'search matters' cannot pass)")
print(f"3: seeds for 80 % power at 1 point: sd 1.44 -> {pairs_for_power(1.44, 1.0)}, sd 1.78 -> "
      f"{pairs_for_power(1.78, 1.0)}")

# %% [markdown]
# ## What this notebook found

# %%
print(f"{cfg['name']}: gates {status}")
for c in comps:  # the verdicts the report prints: Holm over each budget's family
    print(f"  {c['a']} − {c['b']} ({c['setting']}): {c['mean']:+.2f} [{c['ci_low']:+.2f}, {c['ci_high']:+.2f}], "
          f"Holm p = {c['p_holm']:.3g}: {c['verdict']}")
Markdown(answers_table())  # the paper's claims: the same table as at the top and in the README

# %% [markdown]
# ## Questionnaire
#
# 1. Why is every comparison paired by seed?
#    <details><summary>Answer</summary>
#
#    A seed fixes the proxy subset, the batch order and the fine-tune subset for every method, so the seed's own luck
#    cancels in the difference; unpaired, that noise would enter twice.
#    </details>
# 2. What does a gate such as 'the reference beats uniform W3A2' protect against?
#    <details><summary>Answer</summary>
#
#    A grid that cannot separate anything: if the reference cannot beat no search, a 'no difference' between methods
#    says nothing about the methods.
#    </details>
# 3. Why does Holm's correction make a single comparison harder to call?
#    <details><summary>Answer</summary>
#
#    It controls the chance of any false call over the whole family: the smallest p is compared with alpha/m, the next
#    with alpha/(m-1), and so on.
#    </details>
# 4. What does 'undecided at the power reached' mean, and how is it different from 'no difference'?
#    <details><summary>Answer</summary>
#
#    The interval still holds both a useful effect and none: the grid could not have told them apart with its pairs;
#    it is not evidence of equality.
#    </details>
# 5. Why does a policy count as the mean of its two fine-tunes?
#    <details><summary>Answer</summary>
#
#    One fine-tune's top-1 moves by its own noise, about as much as the effects tested (results/README prints how
#    much, from the rows); the mean of two halves that variance.
#    </details>
#
# ## Further research
#
# - Add a method (e.g. `edmips+gsam`) to a copy of `configs/grid_v3.json`, run it with `mpqlab experiment`, and read
#   its row of the table.
# - Compute from `results/asga_powered/results.csv` how many more seeds the powered design would need for power 0.8 at
#   the measured sd.
#
# ## References
#
# - Holm, [*A Simple Sequentially Rejective Multiple Test Procedure*](https://www.jstor.org/stable/4615733), Scandinavian Journal of Statistics, 1979.
# - Good, *Permutation, Parametric, and Bootstrap Tests of Hypotheses*, Springer, 2005 (book; the sign-flip test).
# - Efron and Tibshirani, *An Introduction to the Bootstrap*, 1993 (book).
# - Cai and Vasconcelos, [*Rethinking Differentiable Search for Mixed-Precision Neural Networks*](https://arxiv.org/abs/2004.05795) (EdMIPS), CVPR 2020.
# - The ASGA paper (ICML 2025), whose claims the grids test: a proxy search matches a target search at a fraction
#   of its cost, ASGA improves its base search, and sharper proxy landscapes transfer worse.
