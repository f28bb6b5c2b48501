"""Mixed-precision search: supernet, objectives (edmips, gmpq, hawq), sharpness plug-ins, the search loop."""
from .config import SearchConfig
from .loop import read_metrics, read_softmaxes, run, run_dir_of

__all__ = ["SearchConfig", "read_metrics", "read_softmaxes", "run", "run_dir_of"]
