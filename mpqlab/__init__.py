"""mpqlab: a research kit for generalizable mixed-precision quantization (ASGA and its baselines).

Data flows one way: data, model, supernet, search, policy file, transfer, analysis, figures. The modules sit on
the floors of ``LAYERS``; a module imports only from its own floor or the floors below it, and the import graph
has no cycles (``tests/test_packaging.py`` reads every import, function-level ones included, and checks both).
"""

__version__ = "0.1.0"

LAYERS = [
    # 1. base: errors, atomic files, statistics, run-time plumbing, the arithmetic precision of training, the
    #    run-folder lock, telemetry, vector algebra on tensor lists, the registry class, BatchNorm re-estimation,
    #    and the two-pass optimizers with their rules (SAM / GSAM / ASGA) and radius schedules, which need only torch
    ["errors", "provenance", "options", "io", "stats", "runtime", "precision", "runlock", "runfolder", "telemetry",
     "analysis.vectors", "plugins", "batchnorm", "optim", "optim.radius", "optim.two_pass", "optim.rules"],
    # 2. what is quantized and what it costs: datasets, models, quantizers, BitOPs, checkpoints, plots, reports,
    #    the search objectives, and the registry of objectives, sharpness rules and grid methods
    ["data", "data.sample", "data.tensors", "data.loaders", "data.sources", "data.subsets", "models", "quant", "cost", "checkpoints",
     "figure_files", "viz", "notebooks", "objectives", "registry", "presets", "report", "report.format", "report.verdicts", "report.fig1", "report.code_versions",
     "report.crosscheck", "report.markdown", "report.derived"],
    # 3. a bit policy and what starts from one: the policy file, loading a model under it, the training loop
    ["policy", "loading", "train"],
    # 4. measuring a model (Hessian, landscape, sharpness, gradient conflict) and fine-tuning it under a policy
    ["analysis", "analysis.params", "analysis.density", "analysis.exact", "analysis.linearity",
     "analysis.pyhessian_backend", "analysis.trace", "analysis.hessian", "analysis.landscape", "analysis.sharpness", "analysis.conflict",
     "analysis.toy", "transfer", "at_checkpoint"],
    # 5. the search: supernet, objectives, budget, HAWQ, the loop, the radius study
    ["search", "search.config", "search.supernet", "search.budget", "search.hawq", "search.loop",
     "search.radius_study"],
    # 6. search + transfer together: an experiment grid's cells and report, the quickstart job
    ["reference", "grid_config", "baselines", "experiment", "tables", "remeasure", "quickstart", "reference_diagnosis"],
    # 7. who runs it: grid executors, the functions behind each subcommand
    ["executors", "commands"],
    # 8. the command line
    ["cli"],
]
