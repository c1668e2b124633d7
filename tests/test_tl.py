"""Tests of :mod:`sparsenode.tl`: fit, model, predict, edges and score on small synthetic AnnData."""

from __future__ import annotations

import inspect
import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.integrate import solve_ivp

import sparsenode as sn
from sparsenode._keys import ORIENTATION

TINY = {"hidden": (8, 8), "epochs": 5, "progress": False}
GENES = ["g0", "g1", "g2", "g3"]
N_PER_LINEAGE = 20


def make_adata(lineages: tuple[str, ...] = ("a", "b"), n_per: int = N_PER_LINEAGE, seed: int = 0) -> ad.AnnData:
    """Smooth, noisy expression of 4 genes along time in each lineage (cells shuffled)."""
    rng = np.random.default_rng(seed)
    time = np.tile(np.linspace(0.0, 1.0, n_per), len(lineages))
    lineage = np.repeat(lineages, n_per)
    phase = np.repeat(np.arange(len(lineages)), n_per)[:, None]
    X = 0.5 + 0.4 * np.sin(3 * time[:, None] + np.arange(len(GENES)) + phase) + 0.02 * rng.normal(size=(time.size, 4))
    order = rng.permutation(time.size)
    return ad.AnnData(
        X=X[order].astype(np.float32),
        obs=pd.DataFrame(
            {"time": time[order], "lineage": pd.Categorical(lineage[order])},
            index=[f"cell{i}" for i in range(time.size)],
        ),
        var=pd.DataFrame(index=GENES),
    )


@pytest.fixture(scope="module")
def fitted() -> ad.AnnData:
    adata = make_adata()
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", **TINY)
    return adata


@pytest.fixture(scope="module")
def fitted_subset() -> ad.AnnData:
    adata = make_adata()
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", genes=["g2", "g0", "g1"], key_added="custom", **TINY)
    return adata


# ---------------------------------------------------------------------------------------------- fit contract
def test_fit_writes_the_documented_slots(fitted: ad.AnnData) -> None:
    n_vars = fitted.n_vars
    strength = fitted.varp["sparsenode"]
    assert strength.dtype == np.float32
    assert strength.shape == (n_vars, n_vars)
    assert (strength >= 0).all() and strength.any()
    jacobian = fitted.varp["sparsenode_jacobian"]
    assert jacobian.shape == (n_vars, n_vars) and np.isfinite(jacobian).all()

    results = fitted.uns["sparsenode"]
    params = results["params"]
    arguments = set(inspect.signature(sn.tl.fit).parameters) - {"adata"}
    assert arguments <= set(params), arguments - set(params)
    assert params["orientation"] == ORIENTATION == "row=target, column=regulator"
    assert list(params["genes"]) == GENES
    assert list(params["trajectories"]) == ["a", "b"]
    assert params["version"] == sn.__version__
    assert params["time_key"] == "time" and params["lineage_key"] == "lineage"
    assert list(params["hidden"]) == [8, 8] and params["epochs"] == 5
    # single-cell defaults: transport pairs, then 5 epochs on the trajectories (10 % of their points held out);
    # decay, tanh, a derivative-matching warm start on the pairs; λ is the regularizer's default
    assert params["training_data"] == "transport+trajectories" and params["refine_epochs"] == 5
    assert params["decay"] and params["activation"] == "tanh" and params["warm_start_epochs"] == 300
    assert params["initial_noise"] == 0.0 and params["lam"] == 0.1 and params["dependency_measure"] == "jacobian"
    assert params["validation_fraction"] == 0.1 and params["initial_points"] == 5
    assert json.loads(params["model_kwargs"]) == {"hidden": [8, 8], "epochs": 5, "progress": False}

    metrics = results["metrics"]
    for name in ("train_mse", "val_mse", "feature_sparsity", "weight_sparsity"):
        assert np.isfinite(metrics[name]), name
    assert 0 <= metrics["feature_sparsity"] <= 1 and 0 <= metrics["weight_sparsity"] <= 1
    # both errors in input units: the validation error is the rebuilt model's score-like validation_mse_
    assert metrics["val_mse"] == sn.tl.model(fitted).validation_mse_

    history = results["history"]
    n_epochs = metrics["epochs_run"]
    assert n_epochs == 5 + 5  # transport stage, then the trajectory stage continuing it
    assert history["epoch"] == pytest.approx(np.arange(n_epochs) + history["epoch"][0])
    for name in ("epoch", "loss", "mse", "penalty", "val_mse"):
        assert isinstance(history[name], np.ndarray) and len(history[name]) == n_epochs, name

    curves = results["fitted"]
    assert list(curves["names"]) == ["a", "b"]
    assert curves["time"].shape[0] == 2
    assert curves["expression"].shape == (2, curves["time"].shape[1], len(GENES))
    assert np.isfinite(curves["expression"]).all()
    assert curves["time"][:, 0] == pytest.approx([0, 0]) and curves["time"][:, -1] == pytest.approx([1, 1])

    assert isinstance(json.loads(results["model"]["config"]), dict)
    assert all(isinstance(value, np.ndarray) for value in results["model"]["weights"].values())


def test_key_added_and_gene_subset(fitted_subset: ad.AnnData) -> None:
    adata = fitted_subset
    assert "sparsenode" not in adata.varp and "sparsenode" not in adata.uns
    assert set(adata.varp) == {"custom", "custom_jacobian"} and "custom" in adata.uns
    assert list(adata.uns["custom"]["params"]["genes"]) == ["g2", "g0", "g1"]
    unfitted = GENES.index("g3")
    for name in ("custom", "custom_jacobian"):
        matrix = adata.varp[name]
        assert not matrix[unfitted].any() and not matrix[:, unfitted].any(), name
        fitted_block = np.delete(np.delete(matrix, unfitted, 0), unfitted, 1)
        assert np.all(fitted_block != 0), name
    assert set(sn.tl.edges(adata, "custom")[["regulator", "target"]].to_numpy().ravel()) <= {"g0", "g1", "g2"}


# ---------------------------------------------------------------------------------------------- persistence
def test_h5ad_round_trip_keeps_model_and_network(fitted: ad.AnnData, tmp_path) -> None:
    path = tmp_path / "fitted.h5ad"
    fitted.write_h5ad(path)
    read = ad.read_h5ad(path)
    x0, grid = np.full((3, len(GENES)), 0.4), np.linspace(0, 1, 11)
    x0[1] = 0.8
    before = sn.tl.model(fitted).predict(x0, grid)
    after = sn.tl.model(read).predict(x0, grid)
    assert np.isfinite(before).all()
    assert np.array_equal(before, after)
    for name in ("sparsenode", "sparsenode_jacobian"):
        assert np.array_equal(read.varp[name], fitted.varp[name])
    pd.testing.assert_frame_equal(sn.tl.edges(read), sn.tl.edges(fitted))
    # predict rebuilds the trajectories from the stored params, which must survive .h5ad
    sn.tl.predict(read)
    expected = sn.tl.predict(fitted, copy=True).layers["sparsenode_predicted"]
    assert np.array_equal(read.layers["sparsenode_predicted"], expected)


def test_copy_true_returns_a_new_object_and_leaves_the_original(tmp_path) -> None:
    adata = make_adata()
    original = adata.copy()
    result = sn.tl.fit(adata, time_key="time", lineage_key="lineage", copy=True, **TINY)
    assert isinstance(result, ad.AnnData) and result is not adata
    assert "sparsenode" in result.varp and "sparsenode" in result.uns
    assert np.array_equal(adata.X, original.X)
    pd.testing.assert_frame_equal(adata.obs, original.obs)
    pd.testing.assert_frame_equal(adata.var, original.var)
    assert set(adata.uns) == set(original.uns) and set(adata.varp) == set(original.varp) == set()

    assert sn.tl.fit(adata, time_key="time", lineage_key="lineage", **TINY) is None
    assert np.array_equal(adata.varp["sparsenode"], result.varp["sparsenode"])

    predicted = sn.tl.predict(adata, copy=True)
    assert "sparsenode_predicted" in predicted.layers and "sparsenode_predicted" not in adata.layers
    assert sn.tl.predict(adata) is None and "sparsenode_predicted" in adata.layers


def test_fit_on_a_view_with_copy_true() -> None:
    adata = make_adata()
    view = adata[adata.obs["time"] > 0.05]
    result = sn.tl.fit(view, time_key="time", lineage_key="lineage", copy=True, **TINY)
    assert not result.is_view and "sparsenode" in result.varp
    assert view.is_view and "sparsenode" not in adata.varp


def test_sparse_x_gives_the_dense_result() -> None:
    dense = make_adata()
    sparse_adata = dense.copy()
    sparse_adata.X = sparse.csr_matrix(dense.X)
    sn.tl.fit(dense, time_key="time", lineage_key="lineage", **TINY)
    sn.tl.fit(sparse_adata, time_key="time", lineage_key="lineage", **TINY)
    assert np.array_equal(dense.varp["sparsenode"], sparse_adata.varp["sparsenode"])
    assert np.array_equal(dense.varp["sparsenode_jacobian"], sparse_adata.varp["sparsenode_jacobian"])


def test_the_users_global_random_state_is_left_alone() -> None:
    import torch

    torch.manual_seed(5)
    np.random.seed(5)
    torch_state, numpy_state = torch.get_rng_state().clone(), np.random.get_state()[1].copy()
    adata = make_adata()
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", **TINY)
    sn.tl.predict(adata)
    sn.tl.perturb(adata, {"g0": 0.0})
    sn.SparseNODE(hidden=(4,))
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)


def test_same_seed_is_reproducible_and_the_seed_matters() -> None:
    first, second, other = make_adata(), make_adata(), make_adata()
    for adata, seed in ((first, 3), (second, 3), (other, 4)):
        sn.tl.fit(adata, time_key="time", lineage_key="lineage", seed=seed, **TINY)
    assert np.array_equal(first.varp["sparsenode"], second.varp["sparsenode"])
    assert np.array_equal(first.varp["sparsenode_jacobian"], second.varp["sparsenode_jacobian"])
    assert not np.array_equal(first.varp["sparsenode"], other.varp["sparsenode"])


# ---------------------------------------------------------------------------------------------- trajectories
def test_shared_root_cells_from_an_obsm_table() -> None:
    rng = np.random.default_rng(1)
    n_root, n_branch = 6, 15
    time = np.r_[np.linspace(0, 0.2, n_root), np.linspace(0.25, 1, n_branch), np.linspace(0.25, 1, n_branch)]
    in_up = np.r_[np.ones(n_root, bool), np.ones(n_branch, bool), np.zeros(n_branch, bool)]
    in_down = np.r_[np.ones(n_root, bool), np.zeros(n_branch, bool), np.ones(n_branch, bool)]
    X = np.where(in_down[:, None] & ~in_up[:, None], 1 - time[:, None], time[:, None]) * np.ones((1, 3))
    X = (X + 0.02 * rng.normal(size=X.shape)).astype(np.float32)
    names = [f"cell{i}" for i in range(time.size)]
    adata = ad.AnnData(X, obs=pd.DataFrame({"time": time}, index=names), var=pd.DataFrame(index=["x", "y", "z"]))
    adata.obsm["fate"] = pd.DataFrame({"up": in_up, "down": in_down}, index=names)

    sn.tl.fit(adata, time_key="time", lineage_key="fate", **TINY)
    assert list(adata.uns["sparsenode"]["params"]["trajectories"]) == ["up", "down"]
    assert list(adata.uns["sparsenode"]["fitted"]["lineage"]) == ["up", "down"]
    sn.tl.predict(adata)
    assert np.isfinite(adata.layers["sparsenode_predicted"]).all()  # every cell (roots included) is predicted


def test_batch_key_makes_one_trajectory_per_batch_and_lineage() -> None:
    adata = make_adata(lineages=("a", "b"))
    adata.obs["donor"] = pd.Categorical(np.where(np.arange(adata.n_obs) % 2 == 0, "d1", "d2"))
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", batch_key="donor", **TINY)
    params = adata.uns["sparsenode"]["params"]
    assert list(params["trajectories"]) == ["d1/a", "d1/b", "d2/a", "d2/b"]
    assert params["batch_key"] == "donor"
    curves = adata.uns["sparsenode"]["fitted"]
    assert list(curves["batch"]) == ["d1", "d1", "d2", "d2"] and list(curves["lineage"]) == ["a", "b", "a", "b"]


# ---------------------------------------------------------------------------------------------- orientation
def cascade(n_trajectories: int = 8, n_times: int = 25, seed: int = 0) -> ad.AnnData:
    """A decays on its own, A activates B (dB/dt = 3A - B), A represses C (dC/dt = 1 - 2A - C)."""
    rng = np.random.default_rng(seed)

    def field(_t: float, state: np.ndarray) -> list[float]:
        a, b, c = state
        return [-a, 3 * a - b, 1 - 2 * a - c]

    grid = np.linspace(0, 4, n_times)
    values, obs = [], []
    for k in range(n_trajectories):
        start = rng.uniform([0.5, 0.0, 0.0], [2.0, 1.0, 1.0])
        values.append(solve_ivp(field, (0, 4), start, t_eval=grid, rtol=1e-8, atol=1e-10).y.T)
        obs.append(pd.DataFrame({"time": grid, "run": f"run{k}"}))
    obs_frame = pd.concat(obs, ignore_index=True).astype({"run": "category"})
    obs_frame.index = [f"cell{i}" for i in range(len(obs_frame))]
    return ad.AnnData(np.concatenate(values).astype(np.float32), obs=obs_frame, var=pd.DataFrame(index=["A", "B", "C"]))


def test_orientation_row_is_target_column_is_regulator() -> None:
    adata = cascade()
    sn.tl.fit(adata, time_key="time", lineage_key="run", regularization="group_lasso", lam=0.05,
              hidden=(16, 16), epochs=80, progress=False)
    a, b, c = 0, 1, 2
    strength, jacobian = adata.varp["sparsenode"], adata.varp["sparsenode_jacobian"]
    assert strength[b, a] > strength[a, b]  # A drives B, B does not drive A
    assert strength[c, a] > strength[a, c]
    assert jacobian[b, a] > 0  # activation
    assert jacobian[c, a] < 0  # repression

    table = sn.tl.edges(adata)
    pairs = list(zip(table["regulator"], table["target"], strict=True))
    assert pairs.index(("A", "B")) < pairs.index(("B", "A"))
    assert pairs.index(("A", "C")) < pairs.index(("C", "A"))
    row = table[(table["regulator"] == "A") & (table["target"] == "C")].iloc[0]
    assert row["sign"] == -1


# ---------------------------------------------------------------------------------------------- predict
def test_predict_writes_a_layer_in_input_units(fitted_subset: ad.AnnData) -> None:
    adata = fitted_subset.copy()
    adata.obs["lineage"] = adata.obs["lineage"].cat.add_categories("orphan")
    sn.tl.predict(adata, "custom")
    layer = adata.layers["custom_predicted"]
    assert layer.shape == adata.shape and layer.dtype == np.float32
    fitted_columns = [GENES.index(gene) for gene in ("g0", "g1", "g2")]
    assert np.isfinite(layer[:, fitted_columns]).all()
    assert np.isnan(layer[:, GENES.index("g3")]).all()
    # values are in the input's units: the mean prediction is near the data mean, not in [0, 1]-scaled units
    error = np.abs(layer[:, fitted_columns] - adata.X[:, fitted_columns]).mean()
    assert error < 0.5

    sn.tl.predict(adata, "custom", layer_added="mine")
    assert np.array_equal(adata.layers["mine"], layer, equal_nan=True)


def test_predict_leaves_cells_outside_every_trajectory_nan() -> None:
    adata = make_adata()
    adata.obs.loc[adata.obs_names[0], "lineage"] = np.nan
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", **TINY)
    sn.tl.predict(adata)
    layer = adata.layers["sparsenode_predicted"]
    assert np.isnan(layer[0]).all() and np.isfinite(layer[1:]).all()


def test_predict_and_perturb_on_a_subset_of_the_cells_use_the_fits_scaling(fitted: ad.AnnData) -> None:
    """Lineage "a" alone spans a smaller range than both lineages: without the fit's recorded scaling the
    subset would be rescaled to [0, 1] on its own and predicted in other units."""
    adata = fitted.copy()
    sn.tl.predict(adata)
    sn.tl.perturb(adata, {"g0": 0.0})
    subset = adata[adata.obs["lineage"] == "a"].copy()
    sn.tl.predict(subset, layer_added="subset_predicted")
    sn.tl.perturb(subset, {"g0": 0.0})
    np.testing.assert_allclose(subset.layers["subset_predicted"], subset.layers["sparsenode_predicted"], atol=1e-5)
    whole, part = adata.uns["sparsenode_perturbation"], subset.uns["sparsenode_perturbation"]
    row = list(whole["names"]).index("a")
    np.testing.assert_allclose(part["baseline"][0], whole["baseline"][row], atol=1e-5)
    np.testing.assert_allclose(part["perturbed"][0], whole["perturbed"][row], atol=1e-5)


def test_refitting_a_key_removes_the_perturbation_result_of_the_replaced_fit(fitted: ad.AnnData) -> None:
    adata = fitted.copy()
    sn.tl.perturb(adata, {"g0": 0.0})
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", genes=["g1", "g2"], **TINY)
    assert "sparsenode_perturbation" not in adata.uns  # it perturbed g0, which the new fit does not have


def test_perturb_never_replaces_the_result_of_another_fit(fitted: ad.AnnData) -> None:
    adata = fitted.copy()
    adata.uns["other"] = adata.uns["sparsenode"]  # a second fit
    adata.varp["other"], adata.varp["other_jacobian"] = adata.varp["sparsenode"], adata.varp["sparsenode_jacobian"]
    sn.tl.perturb(adata, {"g0": 0.0}, key_added="knockout")
    with pytest.raises(ValueError, match=r"key_added='knockout': adata\.uns\['knockout'\] holds the perturbation "
                       r"result of the fit 'sparsenode', not of the fit 'other'; choose another key_added"):
        sn.tl.perturb(adata, {"g1": 0.0}, key="other", key_added="knockout")
    assert str(adata.uns["knockout"]["key"]) == "sparsenode" and list(adata.uns["knockout"]["perturbed_genes"]) == ["g0"]
    sn.tl.perturb(adata, {"g1": 0.0}, key_added="knockout")  # a result of the same fit is replaced
    assert list(adata.uns["knockout"]["perturbed_genes"]) == ["g1"]


def test_perturb_records_its_parameters(fitted: ad.AnnData, tmp_path) -> None:
    adata = fitted.copy()
    sn.tl.perturb(adata, {"g0": 0.0, "g2": 1.5}, n_points=7, key_added="knockout")
    adata.write_h5ad(tmp_path / "perturbed.h5ad")
    params = ad.read_h5ad(tmp_path / "perturbed.h5ad").uns["knockout"]["params"]
    assert params["key"] == "sparsenode" and params["n_points"] == 7 and params["version"] == sn.__version__
    assert json.loads(params["perturbations"]) == {"g0": 0.0, "g2": 1.5}


def test_predict_refuses_trajectories_the_fit_did_not_have(fitted: ad.AnnData) -> None:
    adata = fitted.copy()
    adata.obs["lineage"] = adata.obs["lineage"].cat.rename_categories({"b": "new"})
    with pytest.raises(ValueError, match=r"\['new'\].*not part of the fit 'sparsenode'"):
        sn.tl.predict(adata)


def test_second_order_curves_start_from_the_observed_points() -> None:
    """Order 2 estimates position and velocity from the first 2 observed points at their own times."""
    adata = make_adata(lineages=("a",))
    sn.tl.fit(adata, time_key="time", training_data="trajectories", order=2, initial_points=1,
              **{**TINY, "initial_noise": 0.0})
    curves = adata.uns["sparsenode"]["fitted"]
    cells = adata.obs["time"].to_numpy().argsort()[:2]
    # a line through 2 points passes through the first: the curve starts at the first cell
    np.testing.assert_allclose(curves["expression"][0, 0], adata.X[cells[0]], atol=1e-4)
    sn.tl.predict(adata)
    sn.tl.perturb(adata, {"g0": 0.0})
    assert np.isfinite(adata.layers["sparsenode_predicted"]).all()
    assert np.isfinite(adata.uns["sparsenode_perturbation"]["perturbed"]).all()


# ---------------------------------------------------------------------------------------------- edges
def test_edges_table(fitted: ad.AnnData) -> None:
    table = sn.tl.edges(fitted)
    assert list(table.columns) == ["regulator", "target", "weight", "sign"]
    assert (table["regulator"] != table["target"]).all()
    assert len(table) == int((fitted.varp["sparsenode"] > 0).sum() - (np.diag(fitted.varp["sparsenode"]) > 0).sum())
    assert table["weight"].is_monotonic_decreasing and (table["weight"] > 0).all()
    assert set(table["sign"]) <= {-1, 0, 1}
    first = table.iloc[0]
    target, regulator = GENES.index(first["target"]), GENES.index(first["regulator"])
    assert first["weight"] == pytest.approx(fitted.varp["sparsenode"][target, regulator])
    assert first["sign"] == np.sign(fitted.varp["sparsenode_jacobian"][target, regulator])

    top = sn.tl.edges(fitted, n_top=3)
    pd.testing.assert_frame_equal(top, table.head(3))
    with_self = sn.tl.edges(fitted, include_self=True)
    assert (with_self["regulator"] == with_self["target"]).sum() == len(GENES)
    assert with_self["weight"].is_monotonic_decreasing


# ---------------------------------------------------------------------------------------------- score
def perfect_reference(adata: ad.AnnData, key: str = "sparsenode") -> np.ndarray:
    """Edges = the stronger half of the off-diagonal entries: a reference the fit ranks perfectly."""
    strength = adata.varp[key].astype(np.float64)
    off_diagonal = strength[~np.eye(len(strength), dtype=bool)]
    return (strength > np.median(off_diagonal)).astype(np.float32)


def test_edges_and_score_read_sparse_varp_matrices(fitted: ad.AnnData) -> None:
    adata = fitted.copy()
    adata.varp["truth"] = perfect_reference(adata)
    expected_edges, expected_scores = sn.tl.edges(adata), sn.tl.score(adata, reference="truth")
    for name in ("sparsenode", "sparsenode_jacobian"):
        adata.varp[name] = sparse.csr_matrix(adata.varp[name])
    pd.testing.assert_frame_equal(sn.tl.edges(adata), expected_edges)
    assert sn.tl.score(adata, reference="truth") == expected_scores


def test_score_with_every_kind_of_reference(fitted: ad.AnnData) -> None:
    adata = fitted.copy()
    reference = perfect_reference(adata)
    adata.varp["truth"] = reference
    target, regulator = np.nonzero(reference)
    frame = pd.DataFrame({"regulator": np.asarray(GENES)[regulator], "target": np.asarray(GENES)[target]})

    results = [
        sn.tl.score(adata, reference="truth"),
        sn.tl.score(adata, reference=reference),
        sn.tl.score(adata, reference=frame),
    ]
    for scores in results:
        assert scores["auroc"] == pytest.approx(1.0)
        assert scores["auprc"] == pytest.approx(1.0)
        assert set(scores) >= {"auroc", "auprc", "auprc_ratio", "early_precision", "early_precision_ratio"}
    inverse = 1.0 - reference
    assert sn.tl.score(adata, reference=inverse)["auroc"] == pytest.approx(0.0)


def test_score_on_a_gene_subset_accepts_full_and_fitted_arrays(fitted_subset: ad.AnnData) -> None:
    full = perfect_reference(fitted_subset, "custom")
    positions = [GENES.index(gene) for gene in ("g2", "g0", "g1")]
    # the unfitted gene has zero strength; rebuild the reference on the fitted block only
    block = fitted_subset.varp["custom"][np.ix_(positions, positions)].astype(np.float64)
    reference = (block > np.median(block[~np.eye(3, dtype=bool)])).astype(float)
    full = np.zeros_like(full)
    full[np.ix_(positions, positions)] = reference
    assert sn.tl.score(fitted_subset, "custom", reference=reference)["auroc"] == pytest.approx(1.0)
    assert sn.tl.score(fitted_subset, "custom", reference=full)["auroc"] == pytest.approx(1.0)


def test_order_2_on_real_time_points_and_bootstrap_replicates() -> None:
    """Several cells at the first time (real time points) or a replicate that draws one start twice: the
    order-2 line reaches the first later time instead of failing."""
    adata = make_adata()
    adata.obs["day"] = np.round(adata.obs["time"] * 3)  # 4 sampling days, several cells each
    tiny = {"hidden": (8,), "epochs": 2, "warm_start_epochs": 3, "progress": False}
    sn.tl.fit(adata, time_key="day", lineage_key="lineage", training_data="trajectories", order=2,
              initial_points=3, **tiny)
    assert np.isfinite(adata.uns["sparsenode"]["fitted"]["expression"]).all()
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", training_data="trajectories", order=2,
              initial_points=2, n_models=4, key_added="bootstrap", **tiny)
    assert "bootstrap_stability" in adata.varp
