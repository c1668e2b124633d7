"""Tools on AnnData: fit a sparse neural ODE, rebuild it, predict, list and score the inferred edges."""

from ._fit import fit
from ._results import edges, model, predict, score

__all__ = ["edges", "fit", "model", "predict", "score"]
