"""mpqlab: a research kit for generalizable mixed-precision quantization (ASGA and its baselines).

Data flows one way: data, model, supernet, search, policy file, transfer, analysis, figures. The modules sit on
the floors of ``LAYERS``; a module imports only from its own floor or the floors below it, and the import graph
has no cycles (``tests/test_packaging.py`` reads every import, function-level ones included, and checks both).
"""

__version__ = "0.1.0"

LAYERS = [
    # 1. base: errors, provenance, config knobs, atomic files, statistics (group-sequential bounds too), run-time plumbing, the arithmetic precision
    #    of training, the run-folder lock, telemetry, the registry class every plugin family uses
    ["errors", "provenance", "seeding", "options", "io", "stats", "runtime", "precision", "runlock", "runfolder", "telemetry",
     "registry", "group_sequential"],
    # 2. the weight-update side, which needs only torch: vector algebra on tensor lists, BatchNorm re-estimation,
    #    the two-pass optimizer with its rules (SAM / GSAM / ASGA) and radius schedules
    ["analysis.vectors", "batchnorm", "optim", "optim.radius", "optim.two_pass", "optim.rules"],
    # 3. what is quantized and what it costs: datasets, models, quantizers, BitOPs, checkpoints
    ["data", "data.sample", "data.tensors", "data.loaders", "data.sources", "data.subsets", "models", "quant", "cost",
     "checkpoints"],
    # 4. what a search can be: the objectives, the grid's method grammar, the presets
    ["objectives", "methods", "presets"],
    # 5. how results are shown: figure files, plots, kernel-free explorers, grid reports, the notebook builder, the site
    ["figure_files", "palette", "viz", "stepped", "report", "report.options", "report.format", "report.verdicts", "report.fig1", "report.code_versions",
     "report.crosscheck", "report.sequential", "report.correlation", "report.reproduction", "report.symmetric", "report.markdown", "report.derived", "notebooks",
     "book"],
    # 6. a bit policy and what starts from one: the policy file, loading a model under it, the training loop
    ["policy", "loading", "train"],
    # 7. measuring a model (Hessian, landscape, sharpness, gradient conflict) and fine-tuning it under a policy
    ["analysis", "analysis.params", "analysis.density", "analysis.exact", "analysis.linearity",
     "analysis.pyhessian_backend", "analysis.trace", "analysis.hessian", "analysis.landscape", "analysis.sharpness",
     "analysis.conflict", "analysis.toy", "transfer", "at_checkpoint"],
    # 8. the search: supernet, budget, HAWQ, the loop, the radius study
    ["search", "search.config", "search.supernet", "search.budget", "search.hawq", "search.loop",
     "search.radius_study"],
    # 9. search + transfer together: an experiment grid's cells, null policies and report, re-measuring, quickstart
    ["reference", "grid_config", "null_policies", "experiment", "tables", "remeasure", "quickstart"],
    # 10. who runs it: grid executors, the functions behind each subcommand
    ["executors", "commands"],
    # 11. the command line
    ["cli"],
]

# Plugin families: folders whose every module is one entry (mpqlab.registry.discover); a module inside one sits on
# its family's floor, so adding an entry never touches LAYERS.
FAMILIES = ["optim.rules", "optim.radius", "objectives", "models", "data.sources"]


def floor_of(module: str) -> int | None:
    """The floor (index into :data:`LAYERS`) of a module named relative to mpqlab; a family member takes its
    family's; None when unplaced."""
    for i, names in enumerate(LAYERS):
        if module in names:
            return i
    family = next((f for f in FAMILIES if module.startswith(f + ".")), None)
    return floor_of(family) if family else None
