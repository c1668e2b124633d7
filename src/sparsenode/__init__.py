"""sparsenode: feature-sparse neural ODEs for gene-regulatory dynamics and multivariate time series."""

from importlib.metadata import PackageNotFoundError, version

from . import datasets, metrics, nn, pl, pp, tl
from .estimator import NotFittedError, SparseNODE
from .io import ModelFormatError

try:
    __version__ = version("sparsenode")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = [
    "ModelFormatError",
    "NotFittedError",
    "SparseNODE",
    "__version__",
    "datasets",
    "metrics",
    "nn",
    "pl",
    "pp",
    "tl",
]
