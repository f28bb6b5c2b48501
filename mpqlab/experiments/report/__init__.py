"""The Markdown report of an experiment grid: per-method summary, validity gates, pre-declared paired comparisons
with Holm correction, and a verdict per claim. Plain rows (dicts, as in ``results.csv``) in, text out.

Gates (printed above the comparisons; any failed gate turns every verdict into "cannot answer"):

1. **search matters**: the reference (EdMIPS on the full target set) beats uniform-at-budget by at least
   ``gate_margin`` points (default 1.0), paired by seed, paired-t p < 0.05;
2. **searches decide**: over the gradient-search cells, the median of the median largest bit probability is at least
   0.6 and the median number of layers the budget step changed is at most 3;
3. **the radius adapts**: in the ASGA cells the median share of steps with rho at a bound is below 0.5.

The report's options (``comparisons``, ``equivalence_margin``, ``gate_margin``, ``declared``) are typed and
defaulted once in :mod:`mpqlab.experiments.report.options`.

Comparisons are pre-declared (config ``comparisons``: ``[[A, B], ...]``, default: EdMIPS+ASGA against the reference,
EdMIPS and EdMIPS+SAM, and every method against uniform), paired by seed within a setting and budget (the reference
cells are shared by the settings), one Holm family per budget. The primary test is the paired t-test **[choice]**:
with 8 seeds the exact sign-flip test cannot go below 2/256, which Holm over six or more comparisons needs; its
p-value is printed beside as a check that does not assume normal differences.
"""
from .crosscheck import cell_agreement, ranking_check
from .fig1 import SHARPNESS, fig1_correlations, fig1_note, fig1_points, gate_marks, sharpness_claim
from .format import section
from .markdown import PARTIAL, markdown
from .options import DeclaredTest, ReportOptions, SequentialPlan, report_options
from .verdicts import DEFAULT_COMPARISONS, claims, comparisons, declared_test, equivalence_verdict, gates

__all__ = ["DEFAULT_COMPARISONS", "DeclaredTest", "PARTIAL", "ReportOptions", "SequentialPlan", "report_options", "SHARPNESS", "cell_agreement", "claims", "comparisons", "declared_test",
           "equivalence_verdict", "fig1_correlations", "fig1_note", "fig1_points", "gate_marks", "gates", "markdown", "ranking_check", "section",
           "sharpness_claim"]
