"""mpqlab: a research kit for generalizable mixed-precision quantization (ASGA and its baselines).

Data flows one way: data, model, supernet, search, policy file, transfer, analysis, figures. The modules sit on
the floors of ``LAYERS``; a module imports only from its own floor or the floors below it, and the import graph
has no cycles (``tests/test_packaging.py`` reads every import, function-level ones included, and checks both).
"""

import importlib

__version__ = "0.1.0"

# The names a user imports from the top (``mpqlab.create_model("resnet20")``), each from the floor that defines it.
# Loaded on first use (PEP 562), so ``import mpqlab`` stays light and imports nothing below it.
PUBLIC = {
    "create_model": "models", "list_models": "models", "register_model": "models",
    "create_dataset": "data", "list_datasets": "data", "register_dataset": "data",
    "register_objective": "search.methods", "register_rule": "search.methods", "register_radius": "search.methods",
    "list_methods": "search.methods", "list_objectives": "search.methods", "list_rules": "search.methods",
    "list_radii": "search.methods", "parse_method": "search.methods",
    "SearchConfig": "search", "run_search": ("search", "run"),
    "Policy": "quant.policy", "TransferConfig": "training.transfer", "transfer": "training.transfer",
    "Hessian": "analysis.hessian", "surrogate_gap": "analysis.sharpness",
    "GridConfig": "experiments.config", "run_grid": "experiments.executors",
}


def __getattr__(name: str):
    """``mpqlab.<public name>`` (:data:`PUBLIC`), imported from its module when first asked for."""
    if name not in PUBLIC:
        raise AttributeError(f"module 'mpqlab' has no attribute {name!r}")
    where = PUBLIC[name]
    module, attr = where if isinstance(where, tuple) else (where, name)
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(PUBLIC))

LAYERS = [
    # 1. core/: the leaves (errors, files, knobs, registry, seeding, provenance, run-time plumbing, locks and run
    #    folders, telemetry, training precision, vector algebra on tensor lists)
    ["core", "core.errors", "core.files", "core.knobs", "core.registry", "core.seeding", "core.provenance",
     "core.runtime", "core.locks", "core.run_folders", "core.telemetry", "core.precision", "core.vectors", "core.batchnorm_state"],
    # 2. data/ and models/: datasets and models by name (one registry each, one stratified sampler)
    ["data", "data.sample", "data.tensors", "data.loaders", "data.sources", "data.subsets", "models"],
    # 3. optim/: the two-pass optimizer, its rules (SAM / GSAM / ASGA / ASAM) and radius schedules
    ["optim", "optim.radius", "optim.two_pass", "optim.rules"],
    # 4. quant/: quantizers, the one cost counter, the policy file, BatchNorm, checkpoints, a model under a policy
    ["quant", "quant.quantizers", "quant.cost", "quant.policy", "quant.batchnorm", "quant.checkpoints",
     "quant.loading"],
    # 5. analysis/ and training/: measuring a model under a policy (Hessian, landscape, sharpness, conflict);
    #    training, the fine-tune of a transferred policy, scoring a policy at its checkpoint
    ["analysis", "analysis.params", "analysis.density", "analysis.exact", "analysis.linearity",
     "analysis.pyhessian_backend", "analysis.trace", "analysis.hessian", "analysis.landscape", "analysis.sharpness",
     "analysis.conflict", "analysis.directions", "analysis.toy", "training", "training.train", "training.transfer", "training.scoring"],
    # 6. search/: the mixed-precision search (config, supernet, budget, HAWQ, the loop), its objectives and the
    #    grammar of method names
    ["search", "search.config", "search.supernet", "search.budget", "search.hawq", "search.trajectory", "search.loop",
     "search.objectives",
     "search.methods"],
    # 7. viz/: plotly figures from plain data, the palette, kernel-free explorers, figure files
    ["viz", "viz.figures", "viz.palette", "viz.slider", "viz.explorer", "viz.landscapes", "viz.style", "viz.files"],
    # 8. experiments/: grids (config, one cell, executors, merge, null policies, reference, re-measure, presets),
    #    their statistics and report, one-off studies
    ["experiments", "experiments.config", "experiments.cell", "experiments.executors", "experiments.merge",
     "experiments.null_policies", "experiments.reference", "experiments.remeasure", "experiments.presets",
     "experiments.stats", "experiments.group_sequential", "experiments.studies", "experiments.studies.radius",
     "experiments.studies.policy_landscapes", "experiments.studies.landscape_report",
     "experiments.studies.landscape_views", "experiments.studies.target_landscapes",
     "experiments.report", "experiments.report.options", "experiments.report.format", "experiments.report.verdicts",
     "experiments.report.fig1", "experiments.report.code_versions", "experiments.report.crosscheck",
     "experiments.report.sequential", "experiments.report.correlation", "experiments.report.reproduction",
     "experiments.report.symmetric", "experiments.report.markdown", "experiments.report.derived",
     "experiments.report.finetunes", "experiments.report.answers", "experiments.report.cost"],
    # 9. course/: the notebooks' helpers, the static site, the quickstart
    ["course", "course.notebooks", "course.execution", "course.exercises", "course.prose", "course.glossary", "course.book",
     "course.quickstart"],
    # 10. the functions behind each subcommand
    ["commands"],
    # 11. the command line
    ["cli"],
]

# Plugin families: folders whose every module is one entry (mpqlab.core.registry.discover); a module inside one sits
# on its family's floor, so adding an entry never touches LAYERS.
FAMILIES = ["optim.rules", "optim.radius", "search.objectives", "models", "data.sources"]


def floor_of(module: str) -> int | None:
    """The floor (index into :data:`LAYERS`) of a module named relative to mpqlab; a family member takes its
    family's; None when unplaced."""
    for i, names in enumerate(LAYERS):
        if module in names:
            return i
    family = next((f for f in FAMILIES if module.startswith(f + ".")), None)
    return floor_of(family) if family else None
