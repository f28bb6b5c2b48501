"""Who runs an experiment grid's cells: this process, a pool of local processes, or a cluster through submitit.

A grid's cells are independent (search on the proxy, then transfer), so they are handed out one by one. Every
executor goes through the same three steps, which is what makes them interchangeable and a grid restartable with
any of them at any moment:

1. :func:`pending_cells` lists the cells without a ``row.json`` (a finished cell is never rerun);
2. :func:`run_claimed` runs one cell inside its run-folder lock (:mod:`mpqlab.core.locks`), so a cell is owned by one
   worker at a time, anywhere; a cell whose folder is held by a live process is left to it (``None``), and a
   cell whose holder died resumes from its own checkpoints (search state, fine-tune state);
3. :func:`mpqlab.experiments.merge.merge` reads every ``row.json`` back in the grid's canonical order and writes
   ``results.csv`` / ``results.md``: the same table whichever executor (or mix of executors) ran the cells.

Executors (``EXECUTORS``, chosen by ``mpqlab experiment --executor``):

- ``local`` with ``--workers N``: N single-threaded worker processes on this machine (``N = 1`` runs in this
  process). Each cell runs with ``threads_per_cell`` intra-op threads (default 1) whatever N is, so results do
  not depend on N.
- ``submitit``: each cell is a job of `submitit <https://github.com/facebookincubator/submitit>`_, on Slurm when
  ``sbatch`` is found (or ``--cluster slurm``) and as local processes otherwise (``--cluster local``). Jobs are
  checkpointable: a preempted or timed-out Slurm job is requeued and its cell resumes from its folder.
"""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

from ..core.errors import MpqlabError
from ..core.files import ensure_folder, write_json
from ..core.locks import LOCK_NAME, RunFolderBusy, holder_alive
from ..core.provenance import config_hash
from ..core.registry import entry_module, external_modules, import_modules
from ..core.runtime import pinned_threads
from ..search.methods import OBJECTIVES, RULES, is_null, parse_method
from .cell import Cell, check_inputs, grid_cells, run_cell
from .config import GridConfig
from .merge import merge

EXECUTORS = ("local", "submitit")


def pending_cells(cfg: GridConfig, out) -> list[Cell]:
    """The cells not finished yet, in canonical order (the long reference cells come first)."""
    return [c for c in grid_cells(cfg) if not c.done(out)]


def cell_states(cfg: GridConfig, out) -> dict[str, int]:
    """How many cells are done, running (their folder's lock names a live holder) and left."""
    done = running = left = 0
    for c in grid_cells(cfg):
        if c.done(out):
            done += 1
        elif holder_alive(c.folder(out) / LOCK_NAME):
            running += 1
        else:
            left += 1
    return {"done": done, "running": running, "left": left}


def run_claimed(cfg: GridConfig, cell: Cell, out, root=None, threads: int = 1) -> dict | None:
    """Run one cell if no live process holds its folder; returns its row, or ``None`` when it is held elsewhere.
    Runs with ``threads`` intra-op threads whatever the search or transfer inside would pick (restored after)."""
    try:  # a finished cell's row is read back by run_cell itself
        with pinned_threads(threads):
            return run_cell(cfg, cell.setting, cell.method, cell.seed, cell.budget, cell.folder(out), root)
    except RunFolderBusy:
        return None


def _timed_claim(cfg: GridConfig, cell: Cell, out, root=None, threads: int = 1,
                 plugins: tuple = ()) -> tuple[dict | None, float]:
    """:func:`run_claimed` in a worker process, with the cell's own wall time (not its time in the queue), after
    importing the plugin modules the parent had registered entries from (a fresh process has not)."""
    import_modules(plugins)
    t0 = time.time()
    return run_claimed(cfg, cell, out, root, threads), time.time() - t0


def _check_importable(cfg: GridConfig) -> None:
    """Refuse, before any cell, a method whose objective or rule was defined in ``__main__`` (a notebook): a
    spawned worker or a cluster job cannot import it."""
    for method in cfg.methods:
        if is_null(method):
            continue
        m = parse_method(method)
        entries = [OBJECTIVES[m.objective]] + ([RULES[m.rule]] if m.rule else [])
        if any(entry_module(e) == "__main__" for e in entries):
            raise MpqlabError(f"method {method!r} uses a class defined in __main__ (a notebook or script), which "
                              "worker processes cannot import: move it into a module file and import it, or run "
                              "with workers=1")


def _finished(cfg, out, cell: Cell, row, seconds: float, show_progress: bool) -> None:
    """A cell came back: bring the merged table on disk up to date (partial results are always on disk) and print
    one line with its time and how many cells are done, running and left."""
    if row is not None:
        merge(cfg, out)
    if show_progress:
        print(_line(cfg, out, cell, row, seconds), flush=True)


def _line(cfg, out, cell: Cell, row, seconds: float) -> str:
    s = cell_states(cfg, out)
    what = f"top1={row['target_top1']:.2f}" if row else "held by another process, left to it"
    return (f"{cell.label()}: {what} ({seconds:.0f}s) | done {s['done']}, running {s['running']}, "
            f"left {s['left']}")


def run_local(cfg: GridConfig, out, workers: int = 1, root=None, threads: int = 1, max_cells: int | None = None,
              show_progress: bool = True) -> int:
    """Run the pending cells with ``workers`` processes on this machine; returns how many cells ran here."""
    todo = pending_cells(cfg, out)[:max_cells]
    if workers == 1:
        ran = 0
        for cell in todo:
            row, seconds = _timed_claim(cfg, cell, out, root, threads)
            ran += row is not None
            _finished(cfg, out, cell, row, seconds, show_progress)
        return ran
    ran = 0
    # spawn, not fork: a forked child would inherit this process's OpenMP and data-loader state
    _check_importable(cfg)
    plugins = tuple(external_modules())  # rules, objectives, ... registered outside mpqlab, for the workers
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        started = {pool.submit(_timed_claim, cfg, c, str(out), root, threads, plugins): c for c in todo}
        remaining = set(started)
        while remaining:
            finished, remaining = wait(remaining, return_when=FIRST_COMPLETED)
            for fut in finished:
                row, seconds = fut.result()  # a cell's error stops the grid, with its traceback
                ran += row is not None
                _finished(cfg, out, started[fut], row, seconds, show_progress)
    return ran


class CellJob:
    """A submitit job that runs one cell; checkpointable, so a preempted job is requeued and resumes its cell."""

    def __init__(self, cfg: GridConfig, cell: Cell, out: str, root=None, threads: int = 1, plugins: tuple = ()):
        self.cfg, self.cell, self.out, self.root, self.threads = cfg, cell, out, root, threads
        self.plugins = tuple(plugins)

    def __call__(self) -> tuple[dict | None, float]:
        return _timed_claim(self.cfg, self.cell, self.out, self.root, self.threads, self.plugins)

    def checkpoint(self, *args, **kwargs):
        """Requeue as is: the cell's own run folders hold its progress."""
        import submitit  # deferred: optional (Slurm executor)

        return submitit.helpers.DelayedSubmission(CellJob(self.cfg, self.cell, self.out, self.root, self.threads,
                                                                  self.plugins))


def submitit_executor(folder, cluster: str | None = None, timeout_min: int = 240, partition: str | None = None,
                      threads: int = 1, mem_gb: int = 8):
    """A submitit executor for one-cell jobs (``cluster``: None = Slurm if ``sbatch`` exists, else local)."""
    try:
        import submitit  # deferred: optional (Slurm executor)
    except ImportError:  # pragma: no cover - submitit is a dependency
        raise MpqlabError("--executor submitit needs the submitit package: pip install submitit") from None
    ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    params = {"timeout_min": timeout_min, "cpus_per_task": threads, "mem_gb": mem_gb, "name": "mpqlab-cell"}
    if partition:
        params["slurm_partition"] = partition
    ex.update_parameters(**params)
    return ex


def submit_cells(cfg: GridConfig, out, executor, root=None, threads: int = 1, max_cells: int | None = None) -> list:
    """Submit one job per pending cell; returns ``[(cell, job)]``. Cells held by a live process are skipped."""
    todo = [c for c in pending_cells(cfg, out)[:max_cells] if not holder_alive(c.folder(out) / LOCK_NAME)]
    _check_importable(cfg)
    plugins = tuple(external_modules())  # what each job imports before its cell
    jobs = []
    with executor.batch():
        for cell in todo:
            jobs.append(executor.submit(CellJob(cfg, cell, str(out), root, threads, plugins)))
    return list(zip(todo, jobs))


def run_submitit(cfg: GridConfig, out, root=None, threads: int = 1, max_cells: int | None = None, cluster: str | None = None,
                 timeout_min: int = 240, partition: str | None = None, wait_jobs: bool = True,
                 show_progress: bool = True) -> int:
    """Hand the pending cells to submitit; with ``wait_jobs`` wait for them and report each as it ends."""
    ex = submitit_executor(Path(out) / "submitit", cluster, timeout_min, partition, threads)
    pairs = submit_cells(cfg, out, ex, root, threads, max_cells)
    if show_progress:
        print(f"submitted {len(pairs)} cell jobs ({ex.cluster}); logs in {Path(out) / 'submitit'}", flush=True)
    if not wait_jobs:
        return 0
    ran = 0
    remaining = list(pairs)
    while remaining:
        for cell, job in list(remaining):
            if job.done():
                remaining.remove((cell, job))
                try:
                    row, seconds = job.result()
                except Exception as err:  # the job's own traceback is in its log
                    print(f"{cell.label()}: job {job.job_id} failed ({type(err).__name__}); its log: "
                          f"{job.paths.stderr}", file=sys.stderr, flush=True)
                    continue
                ran += row is not None
                _finished(cfg, out, cell, row, seconds, show_progress)
        time.sleep(1.0)
    return ran


def keep_config(cfg: GridConfig, out: Path) -> Path:
    """The config a run used, kept as ``out/configs/<config_hash>.json`` (each row's ``config_hash`` names it): a
    grid extended by a later config keeps both texts."""
    d = cfg.to_dict()
    path = out / "configs" / f"{config_hash(d)}.json"
    if not path.is_file():
        write_json(path, d)
    return path


def run_grid(cfg, out_dir: str | os.PathLike, root=None, show_progress: bool = True,
             max_cells: int | None = None, executor: str = "local", workers: int = 1, threads: int = 1,
             cluster: str | None = None, timeout_min: int = 240, partition: str | None = None,
             wait_jobs: bool = True) -> Path:
    """Run every pending cell of ``cfg`` with ``executor`` (see the module docstring), then merge every finished
    cell into ``results.csv`` / ``results.md`` and return the CSV's path. Rerun to continue: finished cells are
    skipped, interrupted ones resume, cells held by live processes elsewhere are left to them."""
    if executor not in EXECUTORS:
        raise MpqlabError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if workers < 1 or threads < 1:
        raise MpqlabError(f"workers and threads per cell must be >= 1 (got workers={workers}, threads={threads})")
    cfg = check_inputs(cfg, root)  # the typed config (GridConfig), checked before any work
    out = ensure_folder(out_dir, "grid output folder")
    keep_config(cfg, out)
    if show_progress:
        s = cell_states(cfg, out)
        print(f"grid {cfg.name}: {sum(s.values())} cells, done {s['done']}, running elsewhere "
              f"{s['running']}, left {s['left']}; executor {executor}"
              + (f", {workers} workers" if executor == "local" else ""), flush=True)
    if executor == "local":
        run_local(cfg, out, workers, root, threads, max_cells, show_progress)
    else:
        run_submitit(cfg, out, root, threads, max_cells, cluster, timeout_min, partition, wait_jobs, show_progress)
    csv_path = merge(cfg, out)
    if show_progress:
        s = cell_states(cfg, out)
        print(f"merged {s['done']} finished cells into {csv_path}; running elsewhere {s['running']}, left {s['left']}",
              flush=True)
    return csv_path
