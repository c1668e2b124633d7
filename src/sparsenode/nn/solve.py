"""Batched integration of many trajectories in one solve on a merged time grid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torchdiffeq import odeint

from .fixed_grid import METHODS as FIXED_STEP_METHODS
from .fixed_grid import solve_on_grid
from .vector_field import VectorField

ADAPTIVE_METHODS = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun")


@dataclass(frozen=True)
class SolverOptions:
    """How to integrate.

    Parameters
    ----------
    method
        Fixed-step ``"rk4"``, ``"midpoint"`` or ``"euler"`` (integrated by :mod:`sparsenode.nn.fixed_grid`), or
        an adaptive ``torchdiffeq`` method (``"dopri5"``, ...).
    step_size
        Step of fixed-step methods, in the model's internal time units (see ``SparseNODE.time_scale_``).
    rtol, atol
        Tolerances of adaptive methods.
    max_steps
        Step budget of adaptive methods; exceeding it raises an error instead of running forever.
    """

    method: str = "rk4"
    step_size: float = 0.02
    rtol: float = 1e-3
    atol: float = 1e-4
    max_steps: int = 10_000

    def __post_init__(self) -> None:
        if self.method not in FIXED_STEP_METHODS + ADAPTIVE_METHODS:
            raise ValueError(f"solver={self.method!r} is not one of {FIXED_STEP_METHODS + ADAPTIVE_METHODS}")
        if not self.step_size > 0:
            raise ValueError(f"step_size={self.step_size!r} must be > 0")

    def odeint_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`torchdiffeq.odeint` (adaptive methods).

        Returns
        -------
        A dict with ``method``, ``rtol``, ``atol`` and ``options`` (``{"max_num_steps": max_steps}``).
        """
        return {
            "method": self.method,
            "rtol": self.rtol,
            "atol": self.atol,
            "options": {"max_num_steps": self.max_steps},
        }


@dataclass
class TrajectoryBatch:
    """Observed trajectories padded to a common length, with their points on one merged time grid.

    Attributes
    ----------
    grid
        ``(n_grid,)`` sorted unique times of all trajectories (each shifted to start at 0).
    grid_index
        ``(n_traj, max_points)`` position of each observation in ``grid`` (padding points index 0).
    observed
        ``(n_traj, max_points, n_features)`` observations, 0 where missing or padded.
    mask
        ``(n_traj, max_points, n_features)`` True where an observation enters the loss.
    initial
        ``(n_traj, state_dim)`` initial ODE states at time 0.
    """

    grid: torch.Tensor
    grid_index: torch.Tensor
    observed: torch.Tensor
    mask: torch.Tensor
    initial: torch.Tensor

    @classmethod
    def from_arrays(
        cls,
        expression: Sequence[np.ndarray],
        time: Sequence[np.ndarray],
        initial: np.ndarray,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> TrajectoryBatch:
        """Pad and merge trajectories into one batch on their merged time grid.

        Parameters
        ----------
        expression
            One ``(n_points_k, n_features)`` array per trajectory; NaN marks missing values (left out of the loss).
        time
            One ``(n_points_k,)`` array of times per trajectory, starting at 0 and not decreasing.
        initial
            ``(n_traj, state_dim)`` initial states.
        device, dtype
            Where and in which float type the tensors are made.

        Returns
        -------
        The padded batch (see the attributes of :class:`TrajectoryBatch`).
        """
        time = [np.asarray(times, dtype=np.float32) for times in time]
        grid = np.unique(np.concatenate(time))
        max_points = max(len(times) for times in time)
        n_features = expression[0].shape[1]
        observed = np.zeros((len(expression), max_points, n_features), dtype=np.float32)
        mask = np.zeros(observed.shape, dtype=bool)
        grid_index = np.zeros((len(expression), max_points), dtype=np.int64)
        for k, (values, times) in enumerate(zip(expression, time, strict=True)):
            present = np.isfinite(values)
            observed[k, : len(values)] = np.where(present, values, 0.0)
            mask[k, : len(values)] = present
            grid_index[k, : len(times)] = np.searchsorted(grid, times)
        as_tensor = lambda array, kind=dtype: torch.as_tensor(array, dtype=kind, device=device)
        return cls(
            grid=as_tensor(grid),
            grid_index=as_tensor(grid_index, torch.long),
            observed=as_tensor(observed),
            mask=as_tensor(mask, torch.bool),
            initial=as_tensor(initial),
        )

    def __len__(self) -> int:
        return self.observed.shape[0]

    def subset(self, trajectories: np.ndarray) -> TrajectoryBatch:
        """The batch restricted to some trajectories (their grid is kept whole).

        Parameters
        ----------
        trajectories
            Integer positions of the trajectories to keep, in the order they take in the new batch.

        Returns
        -------
        A new :class:`TrajectoryBatch` with ``len(trajectories)`` trajectories: ``grid_index``, ``observed``,
        ``mask`` and ``initial`` indexed along their first axis, and the same ``grid`` tensor.
        """
        index = torch.as_tensor(trajectories, device=self.observed.device)
        return TrajectoryBatch(
            grid=self.grid,
            grid_index=self.grid_index[index],
            observed=self.observed[index],
            mask=self.mask[index],
            initial=self.initial[index],
        )

    def with_initial(self, initial: torch.Tensor) -> TrajectoryBatch:
        """The same trajectories started from other initial states.

        Parameters
        ----------
        initial
            ``(n_traj, state_dim)`` initial states, one row per trajectory of this batch.

        Returns
        -------
        A new :class:`TrajectoryBatch` with these initial states; it shares the other tensors with this batch.
        """
        return TrajectoryBatch(self.grid, self.grid_index, self.observed, self.mask, initial)


def integrate(field: VectorField, initial: torch.Tensor, grid: torch.Tensor, solver: SolverOptions) -> torch.Tensor:
    """Solve the ODE of ``field`` from ``initial`` over ``grid``.

    :meth:`VectorField.prepare` must have been called for this solve.

    Parameters
    ----------
    field
        The prepared vector field.
    initial
        ``(n_traj, state_dim)`` initial states.
    grid
        ``(n_grid,)`` increasing times, starting at the time of ``initial``.
    solver
        The method and its step size or tolerances.

    Returns
    -------
    ``(n_grid, n_traj, state_dim)`` states at the grid times (the first is ``initial``).
    """
    if len(grid) == 1:
        return initial.unsqueeze(0)
    if solver.method in FIXED_STEP_METHODS:
        return solve_on_grid(field, initial, grid, step_size=solver.step_size, method=solver.method)
    return odeint(field, initial, grid, **solver.odeint_kwargs())


def predict_observations(field: VectorField, batch: TrajectoryBatch, solver: SolverOptions) -> torch.Tensor:
    """Predicted observed features (``(n_traj, max_points, n_features)``) at each observation's time.

    Fixed-step solvers interpolate each trajectory at its own times only (not at the whole merged grid: with
    many short trajectories, e.g. multiple-shooting segments, the merged grid is far longer than any one).
    """
    if solver.method in FIXED_STEP_METHODS and len(batch.grid) > 1:
        own_times = batch.grid[batch.grid_index]
        solution = solve_on_grid(field, batch.initial, own_times, step_size=solver.step_size, method=solver.method)
        return solution[..., : field.n_features]
    solution = integrate(field, batch.initial, batch.grid, solver)[..., : field.n_features]
    trajectory = torch.arange(len(batch), device=solution.device).unsqueeze(1)
    return solution[batch.grid_index, trajectory]


def masked_mse(predicted: torch.Tensor, observed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the entries where ``mask`` is True."""
    squared = torch.where(mask, (predicted - observed) ** 2, torch.zeros((), device=predicted.device))
    return squared.sum() / mask.sum().clamp_min(1)
