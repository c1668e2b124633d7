"""``SparseNODE`` on synthetic systems with known structure: fitting, structure recovery, masking, units,
persistence, reproducibility, shapes and input validation."""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import sklearn.exceptions
import torch
from _systems import harmonic_oscillator, repressilator, sparse_linear_system

import sparsenode as sn
from sparsenode import SparseNODE
from sparsenode.estimator import NotFittedError
from sparsenode.io import ModelFormatError
from sparsenode.metrics import auroc
from sparsenode.nn import REGULARIZERS, VectorField, make_regularizer
from sparsenode.nn.solve import SolverOptions, TrajectoryBatch
from sparsenode.nn.train import HISTORY_KEYS, TrainingOptions, fit_trajectories

#: Small and short, yet enough for structure recovery thanks to the derivative-matching warm start.
FAST = {"hidden": (32, 32), "warm_start_epochs": 1000, "epochs": 30, "progress": False}
#: For tests about shapes, errors and bookkeeping only.
TINY = {"hidden": (8, 8), "warm_start_epochs": 20, "epochs": 4, "progress": False}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def linear() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return sparse_linear_system(seed=0)


@pytest.fixture(scope="module")
def fitted(linear: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict[str, SparseNODE]:
    """Every regularizer at its default ``lam``, fitted on the d = 10 linear system."""
    X, t, _ = linear
    return {name: SparseNODE(name, **FAST).fit(X, t) for name in REGULARIZERS}


# ---------------------------------------------------------------------------------------------- fit & structure
@pytest.mark.parametrize("name", sorted(REGULARIZERS))
def test_every_regularizer_fits_the_linear_system(name: str, fitted: dict, linear: tuple) -> None:
    X, t, _ = linear
    model = fitted[name]
    assert model.mse(X, t) < 0.01 * X.var()  # measured (model seeds 0-2): at most 0.003 of the variance
    assert model.dependencies().shape == (10, 10) and np.all(model.dependencies() >= 0)


@pytest.mark.parametrize("name", ["pathreg", "cnode"])
def test_structure_recovery_on_the_linear_system(name: str, fitted: dict, linear: tuple) -> None:
    _, _, A = linear
    score, baseline = auroc(fitted[name].dependencies(), A), auroc(fitted["none"].dependencies(), A)
    assert score >= 0.9  # measured (model seeds 0-2): 1.00
    assert score >= baseline + 0.2  # measured: "none" 0.68-0.74


def test_pathreg_is_feature_sparse(fitted: dict) -> None:
    strength = fitted["pathreg"].dependencies()
    assert np.mean(strength <= 0.01 * strength.max()) >= 0.3  # measured 0.60-0.63; "none" 0.00


def test_structure_recovery_on_the_repressilator() -> None:
    X, t, network = repressilator(seed=0)
    model = SparseNODE("pathreg", **FAST).fit(X, t)
    assert auroc(model.dependencies(), network) >= 0.9  # measured (model seeds 0-2): 0.99-1.00
    assert model.mse(X, t) < 0.15 * X.var()  # measured: 0.025-0.039 of the variance


def test_jacobian_has_the_sign_of_strong_edges(fitted: dict, linear: tuple) -> None:
    X, _, A = linear
    jacobian = fitted["none"].jacobian(X.reshape(-1, 10))
    strong = np.abs(A) >= 0.7
    assert strong.sum() > 10
    assert np.all(np.sign(jacobian[strong]) == np.sign(A[strong]))
    np.testing.assert_allclose(jacobian, A, atol=0.5)  # measured (model seeds 0-2): at most 0.35 off


# ---------------------------------------------------------------------------------------------- data forms
def test_irregular_time_points_per_trajectory(linear: tuple) -> None:
    X, t, A = linear
    rng = np.random.default_rng(1)
    keep = [np.sort(rng.choice(np.arange(1, 30), size, replace=False)) for size in rng.integers(12, 29, len(X))]
    values = [x[np.concatenate([[0], k])] for x, k in zip(X, keep, strict=True)]
    times = [t[np.concatenate([[0], k])] for k in keep]
    assert len({len(v) for v in values}) > 3
    model = SparseNODE("pathreg", **FAST).fit(values, times)
    assert model.mse(values, times) < 0.03 * X.var()
    assert auroc(model.dependencies(), A) >= 0.9
    predicted = model.predict(np.stack([v[0] for v in values]), times)
    assert isinstance(predicted, list) and [p.shape for p in predicted] == [v.shape for v in values]


def test_nan_masked_observations(linear: tuple) -> None:
    X, t, A = linear
    rng = np.random.default_rng(2)
    missing = rng.random(X.shape) < 0.2
    missing[:, 0] = False  # initial states stay observed
    masked = np.where(missing, np.nan, X)
    model = SparseNODE("pathreg", **FAST).fit(masked, t)
    np.testing.assert_allclose(model.feature_mean_, np.nanmean(masked.reshape(-1, 10), axis=0))
    assert model.mse(X, t) < 0.05 * X.var()  # measured (model seeds 0-2): 0.003-0.025 of the variance
    assert auroc(model.dependencies(), A) >= 0.9  # measured: 0.96-1.00


def test_masked_values_do_not_change_training(linear: tuple) -> None:
    X, t, _ = linear
    rng = np.random.default_rng(3)
    values = [x.astype(np.float32) for x in X[:4, :, :3]]
    for x in values:
        x[1:][rng.random(x[1:].shape) < 0.3] = np.nan
    batch = TrajectoryBatch.from_arrays(values, [t / t[-1]] * 4, np.stack([x[0] for x in values]))
    corrupted = dataclasses.replace(
        batch, observed=torch.where(batch.mask, batch.observed, torch.full_like(batch.observed, 1e6)))
    assert corrupted.observed.max() == 1e6
    regularizer = make_regularizer("pathreg", None)
    weights = []
    for data in (batch, corrupted):
        torch.manual_seed(0)
        field = VectorField(3, hidden=(8, 8), **regularizer.field_options())
        history, _ = fit_trajectories(field, regularizer, data, SolverOptions("rk4", 0.05),
                                   TrainingOptions(epochs=5, progress=False), generator=np.random.default_rng(0))
        assert np.all(np.isfinite(history["loss"]))
        weights.append([p.detach().clone() for p in field.parameters()])
    for before, after in zip(*weights, strict=True):
        assert torch.equal(before, after)


def test_raw_units_give_the_same_model(linear: tuple) -> None:
    X, t, _ = linear
    unit = SparseNODE("pathreg", **TINY).fit(X, t)
    raw = SparseNODE("pathreg", **TINY).fit(1e3 * X + 5e3, 200.0 * t)  # time 0..1000, features in thousands
    np.testing.assert_allclose(raw.dependencies(), unit.dependencies(), rtol=1e-3, atol=1e-6 * unit.dependencies().max())
    predicted = raw.predict(1e3 * X[:, 0] + 5e3, 200.0 * t)
    np.testing.assert_allclose((predicted - 5e3) / 1e3, unit.predict(X[:, 0], t), atol=1e-3)
    np.testing.assert_allclose(raw.jacobian(1e3 * X[0] + 5e3), unit.jacobian(X[0]) / 200.0, rtol=1e-3, atol=1e-6)


def test_second_order_harmonic_oscillator() -> None:
    X, t, x0, v0 = harmonic_oscillator()
    model = SparseNODE("pathreg", order=2, **FAST).fit(X, t)
    predicted = model.predict(x0, t, v0=v0)
    assert predicted.shape == X.shape
    assert np.mean((predicted - X) ** 2) < 0.05 * X.var()  # measured (model seeds 0-2): 0.010-0.015
    from_frames = model.predict(X[:, :3], t)  # position and velocity estimated from the first frames
    assert np.mean((from_frames - X) ** 2) < 0.05 * X.var()  # measured: 0.008-0.009
    # frames observed at other times than the output grid: the state they give at t[0], then the grid
    grid = np.r_[t[0], t[3:]]
    np.testing.assert_allclose(model.predict(X[:, :3], grid, frame_times=t[:3]), from_frames[:, [0, *range(3, len(t))]],
                               atol=1e-5)
    assert model.n_initial_frames == 2
    with pytest.raises(ValueError, match=r"frame_times must be finite, \(k,\) or \(n_traj, k\)"):
        model.predict(X[:, :3], grid, frame_times=t[:2])


def test_initial_noise_pulls_perturbed_starts_back_onto_the_trajectories(linear: tuple) -> None:
    X, t, _ = linear
    settings = {"hidden": (32, 32), "warm_start_epochs": 0, "epochs": 60, "progress": False, "time_unit": "duration"}
    starts = X[:, 0] + 0.5 * X.std(axis=(0, 1)) * np.random.default_rng(1).standard_normal(X[:, 0].shape)
    end_error = {}
    for noise in (0.0, 0.5):
        model = SparseNODE("pathreg", initial_noise=noise, **settings).fit(X, t)
        end_error[noise] = np.mean((model.predict(starts, t)[:, -1] - X[:, -1]) ** 2)
    assert end_error[0.5] < 0.9 * end_error[0.0]  # measured (model seeds 0-2): ratio 0.72-0.83
    again = SparseNODE("pathreg", initial_noise=0.5, **settings).fit(X, t)
    np.testing.assert_array_equal(again.predict(starts, t)[:, -1], model.predict(starts, t)[:, -1])


# ---------------------------------------------------------------------------------------------- predict
def test_predict_shapes(fitted: dict, linear: tuple) -> None:
    X, t, _ = linear
    model = fitted["pathreg"]
    assert model.predict(X[:, 0], t).shape == (12, 30, 10)
    assert model.predict(X[0, 0], t).shape == (1, 30, 10)
    assert model.predict(X[:, :3], t).shape == (12, 30, 10)
    assert model.predict(X[:2, 0], np.stack([t, 2 * t])).shape == (2, 30, 10)
    ragged = model.predict(X[:2, 0], [t[:5], t[:9]])
    assert isinstance(ragged, list) and [p.shape for p in ragged] == [(5, 10), (9, 10)]
    np.testing.assert_allclose(model.predict(X[:, 0], t)[:, 0], X[:, 0], atol=1e-5)  # starts at x0


# ---------------------------------------------------------------------------------------------- persistence
def test_save_load_round_trip(fitted: dict, linear: tuple, tmp_path: Path) -> None:
    X, t, _ = linear
    for name in ("pathreg", "lassonet"):
        model = fitted[name]
        path = tmp_path / f"{name}.npz"
        model.save(path)
        loaded = SparseNODE.load(path)
        assert loaded.get_params() == model.get_params()
        np.testing.assert_array_equal(loaded.dependencies(), model.dependencies())
        np.testing.assert_array_equal(loaded.predict(X[:, 0], t), model.predict(X[:, 0], t))
        np.testing.assert_array_equal(loaded.jacobian(X[0]), model.jacobian(X[0]))
        assert loaded.history_.keys() == model.history_.keys()


def test_numpy_number_arguments_save(linear: tuple, tmp_path: Path) -> None:
    X, t, _ = linear
    model = SparseNODE("cnode", lam=np.float32(0.05), **{**TINY, "epochs": np.int64(2)}).fit(X, t)
    model.save(tmp_path / "model.npz")
    loaded = SparseNODE.load(tmp_path / "model.npz")
    assert loaded.epochs == 2 and loaded.lam == pytest.approx(0.05)


def test_same_seed_same_model_other_seed_other_model(linear: tuple) -> None:
    X, t, _ = linear
    first, second = (SparseNODE("pathreg", seed=4, **TINY).fit(X, t) for _ in range(2))
    np.testing.assert_array_equal(first.dependencies(), second.dependencies())
    other = SparseNODE("pathreg", seed=5, **TINY).fit(X, t)
    assert not np.array_equal(other.dependencies(), first.dependencies())


def test_history_keys_and_validation(linear: tuple) -> None:
    X, t, _ = linear
    model = SparseNODE("cnode", validation_fraction=0.3, **TINY).fit(X, t)
    assert set(model.history_) == set(HISTORY_KEYS) == {"epoch", "loss", "mse", "penalty", "velocity", "val_mse"}
    assert all(len(values) == TINY["epochs"] for values in model.history_.values())
    assert np.all(np.isfinite(model.history_["val_mse"]))
    no_validation = SparseNODE("cnode", **TINY).fit(X, t)
    assert np.all(np.isnan(no_validation.history_["val_mse"]))


def test_validation_restores_the_best_epoch(linear: tuple) -> None:
    X, t, _ = linear
    model = SparseNODE("cnode", standardize=False, learning_rate=0.05, **{**TINY, "epochs": 12})
    model.fit(X[:8], t, validation=(X[8:], t))
    best = np.nanmin(model.history_["val_mse"])
    assert np.argmin(model.history_["val_mse"]) < len(model.history_["val_mse"]) - 1  # not simply the last
    assert model.mse(X[8:], t) == pytest.approx(best, rel=1e-5)  # without standardize, mse is val_mse


def test_validation_mse_is_in_input_units_like_mse(linear: tuple, tmp_path: Path) -> None:
    """history_["val_mse"] is in standardised units; validation_mse_ is comparable with score (the data are
    multiplied by 10, so the two units differ by a factor of about 100/variance)."""
    X, t, _ = linear
    X = 10 * X
    model = SparseNODE("cnode", **TINY).fit(X[:8], t, validation=(X[8:], t))
    assert model.validation_mse_ == pytest.approx(model.mse(X[8:], t), rel=1e-5)
    assert model.history_["val_mse"].min() != pytest.approx(model.validation_mse_, rel=0.5)
    model.save(tmp_path / "model.npz")
    assert SparseNODE.load(tmp_path / "model.npz").validation_mse_ == model.validation_mse_
    assert np.isnan(SparseNODE("cnode", **TINY).fit(X, t).validation_mse_)


def test_scikit_learn_clone_and_set_params(linear: tuple) -> None:
    from sklearn.base import clone

    X, t, _ = linear
    model = SparseNODE("cnode", lam=0.05, regularization_options=None, **TINY)
    copy = clone(model)
    assert copy is not model and copy.get_params(deep=False) == model.get_params()
    assert copy.set_params(lam=0.2, hidden=[16]) is copy and copy.lam == 0.2 and copy.hidden == [16]
    copy.fit(X, t)
    assert copy.effective_weights()[0].shape == (16, X.shape[-1])
    with pytest.raises(ValueError, match=r"unknown parameters \['lamda'\]"):
        copy.set_params(lamda=1.0)
    with pytest.raises(ValueError, match=r"hidden=\[0\] must be a non-empty sequence"):
        copy.set_params(hidden=[0])
    assert copy.hidden == [16]  # an invalid value leaves the estimator unchanged


# ---------------------------------------------------------------------------------------------- continuing a fit
def test_continuing_a_fit_starts_from_its_field_and_keeps_its_units(linear: tuple) -> None:
    X, t, _ = linear
    first = SparseNODE("pathreg", **TINY).fit(X[:8], t)
    # other data with other scales: the continued model must keep the first fit's scaling and time unit
    shifted, stretched = 3.0 * X[8:] + 1.0, 2.0 * t
    still = SparseNODE("pathreg", **{**TINY, "learning_rate": 1e-9}).fit(shifted, stretched, init_model=first)
    np.testing.assert_array_equal(still.feature_mean_, first.feature_mean_)
    np.testing.assert_array_equal(still.feature_std_, first.feature_std_)
    assert still.time_scale_ == first.time_scale_
    # a negligible learning rate leaves the field where the first fit left it: the same derivatives
    states = X[:, 0]
    np.testing.assert_allclose(still.derivatives(states), first.derivatives(states), rtol=1e-5, atol=1e-7)
    # the history goes on from the first fit's, epochs numbered on
    assert still.history_["epoch"] == pytest.approx(np.concatenate([first.history_["epoch"],
                                                                    first.history_["epoch"] + TINY["epochs"]]))
    # a real continuation moves away from the first fit and fits its own data better
    moved = SparseNODE("pathreg", **{**TINY, "epochs": 30}).fit(X[8:], t, init_model=first)
    assert moved.mse(X[8:], t) < first.mse(X[8:], t)
    assert not np.allclose(moved.derivatives(states), first.derivatives(states), rtol=1e-3)


def test_continuing_needs_a_fitted_model_of_the_same_architecture(linear: tuple) -> None:
    X, t, _ = linear
    first = SparseNODE("pathreg", **TINY).fit(X, t)
    with pytest.raises(TypeError, match="init_model must be a fitted SparseNODE"):
        SparseNODE(**TINY).fit(X, t, init_model="model")
    with pytest.raises(NotFittedError, match="not fitted yet"):
        SparseNODE(**TINY).fit(X, t, init_model=SparseNODE())
    with pytest.raises(ValueError, match=r"init_model differs in \['hidden', 'activation'\]"):
        SparseNODE(**{**TINY, "hidden": (4, 4), "activation": "tanh"}).fit(X, t, init_model=first)
    with pytest.raises(ValueError, match="init_model was fitted on 10 features, X has 3"):
        SparseNODE(**TINY).fit(X[..., :3], t, init_model=first)
    with pytest.raises(ValueError, match="pass the same regulators and prior"):
        SparseNODE(**TINY).fit(X, t, regulators=[0, 1, 2], init_model=first)
    restricted = SparseNODE(**TINY).fit(X, t, regulators=[0, 1, 2])
    with pytest.raises(ValueError, match=r"\(input_mask differs\); pass the same regulators and prior"):
        SparseNODE(**TINY).fit(X, t, regulators=[3, 4, 5], init_model=restricted)


def test_a_failed_fit_leaves_the_estimator_as_it_was(linear: tuple) -> None:
    X, t, _ = linear
    model = SparseNODE(**TINY).fit(X, t)
    before = {name: value for name, value in vars(model).items()}
    derivatives = model.derivatives(X[0])
    bad = np.concatenate([X, X[..., :1]], axis=-1)  # one more feature, never observed at any start
    bad[:, 0, -1] = np.nan
    with pytest.raises(ValueError):
        model.fit(bad, t)
    assert vars(model).keys() == before.keys()
    assert all(vars(model)[name] is value for name, value in before.items())
    np.testing.assert_array_equal(model.derivatives(X[0]), derivatives)
    unfitted = SparseNODE(**TINY)
    with pytest.raises(ValueError):
        unfitted.fit(bad, t)
    assert not hasattr(unfitted, "n_features_in_")


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: SparseNODE("ridge"), r"regularization='ridge' is unknown"),
        (lambda: SparseNODE("l1", -1.0), r"lam=-1\.0 must be a finite number >= 0"),
        (lambda: SparseNODE("l1", float("nan")), r"lam=nan must be a finite number >= 0"),
        (lambda: SparseNODE(warm_start_epochs=-1), r"warm_start_epochs=-1 must be an integer >= 0"),
        (lambda: SparseNODE(step_size=0), r"step_size=0 must be None or a positive number"),
        (lambda: SparseNODE(batch_size=2.5), r"batch_size=2.5 must be None or a positive integer"),
        (lambda: SparseNODE(**TINY).fit(np.zeros((2, 3, 4, 5)), np.arange(4.0)), r"must be \(n_traj, n_time"),
        (lambda: SparseNODE(**TINY).fit(np.zeros((2, 5, 3)), np.arange(4.0)), r"t has shape \(4,\) but X has 5"),
        (lambda: SparseNODE(**TINY).fit(np.zeros((2, 5, 3)), np.arange(5.0)[::-1]), r"t decreases"),
        (lambda: SparseNODE(**TINY).fit(np.full((2, 5, 3), np.inf), np.arange(5.0)), r"contains inf"),
        (lambda: SparseNODE(seed=None), r"seed=None must be an integer >= 0"),
        (lambda: SparseNODE(seed=-1), r"seed=-1 must be an integer >= 0"),
        (lambda: SparseNODE(patience=0), r"patience=0 must be a positive integer"),
        (lambda: SparseNODE(patience="5"), r"patience='5' must be a positive integer"),
        (lambda: SparseNODE(rtol=-1.0), r"rtol=-1\.0 must be a positive number"),
        (lambda: SparseNODE(atol=0.0), r"atol=0\.0 must be a positive number"),
        (lambda: SparseNODE(learning_rate="1e-2"), r"learning_rate='1e-2' must be a positive number"),
        (lambda: SparseNODE(validation_fraction="0.1"), r"validation_fraction='0\.1' must be a number in \[0, 1\)"),
        (lambda: SparseNODE(**TINY).fit([np.zeros(5), np.zeros(5)], np.arange(5.0)),
         r"trajectory 0 of X has shape \(5,\); every trajectory must be 2-d .*reshape a univariate series"),
        (lambda: SparseNODE(**TINY).fit(np.zeros((2, 5, 3)), np.arange(5.0), validation=(np.zeros((1, 5, 2)), np.arange(5.0))),
         r"validation has 2 features but the model has 3"),
    ],
)
def test_bad_arguments_and_data(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_messages_about_validation_data_order_2_frames_and_constant_time(linear: tuple, caplog) -> None:
    X, t, _ = linear
    with pytest.raises(TypeError, match=r"validation must be a pair \(X_val, t_val\).*got ndarray"):
        SparseNODE(**TINY).fit(X, t, validation=X)
    second = SparseNODE(order=2, **TINY).fit(X, t)
    with pytest.raises(ValueError, match=r"order=2 estimates position and velocity from at least 2 frames; x0 has 1"):
        second.predict(X[:, :1], t)
    gap = X.copy()
    gap[0, :2, 1] = np.nan  # the line through the first 2 frames has no point for feature 1
    with pytest.raises(ValueError, match=r"trajectory 0, feature 1 has fewer than 2 values at distinct times among its first 2 observations"):
        SparseNODE(order=2, **TINY).fit(gap, t)
    with caplog.at_level("WARNING", logger="sparsenode"):
        SparseNODE(**TINY).fit([X[0], X[1]], [t, np.zeros_like(t)])
    assert "trajectories [1] have constant time" in caplog.text


def test_progress_bars_name_the_fit(linear: tuple, capsys) -> None:
    X, t, _ = linear
    SparseNODE("cnode", lam=0.05, **{**TINY, "progress": True}).fit(X[:3], t)
    err = capsys.readouterr().err
    assert "cnode λ=0.05, 3 trajectories" in err and "val=" not in err  # no validation data: no val column
    SparseNODE("cnode", **TINY).fit(X[:3], t)
    assert capsys.readouterr().err == ""  # progress=False: silent


def test_using_an_unfitted_or_mismatched_model_fails(fitted: dict, linear: tuple) -> None:
    X, t, _ = linear
    with pytest.raises(NotFittedError, match="not fitted yet"):
        SparseNODE().dependencies()
    with pytest.raises(ValueError, match="x0 has 3 features but the model has 10"):
        fitted["l1"].predict(X[:, 0, :3], t)
    with pytest.raises(ValueError, match="X has 3 features but the model has 10"):
        fitted["l1"].mse(X[..., :3], t)


def test_exceptions_are_exported_and_not_fitted_is_scikit_learns(tmp_path: Path) -> None:
    assert sn.NotFittedError is NotFittedError and sn.ModelFormatError is ModelFormatError
    assert {"NotFittedError", "ModelFormatError"} <= set(sn.__all__)
    # scikit-learn's NotFittedError (a ValueError and an AttributeError), and a RuntimeError as before
    assert issubclass(NotFittedError, sklearn.exceptions.NotFittedError) and issubclass(NotFittedError, RuntimeError)
    with pytest.raises(sklearn.exceptions.NotFittedError, match="not fitted yet"):
        SparseNODE().predict(np.zeros((1, 3)), np.arange(3.0))
    with pytest.raises(sklearn.exceptions.NotFittedError, match="not fitted yet"):
        SparseNODE().save(tmp_path / "model.npz")
    assert not (tmp_path / "model.npz").exists()


@pytest.fixture(scope="module")
def saved(fitted: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "model.npz"
    fitted["l1"].save(path)
    return path


def test_load_refuses_missing_corrupted_and_truncated_files(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no model file"):
        SparseNODE.load(tmp_path / "missing.npz")
    data = saved.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match="not a readable sparsenode model file"):
        SparseNODE.load(truncated)
    corrupted = tmp_path / "corrupted.npz"
    corrupted.write_bytes(data[:100] + bytes(200) + data[300:])
    with pytest.raises(ModelFormatError):
        SparseNODE.load(corrupted)
    assert issubclass(ModelFormatError, ValueError)


def test_load_refuses_a_newer_format_version(saved: Path, tmp_path: Path) -> None:
    with np.load(saved) as archive:
        arrays = {name: archive[name] for name in archive.files}
    config = json.loads(str(arrays["__config__"]))
    arrays["__config__"] = np.array(json.dumps({**config, "format_version": config["format_version"] + 1}))
    newer = tmp_path / "newer.npz"
    np.savez(newer, **arrays)
    with pytest.raises(ModelFormatError, match="newer than this sparsenode reads"):
        SparseNODE.load(newer)
    arrays["weights.layers.0.weight"] = arrays["weights.layers.0.weight"][:, :3]
    arrays["__config__"] = np.array(json.dumps(config))
    inconsistent = tmp_path / "inconsistent.npz"
    np.savez(inconsistent, **arrays)
    with pytest.raises(ModelFormatError, match="incomplete or inconsistent"):
        SparseNODE.load(inconsistent)


class _Payload:
    """Unpickling this object would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def test_load_never_unpickles(saved: Path, tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    with np.load(saved) as archive:
        arrays = {name: archive[name] for name in archive.files}
    payload = np.empty(1, dtype=object)
    payload[0] = _Payload(marker)
    for name in ("weights.layers.0.bias", "__config__"):
        crafted = tmp_path / f"crafted-{name}.npz"
        np.savez(crafted, **{**arrays, name: payload})
        with zipfile.ZipFile(crafted) as archive:
            assert any(b"touch" in archive.read(entry) for entry in archive.namelist())  # the payload is there
        with pytest.raises(ModelFormatError, match="pickled objects, which are refused"):
            SparseNODE.load(crafted)
        assert not marker.exists()
    assert not os.path.exists(marker)


def stored_arrays(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    return json.loads(str(arrays.pop("__config__"))), arrays


def write_arrays(path: Path, config: dict, arrays: dict[str, np.ndarray]) -> Path:
    np.savez(path, __config__=np.array(json.dumps(config)), **arrays)
    return path


def test_load_refuses_files_with_a_missing_part_or_impossible_units(linear: tuple, tmp_path: Path) -> None:
    """A file that lost its connection mask would predict with edges the fit never allowed; impossible scales
    would predict nonsense. Both are corrupted files, not models."""
    X, t, _ = linear
    masked = SparseNODE("cnode", prior_mode="penalty", **TINY).fit(X[:, :8], t[:8], regulators=[0, 1],
                                                                   prior=np.eye(10) + 1)
    masked.save(tmp_path / "masked.npz")
    config, arrays = stored_arrays(tmp_path / "masked.npz")
    assert config["connections"] == ["input_mask", "penalty_weights"]
    for name in ("weights.input_mask", "weights.penalty_weights", "history.epoch"):
        damaged = write_arrays(tmp_path / "damaged.npz", config, {k: v for k, v in arrays.items() if k != name})
        with pytest.raises(ModelFormatError, match="incomplete or inconsistent.*lacks"):
            SparseNODE.load(damaged)
    for name, value in (("time_scale", -1.0), ("time_scale", float("nan"))):
        damaged = write_arrays(tmp_path / "damaged.npz", {**config, name: value}, arrays)
        with pytest.raises(ModelFormatError, match="time_scale"):
            SparseNODE.load(damaged)
    damaged = write_arrays(tmp_path / "damaged.npz", config,
                           {**arrays, "scaling.feature_std": np.zeros_like(arrays["scaling.feature_std"])})
    with pytest.raises(ModelFormatError, match="scales <= 0"):
        SparseNODE.load(damaged)
    assert "connections" not in stored_arrays(tmp_path / "masked.npz")[1]  # config only, no extra array


def test_in_place_edits_of_a_loaded_models_options_do_not_reach_its_fit(tmp_path: Path) -> None:
    X, t = harmonic_oscillator(seed=0)[:2]
    SparseNODE("pathreg", regularization_options={"gates": "weight"}, **TINY).fit(X, t).save(tmp_path / "m.npz")
    loaded = SparseNODE.load(tmp_path / "m.npz")
    loaded.regularization_options["gates"] = "unit"  # takes effect at the next fit, as for a fitted model
    assert loaded.fitted_params_["regularization_options"] == {"gates": "weight"}
    loaded.save(tmp_path / "again.npz")
    np.testing.assert_array_equal(SparseNODE.load(tmp_path / "again.npz").dependencies(), loaded.dependencies())


def test_training_mse_leaves_out_the_held_out_points(linear: tuple) -> None:
    X, t, _ = linear
    model = SparseNODE(validation_fraction=0.4, **TINY).fit(X, t)
    values = [x for x in X]
    held_out = model._held_out_points(values, np.random.default_rng(model.seed))  # the fit's own draw
    training_only = [np.where(rows[:, None], np.nan, x) for x, rows in zip(values, held_out, strict=True)]
    assert sum(rows.sum() for rows in held_out) >= 100
    assert model.training_mse_ == pytest.approx(model.mse(training_only, t), rel=1e-6)
    assert model.training_mse_ != pytest.approx(model.mse(X, t), rel=1e-6)  # measured: 0.6107 against 0.6110


def test_fits_with_a_float64_torch_default(linear: tuple) -> None:
    X, t, _ = linear
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        model = SparseNODE("l0", decay=True, **TINY).fit(X[:, :8], t[:8])
        assert np.isfinite(model.predict(X[:, 0], t)).all()
        assert torch.get_default_dtype() == torch.float64  # the caller's setting is restored
    finally:
        torch.set_default_dtype(previous)


def test_predict_refuses_arguments_it_would_ignore(linear: tuple) -> None:
    X, t, _ = linear
    model = SparseNODE(order=2, **TINY).fit(X[:, :8], t[:8])
    with pytest.raises(ValueError, match="v0 is for x0 given as states"):
        model.predict(X[:, :3], t, v0=np.zeros(10))
    with pytest.raises(ValueError, match="leave frame_times out"):
        model.predict(X[:, 0], t, v0=np.zeros(10), frame_times=t[:2])


def test_repr_of_a_model_with_array_params(linear: tuple) -> None:
    X, t, _ = linear
    model = SparseNODE(**{**TINY, "hidden": np.array([8, 8])}).fit(X[:, :8], t[:8])
    assert repr(model) == "SparseNODE(regularization='pathreg', lam=None, order=1, fitted)"


def test_keyboard_interrupt_in_the_warm_start_ends_the_fit(linear: tuple, interrupt_at_step) -> None:
    calls = interrupt_at_step(3)
    X, t, _ = linear
    model = SparseNODE(**TINY).fit(X[:, :8], t[:8])  # warm start of 20 steps, interrupted in its third
    assert model.interrupted_ and calls["n"] == 3  # no trajectory epoch ran
    assert all(len(values) == 0 for values in model.history_.values())
    assert np.isfinite(model.predict(X[:, 0], t)).all()


def test_repr_describes_the_fit_until_the_next_fit(linear: tuple) -> None:
    X, t, _ = linear
    model = SparseNODE("pathreg", **TINY).fit(X[:, :8], t[:8])
    assert repr(model) == "SparseNODE(regularization='pathreg', lam=None, order=1, fitted)"
    model.set_params(regularization="l1", lam=5.0)
    assert repr(model) == ("SparseNODE(regularization='pathreg', lam=None, order=1, fitted; set_params changes "
                           "apply at the next fit)")


def test_segments_cover_every_point_with_overlap() -> None:
    from sparsenode.estimator import segments

    times = [np.arange(10.0), np.arange(3.0)]
    values = [np.arange(10.0)[:, None], np.arange(3.0)[:, None]]
    cut_values, cut_times = segments(values, times, 4)
    starts = [int(v[0, 0]) for v in cut_values[:-1]]
    assert starts == [0, 2, 4, 6]  # stride 2, last segment ends at the last point
    assert all(len(v) == 4 for v in cut_values[:-1]) and len(cut_values[-1]) == 3  # short trajectory kept whole
    assert all(t[0] == 0.0 for t in cut_times)
    assert set(np.concatenate([v[:, 0] for v in cut_values[:-1]])) == set(range(10))


def test_segment_training_fits_and_predicts_whole_trajectories() -> None:
    X, t, _ = sparse_linear_system(seed=0)
    model = SparseNODE("cnode", hidden=(16, 16), epochs=40, warm_start_epochs=100, segment_points=10,
                       progress=False).fit(X, t)
    assert model.predict(X[:, 0], t).shape == X.shape
    assert model.mse(X, t) < X.var()
    with pytest.raises(ValueError, match="segment_points"):
        SparseNODE(segment_points=1)


def test_effective_weights_are_gated_and_include_the_skip_connection() -> None:
    X, t, _ = sparse_linear_system(seed=0)
    lassonet = SparseNODE("lassonet", hidden=(8, 8), epochs=2, warm_start_epochs=0, progress=False).fit(X, t)
    assert [w.shape for w in lassonet.effective_weights()] == [(8, 10), (8, 8), (10, 8), (10, 10)]
    l0 = SparseNODE("l0", hidden=(8, 8), epochs=2, warm_start_epochs=0, progress=False).fit(X, t)
    l0.field_.layers[0].gate.log_alpha.data.fill_(-20.0)  # every gate of the first layer closed
    assert not l0.effective_weights()[0].any()


# ---------------------------------------------------------------------------------------------- review fixes
def test_numpy_integers_are_accepted_for_segment_points() -> None:
    assert SparseNODE(segment_points=np.int64(4)).segment_points == 4


def test_continuing_from_itself_equals_continuing_from_a_copy(linear: tuple) -> None:
    X, t, _ = linear
    first = SparseNODE("pathreg", **TINY).fit(X[:4], t)
    copy = SparseNODE.from_state(*first.get_state())
    from_copy = SparseNODE("pathreg", **TINY).fit(X[:4], t, init_model=copy)
    first.fit(X[:4], t, init_model=first)  # restarted from random weights before
    np.testing.assert_array_equal(first.predict(X[:4, 0], t), from_copy.predict(X[:4, 0], t))
    np.testing.assert_array_equal(first.history_["loss"], from_copy.history_["loss"])
    assert len(first.history_["epoch"]) == 2 * TINY["epochs"]
    with pytest.raises(ValueError, match="init_model was fitted on 10 features, X has 3"):
        first.fit(X[:4, :, :3], t, init_model=first)


@pytest.mark.parametrize("segment_points", [None, 5])
def test_held_out_points_take_no_part_in_training(linear: tuple, segment_points: int | None) -> None:
    """Changing only the points ``validation_fraction`` holds out leaves the warm start and the first epoch
    (before any epoch is selected on the validation error) unchanged, with the data's own scaling."""
    X, t, _ = linear
    X = X[:6, :15]
    t = t[:15]
    options = {**TINY, "epochs": 1, "validation_fraction": 0.3, "segment_points": segment_points, "seed": 3}
    held_out = np.random.default_rng(3).random(X.shape[:2]) < 0.3  # the draw fit makes first
    starts = [0] if segment_points is None else sorted({*range(0, 15 - 5 + 1, 2), 10})
    for start in starts:
        held_out[:, start] = False  # initial states (initial_points=1) are never held out
    assert held_out.sum() >= 15
    corrupted = np.where(held_out[..., None], X + 5.0, X)
    clean, changed = (SparseNODE("pathreg", **options).fit(data, t) for data in (X, corrupted))
    np.testing.assert_array_equal(clean.predict(X[:, 0], t), changed.predict(X[:, 0], t))
    np.testing.assert_array_equal(clean.feature_mean_, changed.feature_mean_)
    assert changed.validation_mse_ > clean.validation_mse_ + 1.0  # the corrupted points are what is validated


def test_predict_refuses_incomplete_initial_states(fitted: dict, linear: tuple) -> None:
    X, t, _ = linear
    x0 = X[:2, 0].copy()
    x0[1, 4] = np.nan
    with pytest.raises(ValueError, match=r"x0 holds NaN or infinite values \(trajectories \[1\]\)"):
        fitted["l1"].predict(x0, t)
    second = SparseNODE("l1", order=2, **TINY).fit(X[:3], t)
    with pytest.raises(ValueError, match="v0 holds NaN"):
        second.predict(X[:2, 0], t, v0=np.full((2, 10), np.nan))


def test_jacobian_leaves_out_incomplete_states(fitted: dict, linear: tuple, caplog) -> None:
    X, _, _ = linear
    states = X[:, :5].reshape(-1, 10)
    with_gaps = states.copy()
    with_gaps[::3, 2] = np.nan
    complete = np.isfinite(with_gaps).all(axis=1)
    np.testing.assert_allclose(fitted["l1"].jacobian(with_gaps), fitted["l1"].jacobian(states[complete]), rtol=1e-6)
    assert f"{int((~complete).sum())} of {len(states)} states have missing or infinite values" in caplog.text
    with pytest.raises(ValueError, match="every row of states has a missing"):
        fitted["l1"].jacobian(np.full((2, 10), np.nan))


def test_score_is_r2_for_scikit_learn_model_selection(linear: tuple) -> None:
    from sklearn.model_selection import GridSearchCV

    X, t, _ = linear
    model = SparseNODE("pathreg", **TINY).fit(X[:4], t)
    observed = X[:4].reshape(-1, 10)
    r2 = 1 - model.mse(X[:4], t) / np.mean((observed - observed.mean(0)) ** 2)
    assert model.score(X[:4], t) == pytest.approx(r2, rel=1e-9)
    times = np.tile(t, (8, 1))  # per-trajectory times are split with the trajectories
    search = GridSearchCV(SparseNODE("pathreg", **TINY), {"lam": [1e-3, 1e3]}, cv=2).fit(X[:8], times)
    assert search.best_params_ == {"lam": 1e-3}  # λ = 1000 removes every dependency: the worse fit
    assert search.cv_results_["mean_test_score"][0] > search.cv_results_["mean_test_score"][1]


def test_set_params_on_a_fitted_model_applies_at_the_next_fit(linear: tuple, tmp_path) -> None:
    X, t, _ = linear
    model = SparseNODE("pathreg", **TINY).fit(X[:3], t)
    before = model.predict(X[:3, 0], t), model.dependencies(), model.jacobian(X[0])
    model.set_params(order=2, hidden=(4,), initial_points=3)
    after = model.predict(X[:3, 0], t), model.dependencies(), model.jacobian(X[0])
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)
    model.save(tmp_path / "model.npz")
    loaded = SparseNODE.load(tmp_path / "model.npz")
    assert loaded.order == 1 and loaded.hidden == (8, 8)
    np.testing.assert_array_equal(loaded.predict(X[:3, 0], t), before[0])
    model.fit(X[:3], t)
    assert model.field_.order == 2 and model.get_state()[0]["params"]["hidden"] == [4]


def test_a_validation_fraction_that_holds_out_nothing_fits_without_validation(linear: tuple, caplog) -> None:
    """Short trajectories whose points all give initial states (order 2, segments of 2): no empty validation."""
    X, t, _ = linear
    model = SparseNODE("pathreg", order=2, segment_points=2, validation_fraction=0.5, **TINY).fit(X[:3, :4], t[:4])
    assert "held out no point" in caplog.text
    assert np.isnan(model.validation_mse_) and np.isnan(model.history_["val_mse"]).all()  # was 0.0: an empty mask


def test_fitted_params_are_a_copy(linear: tuple, tmp_path: Path) -> None:
    X, t, _ = linear
    options = {"gates": "edge"}
    model = SparseNODE("pathreg", regularization_options=options, **TINY).fit(X[:3], t)
    options["gates"] = "unit"  # edited in place after the fit
    model.save(tmp_path / "model.npz")
    assert SparseNODE.load(tmp_path / "model.npz").regularization_options == {"gates": "edge"}


def test_the_constant_feature_warning_counts_them_all(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(0)
    X = np.zeros((2, 5, 13), dtype=np.float32)
    X[:, :, 12] = rng.normal(size=(2, 5))  # one varying feature, twelve constant ones
    with caplog.at_level("WARNING", logger="sparsenode"):
        SparseNODE("none", hidden=(4,), epochs=1, warm_start_epochs=0, progress=False).fit(X, np.arange(5.0))
    assert "12 features are constant (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...)" in caplog.text


def test_a_feature_in_small_units_is_scaled_not_taken_for_constant(caplog: pytest.LogCaptureFixture) -> None:
    t = np.linspace(0.0, 2.0, 12)
    X = np.stack([np.exp(-t), np.exp(-0.5 * t), 1.0 - np.exp(-t)], axis=1)[None] * np.array([1e-7, 1.0, 1.0])
    with caplog.at_level("WARNING", logger="sparsenode"):
        model = SparseNODE("none", hidden=(8,), epochs=5, progress=False).fit(X, t)
    assert "constant" not in caplog.text
    assert model.feature_std_[0] == pytest.approx(X[0, :, 0].std(), rel=1e-4)
    assert np.ptp(model.predict(X[:, 0], t)[0, :, 0]) < 1e-5  # in the feature's own units, not ~0.3


def test_segments_that_start_at_a_missing_value_are_left_out(caplog: pytest.LogCaptureFixture) -> None:
    t = np.linspace(0.0, 2.0, 12)
    X = np.stack([np.exp(-t), np.exp(-0.5 * t), 1.0 - np.exp(-t)], axis=1)[None].repeat(2, axis=0)
    X[1, 6, 2] = np.nan  # the start of a segment (segment_points=4: starts 0, 2, 4, 6, 8)
    options = {"hidden": (8,), "epochs": 3, "progress": False, "segment_points": 4}
    with caplog.at_level("WARNING", logger="sparsenode"):
        model = SparseNODE("none", **options).fit(X, t)
    assert "1 of 10 segments (segment_points=4) start where a feature is missing" in caplog.text
    assert np.isfinite(model.predict(X[:, 0], t)).all()
    X[1, 0, 2] = np.nan  # a trajectory's own start: still an error that says what to do
    with pytest.raises(ValueError, match="an initial state has a missing value"):
        SparseNODE("none", **options).fit(X, t)


def test_v0_for_a_first_order_model_and_a_nested_list_trajectory_get_messages(fitted: dict, linear: tuple) -> None:
    model = next(iter(fitted.values()))
    X, t = linear[0], linear[1]
    with pytest.raises(ValueError, match=r"v0 \(initial velocities\) is for order=2 models"):
        model.predict(X[:, 0], t, v0=np.zeros_like(X[:, 0]))
    with pytest.raises(ValueError, match=r"a list X is read as a list of trajectories \(pass np\.asarray\(X\)"):
        SparseNODE("none", hidden=(4,), epochs=1, progress=False).fit(X[0].tolist(), t)


def test_warm_start_differentiates_whole_trajectories_not_segments(linear: tuple, monkeypatch) -> None:
    """Segments overlap: the warm start's finite differences must come from the whole trajectories (the same
    rows and central differences whatever segment_points is)."""
    import sparsenode.estimator as estimator_module

    X, t, _ = linear
    seen = []
    monkeypatch.setattr(estimator_module, "warm_start", lambda field, regularizer, data, options: seen.append(data))
    for segment_points in (None, 4, 2):
        SparseNODE(segment_points=segment_points, **TINY).fit(X, t)
    assert len(seen) == 3
    for data in seen[1:]:
        assert data.states.shape == seen[0].states.shape == (X.shape[0] * X.shape[1], X.shape[2])
        torch.testing.assert_close(data.derivatives, seen[0].derivatives, rtol=0, atol=0)


def test_order_2_velocity_needs_frames_at_two_times(linear: tuple) -> None:
    """First frames at one time give no velocity (it was silently 0): the line extends to the first frame at a
    later time (several cells per sampling time); frames that all share one time are refused."""
    X, t, _ = linear
    model = SparseNODE(order=2, initial_points=2, **TINY).fit(X, t)
    frames, frame_times = X[:, :3], np.array([t[0], t[0], t[2]])
    assert model.initial_frames_for(frame_times) == 3 and model.initial_frames_for(t) == 2
    slope, intercept = np.polynomial.polynomial.polyfit(frame_times - t[0], frames.transpose(1, 0, 2).reshape(3, -1),
                                                        1)[::-1]
    shape = (len(X), X.shape[2])
    np.testing.assert_allclose(
        model.predict(frames, t, frame_times=frame_times),
        model.predict(intercept.reshape(shape), t, v0=slope.reshape(shape)), rtol=1e-4, atol=1e-5)
    repeated = np.array(t, dtype=float)
    repeated[1] = repeated[0]
    SparseNODE(order=2, initial_points=2, **TINY).fit(X, repeated)  # fitted from the line through 3 frames
    with pytest.raises(ValueError, match="x0 row 0, feature 0 has fewer than 2 values at distinct times.*give x0 "
                       "frames in which every feature has values at 2 or more distinct times"):
        model.predict(X[:, :2], repeated)


def test_order_1_predict_takes_more_frames_than_time_points(linear: tuple) -> None:
    """Order 1 averages its frames whatever their times, so x0 may hold more frames than t has points."""
    X, t, _ = linear
    model = SparseNODE(initial_points=3, **TINY).fit(X, t)
    np.testing.assert_array_equal(model.predict(X[:, :3], t[:1]), model.predict(X[:, :3], t[:3])[:, :1])


def test_missing_feature_message_says_it_is_never_observed(linear: tuple) -> None:
    X, t, _ = linear
    gap = X.copy()
    gap[1, :, 2] = np.nan
    with pytest.raises(ValueError, match=r"trajectory 1, feature 2 is NaN.*never observed later in it"):
        SparseNODE(**TINY).fit(gap, t)
    late = X.copy()
    late[1, :2, 2] = np.nan
    with pytest.raises(ValueError, match=r"trajectory 1, feature 2 is NaN.*increase initial_points"):
        SparseNODE(**TINY).fit(late, t)


@pytest.mark.parametrize(
    ("regularization", "options", "error", "match"),
    [
        ("lassonet", {"hierarchy": 0.0}, ValueError, r"hierarchy=0.0 must be a finite number > 0"),
        ("lassonet", {"hierarchy": -10.0}, ValueError, r"hierarchy=-10.0 must be a finite number > 0"),
        ("lassonet", {"hierarchy": float("nan")}, ValueError, r"hierarchy=nan must be a finite number"),
        ("pathreg", {"gate_weight": -5.0}, ValueError, r"gate_weight=-5.0 must be a finite number >= 0"),
        ("pathreg", {"normalize": "no"}, TypeError, r"normalize='no' must be True or False"),
        ("pathreg", {"sample_gates": "false"}, TypeError, r"sample_gates='false' must be True or False"),
        ("l0", {"sample_gates": 1}, TypeError, r"sample_gates=1 must be True or False"),
    ],
)
def test_regularizer_options_are_checked(regularization, options, error, match) -> None:
    with pytest.raises(error, match=match):
        SparseNODE(regularization, regularization_options=options)


@pytest.mark.parametrize(("param", "value"), [("batch_size", True), ("order", 2.0), ("order", True)])
def test_numbers_of_the_wrong_kind_are_refused(param: str, value) -> None:
    with pytest.raises(ValueError, match=rf"{param}={value!r} must be"):
        SparseNODE(**{param: value})


def test_device_objects_and_missing_devices(linear: tuple, tmp_path: Path) -> None:
    X, t, _ = linear
    model = SparseNODE(device=torch.device("cpu"), **TINY).fit(X, t)
    model.save(tmp_path / "model.npz")  # a torch.device is saved as its name
    assert SparseNODE.load(tmp_path / "model.npz").device == "cpu"
    with pytest.raises(ValueError, match=r"device='meta' holds no data"):
        SparseNODE(device="meta", **TINY).fit(X, t)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_machine_without_it_is_a_clear_error(linear: tuple) -> None:
    X, t, _ = linear
    with pytest.raises(ValueError, match=r"device='cuda' is not available on this machine"):
        SparseNODE(device="cuda", **TINY).fit(X, t)
