"""Preprocessing: turn an :class:`~anndata.AnnData` into trajectories for an ODE fit."""

from ._trajectories import Trajectories, trajectories

__all__ = ["Trajectories", "trajectories"]
