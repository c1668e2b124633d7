"""Plotting: every function reads a fit from :class:`~anndata.AnnData` (no model code needed)."""

from sparsenode.pl._dependencies import dependencies
from sparsenode.pl._forecast import forecast
from sparsenode.pl._history import history
from sparsenode.pl._network import network
from sparsenode.pl._perturbation import perturbation
from sparsenode.pl._regularization_path import regularization_path
from sparsenode.pl._trajectories import trajectories

__all__ = [
    "dependencies",
    "forecast",
    "history",
    "network",
    "perturbation",
    "regularization_path",
    "trajectories",
]
