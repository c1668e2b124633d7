"""Tools on AnnData: fit a sparse neural ODE (one λ or a path), rebuild it, predict, list and score the edges."""

from ._fit import fit
from ._path import regularization_path
from ._results import edges, model, predict, score

__all__ = ["edges", "fit", "model", "predict", "regularization_path", "score"]
