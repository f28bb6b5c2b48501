"""Mixed-precision search: supernet, objectives (edmips, gmpq, hawq), sharpness plug-ins, the search loop."""
from .loop import SearchConfig, read_metrics, read_softmaxes, run

__all__ = ["SearchConfig", "read_metrics", "read_softmaxes", "run"]
