"""The fast paths of fitting checked against the adaptive reference solver (``torchdiffeq`` dopri5 at tight
tolerances) on small systems: fixed-step solvers with Hermite interpolation, batched solves of trajectories with
their own irregular times, gates sampled once per solve, and whole fits with the fixed-step default."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _systems import sparse_linear_system
from torchdiffeq import odeint

from sparsenode import SparseNODE
from sparsenode.nn import VectorField
from sparsenode.nn.fixed_grid import solve_on_grid
from sparsenode.nn.solve import SolverOptions, TrajectoryBatch, integrate, predict_observations

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REFERENCE = {"method": "dopri5", "rtol": 1e-9, "atol": 1e-11}


@pytest.fixture()
def field() -> VectorField:
    """A random smooth (tanh) field on 4 features, in float64 so that the reference is exact to ~1e-9."""
    torch.manual_seed(0)
    field = VectorField(4, hidden=(16, 16), activation="tanh").double()
    field.prepare(sample=False)
    return field


@pytest.mark.parametrize(("method", "tolerance"), [("rk4", 1e-7), ("midpoint", 1e-4), ("euler", 1e-2)])
def test_fixed_step_solvers_match_the_adaptive_reference(field, method: str, tolerance: float) -> None:
    initial = torch.randn(3, 4, dtype=torch.float64)
    times = torch.tensor([0.0, 0.13, 0.4, 0.41, 0.77, 1.0], dtype=torch.float64)  # irregular, off the grid
    reference = odeint(field, initial, times, **REFERENCE)
    fast = solve_on_grid(field, initial, times, step_size=0.05, method=method)
    error = (fast - reference).abs().max().item()
    # measured: rk4 9e-10, midpoint 7e-6, euler 2e-3 (20 steps per unit time)
    assert error < tolerance
    assert error > 0  # a different computation, not a copy of the reference


def test_rk4_error_shrinks_at_fourth_order(field) -> None:
    initial = torch.randn(2, 4, dtype=torch.float64)
    times = torch.linspace(0.0, 1.0, 5, dtype=torch.float64)
    reference = odeint(field, initial, times, **REFERENCE)
    errors = [(solve_on_grid(field, initial, times, step_size=step) - reference).abs().max().item()
              for step in (0.2, 0.1)]
    assert errors[0] / errors[1] > 8  # measured 13.5 (16 for exact fourth order)


def test_batched_solve_of_trajectories_with_their_own_times_matches_separate_reference_solves(field) -> None:
    rng = np.random.default_rng(1)
    times = [np.sort(rng.uniform(0, span, n)) for span, n in ((1.0, 7), (0.4, 3), (2.0, 11))]
    times = [np.concatenate([[0.0], t]) for t in times]
    values = [rng.normal(size=(len(t), 4)) for t in times]
    initial = rng.normal(size=(3, 4))
    batch = TrajectoryBatch.from_arrays(values, times, initial, dtype=torch.float64)
    with torch.no_grad():
        fast = predict_observations(field, batch, SolverOptions("rk4", step_size=0.02))
        merged = predict_observations(field, batch, SolverOptions("dopri5", rtol=1e-9, atol=1e-11))
    for k, t in enumerate(times):
        with torch.no_grad():
            alone = odeint(field, torch.as_tensor(initial[k : k + 1]), torch.as_tensor(t), **REFERENCE)[:, 0]
        np.testing.assert_allclose(fast[k, : len(t)].numpy(), alone.numpy(), atol=1e-6)
        np.testing.assert_allclose(merged[k, : len(t)].numpy(), alone.numpy(), atol=1e-7)


def test_own_time_interpolation_equals_the_merged_grid_solve(field) -> None:
    times = [np.array([0.0, 0.3, 0.9]), np.array([0.0, 0.5]), np.array([0.0, 0.1, 0.2, 0.7])]
    values = [np.zeros((len(t), 4)) for t in times]
    batch = TrajectoryBatch.from_arrays(values, times, np.random.default_rng(2).normal(size=(3, 4)),
                                        dtype=torch.float64)
    solver = SolverOptions("rk4", step_size=0.05)
    own_times = predict_observations(field, batch, solver)
    on_merged_grid = integrate(field, batch.initial, batch.grid, solver)[batch.grid_index, torch.arange(3)[:, None]]
    torch.testing.assert_close(own_times, on_merged_grid)


@pytest.mark.parametrize("gates", ["unit", "weight"])
def test_gates_are_sampled_once_per_solve_unless_asked_for_every_evaluation(gates: str) -> None:
    state = torch.randn(5, 3)
    once = VectorField(3, hidden=(8,), gates=gates, initial_open=0.5)
    every = VectorField(3, hidden=(8,), gates=gates, initial_open=0.5, resample_gates="evaluation")
    every.load_state_dict(once.state_dict())
    torch.manual_seed(0)
    once.prepare(sample=True)
    torch.testing.assert_close(once(torch.tensor(0.0), state), once(torch.tensor(0.1), state))
    every.prepare(sample=True)
    assert not torch.equal(every(torch.tensor(0.0), state), every(torch.tensor(0.1), state))
    # with deterministic gates (prediction) both schemes are the same field
    once.prepare(sample=False)
    every.prepare(sample=False)
    torch.testing.assert_close(once(torch.tensor(0.0), state), every(torch.tensor(0.0), state))


def test_a_fit_with_the_fixed_step_default_is_as_accurate_as_one_with_the_adaptive_solver() -> None:
    X, t, _ = sparse_linear_system(d=5, n_edges=6, n_trajectories=6, seed=3)
    settings = {"hidden": (16, 16), "warm_start_epochs": 200, "epochs": 15, "progress": False}
    fast = SparseNODE("pathreg", **settings).fit(X, t)
    adaptive = SparseNODE("pathreg", solver="dopri5", rtol=1e-6, atol=1e-8, **settings).fit(X, t)
    # the fixed-step model, integrated by the adaptive solver, predicts as it did with its own solver ...
    fast_score = fast.mse(X, t)
    fast.solver_ = SolverOptions("dopri5", rtol=1e-8, atol=1e-10)
    assert abs(fast.mse(X, t) - fast_score) < 0.01 * fast_score  # measured: relative difference 6e-6
    # ... and fits the data about as well as the model trained with the adaptive solver
    assert fast_score < 1.5 * adaptive.mse(X, t)  # measured: 4.887e-4 against 4.889e-4
