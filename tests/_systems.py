"""Synthetic dynamical systems with known structure, shared by the estimator tests and the benchmarks.

Every generator returns observations ``X`` (``(n_trajectories, n_times, d)``), times ``t`` (``(n_times,)``)
and, where the system has one, its reference network ``(d, d)`` (row = target, column = input; the diagonal
holds self-regulation).
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp
from scipy.linalg import expm


def sparse_linear_system(
    d: int = 10, n_edges: int = 15, n_trajectories: int = 12, n_times: int = 30, t_max: float = 5.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dx/dt = A x`` with ``A``'s diagonal -0.5 and ``n_edges`` random off-diagonal entries of magnitude
    0.5 to 1 and random sign, shifted to be stable; initial states are standard normal.

    Returns
    -------
    ``(X, t, A)``.
    """
    rng = np.random.default_rng(seed)
    A = -0.5 * np.eye(d)
    off_diagonal = np.flatnonzero(~np.eye(d, dtype=bool))
    edges = rng.choice(off_diagonal, n_edges, replace=False)
    A.flat[edges] = rng.choice([-1.0, 1.0], n_edges) * rng.uniform(0.5, 1.0, n_edges)
    growth = np.linalg.eigvals(A).real.max()
    if growth > -0.1:
        A -= (growth + 0.2) * np.eye(d)
    t = np.linspace(0.0, t_max, n_times)
    propagators = np.stack([expm(A * time) for time in t])
    X = np.einsum("tij,kj->kti", propagators, rng.normal(size=(n_trajectories, d)))
    return X, t, A


def repressilator(
    n_trajectories: int = 8, n_times: int = 30, t_max: float = 15.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The repressilator (Elowitz & Leibler 2000): mRNAs ``m_i`` (features 0-2) and proteins ``p_i`` (3-5),
    ``dm_i/dt = -m_i + 10 / (1 + p_{i-1}^3)``, ``dp_i/dt = m_i - p_i``, from random states in ``[0, 5]``.

    Returns
    -------
    ``(X, t, network)``; the network has 1 on the diagonal and on the six regulations ``p_{i-1} -> m_i``
    and ``m_i -> p_i``.
    """
    rng = np.random.default_rng(seed)
    repressor = np.array([2, 0, 1])

    def field(_: float, state: np.ndarray) -> np.ndarray:
        mrna, protein = state[:3], state[3:]
        return np.concatenate([-mrna + 10.0 / (1.0 + protein[repressor] ** 3), mrna - protein])

    t = np.linspace(0.0, t_max, n_times)
    X = np.stack([
        solve_ivp(field, (0.0, t_max), rng.uniform(0.0, 5.0, 6), t_eval=t, rtol=1e-8, atol=1e-8).y.T
        for _ in range(n_trajectories)
    ])
    network = np.eye(6)
    network[np.arange(3), 3 + repressor] = 1.0
    network[3 + np.arange(3), np.arange(3)] = 1.0
    return X, t, network


def harmonic_oscillator(
    omega: float = 1.5, n_trajectories: int = 6, n_times: int = 25, t_max: float = 5.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``d²x/dt² = -omega² x`` for two uncoupled features with random initial positions and velocities.

    Returns
    -------
    ``(X, t, x0, v0)``: the exact solution and the initial positions and velocities ``(n_trajectories, 2)``.
    """
    rng = np.random.default_rng(seed)
    x0, v0 = rng.uniform(-1.0, 1.0, (2, n_trajectories, 2))
    t = np.linspace(0.0, t_max, n_times)
    phase = omega * t[None, :, None]
    X = x0[:, None] * np.cos(phase) + (v0[:, None] / omega) * np.sin(phase)
    return X, t, x0, v0
