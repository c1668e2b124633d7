"""``SparseNODE``: a feature-sparse neural ODE estimator on numpy arrays (no AnnData)."""

from __future__ import annotations

import copy
import inspect
import logging
import numbers
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import nullcontext
from functools import partial
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as SklearnNotFittedError

from . import io
from ._checks import check_positive_int, is_real
from .nn.regularizers import Regularizer, make_regularizer
from .nn.solve import SolverOptions, TrajectoryBatch, masked_mse, predict_observations
from .nn.train import (
    HISTORY_KEYS,
    DerivativeData,
    TrainingOptions,
    VelocityData,
    fit_trajectories,
    warm_start,
)
from .nn.vector_field import VectorField

logger = logging.getLogger(__name__)

ArrayLike = np.ndarray | Sequence[np.ndarray]


#: Trajectories with more distinct times than this are averaged into as many time bins before finite differences,
#: so that derivative estimates of dense, noisy data (e.g. cells along a pseudotime) average the noise out.
MAX_DIFFERENCE_POINTS = 50


def time_bin_means(x: np.ndarray, times: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Means of the values (NaN-aware) and times in ``n_bins`` equal-width time bins; empty bins dropped."""
    edges = np.linspace(times[0], times[-1], n_bins + 1)
    bins = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    observed = np.isfinite(x)
    sums = np.zeros((n_bins, x.shape[1]))
    n_observed = np.zeros((n_bins, x.shape[1]))
    np.add.at(sums, bins, np.where(observed, x, 0.0))
    np.add.at(n_observed, bins, observed)
    filled = counts > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums[filled] / n_observed[filled]
    return means, np.bincount(bins, weights=times, minlength=n_bins)[filled] / counts[filled]


def finite_differences(
    values: Sequence[np.ndarray], times: Sequence[np.ndarray]
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(x, dx/dt, t)`` (float64) of every trajectory with at least 2 distinct times, by :func:`numpy.gradient`
    (second-order in the interior); of repeated times only the first observation is kept, and trajectories with
    more than :data:`MAX_DIFFERENCE_POINTS` times are first averaged into that many time bins."""
    for x, times_k in zip(values, times, strict=True):
        keep = np.concatenate([[True], np.diff(times_k) > 0])
        if keep.sum() >= 2:
            x, times_k = x[keep].astype(np.float64), times_k[keep].astype(np.float64)
            if len(times_k) > MAX_DIFFERENCE_POINTS:
                x, times_k = time_bin_means(x, times_k, MAX_DIFFERENCE_POINTS)
            yield x, np.gradient(x, times_k, axis=0), times_k


def segments(
    values: list[np.ndarray], times: list[np.ndarray], length: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Overlapping segments of ``length`` points (stride ``length // 2``, the last one ending at the last point),
    each with its time shifted to start at 0; trajectories shorter than ``length`` are kept whole."""
    cut_values, cut_times = [], []
    for x, times_k in zip(values, times, strict=True):
        for start in segment_starts(len(x), length):
            cut_values.append(x[start : start + length])
            cut_times.append(times_k[start : start + length] - times_k[start])
    return cut_values, cut_times


def segment_starts(n_points: int, length: int) -> list[int]:
    """First indices of the :func:`segments` of a trajectory of ``n_points`` points."""
    last = max(0, n_points - length)
    return sorted({*range(0, last + 1, max(1, length // 2)), last})


def regulator_mask(regulators: ArrayLike, n_features: int) -> np.ndarray:
    """``regulators`` (a boolean ``(n_features,)`` mask or integer indices) as a boolean mask."""
    values = np.asarray(regulators)
    if values.dtype == bool:
        if values.shape != (n_features,):
            raise ValueError(f"regulators as a boolean mask must have shape ({n_features},); got {values.shape}")
        mask = values.copy()
    elif values.ndim == 1 and np.issubdtype(values.dtype, np.integer):
        if values.size and (values.min() < -n_features or values.max() >= n_features):
            raise ValueError(f"regulators: indices must be in [0, {n_features}); got {values.tolist()[:10]}")
        mask = np.zeros(n_features, dtype=bool)
        mask[values] = True
    else:
        raise TypeError(f"regulators must be a boolean mask or integer indices; got dtype {values.dtype}")
    if not mask.any():
        raise ValueError("regulators selects no feature; give at least one regulator")
    return mask


class NotFittedError(RuntimeError, SklearnNotFittedError):
    """The model must be fitted (or loaded) first.

    Raised by the methods of an unfitted :class:`SparseNODE` that need a fit (``predict``, ``dependencies``,
    ``save``, ...). It is scikit-learn's :class:`~sklearn.exceptions.NotFittedError` (so also a
    :class:`ValueError` and an :class:`AttributeError`), and a :class:`RuntimeError` as in earlier versions.
    """


def as_numbers(values: ArrayLike, name: str) -> np.ndarray:
    """``values`` as a float64 array, or an error naming ``name``."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must hold numbers: {error}") from error


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` is CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device={device!r} is not a torch device; use 'auto', 'cpu', 'cuda' or 'cuda:0'") from error


def usable_device(device: str | torch.device) -> torch.device:
    """:func:`resolve_device`, refusing with a :class:`ValueError` a device this machine does not have."""
    resolved = resolve_device(device)
    try:
        torch.empty(0, device=resolved)
    except (RuntimeError, AssertionError) as error:
        raise ValueError(f"device={device!r} is not available on this machine ({error}); use 'auto' (a GPU when "
                         "there is one) or 'cpu'") from error
    if resolved.type == "meta":
        raise ValueError(f"device={device!r} holds no data; use 'auto', 'cpu' or 'cuda'")
    return resolved


def available_device(device: str) -> str:
    """``device`` when this machine has it, else ``"cpu"`` with a warning (a model fitted on a GPU is used on a
    machine without one)."""
    try:
        usable_device(device)
    except ValueError:
        logger.warning("the model was fitted with device=%r, which this machine does not have; it is loaded on "
                       "the CPU (device='cpu')", device)
        return "cpu"
    return device


def as_time_list(t: ArrayLike, n_trajectories: int) -> list[np.ndarray]:
    """Times per trajectory: a shared ``(n_time,)`` array repeated, the rows of ``(n_traj, n_time)``, or a list."""
    if isinstance(t, np.ndarray) or not isinstance(t, Sequence) or not t or np.isscalar(t[0]):
        t = np.asarray(t, dtype=np.float64)
        return [t] * n_trajectories if t.ndim <= 1 else list(t)
    return [np.asarray(times_k, dtype=np.float64) for times_k in t]


def as_trajectories(X: ArrayLike, t: ArrayLike, *, name: str = "X") -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Validate trajectories and return them as lists of ``(n_time_k, d)`` values and ``(n_time_k,)`` times.

    Accepted forms: ``X`` of shape ``(n_traj, n_time, d)`` with a shared ``t`` ``(n_time,)`` or per-trajectory
    ``t`` ``(n_traj, n_time)``; ``X`` a single ``(n_time, d)`` trajectory with ``t`` ``(n_time,)``; or lists of
    ``(n_time_k, d)`` arrays with a list of ``(n_time_k,)`` times. NaN in ``X`` marks a missing value.
    """
    if isinstance(X, np.ndarray) or not isinstance(X, Sequence):
        X = as_numbers(X, name)
        if X.ndim == 2:
            X = X[None]
        if X.ndim != 3:
            raise ValueError(f"{name} must be (n_traj, n_time, n_features) or (n_time, n_features); got {X.shape}")
        values = list(X)
    else:
        values = [as_numbers(x, name) for x in X]
    if not values:
        raise ValueError(f"{name} holds no trajectory")
    times = as_time_list(t, len(values))
    if len(times) != len(values):
        raise ValueError(f"{name} has {len(values)} trajectories but t has {len(times)}")
    for k, x in enumerate(values):
        if x.ndim != 2:
            raise ValueError(f"trajectory {k} of {name} has shape {x.shape}; every trajectory must be 2-d "
                             f"(n_time, n_features): a list {name} is read as a list of trajectories (pass "
                             f"np.asarray({name}) for one trajectory given as nested lists); reshape a univariate "
                             "series to (n_time, 1)")
    n_features = values[0].shape[1]
    for k, (x, times_k) in enumerate(zip(values, times, strict=True)):
        if x.shape[1] != n_features:
            raise ValueError(f"trajectory {k} of {name} has shape {x.shape}; expected (n_time, {n_features}) like "
                             "trajectory 0")
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


def continued_history(earlier: dict[str, np.ndarray], later: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One per-epoch history from a fit and its continuation: arrays appended, epochs numbered on, and
    ``stage`` numbering the fits (0 for the first one's epochs)."""
    offset = len(earlier["epoch"])
    stage = np.asarray(earlier.get("stage", np.zeros(offset, dtype=np.int64)))
    joined = {key: np.concatenate([earlier[key], later[key] + (offset if key == "epoch" else 0)]) for key in later}
    joined["stage"] = np.concatenate([stage, np.full(len(later["epoch"]), stage.max(initial=-1) + 1)])
    return joined


def _check_stored_units(model: SparseNODE) -> None:
    """Refuse stored units and history that no fit writes (ValueError/KeyError, reported as a corrupted file):
    scaling of the wrong shape, non-positive or non-finite scales, missing per-epoch records."""
    d = model.n_features_in_
    if model.feature_mean_.shape != (d,) or model.feature_std_.shape != (d,):
        raise ValueError(f"the feature scaling has shapes {model.feature_mean_.shape} and "
                         f"{model.feature_std_.shape}, not ({d},) (n_features_in)")
    if not (np.isfinite(model.feature_mean_).all() and np.isfinite(model.feature_std_).all()
            and (model.feature_std_ > 0).all()):
        raise ValueError("the feature scaling holds non-finite values or scales <= 0")
    if not (np.isfinite(model.time_scale_) and model.time_scale_ > 0):
        raise ValueError(f"time_scale={model.time_scale_} is not a finite number > 0")
    missing = [name for name in HISTORY_KEYS if name not in model.history_]
    if missing:
        raise KeyError(f"the history lacks {missing}")


#: Optional buffers of the vector field that constrain its connections (prior knowledge, regulators).
CONNECTION_BUFFERS = ("input_mask", "penalty_weights")

#: Parameters that define the vector field's architecture and units; ``fit(init_model=)`` needs them equal.
ARCHITECTURE_PARAMS = ("hidden", "order", "activation", "decay", "regularization", "regularization_options",
                       "standardize")


class SparseNODE(BaseEstimator):
    """A neural ODE ``dx/dt = f(x)`` whose vector field is made sparse by one of seven regularizers.

    Parameters
    ----------
    regularization
        ``"none"``; weight sparsity: ``"l1"``, ``"l0"``; feature sparsity: ``"cnode"``, ``"group_lasso"``,
        ``"lassonet"``, ``"pathreg"`` (Aliee et al. 2022). See :mod:`sparsenode.nn.regularizers`.
    lam
        Regularization strength ``lambda`` (>= 0); ``None`` uses the regularizer's default
        (:attr:`Regularizer.default_lam <sparsenode.nn.Regularizer.default_lam>`: 0.01 for ``"l1"``, 0.1 for
        the others). Penalties act on the field in internal units (see Notes), so ``lam`` does not depend on
        the units of time or features.
    hidden
        Hidden layer widths of the MLP vector field.
    order
        1: ``dx/dt = f(x)``; 2: ``d²x/dt² = f(x, dx/dt)`` (second-order dynamics).
    activation
        Activation after every hidden layer (``"elu"``, ``"tanh"``, ``"relu"``, ``"softplus"``, ``"silu"``).
    decay
        Add a learned, unpenalised decay ``-gamma_i x_i`` per feature to the network (production minus
        degradation, as in gene-regulatory ODEs); see :class:`~sparsenode.nn.VectorField`.
    regularization_options
        Extra options of the regularizer, e.g. ``{"gates": "unit", "normalize": False, "sample_gates": True}``
        for the released PathReg penalty or ``{"hierarchy": 10.0}`` for LassoNet.
    solver
        ``torchdiffeq`` method: fixed-step ``"rk4"`` (default, fast), ``"euler"``, ``"midpoint"``, or adaptive
        ``"dopri5"`` etc.
    step_size
        Step of fixed-step solvers in the units of ``t``. ``None`` chooses the median spacing of the observed
        times, clipped to 1/50 to 1/10 of the longest trajectory's duration (50 RK4 steps at most, enough for
        smooth dynamics; give a smaller step for fast oscillations).
    rtol, atol, max_steps
        Tolerances and step budget of adaptive solvers.
    epochs, learning_rate, batch_size, patience
        Trajectory fitting (see :class:`~sparsenode.nn.train.TrainingOptions`).
    warm_start_epochs
        Full-batch steps, before trajectory fitting, that fit ``f`` with its penalty to finite-difference
        derivatives of the observations (no ODE solve, so each costs a small share of an epoch). On sparse
        linear and nonlinear test systems they recover most of the structure; 0 skips them.
    validation_fraction
        Share of the observed points of the training trajectories held out at random for validation and
        early stopping when :meth:`fit` gets no ``validation`` trajectories. Held-out points take no part in
        training (loss, warm start, feature scaling and time unit); the first :attr:`n_initial_frames` of each
        trajectory (and of each segment) give the initial states and are never held out. With
        ``segment_points`` the held-out points are predicted from their trajectory's start (as :meth:`mse`
        does), not from their segment's, so the validation error measures whole-trajectory forecasts.
    initial_points
        The initial state is the mean of each trajectory's first ``initial_points`` observations (order 2: a
        line fitted through the first ``max(2, initial_points)`` gives position and velocity; when these share
        one time, the line extends to the first observation at a later time).
    initial_noise
        Standard deviation of Gaussian noise added to the initial states at every trajectory-fitting step, in
        units of each feature's standard deviation (0: none). Trains the field to bring nearby starts back onto
        the observed trajectories, so predictions from other initial states (another donor, a perturbed cell)
        generalise better: on the hematopoiesis protocol, before per-gene decay existed, 0.3 to 1.0 lowered the
        held-out-donor MSE from 0.0423-0.0452 to 0.0411-0.0415 over 3 seeds (``benchmarks/hematopoiesis_speed.py``;
        with decay, trajectories alone at 0.5: 0.0380, row "trajectories alone" on 2 threads).
    resample_gates
        ``"solve"`` (fast): gate noise is drawn once per solve; ``"evaluation"``: redrawn at every evaluation of
        the field, as the released PathReg code does (for comparisons).
    time_unit
        Input time per internal time unit: ``"rate"`` (default) the inverse RMS rate of change of the standardised
        features (from finite differences), so that ``lam`` means the same for slow and fast dynamics;
        ``"duration"`` the longest trajectory's duration (robust for dense, noisy observations such as cells
        along a pseudotime, whose finite differences overstate the rate); or a positive number.
    segment_points
        Multiple shooting: train on overlapping segments of this many points (stride half of it), each integrated
        from its own observed start, instead of whole trajectories from their first points. Helps when
        trajectories that start alike branch apart (a deterministic ODE from one shared start cannot branch) and
        for long, chaotic or oscillating series. ``None``: whole trajectories.
    prior_mode
        How :meth:`fit`'s ``prior`` network is used: ``"mask"`` (a target may only depend on its prior regulators
        and itself) or ``"penalty"`` (a soft prior: the path penalty of prior connections is multiplied by
        ``prior_weight``, all others by 1; needs ``"cnode"`` or ``"pathreg"``).
    prior_weight
        Penalty weight of prior connections with ``prior_mode="penalty"``, in ``[0, 1]``.
    velocity_weight
        Weight of the velocity term when :meth:`fit` gets ``velocity``: ``velocity_weight * mean(1 - cos(f(x),
        v))`` over the observed states ``x`` with a velocity estimate ``v`` (directions only, so ``v`` may be in
        any time unit, as RNA velocity is).
    standardize
        Internally centre and scale every feature to unit variance (undone in every output).
    seed
        Seed of weight initialisation, gate sampling and data splits; the same seed gives identical results on
        CPU with the same number of torch threads (``torch.set_num_threads``; sums are split differently).
    device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
    progress
        Show a progress bar while fitting.

    Attributes
    ----------
    history_
        Per-epoch arrays ``epoch``, ``loss``, ``mse``, ``penalty``, ``velocity`` (the velocity term; NaN without
        ``velocity``), ``val_mse`` (internal, standardised units: the criterion of early stopping); after a
        continued fit (``fit(init_model=)``) also ``stage``: 0 for the first fit's epochs, 1 for the next, ….
    training_mse_
        Mean squared error in input units of the returned model on the training trajectories, predicted from
        their first observations as :meth:`mse` does, over the points used for training (without the points
        held out by ``validation_fraction``).
    validation_mse_
        Mean squared error in input units (as :meth:`mse`, so comparable with it) of the returned model on
        the validation data (the held-out points of ``validation_fraction`` or ``fit``'s ``validation``
        trajectories); NaN without validation data.
    interrupted_
        Whether a ``KeyboardInterrupt`` (Ctrl-C, or stopping a notebook cell) ended the last fit's training
        early; the fit then returns with the parameters described in ``fit_trajectories`` (the best by
        validation MSE, else the last ones) and ``history_`` holds the epochs run.
    n_features_in_
        Number of features ``d``.
    time_scale_
        Input time units per internal time unit.
    feature_mean_, feature_std_
        Centre and scale of every feature (0 and 1 without ``standardize``).
    fitted_params_
        The constructor arguments of the current fit: :meth:`set_params` on a fitted estimator takes effect at
        the next :meth:`fit`; until then predictions, dependencies and saved files describe this fit.

    Notes
    -----
    Features are standardised and time is shifted so every trajectory starts at 0 (the field is autonomous)
    and divided by ``time_scale_``: the inverse root-mean-square rate of change of the standardised features
    (by finite differences), but at most the longest duration. The field's outputs are then of order 1
    whatever the units and the speed of the dynamics, which keeps the default ``lam`` meaningful; dividing by
    the duration alone made the field, and so the penalty, grow with the number of oscillations observed.
    Predictions, derivatives, Jacobians and errors (:meth:`mse`) are returned in the input's units.

    Examples
    --------
    Two trajectories of three decaying features, 20 time points each:

    >>> import numpy as np
    >>> import sparsenode as sn
    >>> t = np.linspace(0, 5, 20)
    >>> X = np.exp(-np.outer(t, [1.0, 0.5, 0.2]))[None] * np.array([[1, 2, 3], [2, 1, 1]])[:, None]
    >>> model = sn.SparseNODE("pathreg", lam=1e-2, progress=False).fit(X, t)
    >>> model.predict(X[:, 0], t).shape  # integrated from the initial states
    (2, 20, 3)
    >>> model.dependencies().shape  # row = output, column = input
    (3, 3)
    """

    def __init__(
        self,
        regularization: str = "pathreg",
        lam: float | None = None,
        *,
        hidden: Sequence[int] = (100, 100),
        order: int = 1,
        activation: str = "elu",
        decay: bool = False,
        regularization_options: dict[str, Any] | None = None,
        solver: str = "rk4",
        step_size: float | None = None,
        rtol: float = 1e-3,
        atol: float = 1e-4,
        max_steps: int = 10_000,
        epochs: int = 200,
        learning_rate: float = 1e-2,
        batch_size: int | None = None,
        patience: int | None = 50,
        warm_start_epochs: int = 500,
        validation_fraction: float = 0.0,
        initial_points: int = 1,
        initial_noise: float = 0.0,
        resample_gates: str = "solve",
        time_unit: float | str = "rate",
        segment_points: int | None = None,
        prior_mode: str = "mask",
        prior_weight: float = 0.1,
        velocity_weight: float = 0.1,
        standardize: bool = True,
        seed: int = 0,
        device: str = "auto",
        progress: bool = True,
    ) -> None:
        self.regularization, self.lam = regularization, lam
        # arguments are stored as given (scikit-learn's convention, so that sklearn.base.clone works) and
        # normalised where they are used
        self.hidden, self.order, self.activation = hidden, order, activation
        self.decay = decay
        self.regularization_options = regularization_options
        self.solver, self.step_size, self.rtol, self.atol, self.max_steps = solver, step_size, rtol, atol, max_steps
        self.epochs, self.learning_rate, self.batch_size = epochs, learning_rate, batch_size
        self.patience, self.warm_start_epochs = patience, warm_start_epochs
        self.validation_fraction, self.initial_points = validation_fraction, initial_points
        self.initial_noise = initial_noise
        self.resample_gates, self.time_unit, self.segment_points = resample_gates, time_unit, segment_points
        self.prior_mode, self.prior_weight, self.velocity_weight = prior_mode, prior_weight, velocity_weight
        self.standardize, self.seed, self.device, self.progress = standardize, seed, device, progress
        self._validate_params()

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        return [name for name in inspect.signature(cls.__init__).parameters if name != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments, as given (scikit-learn's estimator interface).

        Parameters
        ----------
        deep
            Accepted for scikit-learn; the estimator holds no sub-estimators.

        Returns
        -------
        ``{name: value}`` of every constructor argument.
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> SparseNODE:
        """Set constructor arguments (scikit-learn's estimator interface); invalid values are refused and leave
        the estimator unchanged.

        Parameters
        ----------
        **params
            Constructor arguments by name (see the class's Parameters), e.g. ``lam=0.3``.

        Returns
        -------
        The estimator.
        """
        unknown = sorted(set(params) - set(self._param_names()))
        if unknown:
            raise ValueError(f"unknown parameters {unknown} for SparseNODE; valid: {self._param_names()}")
        before = self.get_params()
        self.__dict__.update(params)
        try:
            self._validate_params()
        except Exception:
            self.__dict__.update(before)
            raise
        return self

    def _fitted(self, name: str) -> Any:
        """Constructor argument ``name`` as the current fit used it (``set_params`` on a fitted estimator takes
        effect at the next :meth:`fit`, so predictions, dependencies and saved files keep describing the fit)."""
        return self.fitted_params_[name] if hasattr(self, "fitted_params_") else getattr(self, name)

    @property
    def _order(self) -> int:
        return int(self._fitted("order"))

    def _architecture(self, *, fitted: bool = False) -> dict[str, Any]:
        """The arguments that define the field's parameters, normalised (see :data:`ARCHITECTURE_PARAMS`): as
        set now, or (``fitted=True``) as the current fit used them."""
        value = self._fitted if fitted else partial(getattr, self)
        normalised = {"hidden": tuple(int(width) for width in value("hidden")),
                      "regularization_options": dict(value("regularization_options") or {})}
        return {name: normalised.get(name, value(name)) for name in ARCHITECTURE_PARAMS}

    def _make_regularizer(self) -> Regularizer:
        """The regularizer the parameters set now describe (validating ``lam`` and its options)."""
        return make_regularizer(self.regularization, self.lam, **self._architecture()["regularization_options"])

    def _validate_params(self) -> None:
        if self.regularization_options is not None and not isinstance(self.regularization_options, Mapping):
            raise TypeError(f"regularization_options={self.regularization_options!r} must be a dict or None")
        if (isinstance(self.hidden, str) or not isinstance(self.hidden, Sequence | np.ndarray) or not len(self.hidden)
                or not all(isinstance(width, numbers.Integral) and width >= 1 for width in self.hidden)):
            raise ValueError(f"hidden={self.hidden!r} must be a non-empty sequence of positive widths")
        if isinstance(self.order, bool) or not isinstance(self.order, numbers.Integral) or self.order not in (1, 2):
            raise ValueError(f"order={self.order!r} must be 1 or 2")
        regularizer = self._make_regularizer()
        for name in ("epochs", "initial_points", "max_steps"):
            check_positive_int(name, getattr(self, name))
        if self.patience is not None:
            check_positive_int("patience", self.patience)
        for name in ("warm_start_epochs", "seed"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name}={value!r} must be an integer >= 0")
        if self.segment_points is not None and (not isinstance(self.segment_points, numbers.Integral)
                                                or isinstance(self.segment_points, bool) or self.segment_points < 2):
            raise ValueError(f"segment_points={self.segment_points!r} must be None or an integer >= 2")
        if self.time_unit not in ("rate", "duration") and not (
            is_real(self.time_unit) and np.isfinite(self.time_unit) and self.time_unit > 0
        ):
            raise ValueError(f"time_unit={self.time_unit!r} must be 'rate', 'duration' or a positive number")
        if self.prior_mode not in ("mask", "penalty"):
            raise ValueError(f"prior_mode={self.prior_mode!r} must be 'mask' or 'penalty'")
        if not (is_real(self.prior_weight) and 0.0 <= self.prior_weight <= 1.0):
            raise ValueError(f"prior_weight={self.prior_weight!r} must be a number in [0, 1]")
        for name in ("velocity_weight", "initial_noise"):
            value = getattr(self, name)
            if not (is_real(value) and np.isfinite(value) and value >= 0):
                raise ValueError(f"{name}={value!r} must be a finite number >= 0")
        for name in ("learning_rate", "rtol", "atol"):
            value = getattr(self, name)
            if not (is_real(value) and np.isfinite(value) and value > 0):
                raise ValueError(f"{name}={value!r} must be a positive number")
        if not (is_real(self.validation_fraction) and 0.0 <= self.validation_fraction < 1.0):
            raise ValueError(f"validation_fraction={self.validation_fraction!r} must be a number in [0, 1)")
        if self.batch_size is not None and (not isinstance(self.batch_size, numbers.Integral)
                                            or isinstance(self.batch_size, bool) or self.batch_size < 1):
            raise ValueError(f"batch_size={self.batch_size!r} must be None or a positive integer")
        if self.step_size is not None and not (is_real(self.step_size) and np.isfinite(self.step_size)
                                               and self.step_size > 0):
            raise ValueError(f"step_size={self.step_size!r} must be None or a positive number")
        SolverOptions(self.solver, 0.02 if self.step_size is None else self.step_size, self.rtol, self.atol,
                      self.max_steps)
        with torch.random.fork_rng(devices=[]):  # a throwaway field checks the options; the user's RNG is kept
            self._new_field(1, regularizer)
        resolve_device(self.device)

    def _new_field(
        self, n_features: int, regularizer: Regularizer, connections: dict[str, np.ndarray | None] | None = None
    ) -> VectorField:
        """A freshly initialised vector field with this estimator's architecture and the regularizer's gates;
        ``connections``: its ``input_mask`` and ``penalty_weights``. Its parameters are float32, as the data
        are, whatever torch's default dtype (``torch.set_default_dtype``)."""
        field = VectorField(n_features, hidden=self._architecture()["hidden"], order=self.order,
                            activation=self.activation, resample_gates=self.resample_gates, decay=self.decay,
                            **regularizer.field_options(), **(connections or {}))
        return field.float()  # a no-op unless the caller changed the default dtype (process-wide, so not here)

    def _connections(
        self, n_features: int, regulators: ArrayLike | None, prior: ArrayLike | None, regularizer: Regularizer
    ) -> dict[str, np.ndarray | None]:
        """``input_mask`` and ``penalty_weights`` of the field from :meth:`fit`'s ``regulators`` and ``prior``."""
        allowed = np.ones((n_features, n_features), dtype=bool)
        weights = None
        if regulators is not None:
            allowed &= regulator_mask(regulators, n_features)[None, :]
        if prior is not None:
            known = np.asarray(prior, dtype=np.float64)
            if known.shape != (n_features, n_features) or not np.isfinite(known).all():
                raise ValueError(f"prior must be a finite ({n_features}, {n_features}) array (row = target, "
                                 f"column = regulator, non-zero = known edge); got shape {known.shape}")
            known = known != 0
            if self.prior_mode == "mask":
                allowed &= known
            elif not regularizer.weighs_connections:
                raise ValueError(f"prior_mode='penalty' needs a path penalty (regularization 'cnode' or 'pathreg'), "
                                 f"not {self.regularization!r}; use prior_mode='mask'")
            else:
                np.fill_diagonal(known, True)
                weights = np.where(known, float(self.prior_weight), 1.0)
        np.fill_diagonal(allowed, True)
        return {"input_mask": None if allowed.all() else allowed, "penalty_weights": weights}

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: ArrayLike,
        t: ArrayLike,
        *,
        validation: tuple[ArrayLike, ArrayLike] | None = None,
        regulators: ArrayLike | None = None,
        prior: ArrayLike | None = None,
        velocity: ArrayLike | None = None,
        init_model: SparseNODE | None = None,
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
        regulators
            Features allowed as inputs (e.g. transcription factors), as a boolean ``(d,)`` mask or integer
            indices: every other feature can only influence itself. ``None``: all.
        prior
            ``(d, d)`` prior network, row = target, column = regulator, non-zero = known edge; used as a hard
            mask or a soft penalty weight (see ``prior_mode``). Self-dependence (e.g. decay) is always allowed.
        velocity
            Velocity estimates at the observed points (e.g. RNA velocity), shaped like ``X`` (NaN: none); adds
            the velocity term (see ``velocity_weight``). First-order models only.
        init_model
            A fitted estimator to continue from, with the same architecture (``hidden``, ``order``,
            ``activation``, ``decay``, ``regularization``, ``regularization_options``, ``standardize``), the
            same number of features and the same ``regulators``/``prior``: its field is the starting point and
            its feature scaling and time unit are kept, so the field keeps its meaning; there is no
            derivative-matching warm start, and ``history_`` continues ``init_model``'s.
            :func:`sparsenode.tl.fit` uses it to refine a fit on transport pairs with the lineage trajectories.

        Returns
        -------
        The fitted estimator. A fit that raises leaves the estimator as it was before.
        """
        before = dict(self.__dict__)
        try:
            return self._fit(X, t, validation=validation, regulators=regulators, prior=prior, velocity=velocity,
                             init_model=init_model)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit(
        self,
        X: ArrayLike,
        t: ArrayLike,
        *,
        validation: tuple[ArrayLike, ArrayLike] | None,
        regulators: ArrayLike | None,
        prior: ArrayLike | None,
        velocity: ArrayLike | None,
        init_model: SparseNODE | None,
    ) -> SparseNODE:
        """:meth:`fit`, which may leave the estimator half-written when it raises."""
        if init_model is self:  # continue from a snapshot: the new field must not overwrite its starting point
            self._check_fitted()
            init_model = type(self).from_state(*self.get_state())
        self.fitted_params_ = copy.deepcopy(self.get_params())  # later in-place edits do not reach the fit
        values, times = as_trajectories(X, t)
        if validation is not None and (not isinstance(validation, tuple | list) or len(validation) != 2):
            raise TypeError(f"validation must be a pair (X_val, t_val) of held-out trajectories and their "
                            f"times; got {type(validation).__name__}")
        regularizer = self._make_regularizer()
        connections = self._connections(values[0].shape[1], regulators, prior, regularizer)
        velocities = self._check_velocity(velocity, values)
        rng = np.random.default_rng(self.seed)
        held_out = None
        if validation is None and self.validation_fraction > 0:
            held_out = self._held_out_points(values, rng)
            if not any(rows.any() for rows in held_out):
                logger.warning("validation_fraction=%g held out no point (the first %d point(s) of every trajectory "
                               "or segment give initial states and stay in training); fitting without validation",
                               self.validation_fraction, self.n_initial_frames)
                held_out = None
        if held_out is not None:
            # held-out points take no part in training: not in the scaling, the warm start or the loss
            values, held_out_values = (
                [np.where(rows[:, None], np.nan, x) for x, rows in zip(values, held_out, strict=True)],
                [np.where(rows[:, None], x, np.nan) for x, rows in zip(values, held_out, strict=True)],
            )
        self._set_scaling(values, times, like=init_model)
        scaled = [self._scale_values(x) for x in values]
        device = usable_device(self.device)
        velocity_data = None if velocities is None else self._velocity_data(scaled, velocities, device=device)
        shifted = [self._scale_time(times_k) for times_k in times]
        self.solver_ = self._solver_options(shifted)
        self.regularizer_ = regularizer
        validation_batch = None
        initial_states = self._initial_states(scaled, shifted)
        if validation is not None:
            validation_batch = self._batch(*validation, device=device, name="validation")
        elif held_out is not None:
            validation_batch = TrajectoryBatch.from_arrays([self._scale_values(x) for x in held_out_values], shifted,
                                                           initial_states, device=device)
        # the warm start differentiates the whole trajectories (segments overlap and would repeat their points);
        # the training error is measured on them as the validation error is, from the same initial states
        whole_trajectories = scaled, shifted
        training_batch = train = TrajectoryBatch.from_arrays(scaled, shifted, initial_states, device=device)
        if self.segment_points is not None:
            scaled, shifted, initial_states = self._segments_with_initial_states(scaled, shifted)
            train = TrajectoryBatch.from_arrays(scaled, shifted, initial_states, device=device)
        label = f"{self.regularization} λ={regularizer.lam:g}, {len(values)} trajectories"
        options = TrainingOptions(self.epochs, self.learning_rate, self.batch_size, self.patience,
                                  self.warm_start_epochs, self.progress, label, initial_noise=self.initial_noise)
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            self.field_ = self._new_field(self.n_features_in_, self.regularizer_, connections).to(device)
            if init_model is not None:
                self._load_field(init_model)
            warm_start_epochs = 0 if init_model is not None else self.warm_start_epochs
            derivatives = self._derivative_data(*whole_trajectories, device) if warm_start_epochs else None
            interrupted = False
            if derivatives is not None:
                interrupted = warm_start(self.field_, self.regularizer_, derivatives, options)
            elif warm_start_epochs:
                logger.warning("no trajectory has 2 distinct time points without missing values; no warm start")
            if interrupted:  # Ctrl-C in the warm start ends the fit as it does in the epochs
                self.history_, self.interrupted_ = {key: np.empty(0) for key in HISTORY_KEYS}, True
            else:
                self.history_, self.interrupted_ = fit_trajectories(
                    self.field_, self.regularizer_, train, self.solver_, options, validation=validation_batch,
                    velocity=velocity_data, generator=rng,
                )
        if init_model is not None:
            self.history_ = continued_history(init_model.history_, self.history_)
        self.training_mse_ = self._mse(training_batch)
        self.validation_mse_ = float("nan") if validation_batch is None else self._mse(validation_batch)
        logger.info("fitted %s on %d trajectories, %d features", self.regularization, len(values),
                    self.n_features_in_)
        return self

    def _held_out_points(self, values: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        """Per trajectory, a boolean ``(n_time_k,)`` mask of the observations held out for validation: each
        with probability ``validation_fraction``, except the first :attr:`n_initial_frames` of the trajectory
        (and of each of its segments), which give the initial states."""
        draws = rng.random((len(values), max(len(x) for x in values))) < self.validation_fraction
        masks = []
        for row, x in zip(draws, values, strict=True):
            starts = [0] if self.segment_points is None else segment_starts(len(x), self.segment_points)
            for start in starts:
                row[start : start + self.n_initial_frames] = False
            masks.append(row[: len(x)])
        return masks

    def _check_continuable(self, init_model: SparseNODE) -> None:
        """Raise unless this fit can continue ``init_model`` (fitted, same architecture and features)."""
        if not isinstance(init_model, SparseNODE):
            raise TypeError(f"init_model must be a fitted SparseNODE, got {type(init_model).__name__}")
        init_model._check_fitted()
        mine, theirs = self._architecture(), init_model._architecture(fitted=True)
        different = [name for name in ARCHITECTURE_PARAMS if mine[name] != theirs[name]]
        if different:
            raise ValueError(f"init_model differs in {different}; continuing a fit needs the same architecture")
        if init_model.n_features_in_ != self.n_features_in_:
            raise ValueError(f"init_model was fitted on {init_model.n_features_in_} features, X has "
                             f"{self.n_features_in_}")

    def _load_field(self, init_model: SparseNODE) -> None:
        """Start from ``init_model``'s field weights (its connections must match this fit's; the architecture was
        checked by :meth:`_check_continuable`)."""
        for name in ("input_mask", "penalty_weights"):
            mine, theirs = getattr(self.field_, name), getattr(init_model.field_, name)
            if (mine is None) != (theirs is None) or (mine is not None and not torch.equal(mine.cpu(), theirs.cpu())):
                raise ValueError(f"init_model's field does not match this fit's ({name} differs); pass the same "
                                 "regulators and prior as when init_model was fitted")
        self.field_.load_state_dict(init_model.field_.state_dict())

    def _check_velocity(self, velocity: ArrayLike | None, values: list[np.ndarray]) -> list[np.ndarray] | None:
        """``fit``'s ``velocity`` as a list shaped like the trajectories (``None`` stays ``None``)."""
        if velocity is None:
            return None
        if self.order != 1:
            raise ValueError("velocity supervision needs a first-order model (order=1)")
        if isinstance(velocity, np.ndarray) or not isinstance(velocity, Sequence):
            velocity = np.asarray(velocity, dtype=np.float64)
            velocity = list(velocity[None] if velocity.ndim == 2 else velocity)
        velocities = [np.asarray(v, dtype=np.float64) for v in velocity]
        shapes = [v.shape for v in velocities]
        expected = [x.shape for x in values]
        if shapes != expected:
            raise ValueError(f"velocity must have the shape of X (per trajectory {expected[:3]}...); got {shapes[:3]}")
        if not any(np.isfinite(v).any() for v in velocities):
            raise ValueError("velocity holds no finite value")
        return velocities

    def _velocity_data(
        self, scaled: list[np.ndarray], velocities: list[np.ndarray], *, device: torch.device
    ) -> VelocityData:
        """Observed states with standardised velocities; features without a velocity are masked out, points
        without a state or any velocity dropped."""
        states, targets = np.concatenate(scaled), np.concatenate(velocities) / self.feature_std_
        known = np.isfinite(targets)
        rows = np.isfinite(states).all(axis=1) & known.any(axis=1)
        as_tensor = lambda array: torch.as_tensor(array[rows], dtype=torch.float32, device=device)
        return VelocityData(as_tensor(states), as_tensor(np.where(known, targets, 0.0)), as_tensor(known.astype(np.float32)),
                            float(self.velocity_weight))

    def _set_scaling(self, values: list[np.ndarray], times: list[np.ndarray], like: SparseNODE | None = None) -> None:
        """Check the data and set the feature scaling and time unit: from the data, or those of ``like`` (a model
        this fit continues)."""
        stacked = np.concatenate(values)
        self.n_features_in_ = stacked.shape[1]
        empty = np.flatnonzero(np.all(np.isnan(stacked), axis=0))
        if empty.size:
            raise ValueError(f"features {empty[:10].tolist()} have no observed (non-NaN) value")
        constant = [k for k, times_k in enumerate(times) if times_k[-1] == times_k[0]]
        if len(constant) == len(times):
            raise ValueError("every trajectory has constant time; t must increase within a trajectory")
        if constant:
            logger.warning("trajectories %s have constant time: they cannot inform the dynamics", constant[:10])
        duration = float(max(times_k[-1] - times_k[0] for times_k in times))
        if like is not None:
            self._check_continuable(like)
            self.feature_mean_, self.feature_std_ = like.feature_mean_.copy(), like.feature_std_.copy()
            self.time_scale_ = like.time_scale_
            return
        if self.standardize:
            self.feature_mean_ = np.nanmean(stacked, axis=0)
            std = np.nanstd(stacked, axis=0)
            # judged against each feature's own magnitude (units differ between features); float32 round-off
            # leaves ~1e-7 of that on a constant
            constant = std <= 1e-6 * np.nanmax(np.abs(stacked), axis=0)
            if constant.any():
                indices = np.flatnonzero(constant)
                logger.warning("%d features are constant (%s%s); they are kept unscaled", indices.size,
                               ", ".join(map(str, indices[:10])), ", ..." if indices.size > 10 else "")
            self.feature_std_ = np.where(constant, 1.0, std)
        else:
            self.feature_mean_ = np.zeros(self.n_features_in_)
            self.feature_std_ = np.ones(self.n_features_in_)
        if self.time_unit == "rate":
            self.time_scale_ = self._time_unit([self._scale_values(x) for x in values], times, duration)
        else:
            self.time_scale_ = duration if self.time_unit == "duration" else float(self.time_unit)

    @staticmethod
    def _time_unit(scaled: list[np.ndarray], times: list[np.ndarray], duration: float) -> float:
        """Input time per internal time unit: the inverse root-mean-square rate of change of the scaled
        features, so the field's outputs are of order 1 and ``lam`` means the same for slow and fast
        dynamics; at most the longest ``duration`` (data that change little keep the longest trajectory at 1).
        """
        rates = [rate[np.isfinite(rate)] for _, rate, _ in finite_differences(scaled, times)]
        squares = np.concatenate(rates) ** 2 if rates else np.zeros(0)
        rms = float(np.sqrt(squares.mean())) if squares.size else 0.0
        return duration if rms * duration <= 1.0 else 1.0 / rms

    def _scale_values(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.feature_mean_) / self.feature_std_).astype(np.float32)

    def _scale_time(self, times: np.ndarray) -> np.ndarray:
        return ((times - times[0]) / self.time_scale_).astype(np.float32)

    def _solver_options(self, shifted: list[np.ndarray]) -> SolverOptions:
        if self.step_size is not None:
            step_size = self.step_size / self.time_scale_
        else:
            span = max(float(times[-1]) for times in shifted)
            spacing = np.concatenate([np.diff(times) for times in shifted])
            spacing = spacing[spacing > 0]
            step_size = float(np.clip(np.median(spacing) if spacing.size else span / 20, span / 50, span / 10))
        return SolverOptions(self.solver, step_size, self.rtol, self.atol, self.max_steps)

    def _segments_with_initial_states(self, scaled: list[np.ndarray], shifted: list[np.ndarray]
                                      ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        """The :func:`segments` of the trajectories with their initial states, leaving out (with a warning) the
        segments whose first observations miss a feature entirely (each trajectory's own start is complete)."""
        scaled, shifted = segments(scaled, shifted, self.segment_points)
        states = self._initial_state_estimates(scaled, shifted)
        complete = np.isfinite(states).all(axis=1)
        if not complete.all():
            cause = ("a feature is missing in all of their first %d observation(s)" if self._order == 1 else
                     "a feature has no 2 values at distinct times among their first %d observations")
            logger.warning("%d of %d segments (segment_points=%d) start where " + cause + "; they are left out",
                           int((~complete).sum()), len(scaled), self.segment_points, self.n_initial_frames)
            scaled = [x for x, keep in zip(scaled, complete, strict=True) if keep]
            shifted = [times for times, keep in zip(shifted, complete, strict=True) if keep]
        return scaled, shifted, states[complete].astype(np.float32)

    def _initial_state_estimates(self, scaled: list[np.ndarray], shifted: list[np.ndarray]) -> np.ndarray:
        """Initial ODE states ``(n_traj, order * d)`` from each trajectory's first observations (NaN where a
        feature cannot be estimated)."""
        if self._order == 1:
            first = np.stack([self._first_rows(x) for x in scaled])
            observed = np.isfinite(first)
            with np.errstate(invalid="ignore"):
                return np.where(observed, first, 0.0).sum(axis=1) / observed.sum(axis=1)
        return np.stack([self._position_and_velocity(x, times) for x, times in zip(scaled, shifted, strict=True)])

    def _initial_states(self, scaled: list[np.ndarray], shifted: list[np.ndarray], *, frames: bool = False
                        ) -> np.ndarray:
        """Initial ODE states ``(n_traj, order * d)`` from each trajectory's first observations (``frames``:
        ``predict``'s ``x0`` frames), or an error that says which observations are missing."""
        states = self._initial_state_estimates(scaled, shifted)
        missing = ~np.isfinite(states)
        if missing.any():
            trajectory, column = np.argwhere(missing)[0]
            feature = column % self.n_features_in_
            window = self.initial_frames_for(shifted[trajectory])
            if self._order == 1:
                what = f"is NaN in all of its first {window} observation(s)"
            else:
                what = (f"has fewer than 2 values at distinct times among its first {window} "
                        "observations (order 2 fits a line through them for the initial velocity)")
            if frames:
                remedy = ("give x0 frames in which every feature has values at 2 or more distinct times (t or "
                          "frame_times)" if self._order == 2 else "give x0 frames in which every feature has a value")
            elif np.isfinite(scaled[trajectory][window:, feature]).any():
                remedy = "increase initial_points or fill the gap"
            else:
                remedy = "the feature is never observed later in it either; fill it in or leave the trajectory out"
            where = "x0 row" if frames else "trajectory"
            raise ValueError(f"an initial state has a missing value: in {where} {trajectory}, feature {feature} "
                             f"{what} ({int(missing.any(axis=1).sum())} affected); {remedy}")
        return states.astype(np.float32)

    def _first_rows(self, x: np.ndarray) -> np.ndarray:
        """The first ``initial_points`` rows of ``x`` (NaN-padded when the trajectory is shorter)."""
        rows = np.full((self.n_initial_frames, x.shape[1]), np.nan)
        n = min(len(x), self.n_initial_frames)
        rows[:n] = x[:n]
        return rows

    def _position_and_velocity(self, x: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Least-squares line through the first ``max(2, initial_points)`` points, extended to the first point at
        a later time when they all share one time (several cells per sampling time, repeated bootstrap draws):
        value and slope at t=0 (NaN where a feature has no 2 observations at distinct times)."""
        n = self.initial_frames_for(times)
        values, times = x[:n], times[:n, None].astype(np.float64)
        observed = np.isfinite(values)
        count = observed.sum(axis=0)
        t_mean = (times * observed).sum(axis=0) / np.maximum(count, 1)
        x_mean = np.where(observed, values, 0.0).sum(axis=0) / np.maximum(count, 1)
        centred_t = np.where(observed, times - t_mean, 0.0)
        spread = (centred_t**2).sum(axis=0)
        slope = (centred_t * np.where(observed, values - x_mean, 0.0)).sum(axis=0) / np.maximum(spread, 1e-12)
        # a slope needs two observations at distinct times (equal times would give a zero velocity)
        slope = np.where((count >= 2) & (spread > 0), slope, np.nan)
        return np.concatenate([x_mean - slope * t_mean, slope])

    def _batch(self, X: ArrayLike, t: ArrayLike, *, device: torch.device, name: str = "X") -> TrajectoryBatch:
        """Trajectories (``name`` in error messages) scaled as the fit's, with their initial states."""
        values, times = as_trajectories(X, t, name=name)
        self._check_features(values[0].shape[1], name=name)
        scaled = [self._scale_values(x) for x in values]
        shifted = [self._scale_time(times_k) for times_k in times]
        return TrajectoryBatch.from_arrays(scaled, shifted, self._initial_states(scaled, shifted), device=device)

    def _derivative_data(
        self, scaled: list[np.ndarray], shifted: list[np.ndarray], device: torch.device
    ) -> DerivativeData | None:
        """Finite-difference derivatives of every trajectory for the warm start (``None`` when there are none).

        Rows whose network input has a missing value are dropped; missing derivatives are masked.
        """
        states, targets = [], []
        for x, velocity, times in finite_differences(scaled, shifted):
            if self._order == 1:
                states.append(x)
                targets.append(velocity)
            else:
                states.append(np.concatenate([x, velocity], axis=1))
                targets.append(np.gradient(velocity, times, axis=0))
        if not states:
            return None
        state, target = np.concatenate(states), np.concatenate(targets)
        rows = np.all(np.isfinite(state), axis=1)
        if not rows.any():
            return None
        state, target = state[rows], target[rows]
        known = np.isfinite(target)
        return DerivativeData(
            torch.as_tensor(state, dtype=torch.float32, device=device),
            torch.as_tensor(np.where(known, target, 0.0), dtype=torch.float32, device=device),
            torch.as_tensor(known, device=device),
        )

    # ------------------------------------------------------------------ using a fitted model
    def _check_fitted(self) -> None:
        if not hasattr(self, "field_"):
            raise NotFittedError("this SparseNODE is not fitted yet; call fit(X, t) or SparseNODE.load(path) first")

    def _check_features(self, n_features: int, *, name: str = "X") -> None:
        if n_features != self.n_features_in_:
            raise ValueError(f"{name} has {n_features} features but the model has {self.n_features_in_}")

    @property
    def _device(self) -> torch.device:
        return next(self.field_.parameters()).device

    def predict(
        self, x0: np.ndarray, t: ArrayLike, *, v0: np.ndarray | None = None, frame_times: ArrayLike | None = None,
        clamp: Mapping[int, float] | None = None,
    ) -> np.ndarray | list[np.ndarray]:
        """Integrate trajectories from initial states.

        Parameters
        ----------
        x0
            Initial states ``(n_traj, d)`` (or ``(d,)``) at ``t[0]``, or the first observed frames
            ``(n_traj, k, d)`` at times ``t[:k]``, from which the initial state is estimated as in :meth:`fit`
            (from the first ``initial_points`` frames; order 2: ``max(2, initial_points)``).
        t
            Output times: shared ``(n_time,)``, ``(n_traj, n_time)`` or a list of per-trajectory arrays.
        v0
            Initial velocities ``(n_traj, d)`` for ``order=2`` when ``x0`` holds states, not frames (refused for
            ``order=1``).
        frame_times
            Times of the frames in ``x0``, ``(k,)`` shared or ``(n_traj, k)``, when they are not ``t[:k]`` (e.g.
            observations before a regular output grid); the estimated state is the state at ``t[0]``. Only
            order 2 uses frame times (order 1 averages the frames). See :attr:`n_initial_frames`.
        clamp
            In-silico perturbation: ``{feature index: value}`` (input units). These features start at the value
            and stay there (their derivative is held at 0; knock-out: 0 or the feature's minimum,
            over-expression: a high value), so the prediction shows how the others respond.

        Returns
        -------
        ``(n_traj, n_time, d)`` predictions in the input's units (a list when times differ in length).
        """
        self._check_fitted()
        if v0 is not None and self._order == 1:
            raise ValueError("v0 (initial velocities) is for order=2 models; a first-order model starts from x0 alone")
        x0 = np.asarray(x0, dtype=np.float64)
        if x0.ndim == 1:
            x0 = x0[None]
        if x0.ndim not in (2, 3):
            raise ValueError(f"x0 must be (n_traj, d), (d,) or (n_traj, k, d); got shape {x0.shape}")
        self._check_features(x0.shape[-1], name="x0")
        times = as_time_list(t, len(x0))
        if len(times) != len(x0):
            raise ValueError(f"x0 has {len(x0)} trajectories but t has {len(times)}")
        for k, times_k in enumerate(times):
            if times_k.ndim != 1 or not times_k.size or not np.all(np.isfinite(times_k)) or np.any(np.diff(times_k) < 0):
                raise ValueError(f"t for trajectory {k} must be a non-empty, finite, non-decreasing 1-d array")
        shifted = [self._scale_time(times_k) for times_k in times]
        if x0.ndim == 3:
            if v0 is not None:
                raise ValueError("v0 is for x0 given as states (n_traj, d); with frames (n_traj, k, d) the initial "
                                 "velocity is estimated from them: pass one or the other")
            if self._order == 2 and x0.shape[1] < 2:
                raise ValueError(f"order=2 estimates position and velocity from at least 2 frames; x0 has "
                                 f"{x0.shape[1]} (pass (n_traj, k >= 2, d) frames, or states with v0)")
            initial = self._initial_states([self._scale_values(x) for x in x0], self._frame_times(x0, times, frame_times),
                                           frames=True)
        else:
            if frame_times is not None:
                raise ValueError("frame_times are the times of frames in x0 (n_traj, k, d); x0 holds states "
                                 f"{x0.shape}, which start at t[0]: leave frame_times out")
            if not np.all(np.isfinite(x0)):
                raise ValueError(f"x0 holds NaN or infinite values (trajectories {np.flatnonzero(~np.isfinite(x0).all(1))[:10].tolist()}); "
                                 "initial states must be complete")
            initial = self._scale_values(x0)
            if self._order == 2:
                if v0 is None:
                    raise ValueError("order=2 needs v0 (initial velocities) or x0 as (n_traj, k, d) first frames")
                v0 = np.broadcast_to(np.asarray(v0, dtype=np.float64), x0.shape)
                if not np.all(np.isfinite(v0)):
                    raise ValueError("v0 holds NaN or infinite values; initial velocities must be complete")
                initial = np.concatenate([initial, (v0 * self.time_scale_ / self.feature_std_)], axis=1)
        clamped = self._clamped_features(clamp)
        if clamped.any():
            d = self.n_features_in_
            values = np.zeros(d)
            for index, value in (clamp or {}).items():
                values[index] = value
            initial = initial.copy()
            initial[:, :d][:, clamped] = self._scale_values(values[None])[0, clamped]
            if self._order == 2:
                initial[:, d:][:, clamped] = 0.0
        holding = self.field_.clamping(torch.as_tensor(clamped, device=self._device)) if clamped.any() else nullcontext()
        with holding:
            predictions = self._integrate(initial.astype(np.float32), shifted)
        predictions = [p * self.feature_std_ + self.feature_mean_ for p in predictions]
        lengths = {len(p) for p in predictions}
        return np.stack(predictions) if len(lengths) == 1 else predictions

    @property
    def n_initial_frames(self) -> int:
        """Observed frames an initial state is estimated from: ``initial_points`` (order 2: at least 2; a
        trajectory whose first frames share one time uses more, see :meth:`initial_frames_for`)."""
        initial_points = int(self._fitted("initial_points"))
        return initial_points if self._order == 1 else max(2, initial_points)

    def initial_frames_for(self, times: ArrayLike) -> int:
        """How many of a trajectory's first frames, at ``times``, its initial state is estimated from:
        :attr:`n_initial_frames`, for order 2 extended to the first frame at a later time when those share one
        time (a velocity needs two times).

        Parameters
        ----------
        times
            The trajectory's (non-decreasing) times.

        Returns
        -------
        The number of frames.
        """
        times = np.asarray(times)
        if self._order == 1:
            return self.n_initial_frames
        later = np.flatnonzero(times != times[0])
        return max(self.n_initial_frames, int(later[0]) + 1) if later.size else self.n_initial_frames

    def _frame_times(self, frames: np.ndarray, times: list[np.ndarray], frame_times: ArrayLike | None
                     ) -> list[np.ndarray]:
        """Internal times of ``predict``'s ``(n_traj, k, d)`` frames, from 0 at each trajectory's ``t[0]`` (zeros
        for order 1, whose initial state averages the frames whatever their times)."""
        k = frames.shape[1]
        if frame_times is None:
            if self._order == 1:
                return [np.zeros(k, dtype=np.float32) for _ in times]
            if k > min(len(times_k) for times_k in times):
                raise ValueError(f"x0 has {k} frames, more than the time points given in t")
            return [self._scale_time(times_k[:k]) for times_k in times]
        given = np.asarray(frame_times, dtype=np.float64)
        if given.ndim == 1:
            given = np.broadcast_to(given, (len(frames), len(given)))
        if given.shape != (len(frames), k) or not np.all(np.isfinite(given)):
            raise ValueError(f"frame_times must be finite, (k,) or (n_traj, k) = {(len(frames), k)}; got "
                             f"{np.shape(frame_times)}")
        return [((row - times_k[0]) / self.time_scale_).astype(np.float32) for row, times_k in zip(given, times,
                                                                                                    strict=True)]

    def _clamped_features(self, clamp: Mapping[int, float] | None) -> np.ndarray:
        """Boolean ``(d,)`` mask of the features ``clamp`` holds constant (validated)."""
        clamped = np.zeros(self.n_features_in_, dtype=bool)
        for index, value in (clamp or {}).items():
            if isinstance(index, bool) or not isinstance(index, int | np.integer) or not 0 <= index < self.n_features_in_:
                raise ValueError(f"clamp: feature index {index!r} must be an integer in [0, {self.n_features_in_})")
            if not isinstance(value, int | float | np.number) or not np.isfinite(value):
                raise ValueError(f"clamp: value {value!r} of feature {index} must be a finite number")
            clamped[index] = True
        return clamped

    @torch.no_grad()
    def _integrate(self, initial: np.ndarray, shifted: list[np.ndarray]) -> list[np.ndarray]:
        """Scaled predictions per trajectory on their own (scaled, shifted) times."""
        dummy = [np.zeros((len(times), self.n_features_in_), dtype=np.float32) for times in shifted]
        batch = TrajectoryBatch.from_arrays(dummy, shifted, initial, device=self._device)
        self.field_.prepare(sample=False)
        predicted = predict_observations(self.field_, batch, self.solver_).cpu().numpy()
        return [predicted[k, : len(times)].astype(np.float64) for k, times in enumerate(shifted)]

    def mse(self, X: ArrayLike, t: ArrayLike) -> float:
        """Mean squared error (input units) of trajectories predicted from their first observations.

        Initial states are estimated as in :meth:`fit`; the mean runs over every observed (non-NaN) value.

        Parameters
        ----------
        X, t
            Trajectories and their times, as in :meth:`fit`.

        Returns
        -------
        The mean squared error.
        """
        self._check_fitted()
        return self._mse(self._batch(X, t, device=self._device))

    def score(self, X: ArrayLike, t: ArrayLike) -> float:
        """Coefficient of determination R² of trajectories predicted from their first observations (higher is
        better, as scikit-learn's model selection expects; :meth:`mse` gives the error itself).

        ``1 - sum of squared errors / sum of squared deviations from each feature's mean``, over every observed
        (non-NaN) value of ``X``; initial states are estimated as in :meth:`fit`.

        Parameters
        ----------
        X, t
            Trajectories and their times, as in :meth:`fit`.

        Returns
        -------
        R² (1 for a perfect prediction; 0 for one as good as each feature's mean; can be negative).
        """
        self._check_fitted()
        values, _ = as_trajectories(X, t)
        observed = np.concatenate(values)
        deviation = np.nanmean((observed - np.nanmean(observed, axis=0)) ** 2)
        return 1.0 - self.mse(X, t) / deviation if deviation > 0 else float("nan")

    def _mse(self, batch: TrajectoryBatch) -> float:
        """Mean squared error in input units of the trajectories of ``batch`` predicted by the field."""
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

        Returns
        -------
        ``(d, d)`` float64 array, row = target, column = input.
        """
        self._check_fitted()
        strength = self.regularizer_.dependencies(self.field_).cpu().numpy().astype(np.float64)
        if self._order == 2:
            d = self.n_features_in_
            strength = strength[:, :d] + strength[:, d:]
        return strength

    def effective_weights(self) -> list[np.ndarray]:
        """Weights as used in prediction: every layer's weights times its deterministic gates, plus the skip
        connection when there is one (what weight sparsity is measured on). Edge gates (PathReg
        ``gates="edge"``) act on input-output connections, not on layer weights: they are not included here;
        :meth:`dependencies` reports them.

        Returns
        -------
        One ``(out_features, in_features)`` array per layer (and the skip connection last).
        """
        self._check_fitted()
        with torch.no_grad():
            self.field_.prepare(sample=False)
            weights = [weight.cpu().numpy() for weight in self.field_.current_weights]
            if self.field_.skip is not None:
                weights.append(self.field_.skip.weight.cpu().numpy())
        return weights

    def _network_inputs(self, states: np.ndarray) -> np.ndarray:
        """``(n, d)`` or ``(n, 2 d)`` states in input units as float32 network inputs (internal units)."""
        d = self.n_features_in_
        states = np.asarray(states, dtype=np.float64)
        if states.ndim != 2 or states.shape[1] not in {d, self._order * d}:
            raise ValueError(f"states must be (n, {d}) (or (n, {2 * d}) for order 2); got {states.shape}")
        scaled = self._scale_values(states[:, :d])
        if self._order == 2:
            velocity = states[:, d:] if states.shape[1] == 2 * d else np.zeros_like(states[:, :d])
            scaled = np.concatenate([scaled, (velocity * self.time_scale_ / self.feature_std_).astype(np.float32)], 1)
        return scaled

    def derivatives(self, states: np.ndarray) -> np.ndarray:
        """The fitted vector field at ``states``: ``dx/dt`` (order 1) or ``d²x/dt²`` (order 2), input units.

        Parameters
        ----------
        states
            ``(n, d)`` states (order 2: positions with velocity 0, or ``(n, 2 d)`` positions and velocities).

        Returns
        -------
        ``(n, d)`` time derivatives in the input's units per unit of ``t`` (per unit squared for order 2).
        """
        self._check_fitted()
        inputs = torch.as_tensor(self._network_inputs(states), device=self._device)
        with torch.no_grad():
            self.field_.prepare(sample=False)
            output = self.field_.network(inputs).cpu().numpy().astype(np.float64)
        return output * self.feature_std_ / self.time_scale_**self._order

    def jacobian(self, states: np.ndarray, *, chunk_size: int | None = None) -> np.ndarray:
        """Signed mean Jacobian ``d f_i / d x_j`` (row = target ``i``, column = input ``j``) in input units.

        Parameters
        ----------
        states
            ``(n, d)`` states (order 2: positions, velocity 0; or ``(n, 2 d)`` positions and velocities).
        chunk_size
            States per vectorised Jacobian evaluation (bounds memory at ``chunk_size * d * order * d``).

        Returns
        -------
        ``(d, d)`` mean over ``states`` of the Jacobian of ``dx/dt`` (order 2: of the acceleration with respect
        to the positions), per unit of ``t``.
        """
        self._check_fitted()
        d = self.n_features_in_
        scaled = self._network_inputs(states)
        complete = np.isfinite(scaled).all(axis=1)
        if not complete.any():
            raise ValueError("every row of states has a missing (NaN) or infinite value; the Jacobian needs "
                             "complete states")
        if not complete.all():
            logger.warning("%d of %d states have missing or infinite values; the mean Jacobian uses the other %d",
                           int((~complete).sum()), len(scaled), int(complete.sum()))
            scaled = scaled[complete]
        chunk_size = chunk_size or max(1, int(2e7 // (d * d * self._order)))
        self.field_.prepare(sample=False)
        jacobian_of_state = torch.func.vmap(torch.func.jacrev(self.field_.network))
        total = np.zeros((d, self._order * d))
        with torch.no_grad():
            for start in range(0, len(scaled), chunk_size):
                chunk = torch.as_tensor(scaled[start : start + chunk_size], device=self._device)
                total += jacobian_of_state(chunk).sum(0).cpu().numpy()
        mean = (total / len(scaled))[:, :d]
        return mean * self.feature_std_[:, None] / (self.feature_std_[None, :] * self.time_scale_**self._order)

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The fitted model as a JSON-able config and a dict of plain arrays (what :meth:`save` writes).

        Returns
        -------
        ``(config, arrays)``: constructor arguments, format version, sizes and units; weights, scaling and
        history as numpy arrays.
        """
        self._check_fitted()
        config = {
            "format_version": io.FORMAT_VERSION,
            "params": {**{name: self._fitted(name) for name in self._param_names()},
                       "hidden": list(self._architecture(fitted=True)["hidden"]),
                       "device": str(self._fitted("device"))},  # a torch.device is not JSON
            "n_features_in": int(self.n_features_in_),
            "time_scale": self.time_scale_,
            "step_size": self.solver_.step_size,
            "training_mse": None if np.isnan(self.training_mse_) else self.training_mse_,
            "validation_mse": None if np.isnan(self.validation_mse_) else self.validation_mse_,
            "interrupted": self.interrupted_,
            "connections": sorted(name for name in CONNECTION_BUFFERS if name in self.field_.state_dict()),
        }
        arrays = {f"weights.{name}": value.detach().cpu().numpy() for name, value in self.field_.state_dict().items()}
        arrays |= {"scaling.feature_mean": self.feature_mean_, "scaling.feature_std": self.feature_std_}
        arrays |= {f"history.{name}": values for name, values in self.history_.items()}
        return config, arrays

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> SparseNODE:
        """Rebuild a fitted model from :meth:`get_state`'s output (validated, never unpickled).

        Parameters
        ----------
        config, arrays
            What :meth:`get_state` returned.

        Returns
        -------
        The fitted estimator.
        """
        io.check_format_version(config, "the stored model")
        try:
            model = cls(**{**config["params"], "hidden": tuple(config["params"]["hidden"]),
                           "device": available_device(config["params"].get("device", "auto"))})
            model.fitted_params_ = copy.deepcopy(model.get_params())  # edits of the params do not reach the fit
            model.n_features_in_ = int(config["n_features_in"])
            model.time_scale_ = float(config["time_scale"])
            model.training_mse_, model.validation_mse_ = (
                float("nan") if config.get(name) is None else float(config[name])
                for name in ("training_mse", "validation_mse"))
            model.interrupted_ = bool(config.get("interrupted", False))
            model.feature_mean_ = np.asarray(arrays["scaling.feature_mean"], dtype=np.float64)
            model.feature_std_ = np.asarray(arrays["scaling.feature_std"], dtype=np.float64)
            model.history_ = {k.removeprefix("history."): v for k, v in arrays.items() if k.startswith("history.")}
            _check_stored_units(model)
            model.solver_ = SolverOptions(model.solver, float(config["step_size"]), model.rtol, model.atol,
                                          model.max_steps)
            model.regularizer_ = model._make_regularizer()
            # files of this version written before "connections" was recorded hold whichever buffers they have
            recorded = config.get("connections", [name for name in CONNECTION_BUFFERS if f"weights.{name}" in arrays])
            missing = [name for name in recorded if f"weights.{name}" not in arrays]
            if missing:
                raise KeyError(f"the fit had {missing} (regulators or a prior), which the file lacks")
            connections = {name: arrays.get(f"weights.{name}") for name in CONNECTION_BUFFERS}
            with torch.random.fork_rng(devices=[]):  # its initial weights are replaced by the stored ones
                model.field_ = model._new_field(model.n_features_in_, model.regularizer_, connections)
            state = {k.removeprefix("weights."): torch.as_tensor(v) for k, v in arrays.items() if k.startswith("weights.")}
            model.field_.load_state_dict(state)
        except (KeyError, TypeError, RuntimeError, ValueError) as error:
            raise io.ModelFormatError(f"the stored model is incomplete or inconsistent: {error}") from error
        model.field_.to(resolve_device(model.device))
        return model

    def save(self, path: str | os.PathLike) -> None:
        """Write the model to ``path`` (``.npz``: arrays plus a JSON config with a format version; no pickle).

        Parameters
        ----------
        path
            File to write.
        """
        io.write_model(path, *self.get_state())

    @classmethod
    def load(cls, path: str | os.PathLike) -> SparseNODE:
        """Read a model written by :meth:`save`; refuses pickled content and newer format versions.

        Parameters
        ----------
        path
            File written by :meth:`save`.

        Returns
        -------
        The fitted estimator.
        """
        return cls.from_state(*io.read_model(path))

    def __repr__(self) -> str:
        if not hasattr(self, "field_"):
            return f"SparseNODE(regularization={self.regularization!r}, lam={self.lam!r}, order={self.order}, not fitted)"
        shown = ", ".join(f"{name}={self._fitted(name)!r}" for name in ("regularization", "lam", "order"))
        # repr, not ==, compares them: params may be arrays (hidden=np.array([8, 8]))
        changed = any(repr(self._fitted(name)) != repr(getattr(self, name)) for name in self._param_names())
        return f"SparseNODE({shown}, fitted{'; set_params changes apply at the next fit' if changed else ''})"
