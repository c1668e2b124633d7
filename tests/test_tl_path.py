"""Tests of :func:`sparsenode.tl.regularization_path` on a tiny AnnData with tiny, fast models."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import sparsenode as sn
from sparsenode.metrics import spurious_feature_sparsity
from sparsenode.nn.train import FitError
from sparsenode.tl import _path
from sparsenode.tl._path import (
    DEFAULT_LAMS,
    SELECTION_TOLERANCE,
    allowed_inputs,
    check_validation_points,
    select_lam,
)

TINY = {"hidden": (8, 8), "epochs": 15, "warm_start_epochs": 5, "progress": False}
TRAJECTORY = {"time_key": "time", "lineage_key": "lineage"}
GENES = ["g0", "g1", "g2", "g3"]
LAMS = [1.0, 1e-3, 0.1]  # deliberately unsorted
PATH_ARRAYS = ("lam", "val_mse", "train_mse", "feature_sparsity", "weight_sparsity")


def make_adata(n_per: int = 15, seed: int = 0) -> ad.AnnData:
    """Four smooth noisy genes along time in two lineages; g0 and g1 are marked as TFs."""
    rng = np.random.default_rng(seed)
    time = np.tile(np.linspace(0.0, 1.0, n_per), 2)
    phase = np.repeat([0, 1], n_per)[:, None]
    X = 0.5 + 0.4 * np.sin(3 * time[:, None] + np.arange(4) + phase) + 0.02 * rng.normal(size=(time.size, 4))
    return ad.AnnData(
        X=X.astype(np.float32),
        obs=pd.DataFrame({"time": time, "lineage": pd.Categorical(np.repeat(["a", "b"], n_per))},
                         index=[f"cell{i}" for i in range(time.size)]),
        var=pd.DataFrame({"is_tf": [True, True, False, False]}, index=GENES),
    )


@pytest.fixture(scope="module")
def path_adata() -> ad.AnnData:
    adata = make_adata()
    sn.tl.regularization_path(adata, lams=LAMS, allowed_regulators="is_tf", **TRAJECTORY, **TINY)
    return adata


@pytest.fixture(scope="module")
def path_min() -> ad.AnnData:
    adata = make_adata()
    sn.tl.regularization_path(adata, lams=LAMS, selection="min", key_added="by_min", **TRAJECTORY, **TINY)
    return adata


def expected_index(val_mse: np.ndarray, selection: str) -> int:
    """The documented rule, written independently of the implementation (``lam`` ascending)."""
    best = np.nanmin(val_mse)
    if selection == "min":
        candidates = [i for i, value in enumerate(val_mse) if value == best]
    else:
        candidates = [i for i, value in enumerate(val_mse) if value <= 1.05 * best]
    return max(candidates)


# ---------------------------------------------------------------------------------------------- slots
def test_path_writes_every_slot(path_adata: ad.AnnData) -> None:
    adata = path_adata
    assert set(adata.varp) == {"sparsenode", "sparsenode_jacobian"}
    for name in ("sparsenode", "sparsenode_jacobian"):
        assert adata.varp[name].shape == (4, 4) and adata.varp[name].dtype == np.float32, name
        assert np.isfinite(adata.varp[name]).all(), name
    results = adata.uns["sparsenode"]
    assert set(results) == {"params", "metrics", "history", "fitted", "model", "scaling", "regularization_path"}

    path = results["regularization_path"]
    for name in (*PATH_ARRAYS, "spurious_feature_sparsity"):
        assert isinstance(path[name], np.ndarray) and path[name].shape == (len(LAMS),), name
    assert np.array_equal(path["lam"], np.sort(LAMS))
    assert np.isfinite(path["val_mse"]).all() and np.isfinite(path["train_mse"]).all()
    for name in ("feature_sparsity", "weight_sparsity", "spurious_feature_sparsity"):
        assert ((path[name] >= 0) & (path[name] <= 1)).all(), name
    assert path["selection"] == "1se"

    # the written model is the selected one, written as tl.fit writes a fit
    selected = float(path["selected_lam"])
    index = int(np.flatnonzero(path["lam"] == selected)[0])
    params = results["params"]
    assert params["lam"] == selected and params["regularization"] == "pathreg"
    assert params["selection"] == "1se" and params["allowed_regulators"] == "is_tf"
    assert list(params["genes"]) == GENES and list(params["trajectories"]) == ["a", "b"]
    for name in ("val_mse", "train_mse", "feature_sparsity", "weight_sparsity"):
        assert results["metrics"][name] == path[name][index], name
    assert len(results["history"]["epoch"]) == results["metrics"]["epochs_run"] == TINY["epochs"] + 5
    # tl.fit's default: transport pairs, then 5 epochs on the trajectories; |mean Jacobian| as dependencies
    assert params["training_data"] == "transport+trajectories" and params["dependency_measure"] == "jacobian"
    model = sn.tl.model(adata)
    assert model.lam == selected
    assert np.allclose(adata.varp["sparsenode"], np.abs(adata.varp["sparsenode_jacobian"]))
    sn.tl.predict(adata.copy())  # the stored params rebuild the trajectories
    # the estimator arguments are recorded as tl.fit records them: those of the first (transport) stage
    fitted = make_adata()
    sn.tl.fit(fitted, lam=selected, **TRAJECTORY, **TINY)
    for name in sn.SparseNODE().get_params():
        np.testing.assert_array_equal(params[name], fitted.uns["sparsenode"]["params"][name], err_msg=name)


def test_selected_lam_follows_the_documented_rule(path_adata: ad.AnnData, path_min: ad.AnnData) -> None:
    for adata, key, selection in ((path_adata, "sparsenode", "1se"), (path_min, "by_min", "min")):
        path = adata.uns[key]["regularization_path"]
        assert path["selection"] == selection
        assert path["selected_lam"] == path["lam"][expected_index(path["val_mse"], selection)], selection
    # both runs fit the same models (same seed and grid), only the rule differs
    assert np.array_equal(path_adata.uns["sparsenode"]["regularization_path"]["val_mse"],
                          path_min.uns["by_min"]["regularization_path"]["val_mse"])


@pytest.mark.parametrize(
    ("val_mse", "selection", "expected"),
    [
        ([1.00, 1.04, 1.06, 2.0], "1se", 1),  # 1.04 is within 5 %, 1.06 is not
        ([1.00, 1.04, 1.06, 2.0], "min", 0),
        ([1.10, 1.00, 1.05, 1.30], "1se", 2),  # exactly 5 % above counts
        ([1.10, 1.00, 1.05, 1.30], "min", 1),
        ([1.00, 1.00, 3.0, 1.00], "min", 3),  # ties: the larger λ
        ([np.nan, 1.00, 1.01, np.nan], "1se", 2),  # failed fits are never selected
    ],
)
def test_selection_rule(val_mse: list[float], selection: str, expected: int) -> None:
    assert SELECTION_TOLERANCE == 0.05
    values = np.asarray(val_mse)
    assert select_lam(values, selection) == expected == expected_index(values, selection)


def test_all_failed_fits_raise() -> None:
    with pytest.raises(FitError, match="no λ"):
        select_lam(np.array([np.nan, np.nan]), "1se")


# ---------------------------------------------------------------------------------------------- spurious
def test_spurious_sparsity_of_the_selected_model(path_adata: ad.AnnData, path_min: ad.AnnData) -> None:
    path = path_adata.uns["sparsenode"]["regularization_path"]
    index = int(np.flatnonzero(path["lam"] == path["selected_lam"])[0])
    allowed = path_adata.var["is_tf"].to_numpy()
    expected = spurious_feature_sparsity(sn.tl.model(path_adata).dependencies(), allowed)
    assert path["spurious_feature_sparsity"][index] == expected
    assert "spurious_feature_sparsity" not in path_min.uns["by_min"]["regularization_path"]


def test_allowed_regulators_as_names_mask_or_column(caplog) -> None:
    adata = make_adata()
    genes = ["g3", "g1", "g0"]  # fitted genes, in fit order
    expected = np.array([False, True, True])
    for allowed in ("is_tf", ["g0", "g1"], np.array(["g1", "g0"]), adata.var["is_tf"].to_numpy()):
        assert np.array_equal(allowed_inputs(adata, allowed, genes), expected), allowed
    assert allowed_inputs(adata, None, genes) is None
    with pytest.raises(ValueError, match="allows every fitted gene"):
        allowed_inputs(adata, ["g0", "g1"], ["g0", "g1"])
    with pytest.raises(ValueError, match="at least 2 fitted genes"):  # refused before any fit
        allowed_inputs(adata, ["g0"], ["g2"])
    with caplog.at_level("WARNING", logger="sparsenode"):  # a database's TF list names genes the data lack
        assert np.array_equal(allowed_inputs(adata, ["g0", "g1", "Tcf7"], genes), expected)
    assert "allowed_regulators: 1 of the 3 genes are not in adata.var_names and are ignored: ['Tcf7']" in caplog.text
    with pytest.raises(ValueError, match=r"shape \(2,\); expected \(4,\)"):
        allowed_inputs(adata, np.array([True, False]), genes)
    adata.var["label"] = ["tf", "tf", "x", "x"]
    with pytest.raises(ValueError, match="boolean column"):
        allowed_inputs(adata, "label", genes)


def test_a_path_constrained_to_the_allowed_regulators_has_no_spurious_dependency() -> None:
    """Self-dependence is always allowed (``regulators=``), so it is not spurious either."""
    adata = make_adata()
    sn.tl.regularization_path(adata, lams=[0.01, 0.5], allowed_regulators="is_tf", regulators="is_tf",
                              training_data="trajectories", **TRAJECTORY, **TINY)
    assert np.array_equal(adata.uns["sparsenode"]["regularization_path"]["spurious_feature_sparsity"], [1.0, 1.0])


# ---------------------------------------------------------------------------------------------- plot, h5ad
def test_pl_regularization_path_draws_the_stored_path(path_adata: ad.AnnData) -> None:
    path = path_adata.uns["sparsenode"]["regularization_path"]
    fig = sn.pl.regularization_path(path_adata, return_fig=True)
    assert len(fig.axes) == 2  # MSE axis and its sparsity twin
    labelled = {line.get_label(): line for ax in fig.axes for line in ax.get_lines()}
    for label, name in (("validation MSE", "val_mse"), ("training MSE", "train_mse"),
                        ("feature sparsity", "feature_sparsity"), ("weight sparsity", "weight_sparsity"),
                        ("spurious-feature sparsity", "spurious_feature_sparsity")):
        line = labelled[label]
        assert np.array_equal(line.get_xdata(), path["lam"]), label
        assert np.array_equal(line.get_ydata(), path[name]), label
    assert any(label.startswith("selected λ") for label in labelled)
    selected = next(line for label, line in labelled.items() if label.startswith("selected λ"))
    assert np.allclose(selected.get_xdata(), path["selected_lam"])


def test_pl_regularization_path_shows_lam_zero(path_adata: ad.AnnData) -> None:
    """A logarithmic axis would hide λ = 0 (and a selected λ = 0): the axis is linear below the smallest λ > 0."""
    adata = path_adata.copy()
    path = adata.uns["sparsenode"]["regularization_path"]
    path["lam"] = np.concatenate([[0.0], path["lam"][1:]])
    path["selected_lam"] = 0.0
    ax = sn.pl.regularization_path(adata, return_fig=True).axes[0]
    assert ax.get_xscale() == "symlog"
    low, high = ax.get_xlim()
    assert low < 0.0 < high and high >= path["lam"].max()
    assert low >= -0.1 * path["lam"][1:].min()  # no room for negative λ


def test_h5ad_round_trip(path_adata: ad.AnnData, tmp_path) -> None:
    file = tmp_path / "path.h5ad"
    path_adata.write_h5ad(file)
    read = ad.read_h5ad(file)
    before, after = path_adata.uns["sparsenode"]["regularization_path"], read.uns["sparsenode"]["regularization_path"]
    assert set(after) == set(before)
    for name in (*PATH_ARRAYS, "spurious_feature_sparsity"):
        assert np.array_equal(after[name], before[name]), name
    assert float(after["selected_lam"]) == float(before["selected_lam"]) and after["selection"] == "1se"
    lams = read.uns["sparsenode"]["params"]["lams"]
    assert lams.dtype == np.float64 and np.array_equal(lams, np.sort(LAMS))
    assert np.array_equal(read.varp["sparsenode"], path_adata.varp["sparsenode"])
    grid = np.linspace(0, 1, 5)
    x0 = np.full((1, 4), 0.5)
    assert np.array_equal(sn.tl.model(read).predict(x0, grid), sn.tl.model(path_adata).predict(x0, grid))
    sn.pl.regularization_path(read, show=False)


def test_gene_sets_are_recorded_in_var_names_order_and_written_to_h5ad(tmp_path, caplog) -> None:
    """A set has no order and h5ad cannot store one: it is recorded as names in the order it is read."""
    fitted, path = make_adata(), make_adata()
    sn.tl.fit(fitted, regulators=frozenset({"g1", "g0"}), training_data="trajectories", **TRAJECTORY, **TINY)
    with caplog.at_level("WARNING", logger="sparsenode"):  # "Tcf7" is not in var_names: ignored, still recorded
        sn.tl.regularization_path(path, lams=[0.1], allowed_regulators={"Tcf7", "g1", "g0"}, regulators={"g1", "g0"},
                                  training_data="trajectories", **TRAJECTORY, **TINY)
    fitted.write_h5ad(tmp_path / "fit.h5ad")
    path.write_h5ad(tmp_path / "path.h5ad")
    fit_params = ad.read_h5ad(tmp_path / "fit.h5ad").uns["sparsenode"]["params"]
    path_params = ad.read_h5ad(tmp_path / "path.h5ad").uns["sparsenode"]["params"]
    assert list(fit_params["regulators"]) == list(path_params["regulators"]) == ["g0", "g1"]
    assert list(path_params["allowed_regulators"]) == ["g0", "g1", "Tcf7"]  # var_names order, then the others


def test_path_params_have_every_key_of_tl_fit_params(path_adata: ad.AnnData) -> None:
    fitted = make_adata()
    sn.tl.fit(fitted, training_data="trajectories", **TRAJECTORY, **TINY)
    params = path_adata.uns["sparsenode"]["params"]
    assert set(fitted.uns["sparsenode"]["params"]) <= set(params)
    assert params["n_models"] == 1 and params["velocity_key"] == fitted.uns["sparsenode"]["params"]["velocity_key"]
    assert set(params) - set(fitted.uns["sparsenode"]["params"]) == {
        "lams", "selection", "validation_trajectories", "allowed_regulators"
    }
    # the grid as fitted: ascending floats, as regularization_path["lam"], but not the same array
    assert params["lams"].dtype == np.float64 and np.array_equal(params["lams"], np.sort(LAMS))
    assert params["lams"] is not path_adata.uns["sparsenode"]["regularization_path"]["lam"]


# ---------------------------------------------------------------------------------------------- options
def test_held_out_trajectories_and_copy() -> None:
    adata = make_adata()
    result = sn.tl.regularization_path(adata, lams=[0.01, 0.5], validation_trajectories=["b"], copy=True,
                                       **TRAJECTORY, **TINY)
    assert "sparsenode" not in adata.uns and not adata.varp
    path = result.uns["sparsenode"]["regularization_path"]
    assert np.isfinite(path["val_mse"]).all()
    assert list(result.uns["sparsenode"]["params"]["validation_trajectories"]) == ["b"]
    assert result.uns["sparsenode"]["params"]["validation_fraction"] == 0.0  # replaced by the trajectory
    # a different validation set gives different validation errors
    other = sn.tl.regularization_path(adata, lams=[0.01, 0.5], validation_trajectories="a", copy=True,
                                      **TRAJECTORY, **TINY)
    assert not np.array_equal(other.uns["sparsenode"]["regularization_path"]["val_mse"], path["val_mse"])


@pytest.mark.parametrize("held_out", [{"b"}, pd.Index(["b"]), np.array(["b"])], ids=["set", "index", "array"])
def test_held_out_trajectories_from_any_collection_are_held_out_and_recorded_writably(held_out, tmp_path) -> None:
    adata = make_adata()
    as_list = sn.tl.regularization_path(adata, lams=[0.01, 0.5], validation_trajectories=["b"], copy=True,
                                        **TRAJECTORY, **TINY)
    result = sn.tl.regularization_path(adata, lams=[0.01, 0.5], validation_trajectories=held_out, copy=True,
                                       **TRAJECTORY, **TINY)
    # the same fit as with a list: trajectory "b" is left out of the transport pairs too
    assert np.array_equal(result.varp["sparsenode"], as_list.varp["sparsenode"])
    assert list(result.uns["sparsenode"]["params"]["validation_trajectories"]) == ["b"]
    result.write_h5ad(tmp_path / "path.h5ad")


def test_trajectory_path_fits_the_trajectories_alone() -> None:
    adata = make_adata()
    sn.tl.regularization_path(adata, lams=[0.01, 0.5], training_data="trajectories", **TRAJECTORY, **TINY)
    results = adata.uns["sparsenode"]
    assert results["params"]["training_data"] == "trajectories" and results["metrics"]["epochs_run"] <= TINY["epochs"]
    model = sn.tl.model(adata)
    assert np.array_equal(model.dependencies().astype(np.float32), adata.varp["sparsenode"])
    # the same λ as a plain tl.fit on the trajectories gives the same model
    selected = float(results["regularization_path"]["selected_lam"])
    sn.tl.fit(adata, training_data="trajectories", lam=selected, key_added="one", **TRAJECTORY, **TINY)
    np.testing.assert_array_equal(adata.varp["one"], adata.varp["sparsenode"])


def test_default_grid_is_documented() -> None:
    assert np.allclose(DEFAULT_LAMS, np.geomspace(1e-2, 10, 7))
    assert "np.geomspace(1e-2, 10, 7)" in sn.tl.regularization_path.__doc__


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("SparseNODE.fit was reached: the input was not validated before training")

    monkeypatch.setattr(sn.SparseNODE, "fit", refuse)


@pytest.fixture
def no_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("transport pairs were built: the held-out points were not checked first")

    monkeypatch.setattr(_path, "cell_pairs", refuse)


BAD_ARGUMENTS = {
    "unknown_selection": ({"selection": "best"}, ValueError, r"selection='best'"),
    "empty_lams": ({"lams": []}, ValueError, r"lams=\[\]"),
    "negative_lam": ({"lams": [0.1, -0.5]}, ValueError, r"lams=\[0\.1, -0\.5\].*>= 0"),
    "nan_lam": ({"lams": [0.1, np.nan]}, ValueError, r"lams="),
    "lams_2d": ({"lams": [[0.1, 1.0]]}, ValueError, r"lams="),
    "lams_string": ({"lams": "0.1"}, ValueError, r"lams="),
    "repeated_lam": ({"lams": [0.1, 0.1]}, ValueError, r"lams=.*repeat"),
    "n_jobs_zero": ({"n_jobs": 0}, ValueError, r"n_jobs=0"),
    "lam_instead_of_lams": ({"lam": 0.1}, TypeError, r"lams="),
    "fit_only_arguments": ({"velocity_key": "velocity", "n_models": 3}, TypeError,
                           r"does not take sn.tl.fit's \['velocity_key', 'n_models'\].*velocity_key=\.\.\., n_models="),
    "no_validation_data": ({"validation_fraction": 0.0}, ValueError, r"validation_fraction=0"),
    "unknown_validation_trajectory": ({"validation_trajectories": ["c"]}, KeyError, r"validation_trajectories"),
    "all_validation_trajectories": ({"validation_trajectories": ["a", "b"]}, ValueError, r"every trajectory"),
    "empty_validation_trajectories": ({"validation_trajectories": []}, ValueError, r"=\[\] names no trajectory"),
    "missing_allowed_column": ({"allowed_regulators": "is_kinase"}, KeyError, r"allowed_regulators='is_kinase'"),
    "bad_model_argument": ({"epochs": 0}, ValueError, r"epochs=0"),
    "bad_key": ({"key_added": "a/b"}, ValueError, r"key_added='a/b'"),
    "transport_alone": ({"training_data": "transport"}, ValueError, r"training_data='transport' must be"),
    "bad_max_pairs": ({"transport_max_pairs": 0}, ValueError, r"transport_max_pairs=0"),
    # 5 bins: 5 points per lineage, all of them initial points (initial_points=5); seed 1 with 6 bins draws none
    "no_point_to_hold_out": ({"n_bins": 5}, ValueError, r"validation_fraction=0\.1 holds out no point"),
    "no_point_drawn": ({"n_bins": 6, "seed": 1}, ValueError, r"validation_fraction=0\.1 draws none of the points"),
}


@pytest.mark.parametrize("case", list(BAD_ARGUMENTS))
def test_bad_arguments_fail_before_any_fit_and_leave_adata_unchanged(case: str, no_training: None) -> None:
    arguments, error, match = BAD_ARGUMENTS[case]
    adata = make_adata()
    adata.uns["keep"] = {"x": np.arange(3)}
    before = adata.copy()
    with pytest.raises(error, match=match):
        sn.tl.regularization_path(adata, **{**TRAJECTORY, **TINY, **arguments})
    assert set(adata.uns) == {"keep"} and np.array_equal(adata.uns["keep"]["x"], np.arange(3))
    assert not adata.varp and not adata.layers
    assert np.array_equal(adata.X, before.X)
    pd.testing.assert_frame_equal(adata.obs, before.obs)
    pd.testing.assert_frame_equal(adata.var, before.var)


def test_trajectories_too_short_to_hold_out_a_point_are_refused_before_any_work(
    no_training: None, no_transport: None
) -> None:
    """Trajectories of at most ``initial_points`` points (here 5 bins) leave ``validation_fraction`` nothing to
    hold out: refused before transport pairs and fits, with the cause and the ways out (it used to surface after
    every λ was fitted, as a ``FitError`` about the fits)."""
    adata = make_adata()
    before = adata.copy()
    with pytest.raises(ValueError, match=r"first 5 point\(s\) of each trajectory \(initial_points=5\).*no trajectory "
                                         r"has more \(the longest has 5\)") as error:
        sn.tl.regularization_path(adata, lams=LAMS, n_bins=5, **TRAJECTORY, **TINY)
    for remedy in ("validation_trajectories=", "a lower initial_points", "a larger n_bins"):
        assert remedy in str(error.value), remedy
    assert not adata.uns and not adata.varp and not adata.layers
    assert np.array_equal(adata.X, before.X)
    pd.testing.assert_frame_equal(adata.obs, before.obs)
    # trajectories held out whole need no held-out points: the same data pass the check and reach the fits
    with pytest.raises(AssertionError, match="SparseNODE.fit was reached"):
        sn.tl.regularization_path(adata, lams=LAMS, n_bins=5, validation_trajectories="b",
                                  training_data="trajectories", **TRAJECTORY, **TINY)


@pytest.mark.parametrize(("n_bins", "seed", "none_drawn"), [(6, 0, False), (6, 1, True), (8, 1, True), (8, 2, False)])
def test_the_check_holds_out_exactly_what_a_fit_holds_out(n_bins: int, seed: int, none_drawn: bool) -> None:
    X, t = sn.pp.trajectories(make_adata(), n_bins=n_bins, **TRAJECTORY).to_arrays()
    model = sn.SparseNODE(hidden=(4,), epochs=1, warm_start_epochs=0, validation_fraction=0.1, initial_points=5,
                          seed=seed, progress=False)
    assert np.isnan(model.fit(X, t).validation_mse_) == none_drawn  # a fit without held-out points has no val MSE
    if none_drawn:
        with pytest.raises(ValueError, match=f"draws none of the points after the first 5 .*seed={seed}"):
            check_validation_points(model.get_params(), X)
    else:
        check_validation_points(model.get_params(), X)
