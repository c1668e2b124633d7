"""The training loop: derivative-matching warm start, trajectory fitting, early stopping, history."""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from .regularizers import Regularizer
from .solve import SolverOptions, TrajectoryBatch, masked_mse, predict_observations
from .vector_field import VectorField

logger = logging.getLogger(__name__)

HISTORY_KEYS = ("epoch", "loss", "mse", "penalty", "velocity", "val_mse")


class FitError(RuntimeError):
    """Training cannot continue (non-finite loss, solver failure); the best parameters so far are kept."""


@dataclass(frozen=True)
class TrainingOptions:
    """Optimisation settings.

    Parameters
    ----------
    epochs
        Passes over all training trajectories.
    learning_rate
        Adam learning rate.
    batch_size
        Trajectories per optimiser step; ``None`` uses all in one solve.
    patience
        Stop after this many epochs without a better validation MSE (only with validation data).
    warm_start_epochs
        Full-batch steps matching ``f(x)`` to finite-difference derivatives before trajectory fitting.
    progress
        Show a progress bar.
    label
        Label of the progress bars (e.g. the regularizer, λ and the data), so that the bars of several fits can be
        told apart.
    warmup_steps
        Trajectory fitting raises the learning rate linearly from ``learning_rate / warmup_steps`` to
        ``learning_rate`` over its first ``warmup_steps`` optimiser steps: a fresh Adam's first steps move every
        parameter by about ``learning_rate``, which can undo the warm start (e.g. collapse an oscillation).
    initial_noise
        Standard deviation of Gaussian noise added to the (standardised) initial states at every trajectory-fitting
        step; validation always starts from the observed initial states.
    """

    epochs: int = 200
    learning_rate: float = 1e-2
    batch_size: int | None = None
    patience: int | None = 50
    warm_start_epochs: int = 500
    progress: bool = True
    label: str = "fitting"
    warmup_steps: int = 10
    initial_noise: float = 0.0


@dataclass
class DerivativeData:
    """Network inputs, the finite-difference derivatives they should produce (for the warm start), and where
    those derivatives are known (``mask``, same shape)."""

    states: torch.Tensor
    derivatives: torch.Tensor
    mask: torch.Tensor


@dataclass
class VelocityData:
    """Observed states (network inputs) and velocity estimates there (e.g. RNA velocity), for the velocity term
    ``weight * mean(1 - cos(f(state), velocity))`` over the features whose velocity is known (``mask``): it
    compares directions only, so the velocities' time unit does not matter."""

    states: torch.Tensor
    velocities: torch.Tensor
    mask: torch.Tensor
    weight: float

    def loss(self, field: VectorField) -> torch.Tensor:
        """The weighted mean cosine distance between the field and the velocities."""
        predicted = field.network(self.states) * self.mask
        similarity = torch.nn.functional.cosine_similarity(predicted, self.velocities, dim=-1)
        return self.weight * (1.0 - similarity).mean()


def _checked_step(
    field: VectorField,
    regularizer: Regularizer,
    optimizer: torch.optim.Optimizer,
    learning_rate: float,
    compute_mse: Callable[[], torch.Tensor],
    velocity: VelocityData | None = None,
) -> tuple[float, float, float]:
    """One optimiser step on ``mse + penalty (+ velocity term)``; raises :class:`FitError` on a non-finite loss.

    Returns the MSE, the penalty and the velocity term (NaN without velocities).
    """
    field.prepare(sample=regularizer.sample_gates)
    mse = compute_mse()
    penalty = regularizer.penalty(field)
    loss = mse + penalty
    velocity_loss = None if velocity is None else velocity.loss(field)
    if velocity_loss is not None:
        loss = loss + velocity_loss
    if not torch.isfinite(loss):
        raise FitError(
            f"the training loss became {loss.item()}; lower the learning rate, use solver='dopri5', "
            "or check the scaling of the data"
        )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    regularizer.proximal_step(field, learning_rate)
    return mse.item(), penalty.item(), math.nan if velocity_loss is None else velocity_loss.item()


def warm_start(
    field: VectorField, regularizer: Regularizer, data: DerivativeData, options: TrainingOptions
) -> bool:
    """Fit ``f(states) ~ derivatives`` (no ODE solve): a cheap start for trajectory fitting.

    Returns
    -------
    Whether a ``KeyboardInterrupt`` ended it (logged; the parameters reached are kept and, as for an interrupt
    of :func:`fit_trajectories`, the fit should end there).
    """
    optimizer = torch.optim.Adam(field.parameters(), lr=options.learning_rate)
    steps = tqdm(range(options.warm_start_epochs), desc=f"{options.label}: warm start", disable=not options.progress,
                 leave=False)
    step = 0
    try:
        for step in steps:
            mse, _, _ = _checked_step(
                field,
                regularizer,
                optimizer,
                options.learning_rate,
                lambda: masked_mse(field.network(data.states), data.derivatives, data.mask),
            )
            steps.set_postfix(mse=f"{mse:.4g}", refresh=False)
    except KeyboardInterrupt:
        logger.warning("fitting interrupted in the warm start after %d steps; keeping its parameters", step)
        return True
    finally:
        steps.close()
    return False


@torch.no_grad()
def evaluate(field: VectorField, batch: TrajectoryBatch, solver: SolverOptions) -> float:
    """Masked trajectory MSE with deterministic gates."""
    field.prepare(sample=False)
    return masked_mse(predict_observations(field, batch, solver), batch.observed, batch.mask).item()


def fit_trajectories(
    field: VectorField,
    regularizer: Regularizer,
    train: TrajectoryBatch,
    solver: SolverOptions,
    options: TrainingOptions,
    *,
    validation: TrajectoryBatch | None = None,
    velocity: VelocityData | None = None,
    generator: np.random.Generator,
) -> tuple[dict[str, np.ndarray], bool]:
    """Train ``field`` on ``train`` (plus the ``velocity`` term at every step).

    With ``validation`` the parameters of the epoch with the lowest validation MSE are restored at the end and
    training stops early after ``patience`` epochs without improvement. A ``KeyboardInterrupt`` stops training
    like early stopping does (logged as a warning): with ``validation`` the best parameters are kept, without it
    the last ones.

    Parameters
    ----------
    field
        The vector field to train (its parameters are updated in place).
    regularizer
        The sparsity penalty added to the loss (and its proximal step, if it has one).
    train
        The training trajectories.
    solver
        How each solve integrates the field.
    options
        Epochs, learning rate, batch size, patience and the other optimisation settings.
    validation
        Held-out trajectories scored after every epoch (early stopping and the best parameters), or ``None``.
    velocity
        States and velocity estimates for the velocity term, or ``None``.
    generator
        The random generator of the batch order (seeded by the caller); the initial-state noise and the gate
        samples come from torch's random state.

    Returns
    -------
    The per-epoch history, a dict of numpy arrays with the keys ``HISTORY_KEYS`` (``val_mse`` NaN without
    ``validation``), and whether a ``KeyboardInterrupt`` ended training.

    Raises
    ------
    FitError
        When the loss becomes non-finite or the adaptive solver exceeds its step budget; the best parameters
        so far are restored first.
    """
    optimizer = torch.optim.Adam(field.parameters(), lr=options.learning_rate)
    history: dict[str, list[float]] = {key: [] for key in HISTORY_KEYS}
    best_score, best_state, since_best = math.inf, copy.deepcopy(field.state_dict()), 0
    batch_size = options.batch_size or len(train)
    epochs = tqdm(range(options.epochs), desc=options.label, disable=not options.progress)
    step, interrupted = 0, False
    try:
        for epoch in epochs:
            order = generator.permutation(len(train)) if batch_size < len(train) else np.arange(len(train))
            mse_sum = penalty_sum = velocity_sum = 0.0
            for start in range(0, len(train), batch_size):
                batch = train.subset(order[start : start + batch_size]) if batch_size < len(train) else train
                if options.initial_noise > 0:
                    batch = batch.with_initial(batch.initial + options.initial_noise * torch.randn_like(batch.initial))
                step += 1
                learning_rate = options.learning_rate * min(1.0, step / max(1, options.warmup_steps))
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate
                mse, penalty, velocity_loss = _checked_step(
                    field,
                    regularizer,
                    optimizer,
                    learning_rate,
                    lambda batch=batch: masked_mse(
                        predict_observations(field, batch, solver), batch.observed, batch.mask
                    ),
                    velocity,
                )
                weight = len(batch) / len(train)
                mse_sum, penalty_sum = mse_sum + weight * mse, penalty_sum + weight * penalty
                velocity_sum += weight * velocity_loss
            val_mse = evaluate(field, validation, solver) if validation is not None else math.nan
            total = mse_sum + penalty_sum + (0.0 if velocity is None else velocity_sum)
            for key, value in zip(
                HISTORY_KEYS, (epoch, total, mse_sum, penalty_sum, velocity_sum, val_mse), strict=True
            ):
                history[key].append(value)
            shown = {"mse": f"{mse_sum:.4g}"} | ({} if validation is None else {"val": f"{val_mse:.4g}"})
            epochs.set_postfix(shown, refresh=False)
            score = val_mse if validation is not None else total
            if score < best_score:
                best_score, best_state, since_best = score, copy.deepcopy(field.state_dict()), 0
            else:
                since_best += 1
            if validation is not None and options.patience is not None and since_best >= options.patience:
                logger.info("early stopping at epoch %d: no better validation MSE for %d epochs", epoch, since_best)
                break
    except KeyboardInterrupt:
        interrupted = True
        kept = "the best parameters by validation MSE" if validation is not None else "the last parameters"
        logger.warning("fitting interrupted after %d epochs; keeping %s", len(history["epoch"]), kept)
    except (FitError, AssertionError, RuntimeError) as error:
        field.load_state_dict(best_state)
        if isinstance(error, FitError):
            raise
        raise FitError(
            f"the ODE solver failed ({error}); try solver='rk4' with a smaller step_size, a lower learning rate, "
            "or a larger max_steps"
        ) from error
    finally:
        epochs.close()
    if validation is not None:
        field.load_state_dict(best_state)
    return {key: np.asarray(values, dtype=np.float64) for key, values in history.items()}, interrupted
