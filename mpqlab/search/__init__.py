"""Mixed-precision search: supernet, objectives (edmips, gmpq, hawq), sharpness plug-ins, the search loop."""
from .config import SearchConfig
from .loop import read_metrics, read_softmaxes, run, run_dir_of
from .trajectory import read_trajectory

__all__ = ["SearchConfig", "read_metrics", "read_softmaxes", "read_trajectory", "run", "run_dir_of"]
