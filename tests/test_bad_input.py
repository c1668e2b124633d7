"""Reliability: invalid input fails early with a message naming the culprit and leaves ``adata`` unchanged;
degenerate but legitimate input is fitted with a warning and no NaN."""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import sparse

import sparsenode as sn
from sparsenode.cli import main
from sparsenode.estimator import NotFittedError
from sparsenode.io import ModelFormatError

TINY = {"hidden": (8, 8), "epochs": 5, "progress": False}
GENES = ["g0", "g1", "g2", "g3"]
N_PER_LINEAGE = 15


def make_adata(seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    time = np.tile(np.linspace(0.0, 1.0, N_PER_LINEAGE), 2)
    X = 0.5 + 0.4 * np.sin(3 * time[:, None] + np.arange(len(GENES))) + 0.02 * rng.normal(size=(time.size, 4))
    adata = ad.AnnData(
        X=X.astype(np.float32),
        obs=pd.DataFrame(
            {"time": time, "lineage": pd.Categorical(np.repeat(["a", "b"], N_PER_LINEAGE))},
            index=[f"cell{i}" for i in range(time.size)],
        ),
        var=pd.DataFrame(index=GENES),
    )
    adata.layers["raw"] = adata.X.copy()
    return adata


@pytest.fixture(scope="module")
def fitted_module() -> ad.AnnData:
    adata = make_adata()
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", **TINY)
    return adata


@pytest.fixture
def fitted(fitted_module: ad.AnnData) -> ad.AnnData:
    return fitted_module.copy()


# ---------------------------------------------------------------------------------------------- snapshot
def _dense(matrix: Any) -> np.ndarray:
    if sparse.issparse(matrix):
        return matrix.toarray()
    return np.array(matrix[()] if hasattr(matrix, "id") else matrix)  # h5py dataset of a backed object


def _copy_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _copy_value(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return value.copy()
    return copy.deepcopy(value)


def snapshot(adata: ad.AnnData) -> dict[str, Any]:
    """Copies of X, obs, var, uns, obsm, varp and layers, to compare with :func:`assert_unchanged`."""
    return {
        "shape": adata.shape,
        "X": None if adata.X is None else _dense(adata.X),
        "obs": adata.obs.copy(),
        "var": adata.var.copy(),
        "uns": _copy_value(dict(adata.uns)),
        "obsm": {key: _copy_value(value) for key, value in adata.obsm.items()},
        "varp": {key: _dense(value) for key, value in adata.varp.items()},
        "layers": {key: _dense(value) for key, value in adata.layers.items()},
    }


def _assert_same(before: Any, after: Any, where: str) -> None:
    if isinstance(before, Mapping):
        assert isinstance(after, Mapping) and set(before) == set(after), where
        for key in before:
            _assert_same(before[key], after[key], f"{where}[{key!r}]")
    elif isinstance(before, pd.DataFrame):
        pd.testing.assert_frame_equal(before, after, obj=where)
    elif isinstance(before, np.ndarray):
        after = np.asarray(after)
        assert before.shape == after.shape and before.dtype == after.dtype, where
        same = np.array_equal(before, after, equal_nan=before.dtype.kind in "fc")
        assert same, where
    else:
        assert before == after or (before is None and after is None), where


def assert_unchanged(adata: ad.AnnData, before: dict[str, Any]) -> None:
    _assert_same(before, snapshot(adata), "adata")


def test_snapshot_detects_changes() -> None:
    adata = make_adata()
    before = snapshot(adata)
    assert_unchanged(adata, before)
    for change in (
        lambda a: a.X.__setitem__((0, 0), 9.0),
        lambda a: a.obs.__setitem__("extra", 1),
        lambda a: a.uns.__setitem__("x", {"y": np.zeros(2)}),
        lambda a: a.varp.__setitem__("m", np.zeros((4, 4))),
        lambda a: a.layers.__setitem__("l", a.X),
    ):
        changed = make_adata()
        change(changed)
        with pytest.raises(AssertionError):
            assert_unchanged(changed, before)


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any model training fail loudly: validation errors must come before heavy work."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("SparseNODE.fit was reached: the input was not validated before training")

    monkeypatch.setattr(sn.SparseNODE, "fit", refuse)


# ---------------------------------------------------------------------------------------------- tl.fit / pp
def set_x(value: float) -> Callable[[ad.AnnData], None]:
    def mutate(adata: ad.AnnData) -> None:
        adata.X[3, 1] = value

    return mutate


def set_time(values: Callable[[ad.AnnData], Any]) -> Callable[[ad.AnnData], None]:
    def mutate(adata: ad.AnnData) -> None:
        adata.obs["time"] = values(adata)

    return mutate


def nan_time(adata: ad.AnnData) -> np.ndarray:
    time = adata.obs["time"].to_numpy().copy()
    time[4] = np.nan
    return time


def short_lineage(adata: ad.AnnData) -> None:
    lineage = adata.obs["lineage"].astype(str).to_numpy()
    lineage[:2] = "tiny"
    adata.obs["lineage"] = pd.Categorical(lineage)


def duplicate_genes(adata: ad.AnnData) -> None:
    adata.var_names = ["g0", "g1", "g1", "g3"]


def empty_obsm_lineage(adata: ad.AnnData) -> None:
    is_a = (adata.obs["lineage"] == "a").to_numpy()
    adata.obsm["fate"] = pd.DataFrame(
        {"a": is_a, "b": ~is_a, "ghost": np.zeros(adata.n_obs, bool)}, index=adata.obs_names
    )


def drop_x(adata: ad.AnnData) -> None:
    adata.X = None


def nothing(adata: ad.AnnData) -> None:
    pass


def add_reference(adata: ad.AnnData) -> None:
    adata.varp["reference"] = np.eye(adata.n_vars)


def add_var_column(adata: ad.AnnData) -> None:
    adata.var["means"] = np.asarray(adata.X).mean(0)


def add_colors(adata: ad.AnnData) -> None:
    adata.uns["colors"] = {"lineage": np.array(["red", "blue"])}


FIT_CASES = {
    # name: (mutation, fit arguments, exception, match)
    "nan_in_X": (set_x(np.nan), {}, ValueError, r"adata\.X has NaN or infinite values.*'g1'.*'cell3'"),
    "inf_in_X": (set_x(np.inf), {}, ValueError, r"adata\.X has NaN or infinite values.*'g1'"),
    "missing_time_key": (nothing, {"time_key": "pseudotime"}, KeyError, r"time_key 'pseudotime' not found"),
    "missing_lineage_key": (nothing, {"lineage_key": "fate"}, KeyError, r"lineage_key 'fate' found in neither"),
    "missing_batch_key": (nothing, {"batch_key": "donor"}, KeyError, r"batch_key 'donor' not found"),
    "missing_layer": (nothing, {"layer": "counts"}, KeyError, r"Layer 'counts' not found"),
    "x_is_none": (drop_x, {}, ValueError, r"adata\.X is None; pass layer="),
    "non_numeric_time": (set_time(lambda a: a.obs["time"].astype(str)), {}, TypeError, r"adata\.obs\['time'\].*numeric"),
    "nan_time": (set_time(nan_time), {}, ValueError, r"adata\.obs\['time'\] is NaN or infinite.*'cell4'"),
    "constant_time": (set_time(lambda a: np.ones(a.n_obs)), {}, ValueError, r"adata\.obs\['time'\] is constant"),
    "trajectory_too_short": (short_lineage, {}, ValueError, r"Trajectory 'tiny' has 2 cells.*min_cells=3"),
    "duplicated_genes": (duplicate_genes, {}, ValueError, r"Gene names \['g1'\] occur more than once"),
    "duplicated_genes_outside_the_selection": (duplicate_genes, {"genes": ["g0", "g3"]}, ValueError,
                                               r"adata\.var_names are not unique \(\['g1'\].*var_names_make_unique"),
    "empty_obsm_lineage": (empty_obsm_lineage, {"lineage_key": "fate"}, ValueError, r"Lineages \['ghost'\].*no cells"),
    "absent_genes": (nothing, {"genes": ["g0", "Gata1"]}, KeyError, r"not found in adata\.var_names: \['Gata1'\]"),
    "regulators_as_indices": (nothing, {"regulators": [0, 1]}, TypeError,
                              r"regulators holds numbers \(\[0, 1\]\); pass gene names"),
    "regulators_empty": (nothing, {"regulators": []}, ValueError, r"regulators=\[\] names no gene"),
    "regulators_one_name": (nothing, {"regulators": "g0"}, KeyError, r"for one gene pass regulators=\['g0'\]"),
    "genes_as_string": (nothing, {"genes": "g0"}, KeyError,
                        r"genes='g0' is not a column of adata\.var.*pass genes=\['g0'\]"),
    "genes_as_indices": (nothing, {"genes": [0, 1]}, TypeError, r"genes holds numbers \(\[0, 1\]\); pass gene names"),
    "genes_non_boolean_column": (add_var_column, {"genes": "means"}, ValueError,
                                 r"adata\.var\['means'\] must be a boolean column"),
    "unknown_regularization": (nothing, {"regularization": "lasso"}, ValueError, r"regularization='lasso' is unknown"),
    "negative_lam": (nothing, {"lam": -0.1}, ValueError, r"lam=-0\.1 must be a finite number >= 0"),
    "nan_lam": (nothing, {"lam": float("nan")}, ValueError, r"lam=nan must be a finite number"),
    "inf_lam": (nothing, {"lam": float("inf")}, ValueError, r"lam=inf must be a finite number"),
    "bad_scale": (nothing, {"scale": "zscore"}, ValueError, r"scale='zscore' is not supported"),
    "bad_trim": (nothing, {"trim": (-1, 0)}, ValueError, r"trim=\(-1, 0\) must be a pair"),
    "bad_epochs": (nothing, {"epochs": 0}, ValueError, r"epochs=0 must be a positive integer"),
    "unknown_model_argument": (nothing, {"hiden": (8,)}, TypeError, r"hiden"),
    "model_argument_not_recordable": (nothing, {"device": torch.device("cpu")}, TypeError,
                                      r"device=device\(type='cpu'\) cannot be recorded in adata\.uns"),
    "transport_bins_one": (nothing, {"transport_bins": 1}, ValueError, r"transport_bins=1 must be an integer >= 2"),
    "transport_epsilon_zero": (nothing, {"transport_epsilon": 0}, ValueError,
                               r"transport_epsilon=0 must be a positive number"),
    "key_added_with_slash": (nothing, {"key_added": "a/b"}, ValueError, r"key_added='a/b' must not contain '/'"),
    "key_added_empty": (nothing, {"key_added": ""}, TypeError, r"key_added='' must be a non-empty string"),
    "key_added_over_a_reference": (add_reference, {"key_added": "reference"}, ValueError,
                                   r"key_added='reference' would overwrite adata\.varp \['reference'\]"),
    "key_added_over_other_uns": (add_colors, {"key_added": "colors"}, ValueError,
                                 r"adata\.uns\['colors'\] holds something other than a sparsenode fit"),
}


@pytest.mark.parametrize("case", list(FIT_CASES))
def test_fit_rejects_invalid_input_early_and_leaves_adata_unchanged(case: str, no_training: None) -> None:
    mutate, arguments, error, match = FIT_CASES[case]
    adata = make_adata()
    mutate(adata)
    before = snapshot(adata)
    arguments = {"time_key": "time", "lineage_key": "lineage", **TINY, **arguments}
    with pytest.raises(error, match=match):
        sn.tl.fit(adata, **arguments)
    assert_unchanged(adata, before)


def test_a_time_course_with_fewer_time_points_than_transport_bins_fits() -> None:
    adata = make_adata()
    adata.obs["day"] = np.floor(adata.obs["time"].to_numpy() * 4 / (adata.obs["time"].max() + 1e-9))  # days 0-3
    sn.tl.fit(adata, time_key="day", lineage_key="lineage", training_data="transport", **TINY)
    assert adata.uns["sparsenode"]["params"]["transport_bins"] == 12


def test_the_short_trajectory_error_names_an_argument_that_tl_fit_takes() -> None:
    adata = make_adata()
    short_lineage(adata)
    with pytest.raises(ValueError, match=r"lower trim or min_cells"):
        sn.tl.fit(adata, time_key="time", lineage_key="lineage", **TINY)
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", min_cells=2, **TINY)
    assert adata.uns["sparsenode"]["params"]["min_cells"] == 2
    sn.tl.predict(adata)  # rebuilds the trajectories with the recorded min_cells
    assert np.isfinite(adata.layers["sparsenode_predicted"]).all()


@pytest.mark.parametrize("case", ["nan_in_X", "missing_time_key", "trajectory_too_short", "empty_obsm_lineage",
                                  "bad_scale", "absent_genes"])
def test_pp_trajectories_rejects_the_same_input(case: str) -> None:
    mutate, arguments, error, match = FIT_CASES[case]
    adata = make_adata()
    mutate(adata)
    before = snapshot(adata)
    with pytest.raises(error, match=match):
        sn.pp.trajectories(adata, **{"time_key": "time", "lineage_key": "lineage", **arguments})
    assert_unchanged(adata, before)


def test_key_added_never_overwrites_another_fit_or_result(fitted: ad.AnnData, no_training: None) -> None:
    """Refitting a key replaces that fit; another fit's Jacobian or a perturbation result is refused."""
    sn.tl.perturb(fitted, {"g0": 0.0})
    before = snapshot(fitted)
    with pytest.raises(ValueError, match=r"would overwrite adata\.varp \['sparsenode_jacobian'\]"):
        sn.tl.fit(fitted, time_key="time", lineage_key="lineage", key_added="sparsenode_jacobian", **TINY)
    with pytest.raises(ValueError, match=r"adata\.uns\['sparsenode_perturbation'\] holds something other than a"):
        sn.tl.fit(fitted, time_key="time", lineage_key="lineage", key_added="sparsenode_perturbation", **TINY)
    with pytest.raises(ValueError, match=r"adata\.uns\['sparsenode'\] holds something other than a perturbation"):
        sn.tl.perturb(fitted, {"g0": 0.0}, key_added="sparsenode")
    assert_unchanged(fitted, before)
    other = fitted.copy()
    other.uns["sparsenode_jacobian"] = other.uns["sparsenode"]  # a fit under the Jacobian's key
    with pytest.raises(ValueError, match=r"adata\.varp \['sparsenode_jacobian'\], the dependencies of the fits"):
        sn.tl.fit(other, time_key="time", lineage_key="lineage", **TINY)


def test_refitting_replaces_its_own_perturbation_and_prediction_and_nothing_else(fitted: ad.AnnData) -> None:
    fit = {"time_key": "time", "lineage_key": "lineage", **TINY}
    sn.tl.perturb(fitted, {"g0": 0.0})
    sn.tl.predict(fitted)
    sn.tl.fit(fitted, **fit, key_added="other")
    sn.tl.perturb(fitted, {"g1": 0.0}, key="other", key_added="other_result")
    fitted.uns["mine_perturbation"] = {"note": "a user's entry"}
    sn.tl.fit(fitted, **fit, key_added="sparsenode_perturbation_fit")
    sn.tl.fit(fitted, **fit, key_added="mine")  # a new key: the user's entry under its default name is kept
    assert fitted.uns["mine_perturbation"] == {"note": "a user's entry"}
    sn.tl.fit(fitted, **fit)  # the refit removes the replaced model's perturbation result and prediction
    assert "sparsenode_perturbation" not in fitted.uns and "sparsenode_predicted" not in fitted.layers
    assert "other_result" in fitted.uns and "other" in fitted.uns  # another fit and its result stay
    fitted.uns["sparsenode_perturbation"] = fitted.uns["other_result"]  # the other fit's result under this name
    sn.tl.fit(fitted, **fit)
    assert str(fitted.uns["sparsenode_perturbation"]["key"]) == "other"
    fitted.uns["sparsenode_perturbation"] = fitted.uns["other"]  # a whole fit under this name
    sn.tl.fit(fitted, **fit)
    assert "model" in fitted.uns["sparsenode_perturbation"]


def test_predict_refuses_the_layer_the_fit_reads() -> None:
    adata = make_adata()
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", layer="raw", **TINY)
    before = snapshot(adata)
    with pytest.raises(ValueError, match=r"layer_added='raw' is the layer the fit 'sparsenode' reads"):
        sn.tl.predict(adata, layer_added="raw")
    assert_unchanged(adata, before)
    sn.tl.predict(adata, layer_added="X_pred")
    assert np.isfinite(adata.layers["X_pred"]).all()
    # a second fit reads the first fit's prediction: refitting the first keeps it, predicting over it is refused
    sn.tl.predict(adata)
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", layer="sparsenode_predicted", key_added="smooth", **TINY)
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", layer="raw", **TINY)
    assert "sparsenode_predicted" in adata.layers
    sn.tl.predict(adata, key="smooth")
    with pytest.raises(ValueError, match=r"'sparsenode_predicted' is the layer the fit 'smooth' reads"):
        sn.tl.predict(adata)


def test_predict_refuses_a_layer_name_h5ad_cannot_store(fitted: ad.AnnData) -> None:
    before = snapshot(fitted)
    with pytest.raises(ValueError, match=r"layer_added='pred/v1' must not contain '/'"):
        sn.tl.predict(fitted, layer_added="pred/v1")
    with pytest.raises(TypeError, match=r"layer_added='' must be a non-empty string"):
        sn.tl.predict(fitted, layer_added="")
    assert_unchanged(fitted, before)


def test_view_without_copy_is_refused(no_training: None) -> None:
    adata = make_adata()
    view = adata[:20]
    before, parent = snapshot(view), snapshot(adata)
    with pytest.raises(ValueError, match=r"adata is a view; pass copy=True"):
        sn.tl.fit(view, time_key="time", lineage_key="lineage", **TINY)
    assert view.is_view
    assert_unchanged(view, before)
    assert_unchanged(adata, parent)


def test_backed_anndata_is_refused(tmp_path, no_training: None, fitted: ad.AnnData) -> None:
    make_adata().write_h5ad(tmp_path / "plain.h5ad")
    backed = ad.read_h5ad(tmp_path / "plain.h5ad", backed="r")
    before = snapshot(backed)
    with pytest.raises(ValueError, match=r"adata is backed.*to_memory"):
        sn.tl.fit(backed, time_key="time", lineage_key="lineage", **TINY)
    assert_unchanged(backed, before)
    backed.file.close()

    fitted.write_h5ad(tmp_path / "fitted.h5ad")
    backed = ad.read_h5ad(tmp_path / "fitted.h5ad", backed="r")
    with pytest.raises(ValueError, match=r"adata is backed"):
        sn.tl.predict(backed)
    backed.file.close()


@pytest.mark.parametrize("shape", [(0, 4), (30, 0)])
def test_empty_anndata_is_refused(shape: tuple[int, int], no_training: None) -> None:
    adata = make_adata()
    empty = adata[: shape[0], : shape[1]].copy()
    with pytest.raises(ValueError, match=rf"adata is empty \({shape[0]} cells x {shape[1]} genes\)"):
        sn.tl.fit(empty, time_key="time", **TINY)


def test_non_anndata_is_refused(no_training: None) -> None:
    with pytest.raises(TypeError, match=r"adata must be an AnnData object, got ndarray"):
        sn.tl.fit(np.zeros((10, 3)), time_key="time")


# ---------------------------------------------------------------------------------------------- reading a fit
NEVER_FITTED = {
    "tl.model": lambda adata: sn.tl.model(adata, "other"),
    "tl.edges": lambda adata: sn.tl.edges(adata, "other"),
    "tl.score": lambda adata: sn.tl.score(adata, "other", reference=np.ones((4, 4))),
    "tl.predict": lambda adata: sn.tl.predict(adata, "other"),
    "pl.dependencies": lambda adata: sn.pl.dependencies(adata, key="other", show=False),
    "pl.history": lambda adata: sn.pl.history(adata, key="other", show=False),
    "pl.network": lambda adata: sn.pl.network(adata, key="other", show=False),
}


@pytest.mark.parametrize("function", list(NEVER_FITTED))
def test_never_fitted_key_raises_a_key_error_naming_it(function: str, fitted: ad.AnnData) -> None:
    before = snapshot(fitted)
    with pytest.raises(KeyError, match=r"'other'.*sn\.tl\.fit\(adata.*key_added='other'\)"):
        NEVER_FITTED[function](fitted)
    assert_unchanged(fitted, before)


def test_uns_entry_that_is_not_a_fit(fitted: ad.AnnData) -> None:
    fitted.uns["other"] = {"colors": np.array(["red"])}
    fitted.varp["other"] = np.zeros((4, 4))
    before = snapshot(fitted)
    with pytest.raises(KeyError, match=r"adata\.uns\['other'\] is not a sparsenode fit"):
        sn.tl.edges(fitted, "other")
    assert_unchanged(fitted, before)


RESULT_CASES = {
    # name: (call, exception, match)
    "edges_n_top_zero": (lambda a: sn.tl.edges(a, n_top=0), ValueError, r"n_top=0 must be a positive integer"),
    "edges_n_top_negative": (lambda a: sn.tl.edges(a, n_top=-2), ValueError, r"n_top=-2"),
    "pl_network_n_top_zero": (lambda a: sn.pl.network(a, n_top=0, show=False), ValueError,
                              r"n_top=0 must be a positive integer"),
    "pl_network_n_top_float": (lambda a: sn.pl.network(a, n_top=2.5, show=False), ValueError,
                               r"n_top=2\.5 must be a positive integer"),
    "pl_perturbation_n_top_negative": (lambda a: sn.pl.perturbation(a, n_top=-1, show=False), ValueError,
                                       r"n_top=-1 must be a positive integer"),
    "score_unknown_reference": (lambda a: sn.tl.score(a, reference="truth"), KeyError,
                                r"reference 'truth' is not in adata\.varp"),
    "score_reference_wrong_shape": (lambda a: sn.tl.score(a, reference=np.ones((2, 2))), ValueError,
                                    r"reference array has shape \(2, 2\)"),
    "score_reference_frame_columns": (lambda a: sn.tl.score(a, reference=pd.DataFrame({"from": ["g0"], "to": ["g1"]})),
                                      KeyError, r"columns 'regulator' and 'target'.*'from', 'to'"),
    "pl_trajectories_unknown_gene": (lambda a: sn.pl.trajectories(a, genes=["Gata1"], show=False), KeyError,
                                     r"Gata1"),
    "pl_dependencies_unknown_regulator": (lambda a: sn.pl.dependencies(a, regulators=["Gata1"], show=False),
                                          KeyError, r"Gata1"),
}


@pytest.mark.parametrize("case", list(RESULT_CASES))
def test_invalid_arguments_to_result_tools(case: str, fitted: ad.AnnData) -> None:
    call, error, match = RESULT_CASES[case]
    before = snapshot(fitted)
    with pytest.raises(error, match=match):
        call(fitted)
    assert_unchanged(fitted, before)


def test_model_on_an_anndata_without_the_fitted_genes(fitted: ad.AnnData) -> None:
    fewer = fitted[:, :-1].copy()
    before = snapshot(fewer)
    with pytest.raises(KeyError, match=r"genes absent from this AnnData \(\['g3'\]\)"):
        sn.tl.model(fewer)
    with pytest.raises(KeyError, match=r"genes absent"):
        sn.tl.predict(fewer)
    assert_unchanged(fewer, before)

    renamed = fitted.copy()
    renamed.var_names = ["A", "B", "C", "D"]
    with pytest.raises(KeyError, match=r"genes absent from this AnnData \(\['g0', 'g1', 'g2', 'g3'\]\)"):
        sn.tl.model(renamed)
    with pytest.raises(KeyError, match=r"genes absent"):
        sn.tl.edges(renamed)


# ---------------------------------------------------------------------------------------------- SparseNODE
@pytest.fixture(scope="module")
def estimator() -> sn.SparseNODE:
    rng = np.random.default_rng(0)
    return sn.SparseNODE(**TINY).fit(rng.random((2, 6, 3)), np.linspace(0, 1, 6))


ESTIMATOR_CASES = {
    "rank_4": (lambda: sn.SparseNODE(**TINY).fit(np.zeros((2, 3, 4, 5)), np.arange(4.0)), ValueError,
               r"X must be \(n_traj, n_time, n_features\).*got \(2, 3, 4, 5\)"),
    "rank_1": (lambda: sn.SparseNODE(**TINY).fit(np.zeros(5), np.arange(5.0)), ValueError, r"got \(5,\)"),
    "time_length": (lambda: sn.SparseNODE(**TINY).fit(np.zeros((2, 5, 3)), np.arange(4.0)), ValueError,
                    r"t has shape \(4,\) but X has 5 time points"),
    "decreasing_time": (lambda: sn.SparseNODE(**TINY).fit(np.zeros((2, 5, 3)), np.arange(5.0)[::-1]), ValueError,
                        r"t decreases"),
    "inf_values": (lambda: sn.SparseNODE(**TINY).fit(np.full((2, 5, 3), np.inf), np.arange(5.0)), ValueError,
                   r"contains inf"),
    "negative_lam": (lambda: sn.SparseNODE("l1", -1.0), ValueError, r"lam=-1\.0 must be a finite number >= 0"),
    "nan_lam": (lambda: sn.SparseNODE("l1", float("nan")), ValueError, r"lam=nan"),
    "unknown_regularization": (lambda: sn.SparseNODE("ridge"), ValueError, r"regularization='ridge' is unknown"),
    "predict_unfitted": (lambda: sn.SparseNODE(**TINY).predict(np.zeros((1, 3)), np.arange(3.0)), NotFittedError,
                         r"not fitted yet"),
    "misspelt_option": (lambda: sn.SparseNODE("lassonet", regularization_options={"hierarchi": 10}), TypeError,
                        (r"regularization_options \['hierarchi'\] are not options of regularization='lassonet' "
                         r"\(its options: \['hierarchy'\]\)$")),
    "edge_gates_without_pathreg": (lambda: sn.SparseNODE("l1", regularization_options={"gates": "edge"}), TypeError,
                                   r"\(its options: none\); gates .* are an option of 'pathreg' only"),
    "unknown_device": (lambda: sn.SparseNODE(device="gpu", **TINY).fit(np.ones((2, 3, 2)), np.arange(3.0)),
                       ValueError, r"device='gpu' is not a torch device"),
    "strings_in_X": (lambda: sn.SparseNODE(**TINY).fit(np.array([["a", "b"], ["c", "d"]]), [0.0, 1.0]), ValueError,
                     r"X must hold numbers"),
}


@pytest.mark.parametrize("case", list(ESTIMATOR_CASES))
def test_estimator_rejects_invalid_input(case: str) -> None:
    call, error, match = ESTIMATOR_CASES[case]
    with pytest.raises(error, match=match):
        call()


def test_predict_without_output_times(estimator: sn.SparseNODE) -> None:
    with pytest.raises(ValueError, match=r"t for trajectory 0 must be a non-empty"):
        estimator.predict(np.zeros((1, 3)), [])


def test_predict_with_the_wrong_number_of_features(estimator: sn.SparseNODE) -> None:
    with pytest.raises(ValueError, match=r"x0 has 4 features but the model has 3"):
        estimator.predict(np.zeros((2, 4)), np.linspace(0, 1, 5))
    with pytest.raises(ValueError, match=r"X has 2 features but the model has 3"):
        estimator.mse(np.zeros((1, 5, 2)), np.linspace(0, 1, 5))


def _rewrite_config(path, change: Callable[[dict], None]) -> None:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    config = json.loads(str(arrays["__config__"]))
    change(config)
    arrays["__config__"] = np.array(json.dumps(config))
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def test_model_files_missing_corrupted_truncated_or_newer(estimator: sn.SparseNODE, tmp_path) -> None:
    path = tmp_path / "model.npz"
    with pytest.raises(FileNotFoundError, match=r"no model file at .*absent\.npz"):
        sn.SparseNODE.load(tmp_path / "absent.npz")

    estimator.save(path)
    good = path.read_bytes()
    x0, grid = np.full((1, 3), 0.5), np.linspace(0, 1, 4)
    assert np.array_equal(sn.SparseNODE.load(path).predict(x0, grid), estimator.predict(x0, grid))

    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ModelFormatError, match=r"model\.npz.*not a readable sparsenode model file"):
        sn.SparseNODE.load(path)

    path.write_bytes(b"this is not a model" * 50)
    with pytest.raises(ModelFormatError, match=r"model\.npz' is not a sparsenode model file"):
        sn.SparseNODE.load(path)

    corrupted = bytearray(good)
    middle = len(corrupted) // 3
    corrupted[middle : middle + 64] = b"\xff" * 64
    path.write_bytes(bytes(corrupted))
    with pytest.raises(ModelFormatError, match=r"model\.npz"):
        sn.SparseNODE.load(path)

    path.write_bytes(good)
    _rewrite_config(path, lambda config: config.update(format_version=config["format_version"] + 1))
    with pytest.raises(ModelFormatError, match=r"newer than this sparsenode reads.*upgrade"):
        sn.SparseNODE.load(path)

    path.write_bytes(good)
    _rewrite_config(path, lambda config: config.pop("n_features_in"))
    with pytest.raises(ModelFormatError, match=r"incomplete or inconsistent.*n_features_in"):
        sn.SparseNODE.load(path)
    assert issubclass(ModelFormatError, ValueError)


def test_stored_model_of_a_newer_format_in_uns(fitted: ad.AnnData) -> None:
    config = json.loads(fitted.uns["sparsenode"]["model"]["config"])
    config["format_version"] += 1
    fitted.uns["sparsenode"]["model"]["config"] = json.dumps(config)
    with pytest.raises(ModelFormatError, match=r"stored model has model format version"):
        sn.tl.model(fitted)


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_missing_input_file(tmp_path) -> None:
    with pytest.raises(SystemExit, match=r"input file '.*missing\.h5ad' does not exist"):
        main(["fit", str(tmp_path / "missing.h5ad"), "--time-key", "time", "--out", str(tmp_path / "o.h5ad")])


def test_cli_invalid_input_exits_with_the_message(tmp_path) -> None:
    adata = make_adata()
    adata.X[0, 0] = np.nan
    adata.write_h5ad(tmp_path / "nan.h5ad")
    with pytest.raises(SystemExit, match=r"sparsenode fit: adata\.X has NaN or infinite values"):
        main(["--quiet", "fit", str(tmp_path / "nan.h5ad"), "--time-key", "time", "--out", str(tmp_path / "o.h5ad")])
    assert not (tmp_path / "o.h5ad").exists()


# ---------------------------------------------------------------------------------------------- degenerate input
def assert_fit_is_finite(adata: ad.AnnData) -> None:
    for name in ("sparsenode", "sparsenode_jacobian"):
        assert np.isfinite(adata.varp[name]).all(), name
    results = adata.uns["sparsenode"]
    assert np.isfinite(results["fitted"]["expression"]).all()
    for name in ("train_mse", "val_mse", "feature_sparsity", "weight_sparsity"):
        assert np.isfinite(results["metrics"][name]), name
    sn.tl.predict(adata)
    assert np.isfinite(adata.layers["sparsenode_predicted"]).all()


def constant_in_lineage_a(adata: ad.AnnData) -> None:
    adata.X[(adata.obs["lineage"] == "a").to_numpy(), 1] = 0.7


def all_zero_gene(adata: ad.AnnData) -> None:
    adata.X[:, 2] = 0.0


def integer_counts(adata: ad.AnnData) -> None:
    adata.X = np.random.default_rng(0).poisson(200 * adata.X).astype(np.int64)


DEGENERATE_CASES = {
    # name: (mutation, fit arguments, expected warning)
    "gene_constant_within_a_trajectory": (constant_in_lineage_a, {"scale": "trajectory"},
                                          r"constant within a trajectory.*'a: g1'"),
    "all_zero_gene": (all_zero_gene, {}, r"constant over all trajectories.*'g2'"),
    "integer_counts": (integer_counts, {}, r"adata\.X looks like raw counts"),
}


@pytest.mark.parametrize("case", list(DEGENERATE_CASES))
def test_degenerate_input_warns_and_gives_finite_results(case: str, caplog: pytest.LogCaptureFixture) -> None:
    mutate, arguments, warning = DEGENERATE_CASES[case]
    adata = make_adata()
    mutate(adata)
    with caplog.at_level(logging.WARNING, logger="sparsenode"):
        sn.tl.fit(adata, time_key="time", lineage_key="lineage", **TINY, **arguments)
    warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert any(re.search(warning, message) for message in warnings), warnings
    assert_fit_is_finite(adata)


def float64_gene_at_one_tenth(adata: ad.AnnData) -> None:
    adata.X = adata.X.astype(np.float64)
    adata.X[:, 2] = 0.1  # time-bin means of 0.1 differ by round-off


@pytest.mark.parametrize(("measure", "mutate", "n_bins"), [("jacobian", all_zero_gene, None),
                                                           ("paths", all_zero_gene, None),
                                                           ("jacobian", float64_gene_at_one_tenth, 4)])
def test_a_constant_gene_has_no_dependencies(measure: str, mutate: Callable[[ad.AnnData], None],
                                             n_bins: int | None) -> None:
    adata = make_adata()
    mutate(adata)
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", n_models=2, dependency_measure=measure, n_bins=n_bins,
              **TINY)
    for name in ("sparsenode", "sparsenode_jacobian", "sparsenode_stability"):
        matrix = adata.varp[name]
        assert not matrix[2].any() and not matrix[:, 2].any(), name  # g2 is 0 in every cell
        assert np.delete(np.delete(matrix, 2, 0), 2, 1).any(), name


def test_model_files_that_are_not_sparsenode_models_raise_model_format_errors(estimator: sn.SparseNODE,
                                                                            tmp_path) -> None:
    path = tmp_path / "model.npz"
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(ModelFormatError, match=r"array\.npy.*single array, not a sparsenode model file"):
        sn.SparseNODE.load(tmp_path / "array.npy")
    changes = {
        "a JSON list": (None, r"not a JSON object"),
        "version 0": (lambda config: config.update(format_version=0), r"no valid 'format_version'.*got 0"),
        "version True": (lambda config: config.update(format_version=True), r"got True"),
        "bad n_features_in": (lambda config: config.update(n_features_in="abc"), r"incomplete or inconsistent"),
        "scaling of other length": (lambda config: config.update(n_features_in=7),
                                    r"feature scaling has shapes \(3,\) and \(3,\), not \(7,\)"),
    }
    for name, (change, match) in changes.items():
        estimator.save(path)
        if name == "a JSON list":
            with np.load(path, allow_pickle=False) as archive:
                arrays = {entry: archive[entry] for entry in archive.files}
            arrays["__config__"] = np.array("[1, 2]")
            with open(path, "wb") as handle:
                np.savez(handle, **arrays)
        else:
            _rewrite_config(path, change)
        with pytest.raises(ModelFormatError, match=match):
            sn.SparseNODE.load(path)


def test_loading_a_file_that_is_not_a_model_names_the_file_and_never_suggests_unpickling(
    estimator: sn.SparseNODE, tmp_path
) -> None:
    """numpy reads a file that is neither .npz nor .npy as a pickle and suggests allow_pickle=; the message
    says instead what the file is not, and for an AnnData file how to get the model of a fit stored in it."""
    ad.AnnData(np.ones((3, 2), dtype=np.float32)).write_h5ad(tmp_path / "cells.h5ad")
    (tmp_path / "figure.png").write_bytes(np.random.default_rng(0).bytes(200))
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "cells.zarr").mkdir()
    expected = {
        "cells.h5ad": r"sn\.tl\.model\(anndata\.read_h5ad\('.*cells\.h5ad'\)\)",
        "cells.zarr": r"sn\.tl\.model\(anndata\.read_zarr\('.*cells\.zarr'\)\)",
        "figure.png": r"figure\.png' is not a sparsenode model file \(the \.npz written by SparseNODE\.save\)$",
        "empty.npz": r"empty\.npz' is not a sparsenode model file",
    }
    for name, match in expected.items():
        with pytest.raises(ModelFormatError, match=match) as error:
            sn.SparseNODE.load(tmp_path / name)
        assert "pickle" not in str(error.value), name
    # real pickled content in a model file is still refused
    path = tmp_path / "model.npz"
    estimator.save(path)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {entry: archive[entry] for entry in archive.files}
    arrays["__config__"] = np.array([{"format_version": 1}], dtype=object)
    np.savez(path, **arrays)
    with pytest.raises(ModelFormatError, match=r"model\.npz.*pickled objects, which are refused"):
        sn.SparseNODE.load(path)


def test_a_model_fitted_on_a_missing_device_loads_on_the_cpu(estimator: sn.SparseNODE, tmp_path, caplog) -> None:
    """A model fitted with device="cuda" (or a GPU this machine lacks) is used on a CPU-only machine."""
    path = tmp_path / "model.npz"
    estimator.save(path)
    _rewrite_config(path, lambda config: config["params"].update(device="cuda:7"))
    loaded = sn.SparseNODE.load(path)
    assert loaded.device == "cpu" and "device='cuda:7', which this machine does not have" in caplog.text
    x0, grid = np.full((1, 3), 0.5), np.linspace(0, 1, 4)
    np.testing.assert_array_equal(loaded.predict(x0, grid), estimator.predict(x0, grid))


def test_tl_model_names_a_corrupted_stored_model(fitted: ad.AnnData) -> None:
    del fitted.uns["sparsenode"]["model"]["config"]
    with pytest.raises(ModelFormatError, match=r"adata.uns\['sparsenode'\]\['model'\] is incomplete or corrupted"):
        sn.tl.model(fitted)
    fitted.uns["sparsenode"]["model"]["config"] = "{not json"
    with pytest.raises(ModelFormatError, match=r"incomplete or corrupted \(JSONDecodeError"):
        sn.tl.model(fitted)
