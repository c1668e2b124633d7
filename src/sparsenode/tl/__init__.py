"""Tools on AnnData: fit a sparse neural ODE (one λ or a path), rebuild it, predict, perturb, list and score the
edges."""

from ._fit import fit
from ._path import regularization_path
from ._perturb import perturb
from ._results import edges, model, predict, score

__all__ = ["edges", "fit", "model", "perturb", "predict", "regularization_path", "score"]
