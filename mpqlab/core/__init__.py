"""Floor 1, the leaves: what every other floor leans on and that leans on no other mpqlab module but its
neighbours here.

- ``errors``: :class:`MpqlabError`, the one error a user sees (a clear line, no traceback).
- ``files``: atomic writes, JSON, safe checkpoint loading (no pickled objects).
- ``knobs``: a config field with its help, range and choices (``knob``); the range and choice checks.
- ``registry``: the :class:`Registry` every plugin family uses, and plugin discovery.
- ``seeding``: one seed for Python, NumPy and torch.
- ``provenance``: which code made a result (commit, dirty flag, source hash, config hash, versions).
- ``runtime``: threads, torchrun's process group, the progress bar, the finite-loss guard.
- ``locks`` and ``run_folders``: one run per folder at a time; a run folder's files, checkpoints and resume.
- ``telemetry``: per-step records of a run.
- ``precision``: float32 or bf16 autocast for training.
- ``vectors``: algebra on lists of tensors (dot, norm, flatten), used by the optimizer and the analysis.
"""
