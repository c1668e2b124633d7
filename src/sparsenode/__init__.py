"""sparsenode: feature-sparse neural ODEs for gene-regulatory dynamics and multivariate time series."""

from importlib.metadata import PackageNotFoundError, version

from . import datasets, pl, pp, tl
from .estimator import SparseNODE

try:
    __version__ = version("sparsenode")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["SparseNODE", "__version__", "datasets", "pl", "pp", "tl"]
