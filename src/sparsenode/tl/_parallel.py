"""Fitting many models at once (bootstrap replicates, a λ grid) with joblib, reproducibly.

Every fit dispatched here gives the same result wherever it runs (in this process, a loky worker process, a
thread of a dask worker, another machine) and whatever ``n_jobs`` is:

* each fit gets its seed and data explicitly (no global random state is read or left behind: the estimator
  seeds torch inside :func:`torch.random.fork_rng`);
* each fit runs on exactly one torch thread (intra-op parallelism can change the order of floating-point
  reductions), inside a context that restores the previous thread count;
* fits running as threads of one process (joblib's threading backend, dask with ``processes=False``) take
  turns, because torch's random generator and thread count are shared by all threads of a process.

Workers return the fitted model's state (a JSON-able config and plain arrays), never a live torch object;
the caller rebuilds the model with :meth:`SparseNODE.from_state <sparsenode.SparseNODE.from_state>`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from joblib import Parallel, delayed

from ..estimator import SparseNODE
from ..nn.train import FitError

#: Serialises fits within one process (see the module docstring).
_TORCH_LOCK = threading.Lock()


def check_n_jobs(n_jobs: Any) -> None:
    """``n_jobs`` as joblib reads it: a non-zero integer (``-1``: all cores)."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int | np.integer) or n_jobs == 0:
        raise ValueError(f"n_jobs={n_jobs!r} must be a non-zero integer (1: no parallelism, -1: all cores)")


@contextmanager
def isolated_torch() -> Iterator[None]:
    """One fit at a time per process, on a single torch thread; the previous thread count is restored."""
    with _TORCH_LOCK:
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(previous)


@dataclass(frozen=True)
class FitTask:
    """Everything one fit needs: estimator arguments (seed included), training data, optional validation and
    further :meth:`SparseNODE.fit <sparsenode.SparseNODE.fit>` arguments (``regulators``, ``prior``,
    ``velocity``); ``then``: a fit that continues this one's model (``fit(init_model=...)``)."""

    params: dict[str, Any]
    X: list[np.ndarray]
    t: list[np.ndarray]
    validation: tuple[list[np.ndarray], list[np.ndarray]] | None = None
    fit_kwargs: dict[str, Any] = field(default_factory=dict)
    then: FitTask | None = None


@dataclass(frozen=True)
class FitOutcome:
    """A fitted model's state, or the message of the :class:`~sparsenode.nn.train.FitError` that stopped it."""

    config: dict[str, Any] | None
    arrays: dict[str, np.ndarray] | None
    error: str | None = None

    def model(self) -> SparseNODE:
        """The fitted estimator (raises :class:`~sparsenode.nn.train.FitError` if the fit failed)."""
        if self.error is not None:
            raise FitError(self.error)
        return SparseNODE.from_state(self.config, self.arrays)


def fit_task(task: FitTask) -> SparseNODE:
    """The model of ``task`` and of the tasks chained to it with ``then``, each continuing the previous model;
    a fit ended by Ctrl-C (``interrupted_``) ends the chain there."""
    model, stage = None, task
    while stage is not None:
        model = SparseNODE(**stage.params).fit(stage.X, stage.t, validation=stage.validation, init_model=model,
                                               **stage.fit_kwargs)
        stage = None if model.interrupted_ else stage.then
    return model


def run_task(task: FitTask) -> FitOutcome:
    """Fit one model in isolation (the joblib worker function; module level so that it pickles by name).

    Raises
    ------
    KeyboardInterrupt
        When Ctrl-C ended the fit: one of several fits cut short must stop the whole tool (as it does with
        ``n_jobs > 1``, where joblib receives the interrupt), never enter its results.
    """
    with isolated_torch():
        try:
            model = fit_task(task)
        except FitError as error:
            return FitOutcome(None, None, str(error))
        if model.interrupted_:
            raise KeyboardInterrupt("a fit of several was interrupted; nothing is written")
        config, arrays = model.get_state()
    return FitOutcome(config, arrays)


def run_tasks(tasks: Sequence[FitTask], *, n_jobs: int) -> list[FitOutcome]:
    """Run the fits with joblib (the active backend, e.g. ``parallel_backend("dask")``), in task order."""
    return Parallel(n_jobs=n_jobs)(delayed(run_task)(task) for task in tasks)
