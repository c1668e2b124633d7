"""Preprocessing: turn an :class:`~anndata.AnnData` into trajectories (or transport-paired cells) for an ODE fit."""

from ._trajectories import Trajectories, trajectories
from ._transport import transport_pairs

__all__ = ["Trajectories", "trajectories", "transport_pairs"]
