# %% [markdown]
# # 01 · Search and transfer: the comparison table
#
# **Question.** Does ASGA-on-proxy match a search on the target itself, and at what fraction of the search cost?
#
# Each cell of the experiment grid searches a policy on a proxy (or, for the reference `edmips@target`, on one full
# epoch of the target training set), transfers it to CIFAR-10 and fine-tunes. Two null baselines search nothing:
# `uniform` (every layer at the budget-matched bits) and `random` (random budget-matched policies). The report is
# written by `mpqlab experiment` and committed under `results/` (a checkout without them runs a 4-cell grid on the embedded data here instead).

# %% tags=["parameters"]
smoke, data_root, figures_dir, runs_dir = True, None, "../runs/figures", "../runs/notebooks"  # papermill parameters

# %%
from pathlib import Path
import pandas as pd
from mpqlab import viz
from mpqlab.notebooks import notebook_setup
RUNS, show = notebook_setup(data_root, figures_dir, runs_dir)  # MPQLAB_DATA, folders; show() saves + displays

# %%
from mpqlab.presets import quick_config
from mpqlab.executors import run_grid
from mpqlab.notebooks import committed_grid
committed = committed_grid()
if committed is None:  # a checkout without committed results: a 4-cell grid on the embedded data, here
    csv_path = run_grid(quick_config(), RUNS / "quick_grid", show_progress=False)
else:
    csv_path = committed / "results.csv"
print("results:", csv_path)
df = pd.read_csv(csv_path)
df

# %%
from IPython.display import Markdown
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
from mpqlab.report import comparisons, gate_marks
cfg = json.loads(Path(f"../configs/{committed.name}.json").read_text()) if committed is not None else quick_config()
comps = comparisons(df.to_dict("records"), cfg)
marks = gate_marks(Path(csv_path).with_suffix(".md").read_text())
status = " · ".join(f"{g} {m}" for m, g in marks)
show(viz.effects_forest(comps, title=f"{cfg['name']}: paired effects on target top-1", margin=cfg.get("gate_margin"),
                        note="gates: " + status), "01_effects")
for c in comps:
    print(f"{c['a']} − {c['b']} ({c['setting']}): {c['mean']:+.2f} [{c['ci_low']:+.2f}, {c['ci_high']:+.2f}], "
          f"{c['n']} seeds, {'excludes' if c['ci_low'] > 0 or c['ci_high'] < 0 else 'includes'} 0")

# %% [markdown]
# **How to read it.** One row per pre-declared comparison of the grid: the mean over seeds of the paired
# difference in target top-1, with its 95 % interval; each row's verdict in words is printed above, from the
# same numbers. The dashed line is the gate's threshold: the first row (the reference against uniform bits) must
# clear it for the grid to answer anything, and the gates' status is written under the figure. Every policy here
# sits at the same budget (BitOPs within 2 % of it), so a BitOPs axis would show nothing: the question at one
# budget is which policy is more accurate, seed by seed.
#
# ## Try this
#
# 1. In the Markdown report above, find EdMIPS+ASGA vs EdMIPS. Before reading its interval, guess from the table of
#    means whether it will exclude zero; then read it. Why can two means differ by more than their pooled spread
#    and still not be a shown difference (or the reverse)?
# 2. Run `mpqlab experiment --quick --out runs/my_quick` in a terminal (a few minutes) and open its `results.md`.
#    Which gates can a 1-seed grid pass at all?
# 3. Copy `configs/grid_v2.json`, set `"budgets": [3.0]` and `"seeds": [0, 1]`, and run it with `mpqlab experiment`
#    (about 40 CPU minutes). Predict first: does the reference's lead over uniform bits grow or shrink when the
#    budget allows uniform W3A3?
