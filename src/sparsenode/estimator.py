"""``SparseNODE``: a feature-sparse neural ODE estimator on numpy arrays (no AnnData)."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from . import io
from .nn.regularizers import make_regularizer
from .nn.solve import SolverOptions, TrajectoryBatch, masked_mse, predict_observations
from .nn.train import DerivativeData, TrainingOptions, fit_trajectories, warm_start
from .nn.vector_field import VectorField

logger = logging.getLogger(__name__)

ArrayLike = np.ndarray | Sequence[np.ndarray]


class NotFittedError(RuntimeError):
    """The model must be fitted (or loaded) first."""


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` is CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def as_trajectories(X: ArrayLike, t: ArrayLike, *, name: str = "X") -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Validate trajectories and return them as lists of ``(n_time_k, d)`` values and ``(n_time_k,)`` times.

    Accepted forms: ``X`` of shape ``(n_traj, n_time, d)`` with a shared ``t`` ``(n_time,)`` or per-trajectory
    ``t`` ``(n_traj, n_time)``; ``X`` a single ``(n_time, d)`` trajectory with ``t`` ``(n_time,)``; or lists of
    ``(n_time_k, d)`` arrays with a list of ``(n_time_k,)`` times. NaN in ``X`` marks a missing value.
    """
    if isinstance(X, np.ndarray) or not isinstance(X, Sequence):
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 2:
            X = X[None]
        if X.ndim != 3:
            raise ValueError(f"{name} must be (n_traj, n_time, n_features) or (n_time, n_features); got {X.shape}")
        values = list(X)
    else:
        values = [np.asarray(x, dtype=np.float64) for x in X]
    if not values:
        raise ValueError(f"{name} holds no trajectory")
    if isinstance(t, np.ndarray) or not isinstance(t, Sequence) or np.isscalar(t[0]):
        t = np.asarray(t, dtype=np.float64)
        times = [t] * len(values) if t.ndim == 1 else list(t)
    else:
        times = [np.asarray(times_k, dtype=np.float64) for times_k in t]
    if len(times) != len(values):
        raise ValueError(f"{name} has {len(values)} trajectories but t has {len(times)}")
    n_features = values[0].shape[-1] if values[0].ndim == 2 else None
    for k, (x, times_k) in enumerate(zip(values, times, strict=True)):
        if x.ndim != 2 or x.shape[1] != n_features:
            raise ValueError(f"trajectory {k} of {name} has shape {x.shape}; expected (n_time, {n_features})")
        if times_k.ndim != 1 or len(times_k) != len(x):
            raise ValueError(f"trajectory {k}: t has shape {times_k.shape} but {name} has {len(x)} time points")
        if len(times_k) < 2:
            raise ValueError(f"trajectory {k} has {len(times_k)} time point(s); at least 2 are needed")
        if not np.all(np.isfinite(times_k)):
            raise ValueError(f"trajectory {k}: t contains NaN or inf")
        if np.any(np.diff(times_k) < 0):
            raise ValueError(f"trajectory {k}: t decreases; sort each trajectory by time")
        if np.any(np.isinf(x)):
            raise ValueError(f"trajectory {k} of {name} contains inf; replace it or mark it missing with NaN")
    return values, times


class SparseNODE:
    """A neural ODE ``dx/dt = f(x)`` whose vector field is made sparse by one of seven regularizers.

    Parameters
    ----------
    regularization
        ``"none"``; weight sparsity: ``"l1"``, ``"l0"``; feature sparsity: ``"cnode"``, ``"group_lasso"``,
        ``"lassonet"``, ``"pathreg"`` (Aliee et al. 2022). See :mod:`sparsenode.nn.regularizers`.
    lam
        Regularization strength ``lambda`` (>= 0).
    hidden
        Hidden layer widths of the MLP vector field.
    order
        1: ``dx/dt = f(x)``; 2: ``d²x/dt² = f(x, dx/dt)`` (second-order dynamics).
    activation
        Activation after every hidden layer (``"elu"``, ``"tanh"``, ``"relu"``, ``"softplus"``, ``"silu"``).
    regularization_options
        Extra options of the regularizer, e.g. ``{"gates": "weight"}`` for PathReg with one gate per weight or
        ``{"hierarchy": 10.0}`` for LassoNet.
    solver
        ``torchdiffeq`` method: fixed-step ``"rk4"`` (default, fast), ``"euler"``, ``"midpoint"``, or adaptive
        ``"dopri5"`` etc.
    step_size
        Step of fixed-step solvers in internal time units (the longest trajectory spans 1). ``None`` chooses
        the median spacing of the observed times, clipped to ``[1/200, 1/20]``.
    rtol, atol, max_steps
        Tolerances and step budget of adaptive solvers.
    epochs, learning_rate, batch_size, patience, warm_start_epochs
        Optimisation (see :class:`~sparsenode.nn.train.TrainingOptions`).
    validation_fraction
        Share of the observed points of the training trajectories held out at random for validation and
        early stopping when :meth:`fit` gets no ``validation`` trajectories.
    initial_points
        The initial state is the mean of each trajectory's first ``initial_points`` observations (order 2: a
        line fitted through the first ``max(2, initial_points)`` gives position and velocity).
    standardize
        Internally centre and scale every feature to unit variance (undone in every output).
    seed
        Seed of weight initialisation, gate noise and data splits; the same seed gives identical results on CPU.
    device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
    progress
        Show a progress bar while fitting.

    Attributes
    ----------
    history_
        Per-epoch arrays ``epoch``, ``loss``, ``mse``, ``penalty``, ``val_mse`` (internal, standardised units).
    n_features_in_
        Number of features ``d``.

    Notes
    -----
    Time is shifted so every trajectory starts at 0 (the field is autonomous) and divided by the longest
    duration; features are standardised. Predictions, Jacobians and scores are returned in the input's units.
    """

    def __init__(
        self,
        regularization: str = "pathreg",
        lam: float = 1e-2,
        *,
        hidden: Sequence[int] = (100, 100),
        order: int = 1,
        activation: str = "elu",
        regularization_options: dict[str, Any] | None = None,
        solver: str = "rk4",
        step_size: float | None = None,
        rtol: float = 1e-3,
        atol: float = 1e-4,
        max_steps: int = 10_000,
        epochs: int = 300,
        learning_rate: float = 1e-2,
        batch_size: int | None = None,
        patience: int | None = 50,
        warm_start_epochs: int = 0,
        validation_fraction: float = 0.0,
        initial_points: int = 1,
        standardize: bool = True,
        seed: int = 0,
        device: str = "auto",
        progress: bool = True,
    ) -> None:
        self.regularization, self.lam = regularization, lam
        self.hidden, self.order, self.activation = tuple(int(h) for h in hidden), order, activation
        self.regularization_options = dict(regularization_options or {})
        self.solver, self.step_size, self.rtol, self.atol, self.max_steps = solver, step_size, rtol, atol, max_steps
        self.epochs, self.learning_rate, self.batch_size = epochs, learning_rate, batch_size
        self.patience, self.warm_start_epochs = patience, warm_start_epochs
        self.validation_fraction, self.initial_points = validation_fraction, initial_points
        self.standardize, self.seed, self.device, self.progress = standardize, seed, device, progress
        self._validate_params()

    # ------------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (JSON-able)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        params = {name: getattr(self, name) for name in names}
        params["hidden"] = list(params["hidden"])
        return params

    def _validate_params(self) -> None:
        regularizer = make_regularizer(self.regularization, self.lam, **self.regularization_options)
        if self.order not in (1, 2):
            raise ValueError(f"order={self.order!r} must be 1 or 2")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden={self.hidden!r} must be a non-empty sequence of positive widths")
        for name in ("epochs", "initial_points", "max_steps"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive integer")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate={self.learning_rate!r} must be > 0")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction={self.validation_fraction!r} must be in [0, 1)")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size!r} must be None or >= 1")
        SolverOptions(self.solver, self.step_size or 0.02, self.rtol, self.atol, self.max_steps)
        VectorField(1, hidden=self.hidden, order=self.order, activation=self.activation,
                    **regularizer.field_options())
        resolve_device(self.device)

    # ------------------------------------------------------------------ fitting
    def fit(
        self, X: ArrayLike, t: ArrayLike, *, validation: tuple[ArrayLike, ArrayLike] | None = None
    ) -> SparseNODE:
        """Fit the vector field to observed trajectories.

        Parameters
        ----------
        X
            ``(n_traj, n_time, d)``, a single ``(n_time, d)`` trajectory, or a list of ``(n_time_k, d)`` arrays.
            NaN marks missing values (masked out of the loss).
        t
            Observation times: ``(n_time,)`` shared, ``(n_traj, n_time)``, or a list of ``(n_time_k,)``; any
            scale, non-decreasing within each trajectory.
        validation
            Optional held-out ``(X_val, t_val)`` used for early stopping and to keep the best epoch.

        Returns
        -------
        The fitted estimator.
        """
        values, times = as_trajectories(X, t)
        self._set_scaling(values, times)
        scaled = [self._scale_values(x) for x in values]
        shifted = [self._scale_time(times_k) for times_k in times]
        device = resolve_device(self.device)
        rng = np.random.default_rng(self.seed)
        self.solver_ = self._solver_options(shifted)
        self.regularizer_ = make_regularizer(self.regularization, self.lam, **self.regularization_options)
        train = TrajectoryBatch.from_arrays(scaled, shifted, self._initial_states(scaled, shifted), device=device)
        validation_batch = None
        if validation is not None:
            validation_batch = self._batch(*validation, device=device)
        elif self.validation_fraction > 0:
            held_out = torch.as_tensor(rng.random(train.mask.shape[:2]) < self.validation_fraction, device=device)
            held_out = held_out.unsqueeze(-1) & train.mask
            validation_batch = train.with_mask(held_out)
            train = train.with_mask(train.mask & ~held_out)
        options = TrainingOptions(self.epochs, self.learning_rate, self.batch_size, self.patience,
                                  self.warm_start_epochs, self.progress)
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            self.field_ = VectorField(
                self.n_features_in_, hidden=self.hidden, order=self.order, activation=self.activation,
                **self.regularizer_.field_options(),
            ).to(device)
            if self.warm_start_epochs:
                warm_start(self.field_, self.regularizer_, self._derivative_data(scaled, shifted, device), options)
            self.history_ = fit_trajectories(
                self.field_, self.regularizer_, train, self.solver_, options, validation=validation_batch,
                generator=rng,
            )
        logger.info("fitted %s on %d trajectories, %d features", self.regularization, len(values),
                    self.n_features_in_)
        return self

    def _set_scaling(self, values: list[np.ndarray], times: list[np.ndarray]) -> None:
        stacked = np.concatenate(values)
        self.n_features_in_ = stacked.shape[1]
        empty = np.flatnonzero(np.all(np.isnan(stacked), axis=0))
        if empty.size:
            raise ValueError(f"features {empty[:10].tolist()} have no observed (non-NaN) value")
        self.time_scale_ = float(max(times_k[-1] - times_k[0] for times_k in times))
        if self.time_scale_ <= 0:
            raise ValueError("every trajectory has constant time; t must increase within a trajectory")
        if self.standardize:
            self.feature_mean_ = np.nanmean(stacked, axis=0)
            std = np.nanstd(stacked, axis=0)
            constant = std <= 1e-12 * np.maximum(1.0, np.abs(self.feature_mean_))
            if constant.any():
                logger.warning("features %s are constant; they are kept unscaled", np.flatnonzero(constant)[:10])
            self.feature_std_ = np.where(constant, 1.0, std)
        else:
            self.feature_mean_ = np.zeros(self.n_features_in_)
            self.feature_std_ = np.ones(self.n_features_in_)

    def _scale_values(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.feature_mean_) / self.feature_std_).astype(np.float32)

    def _scale_time(self, times: np.ndarray) -> np.ndarray:
        return ((times - times[0]) / self.time_scale_).astype(np.float32)

    def _solver_options(self, shifted: list[np.ndarray]) -> SolverOptions:
        step_size = self.step_size
        if step_size is None:
            spacing = np.concatenate([np.diff(times) for times in shifted])
            spacing = spacing[spacing > 0]
            step_size = float(np.clip(np.median(spacing) if spacing.size else 0.05, 1 / 200, 1 / 20))
        return SolverOptions(self.solver, step_size, self.rtol, self.atol, self.max_steps)

    def _initial_states(self, scaled: list[np.ndarray], shifted: list[np.ndarray]) -> np.ndarray:
        """Initial ODE states ``(n_traj, order * d)`` from each trajectory's first observations."""
        if self.order == 1:
            states = np.stack([np.nanmean(x[: self.initial_points], axis=0) for x in scaled])
        else:
            states = np.stack([self._position_and_velocity(x, times) for x, times in zip(scaled, shifted, strict=True)])
        if not np.all(np.isfinite(states)):
            raise ValueError(
                "an initial state has a missing value: some feature is NaN in all of a trajectory's first "
                f"{self.initial_points} observation(s); increase initial_points or fill the gap"
            )
        return states.astype(np.float32)

    def _position_and_velocity(self, x: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Least-squares line through the first ``max(2, initial_points)`` points: value and slope at t=0."""
        n = max(2, self.initial_points)
        values, times = x[:n], times[:n, None].astype(np.float64)
        observed = np.isfinite(values)
        count = observed.sum(axis=0)
        t_mean = (times * observed).sum(axis=0) / np.maximum(count, 1)
        x_mean = np.where(observed, values, 0.0).sum(axis=0) / np.maximum(count, 1)
        centred_t = np.where(observed, times - t_mean, 0.0)
        slope = (centred_t * np.where(observed, values - x_mean, 0.0)).sum(axis=0) / np.maximum(
            (centred_t**2).sum(axis=0), 1e-12
        )
        slope = np.where(count >= 2, slope, np.nan)
        return np.concatenate([x_mean - slope * t_mean, slope])

    def _batch(self, X: ArrayLike, t: ArrayLike, *, device: torch.device) -> TrajectoryBatch:
        values, times = as_trajectories(X, t)
        self._check_features(values[0].shape[1])
        scaled = [self._scale_values(x) for x in values]
        shifted = [self._scale_time(times_k) for times_k in times]
        return TrajectoryBatch.from_arrays(scaled, shifted, self._initial_states(scaled, shifted), device=device)

    def _derivative_data(
        self, scaled: list[np.ndarray], shifted: list[np.ndarray], device: torch.device
    ) -> DerivativeData:
        """Finite-difference derivatives of every trajectory (rows with a missing value dropped)."""
        states, targets = [], []
        for x, times in zip(scaled, shifted, strict=True):
            keep = np.concatenate([[True], np.diff(times) > 0])
            x, times = x[keep], times[keep].astype(np.float64)
            if len(times) < 3:
                continue
            velocity = np.gradient(x, times, axis=0)
            if self.order == 1:
                states.append(x)
                targets.append(velocity)
            else:
                states.append(np.concatenate([x, velocity], axis=1))
                targets.append(np.gradient(velocity, times, axis=0))
        if not states:
            raise ValueError("warm_start_epochs needs trajectories with at least 3 distinct time points")
        state, target = np.concatenate(states), np.concatenate(targets)
        finite = np.all(np.isfinite(state), axis=1) & np.all(np.isfinite(target), axis=1)
        as_tensor = lambda a: torch.as_tensor(a[finite], dtype=torch.float32, device=device)  # noqa: E731
        return DerivativeData(as_tensor(state), as_tensor(target))

    # ------------------------------------------------------------------ using a fitted model
    def _check_fitted(self) -> None:
        if not hasattr(self, "field_"):
            raise NotFittedError("this SparseNODE is not fitted yet; call fit(X, t) or SparseNODE.load(path) first")

    def _check_features(self, n_features: int) -> None:
        if n_features != self.n_features_in_:
            raise ValueError(f"got {n_features} features but the model was fitted on {self.n_features_in_}")

    @property
    def _device(self) -> torch.device:
        return next(self.field_.parameters()).device

    def predict(self, x0: np.ndarray, t: ArrayLike, *, v0: np.ndarray | None = None) -> np.ndarray | list[np.ndarray]:
        """Integrate trajectories from initial states.

        Parameters
        ----------
        x0
            Initial states ``(n_traj, d)`` (or ``(d,)``) at ``t[0]``, or the first observed frames
            ``(n_traj, k, d)`` at times ``t[:k]``, from which the initial state is estimated as in :meth:`fit`.
        t
            Output times: shared ``(n_time,)``, ``(n_traj, n_time)`` or a list of per-trajectory arrays.
        v0
            Initial velocities ``(n_traj, d)`` for ``order=2`` when ``x0`` holds states, not frames.

        Returns
        -------
        ``(n_traj, n_time, d)`` predictions in the input's units (a list when times differ in length).
        """
        self._check_fitted()
        x0 = np.asarray(x0, dtype=np.float64)
        if x0.ndim == 1:
            x0 = x0[None]
        if x0.ndim not in (2, 3):
            raise ValueError(f"x0 must be (n_traj, d), (d,) or (n_traj, k, d); got shape {x0.shape}")
        self._check_features(x0.shape[-1])
        times = [np.asarray(t, dtype=np.float64)] * len(x0) if np.ndim(t) == 1 else [np.asarray(tk) for tk in t]
        if len(times) != len(x0):
            raise ValueError(f"x0 has {len(x0)} trajectories but t has {len(times)}")
        for k, times_k in enumerate(times):
            if times_k.ndim != 1 or not np.all(np.isfinite(times_k)) or np.any(np.diff(times_k) < 0):
                raise ValueError(f"t for trajectory {k} must be a finite, non-decreasing 1-d array")
        shifted = [self._scale_time(times_k) for times_k in times]
        if x0.ndim == 3:
            if x0.shape[1] > min(len(times_k) for times_k in times):
                raise ValueError(f"x0 has {x0.shape[1]} frames, more than the time points given in t")
            initial = self._initial_states([self._scale_values(x) for x in x0], shifted)
        else:
            initial = self._scale_values(x0)
            if self.order == 2:
                if v0 is None:
                    raise ValueError("order=2 needs v0 (initial velocities) or x0 as (n_traj, k, d) first frames")
                v0 = np.broadcast_to(np.asarray(v0, dtype=np.float64), x0.shape)
                initial = np.concatenate([initial, (v0 * self.time_scale_ / self.feature_std_)], axis=1)
        predictions = self._integrate(initial.astype(np.float32), shifted)
        predictions = [p * self.feature_std_ + self.feature_mean_ for p in predictions]
        lengths = {len(p) for p in predictions}
        return np.stack(predictions) if len(lengths) == 1 else predictions

    @torch.no_grad()
    def _integrate(self, initial: np.ndarray, shifted: list[np.ndarray]) -> list[np.ndarray]:
        """Scaled predictions per trajectory on their own (scaled, shifted) times."""
        dummy = [np.zeros((len(times), self.n_features_in_), dtype=np.float32) for times in shifted]
        batch = TrajectoryBatch.from_arrays(dummy, shifted, initial, device=self._device)
        self.field_.prepare(sample=False)
        predicted = predict_observations(self.field_, batch, self.solver_).cpu().numpy()
        return [predicted[k, : len(times)].astype(np.float64) for k, times in enumerate(shifted)]

    def score(self, X: ArrayLike, t: ArrayLike) -> float:
        """Mean squared error (input units) of trajectories predicted from their first observations.

        Initial states are estimated as in :meth:`fit`; the mean runs over every observed (non-NaN) value.
        """
        self._check_fitted()
        batch = self._batch(X, t, device=self._device)
        with torch.no_grad():
            self.field_.prepare(sample=False)
            predicted = predict_observations(self.field_, batch, self.solver_)
            std = torch.as_tensor(self.feature_std_, dtype=predicted.dtype, device=predicted.device)
            return masked_mse(predicted * std, batch.observed * std, batch.mask).item()

    def dependencies(self) -> np.ndarray:
        """Non-negative ``(d, d)`` dependency strengths: row ``i`` = target (output), column ``j`` = input.

        The regularizer defines the strength (path product of absolute gated weights for MLP fields, plus the
        skip weights for LassoNet); for ``order=2`` position and velocity inputs of a feature are summed.
        Computed on the internally standardised scale, so entries are comparable across features.
        """
        self._check_fitted()
        strength = self.regularizer_.dependencies(self.field_).cpu().numpy().astype(np.float64)
        if self.order == 2:
            d = self.n_features_in_
            strength = strength[:, :d] + strength[:, d:]
        return strength

    def jacobian(self, states: np.ndarray, *, chunk_size: int | None = None) -> np.ndarray:
        """Signed mean Jacobian ``d f_i / d x_j`` (row = target ``i``, column = input ``j``) in input units.

        Parameters
        ----------
        states
            ``(n, d)`` states (order 2: positions, velocity 0; or ``(n, 2 d)`` positions and velocities).
        chunk_size
            States per vectorised Jacobian evaluation (bounds memory at ``chunk_size * d * order * d``).
        """
        self._check_fitted()
        d = self.n_features_in_
        states = np.asarray(states, dtype=np.float64)
        if states.ndim != 2 or states.shape[1] not in {d, self.order * d}:
            raise ValueError(f"states must be (n, {d}) (or (n, {2 * d}) for order 2); got {states.shape}")
        scaled = self._scale_values(states[:, :d])
        if self.order == 2:
            velocity = states[:, d:] if states.shape[1] == 2 * d else np.zeros_like(states[:, :d])
            scaled = np.concatenate([scaled, (velocity * self.time_scale_ / self.feature_std_).astype(np.float32)], 1)
        chunk_size = chunk_size or max(1, int(2e7 // (d * d * self.order)))
        self.field_.prepare(sample=False)
        jacobian_of_state = torch.func.vmap(torch.func.jacrev(self.field_.network))
        total = np.zeros((d, self.order * d))
        with torch.no_grad():
            for start in range(0, len(scaled), chunk_size):
                chunk = torch.as_tensor(scaled[start : start + chunk_size], device=self._device)
                total += jacobian_of_state(chunk).sum(0).cpu().numpy()
        mean = (total / len(scaled))[:, :d]
        return mean * self.feature_std_[:, None] / (self.feature_std_[None, :] * self.time_scale_**self.order)

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The fitted model as a JSON-able config and a dict of plain arrays (what :meth:`save` writes)."""
        self._check_fitted()
        config = {
            "params": self.get_params(),
            "n_features_in": int(self.n_features_in_),
            "time_scale": self.time_scale_,
            "step_size": self.solver_.step_size,
        }
        arrays = {f"weights.{name}": value.detach().cpu().numpy() for name, value in self.field_.state_dict().items()}
        arrays |= {"scaling.feature_mean": self.feature_mean_, "scaling.feature_std": self.feature_std_}
        arrays |= {f"history.{name}": values for name, values in self.history_.items()}
        return config, arrays

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> SparseNODE:
        """Rebuild a fitted model from :meth:`get_state`'s output (validated, never unpickled)."""
        io.check_format_version(config, "the stored model")
        try:
            model = cls(**config["params"])
            model.n_features_in_ = int(config["n_features_in"])
            model.time_scale_ = float(config["time_scale"])
            model.feature_mean_ = np.asarray(arrays["scaling.feature_mean"], dtype=np.float64)
            model.feature_std_ = np.asarray(arrays["scaling.feature_std"], dtype=np.float64)
            model.history_ = {k.removeprefix("history."): v for k, v in arrays.items() if k.startswith("history.")}
            model.solver_ = SolverOptions(model.solver, float(config["step_size"]), model.rtol, model.atol,
                                          model.max_steps)
            model.regularizer_ = make_regularizer(model.regularization, model.lam, **model.regularization_options)
            model.field_ = VectorField(model.n_features_in_, hidden=model.hidden, order=model.order,
                                       activation=model.activation, **model.regularizer_.field_options())
            state = {k.removeprefix("weights."): torch.as_tensor(v) for k, v in arrays.items() if k.startswith("weights.")}
            model.field_.load_state_dict(state)
        except (KeyError, TypeError, RuntimeError) as error:
            raise io.ModelFormatError(f"the stored model is incomplete or inconsistent: {error}") from error
        model.field_.to(resolve_device(model.device))
        return model

    def save(self, path: str | os.PathLike) -> None:
        """Write the model to ``path`` (``.npz``: arrays plus a JSON config with a format version; no pickle)."""
        io.write_model(path, *self.get_state())

    @classmethod
    def load(cls, path: str | os.PathLike) -> SparseNODE:
        """Read a model written by :meth:`save`; refuses pickled content and newer format versions."""
        return cls.from_state(*io.read_model(path))

    def __repr__(self) -> str:
        fitted = "fitted" if hasattr(self, "field_") else "not fitted"
        return f"SparseNODE(regularization={self.regularization!r}, lam={self.lam!r}, order={self.order}, {fitted})"
