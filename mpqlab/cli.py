"""``mpqlab`` command line: argument parsing only; every subcommand calls one library function."""
from __future__ import annotations

import argparse
import json
import math
import sys


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports bad input in one line (no usage block) and exits with code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


class Bounded:
    """An argparse type: a finite int or float in [lo, hi] (``lo_open``: lo itself excluded), checked before any
    work starts. ``lo`` and ``hi`` are read by the test that feeds every numeric option bad values."""

    def __init__(self, kind: type, lo: float, hi: float, lo_open: bool = False):
        self.kind, self.lo, self.hi, self.lo_open = kind, lo, hi, lo_open
        self.__name__ = kind.__name__

    def __call__(self, text: str):

        try:
            v = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if self.kind is int else 'a number'}")
        low_ok = v > self.lo if self.lo_open else v >= self.lo
        if not (math.isfinite(v) and low_ok and v <= self.hi):
            raise argparse.ArgumentTypeError(f"{text} is outside {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}]")
        return v


def _bits_list(text: str) -> list[int]:
    try:
        bits = [int(b) for b in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of bit widths, e.g. 2,3,4")
    bad = [b for b in bits if not 1 <= b <= 32]
    if bad:
        raise argparse.ArgumentTypeError(f"bit widths must be between 1 and 32, got {bad}")
    return bits


COUNT = Bounded(int, 1, 10 ** 9)  # epochs, batches, images, probes ...
LR = Bounded(float, 0, 10, lo_open=True)
NONNEG = Bounded(float, 0, 1e6)


def add_config_options(parser, cls) -> None:
    """One option per field of the config dataclass ``cls`` declared with :func:`mpqlab.core.knobs.knob`: its help (with
    the default), its range checked before any work starts, its choices. Every option defaults to None: the
    dataclass's own default applies unless the option is given."""

    for f in options_of(cls):
        m, kind = f.metadata, str(f.type)
        if m.get("common"):  # set by the subcommand's shared --model / --data / --root / --device
            continue
        help_text = m["help"]
        if isinstance(m["choices"], dict):
            help_text += "; " + "; ".join(f"{k}: {getattr(v, 'help', v)}" for k, v in m["choices"].items())
        default = default_of(f)
        if isinstance(default, list):
            default = ",".join(map(str, default))
        shown = "" if default is None else f" (default: {default})"
        kw = {"default": None, "help": f"{help_text}{shown}".replace("%", "%%")}
        flag = "--" + f.name.replace("_", "-")
        if kind == "bool":  # --flag / --no-flag: a field whose default is true can be turned off too
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif kind == "list":
            parser.add_argument(flag, type=_bits_list, **kw)
        elif m["choices"] is not None:
            parser.add_argument(flag, type=int if "int" in kind else str, choices=list(m["choices"]), **kw)
        elif m["lo"] is not None and ("int" in kind or "float" in kind):
            parser.add_argument(flag, type=Bounded(int if "int" in kind else float, m["lo"], m["hi"], m["lo_open"]),
                                **kw)
        else:
            parser.add_argument(flag, **kw)


def _print(obj, as_json: bool):
    if as_json:
        print(json.dumps(obj, indent=2))
    else:
        for k, v in obj.items():
            print(f"{k}: {v}")


from .commands import (
    cost_command, eval_command, hessian_command, landscape_command, search_command, train_command, transfer_command)
from .analysis.hessian import HessianConfig  # noqa: E402
from .analysis.landscape import LandscapeConfig  # noqa: E402
from .experiments.executors import EXECUTORS  # noqa: E402
from .search import SearchConfig  # noqa: E402
from .core.knobs import default_of, options_of  # noqa: E402
from .core.errors import MpqlabError  # noqa: E402
from .experiments.executors import run_grid  # noqa: E402
from .experiments.cell import load_config  # noqa: E402
from .experiments.config import GridConfig  # noqa: E402
from .experiments.presets import quick_config  # noqa: E402
from .experiments.remeasure import remeasure_grid  # noqa: E402
from .experiments.report.answers import answers_table, write_pages  # noqa: E402
from .quant.cost import CostConfig  # noqa: E402
from .training.train import EvalConfig, TrainConfig  # noqa: E402
from .training.transfer import TransferConfig  # noqa: E402
from .data import list_datasets  # noqa: E402
from .data.sources import parse_dataset  # noqa: E402
from .models import list_models  # noqa: E402


def _given(a, cls) -> dict:
    """The options of config dataclass ``cls`` given on the command line, the shared ones (``common`` knobs: --model,
    --data, --root, --device) included (the others keep the dataclass's default)."""
    return {f.name: getattr(a, f.name) for f in options_of(cls) if getattr(a, f.name) is not None}


def cmd_train(a):
    """``mpqlab train``: parsed arguments in, the run's card out."""
    _print(train_command(a.model, a.data, a.out, TrainConfig(**_given(a, TrainConfig)), root=a.root,
                         device=a.device, argv=sys.argv), a.json)


def cmd_transfer(a):
    """``mpqlab transfer``: parsed arguments in, the fine-tune's result out."""
    _print(transfer_command(a.policy, a.model, a.data, a.init, a.out, TransferConfig(**_given(a, TransferConfig)),
                            root=a.root, device=a.device, argv=sys.argv), a.json)


def cmd_search(a):
    """``mpqlab search``: parsed arguments in, the found policy's summary out."""
    cfg = SearchConfig(**_given(a, SearchConfig))  # --model, --data, --root, --device included (common knobs)
    _print(search_command(a.out, cfg), a.json)


def cmd_eval(a):
    """``mpqlab eval``: parsed arguments in, top-1 and loss out."""
    cfg = EvalConfig(**_given(a, EvalConfig))
    _print(eval_command(a.model, a.data, a.checkpoint, a.policy, a.uniform, a.root, a.device, cfg.max_batches), a.json)


def cmd_cost(a):
    """``mpqlab cost``: parsed arguments in, MACs, BitOPs and size out."""
    cfg = CostConfig(**_given(a, CostConfig))
    _print(cost_command(a.model, cfg.input_size, cfg.num_classes, a.policy, a.uniform), a.json)


def cmd_hessian(a):
    """``mpqlab hessian``: parsed arguments in, eigenvalues and trace out."""
    _print(hessian_command(a.model, a.data, a.checkpoint, a.policy, a.uniform, HessianConfig(**_given(a, HessianConfig)),
                           root=a.root, device=a.device), a.json)


def cmd_landscape(a):
    """``mpqlab landscape``: parsed arguments in, the slice's .npz path and summary out."""
    _print(landscape_command(a.model, a.data, a.checkpoint, a.out, a.policy, a.uniform,
                             LandscapeConfig(**_given(a, LandscapeConfig)), root=a.root, device=a.device), a.json)


def _quickstart(out, epochs, smoke):
    from .course.quickstart import quickstart  # noqa: PLC0415 (the course floor loads only for this subcommand)

    return quickstart(out, epochs=epochs, smoke=smoke)


def _quickstart_cli(a) -> None:
    """The quickstart prints its status and its table as it goes; after them only where its files are (with
    --json, the whole result instead)."""
    res = _quickstart(a.out, a.epochs, a.smoke)
    if a.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"written: {res['policy']} (the policy), {res['figure'].get('html', res['figure'])} (its bits)")


def _experiment(a):

    if a.quick:
        cfg = GridConfig.from_dict(quick_config(), "--quick")
    elif a.config:
        cfg = load_config(a.config)
    else:
        raise MpqlabError("give a config file or --quick")
    out = a.out or f"results/{cfg.name}"
    csv_path = run_grid(cfg, out, root=a.root, max_cells=a.max_cells, executor=a.executor, workers=a.workers,
                        threads=a.threads_per_cell, cluster=a.cluster, timeout_min=a.timeout_min,
                        partition=a.partition, wait_jobs=not a.no_wait)
    return {"results": str(csv_path), "table": str(csv_path.with_suffix(".md"))}


def _remeasure(a):

    csv_path = remeasure_grid(a.config, a.out, root=a.root, workers=a.workers, target=a.target, limit=a.max_cells)
    return {"results": str(csv_path), "table": str(csv_path.with_suffix(".md"))}


def _notebooks(check: bool):
    from .course.notebooks import build_notebooks  # noqa: PLC0415 (the course floor: nbformat, papermill, nbconvert load only for its subcommands)

    from .course.prose import refresh_markdown  # noqa: PLC0415 (the course floor, as above)

    out = {"notebooks": " ".join(build_notebooks(check=check)), "checked" if check else "written": "yes"}
    if not check:  # prose edits reach the executed copies whose code is current (their outputs unchanged)
        out["executed copies given the new prose"] = " ".join(refresh_markdown()) or "none"
    return out


def _figures(a):
    from .course.execution import make_figures  # noqa: PLC0415 (the course floor: nbformat, papermill, nbconvert load only for its subcommands)

    out = a.out or ("runs/figures-smoke" if a.smoke else "figures")
    return make_figures(out, smoke=a.smoke, only=a.only.split(",") if a.only else None)


def _book(a):
    from .course.book import DEFAULT_OUT, build_book  # noqa: PLC0415 (the course floor: nbformat, papermill, nbconvert load only for its subcommands)

    built = build_book(a.out or DEFAULT_OUT, **({"executed": a.executed} if a.executed else {}))
    return {"site": str(built["index"]), "pages": len(built["pages"]), "interactive figures": built["figures"],
            "kernel-free explorers": built["explorers"]}


def dataset_spec(text: str) -> str:
    """``--data``: a registered dataset name or a spec with options (:func:`mpqlab.data.parse_dataset`), checked
    here so that a bad one is refused with argparse's usage line before any work."""
    try:
        parse_dataset(text)
    except MpqlabError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def build_parser() -> OneLineParser:
    """The ``mpqlab`` argument parser (every subcommand, every option)."""
    p = OneLineParser(prog="mpqlab", description="generalizable mixed-precision quantization (ASGA)")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp, data=True, device=True):
        sp.add_argument("--model", required=True, choices=list_models(), metavar="MODEL",
                        help="a registered model: " + ", ".join(list_models()))
        if data:
            sp.add_argument("--data", required=True, type=dataset_spec, metavar="DATA",
                            help="a registered dataset, optionally with options (name:key=value,...; e.g. "
                                 "imagefolder:image_size=64): " + ", ".join(list_datasets()))
            sp.add_argument("--root", default=None, help="data root (default: $MPQLAB_DATA or ~/.cache/mpqlab/data)")
        if device:
            sp.add_argument("--device", default="cpu")
        sp.add_argument("--json", action="store_true", help="print the result as JSON")

    t = sub.add_parser("train", help="train a full-precision model; checkpoint each epoch, resume")
    common(t)
    add_config_options(t, TrainConfig)  # every TrainConfig field
    t.add_argument("--out", required=True, help="checkpoint path, NAME.safetensors (card NAME.json beside it)")
    t.set_defaults(fn=cmd_train)

    def quantized(sp, checkpoint=True):
        """The model under study: its weights and the policy it runs under (float when neither is given)."""
        if checkpoint:
            sp.add_argument("--checkpoint", required=True, help="full-precision weights, a .safetensors file")
        sp.add_argument("--policy", default=None, help="policy JSON file (per-layer bits)")
        sp.add_argument("--uniform", default=None, metavar="W/A", help="uniform policy instead, e.g. 4/4")

    e = sub.add_parser("eval", help="top-1 and loss of a checkpoint, in float or under a policy")
    common(e)
    quantized(e)
    add_config_options(e, EvalConfig)  # every EvalConfig field
    e.set_defaults(fn=cmd_eval)

    c = sub.add_parser("cost", help="MACs, BitOPs and size of a model, float or under a policy")
    common(c, data=False, device=False)
    quantized(c, checkpoint=False)
    add_config_options(c, CostConfig)  # every CostConfig field
    c.set_defaults(fn=cmd_cost)

    s = sub.add_parser("search", help="search a mixed-precision policy on a proxy dataset")
    common(s)
    add_config_options(s, SearchConfig)  # every SearchConfig field declared with mpqlab.core.knobs.knob
    s.add_argument("--out", required=True, help="policy JSON path (run folder <out>.run beside it)")
    s.set_defaults(fn=cmd_search)

    tr = sub.add_parser("transfer", help="apply a policy to the target model and fine-tune its weights")
    common(tr)
    tr.add_argument("--policy", required=True)
    tr.add_argument("--init", default=None, help="the target's full-precision checkpoint")
    add_config_options(tr, TransferConfig)  # every TransferConfig field
    tr.add_argument("--out", required=True, help="RESULT.json")
    tr.set_defaults(fn=cmd_transfer)

    h = sub.add_parser("hessian", help="top eigenvalues and trace of the loss Hessian of a (quantized) model")
    common(h)
    quantized(h)
    add_config_options(h, HessianConfig)  # every HessianConfig field
    h.set_defaults(fn=cmd_hessian)

    ls = sub.add_parser("landscape", help="1-D / 2-D loss slice of a (quantized) model, saved as .npz")
    common(ls)
    quantized(ls)
    add_config_options(ls, LandscapeConfig)  # every LandscapeConfig field
    ls.add_argument("--out", required=True, help="the slice, a .npz file")
    ls.set_defaults(fn=cmd_landscape)

    x = sub.add_parser("experiment", help="a grid of search + transfer cells (resumable) -> results.csv / .md")
    x.add_argument("config", nargs="?", default=None, help="JSON config (configs/*.json); omit with --quick")
    x.add_argument("--quick", action="store_true", help="a 4-cell grid on the embedded data (minutes)")
    x.add_argument("--out", default=None, help="results folder (default results/<name>)")
    x.add_argument("--root", default=None)
    x.add_argument("--max-cells", type=COUNT, default=None, help="stop after this many cells (rerun to continue)")
    x.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local: worker processes on this machine; submitit: one job per cell (Slurm, or local)")
    x.add_argument("--workers", type=COUNT, default=1, help="local executor: cells run at once (1 = in this process)")
    x.add_argument("--threads-per-cell", type=COUNT, default=1,
                   help="intra-op threads of each cell (results do not depend on --workers)")
    x.add_argument("--cluster", choices=("slurm", "local", "debug"), default=None,
                   help="submitit: where jobs run (default: Slurm when sbatch is found, else local processes)")
    x.add_argument("--timeout-min", type=COUNT, default=240, help="submitit: time limit of one cell job, minutes")
    x.add_argument("--partition", default=None, help="submitit on Slurm: the partition")
    x.add_argument("--no-wait", action="store_true",
                   help="submitit: submit and return; rerun the same command later to merge finished cells")
    x.set_defaults(fn=lambda a: _print(_experiment(a), False))

    rm = sub.add_parser("remeasure", help="re-measure a finished grid's proxy side (and with --target its target "
                                          "surrogate gap) with the stratified sampler; no search is rerun")
    rm.add_argument("config", help="the grid's JSON config (configs/*.json)")
    rm.add_argument("--out", default=None, help="the grid's results folder (default results/<name>)")
    rm.add_argument("--root", default=None)
    rm.add_argument("--workers", type=COUNT, default=1, help="cells re-measured at once (single-threaded processes)")
    rm.add_argument("--target", action="store_true",
                    help="also redo each fine-tune (scratch folder) and re-measure the target surrogate gap")
    rm.add_argument("--max-cells", type=COUNT, default=None, help="stop after this many cells (rerun to continue)")
    rm.set_defaults(fn=lambda a: _print(_remeasure(a), False))

    nb = sub.add_parser("notebooks", help="write notebooks/*.ipynb from their jupytext sources notebooks/*.py")
    nb.add_argument("--check", action="store_true", help="write nothing; exit 1 naming any notebook that differs")
    nb.set_defaults(fn=lambda a: _print(_notebooks(a.check), False))

    f = sub.add_parser("figures", help="execute the notebooks headless and write every figure to figures/ (a smoke "
                                       "run writes to runs/figures-smoke and never to figures/)")
    f.add_argument("--smoke", action="store_true", help="run the notebooks in smoke mode")
    f.add_argument("--out", default=None, help="default: figures (full run), runs/figures-smoke (--smoke)")
    f.add_argument("--only", default=None, help="comma-separated notebook names")
    f.set_defaults(fn=lambda a: _print(_figures(a), False))

    bk = sub.add_parser("book", help="the executed notebooks as a static, offline site (runs/book/index.html)")
    bk.add_argument("--out", default=None, help="site folder (default runs/book)")
    bk.add_argument("--executed", default=None, help="executed notebooks (default notebooks/executed)")
    bk.set_defaults(fn=lambda a: _print(_book(a), False))

    an = sub.add_parser("answers", help="one answer per claim and setting, from the committed grids (the findings "
                                        "table); --write fills README.md and results/README.md")
    an.add_argument("--write", action="store_true", help="fill the marked blocks of README.md and results/README.md")
    an.add_argument("--check", action="store_true", help="write nothing; exit 1 if a page's block is stale")
    an.set_defaults(fn=_answers)

    q = sub.add_parser("quickstart", help="the main job on the embedded cifar10-mini: search, transfer, report")
    q.add_argument("--out", default="runs/quickstart")
    q.add_argument("--epochs", type=Bounded(int, 1, 10 ** 4), default=3)
    q.add_argument("--smoke", action="store_true", help="a few batches only")
    q.add_argument("--json", action="store_true")
    q.set_defaults(fn=_quickstart_cli)

    return p


def _answers(a) -> None:
    """Print the answers table; with --write / --check, the README blocks too."""

    print(answers_table())
    if a.write or a.check:
        changed = write_pages(check=a.check)
        print(("stale: " if a.check else "written: ") + (", ".join(changed) or "none"))
        if a.check and changed:
            sys.exit(1)


def main(argv=None):
    """The ``mpqlab`` entry point: parse, check every option, run the subcommand; exit 2 on bad input."""

    a = build_parser().parse_args(argv)
    try:
        a.fn(a)
    except MpqlabError as e:
        print(f"mpqlab {a.cmd}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
