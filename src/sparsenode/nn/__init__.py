"""Torch building blocks (no AnnData, no numpy I/O): gates, gated layers, vector fields, regularizers,
batched integration and the training loop."""

from .gates import HardConcreteGate
from .layers import GatedLinear
from .regularizers import REGULARIZERS, Regularizer, make_regularizer
from .solve import SolverOptions, TrajectoryBatch, integrate
from .train import FitError, TrainingOptions, fit_trajectories
from .vector_field import VectorField

__all__ = [
    "REGULARIZERS",
    "FitError",
    "GatedLinear",
    "HardConcreteGate",
    "Regularizer",
    "SolverOptions",
    "TrainingOptions",
    "TrajectoryBatch",
    "VectorField",
    "fit_trajectories",
    "integrate",
    "make_regularizer",
]
