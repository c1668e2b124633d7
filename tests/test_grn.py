"""Network-inference features: regulators and prior networks (hard and soft), edge-level gates, in-silico
perturbations (``predict(clamp=)``, ``sn.tl.perturb``) and velocity supervision (arrays and scvelo)."""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import torch
from _systems import sparse_linear_system
from scipy import sparse

import sparsenode as sn
from sparsenode import SparseNODE
from sparsenode.metrics import auroc, feature_sparsity
from sparsenode.nn import VectorField, make_regularizer
from sparsenode.nn.regularizers import mean_path_product, path_product
from sparsenode.tl._fit import cell_pairs, point_velocities, subsample_pairs

FAST = {"hidden": (32, 32), "warm_start_epochs": 1000, "epochs": 30, "progress": False}
TINY = {"hidden": (8, 8), "warm_start_epochs": 20, "epochs": 4, "progress": False}
OFF_DIAGONAL = ~np.eye(10, dtype=bool)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def linear() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return sparse_linear_system(seed=1)


@pytest.fixture(scope="module")
def masked_by_truth(linear) -> SparseNODE:
    """A model whose prior mask is the true network."""
    X, t, A = linear
    return SparseNODE(**FAST).fit(X, t, prior=A != 0)


# ------------------------------------------------------------------------------------------- regulators, prior
def test_regulators_leave_other_inputs_only_their_own_target(linear) -> None:
    X, t, _ = linear
    model = SparseNODE(**TINY).fit(X, t, regulators=[0, 1, 2])
    dependencies, jacobian = model.dependencies(), model.jacobian(X.reshape(-1, 10))
    others = np.zeros((10, 10), dtype=bool)
    others[:, 3:] = True
    others &= OFF_DIAGONAL
    assert np.all(dependencies[others] == 0) and np.all(jacobian[others] == 0)
    assert np.all(np.diag(dependencies) > 0) and np.all(dependencies[:, :3] > 0)
    boolean = SparseNODE(**TINY).fit(X, t, regulators=np.arange(10) < 3)
    assert np.array_equal(boolean.dependencies(), dependencies)


def test_prior_mask_restricts_every_target_to_its_prior_regulators(linear, masked_by_truth) -> None:
    X, t, A = linear
    dependencies = masked_by_truth.dependencies()
    allowed = (A != 0) | np.eye(10, dtype=bool)
    assert np.all(dependencies[~allowed] == 0) and np.all(dependencies[allowed] > 0)
    assert masked_by_truth.mse(X, t) < 0.01 * X.var()


def test_prior_penalty_weights_the_path_penalty() -> None:
    field = VectorField(4, hidden=(6, 5), penalty_weights=torch.full((4, 4), 0.5))
    field.prepare(sample=False)
    matrices = [layer.weight.abs() for layer in field.layers]
    weighted = mean_path_product(matrices, field.penalty_weights)
    assert torch.allclose(weighted, 0.5 * path_product(matrices).mean())
    assert torch.allclose(make_regularizer("cnode", 1.0).penalty(field), weighted)


def test_soft_prior_raises_the_recovery_of_a_weak_penalty(linear) -> None:
    X, t, A = linear
    settings = {**FAST, "regularization": "cnode", "lam": 0.01}
    plain = SparseNODE(**settings).fit(X, t)
    guided = SparseNODE(**settings, prior_mode="penalty", prior_weight=0.1).fit(X, t, prior=A != 0)
    # measured (system seed 1): 0.973 without, 0.989 with the prior
    assert auroc(guided.dependencies(), A != 0) > auroc(plain.dependencies(), A != 0)
    assert guided.mse(X, t) < 0.01 * X.var()


def test_soft_prior_needs_a_path_penalty(linear) -> None:
    X, t, A = linear
    with pytest.raises(ValueError, match="prior_mode='penalty' needs a path penalty"):
        SparseNODE("l1", prior_mode="penalty", **TINY).fit(X, t, prior=A != 0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"regulators": [0, 12]}, ValueError, "indices must be in"),
        ({"regulators": np.ones(3, dtype=bool)}, ValueError, "shape \\(10,\\)"),
        ({"regulators": np.zeros(10, dtype=bool)}, ValueError, "selects no feature"),
        ({"regulators": ["a"]}, TypeError, "boolean mask or integer indices"),
        ({"prior": np.ones((3, 3))}, ValueError, "prior must be a finite \\(10, 10\\)"),
        ({"prior": np.full((10, 10), np.nan)}, ValueError, "prior must be a finite"),
    ],
)
def test_bad_regulators_and_priors(linear, kwargs, error, match) -> None:
    X, t, _ = linear
    with pytest.raises(error, match=match):
        SparseNODE(**TINY).fit(X, t, **kwargs)


@pytest.mark.parametrize("name", ["prior_mode", "prior_weight", "velocity_weight", "initial_noise"])
def test_bad_prior_and_velocity_options(name) -> None:
    with pytest.raises(ValueError, match=name):
        SparseNODE(**{name: "strong" if name == "prior_mode" else -1.0})


# ------------------------------------------------------------------------------------------------- edge gates
def test_edge_gates_recover_the_linear_system_and_report_open_probabilities(linear, tmp_path) -> None:
    X, t, A = linear
    model = SparseNODE(regularization_options={"gates": "edge"}, **FAST).fit(X, t)
    dependencies = model.dependencies()
    connected = model.field_.connection_mask(sample=False).detach().numpy() > 0
    probability = model.field_.edge_gate.open_probability().detach().numpy()
    assert np.allclose(dependencies, np.where(connected, probability, 0.0))
    assert np.all((dependencies >= 0) & (dependencies <= 1))
    assert auroc(dependencies, A != 0) > 0.95  # measured 0.988-1.000 over system seeds 0-2
    model.save(tmp_path / "edge.npz")
    loaded = SparseNODE.load(tmp_path / "edge.npz")
    assert np.array_equal(loaded.dependencies(), dependencies)
    assert np.allclose(loaded.predict(X[:, 0], t), model.predict(X[:, 0], t))


def test_edge_gates_report_cut_edges_as_zeros(linear) -> None:
    """An edge whose deterministic gate is closed is cut in the fitted field (zero Jacobian): its dependency is
    0, not its (small) open probability, so sparsity measures count it."""
    X, t, _ = linear
    model = SparseNODE(lam=2.0, regularization_options={"gates": "edge"}, hidden=(8,), epochs=10,
                       warm_start_epochs=200, learning_rate=0.05, progress=False).fit(X, t)
    dependencies = model.dependencies()
    cut = model.field_.connection_mask(sample=False).detach().numpy() == 0
    assert cut.any() and not cut.all()
    assert np.all(dependencies[cut] == 0) and np.all(dependencies[~cut] > 0)
    assert np.all(np.abs(model.jacobian(X[:, 0]))[cut] == 0)
    assert feature_sparsity(dependencies) == pytest.approx(cut.mean())


def test_path_penalties_leave_forbidden_connections_alone() -> None:
    """With an input mask (regulators=, a prior as mask) only connections the field can use are penalised."""
    torch.manual_seed(0)
    mask = torch.zeros(6, 6)
    mask[:, 0] = 1.0
    mask.fill_diagonal_(1.0)
    masked, free = VectorField(6, hidden=(8,), gates="weight", input_mask=mask), VectorField(6, hidden=(8,), gates="weight")
    free.load_state_dict(masked.state_dict(), strict=False)
    masked.prepare(sample=False)
    strengths = path_product([layer.weight.abs() for layer in masked.layers])
    cnode = make_regularizer("cnode", 1.0)
    assert torch.isclose(cnode.penalty(masked), (mask * strengths).mean())
    assert cnode.penalty(masked) < cnode.penalty(free)
    pathreg = make_regularizer("pathreg", 1.0)
    gates = path_product(pathreg.gate_matrices(masked))
    expected = (mask * strengths).mean() + 0.1 * (mask * gates).mean() / 8
    assert torch.isclose(pathreg.penalty(masked), expected)


def test_edge_gates_respect_a_prior_mask(linear) -> None:
    X, t, A = linear
    model = SparseNODE(regularization_options={"gates": "edge"}, **TINY).fit(X, t, prior=A != 0)
    assert np.all(model.dependencies()[~((A != 0) | np.eye(10, dtype=bool))] == 0)


# ---------------------------------------------------------------------------------------------- perturbations
def test_clamped_feature_stays_and_only_its_descendants_respond(linear, masked_by_truth) -> None:
    X, t, A = linear
    knocked_out = 4
    baseline = masked_by_truth.predict(X[:, 0], t)
    perturbed = masked_by_truth.predict(X[:, 0], t, clamp={knocked_out: 0.0})
    assert np.allclose(perturbed[:, :, knocked_out], 0.0, atol=1e-5)
    reach = np.linalg.matrix_power((A != 0) | np.eye(10, dtype=bool), 10)  # reach[i, j]: a path from j to i
    unaffected = ~reach[:, knocked_out]
    changed = np.abs(perturbed - baseline).max(axis=(0, 1))
    assert unaffected.any() and np.allclose(changed[unaffected], 0.0, atol=1e-6)
    assert changed[reach[:, knocked_out] & OFF_DIAGONAL[:, knocked_out]].min() > 1e-3


def test_clamp_validation(masked_by_truth, linear) -> None:
    X, t, _ = linear
    with pytest.raises(ValueError, match="feature index 10"):
        masked_by_truth.predict(X[:, 0], t, clamp={10: 0.0})
    with pytest.raises(ValueError, match="finite number"):
        masked_by_truth.predict(X[:, 0], t, clamp={1: np.nan})


@pytest.fixture(scope="module")
def krumsiek() -> sc.AnnData:
    adata = sn.datasets.krumsiek11()
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", n_bins=30, epochs=20, hidden=(16, 16), progress=False)
    return adata


def test_perturb_writes_baseline_perturbed_and_effect(krumsiek) -> None:
    adata = krumsiek.copy()
    sn.tl.perturb(adata, {"Gata1": 0.0, "Pu.1": 1.0}, n_points=20)
    result = adata.uns["sparsenode_perturbation"]
    genes = list(result["genes"])
    n_traj = len(adata.uns["sparsenode"]["params"]["trajectories"])
    assert result["baseline"].shape == result["perturbed"].shape == (n_traj, 20, adata.n_vars)
    assert result["time"].shape == (n_traj, 20)
    assert np.allclose(result["perturbed"][:, :, genes.index("Gata1")], 0.0, atol=1e-4)
    assert np.allclose(result["perturbed"][:, :, genes.index("Pu.1")], 1.0, atol=1e-4)
    assert np.allclose(result["effect"], (result["perturbed"] - result["baseline"]).mean(axis=(0, 1)))
    assert list(result["perturbed_genes"]) == ["Gata1", "Pu.1"]
    # the rest of the network responds (Gata1 and Pu.1 regulate others in krumsiek11)
    others = [genes.index(gene) for gene in genes if gene not in ("Gata1", "Pu.1")]
    assert np.abs(result["effect"][others]).max() > 1e-3
    figure = sn.pl.perturbation(adata, show=False, return_fig=True)
    assert figure.axes[0].get_title().startswith("perturbation: Gata1 = 0")


def test_perturb_copy_and_key_added(krumsiek) -> None:
    copied = sn.tl.perturb(krumsiek, {"Gata1": 0.0}, key_added="ko", copy=True)
    assert "ko" in copied.uns and "ko" not in krumsiek.uns


@pytest.mark.parametrize(
    ("perturbations", "error", "match"),
    [
        ({"NotAGene": 0.0}, KeyError, "was not fitted"),
        ({"Gata1": np.inf}, ValueError, "finite number"),
        ({}, TypeError, "non-empty dict"),
    ],
)
def test_perturb_rejects_bad_perturbations(krumsiek, perturbations, error, match) -> None:
    with pytest.raises(error, match=match):
        sn.tl.perturb(krumsiek, perturbations, copy=True)


def test_perturb_needs_a_fit(krumsiek) -> None:
    with pytest.raises(KeyError, match="run sn.tl.fit"):
        sn.tl.perturb(krumsiek, {"Gata1": 0.0}, key="missing", copy=True)


# --------------------------------------------------------------------------------------- AnnData: tl.fit args
def test_tl_fit_with_regulators_and_prior_round_trips(tmp_path) -> None:
    adata = sn.datasets.krumsiek11()
    regulators = ["Gata2", "Gata1", "Pu.1", "Cebpa"]
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", n_bins=20, regulators=regulators, prior="reference",
              **TINY)
    dependencies = adata.varp["sparsenode"]
    positions = adata.var_names.get_indexer(regulators)
    other = np.ones(adata.n_vars, dtype=bool)
    other[positions] = False
    off_diagonal = ~np.eye(adata.n_vars, dtype=bool)
    assert np.all(dependencies[:, other][off_diagonal[:, other]] == 0)
    allowed = (np.asarray(adata.varp["reference"]) != 0) | ~off_diagonal
    assert np.all(dependencies[~allowed] == 0)
    params = adata.uns["sparsenode"]["params"]
    assert list(params["regulators"]) == regulators and params["prior"] == "reference"
    adata.write_h5ad(tmp_path / "fit.h5ad")
    loaded = sc.read_h5ad(tmp_path / "fit.h5ad")
    assert np.array_equal(sn.tl.model(loaded).dependencies(), sn.tl.model(adata).dependencies())


def test_tl_fit_takes_a_prior_edge_table_and_a_var_column(caplog) -> None:
    adata = sn.datasets.krumsiek11()
    adata.var["is_tf"] = adata.var_names.isin(["Gata1", "Pu.1"])
    table = pd.DataFrame({"regulator": ["Gata1", "Pu.1"], "target": ["Fog1", "Cebpa"]})
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", n_bins=20, regulators="is_tf", prior=table, **TINY)
    dependencies = pd.DataFrame(adata.varp["sparsenode"], index=adata.var_names, columns=adata.var_names)
    off_diagonal = dependencies.where(~np.eye(adata.n_vars, dtype=bool), 0.0)
    assert set(zip(*np.nonzero(off_diagonal.to_numpy()), strict=True)) == {
        (adata.var_names.get_loc("Fog1"), adata.var_names.get_loc("Gata1")),
        (adata.var_names.get_loc("Cebpa"), adata.var_names.get_loc("Pu.1")),
    }
    # the same prior as a sparse varp entry; edges between other genes are reported and ignored
    adata.varp["prior"] = sparse.csr_matrix(np.asarray(adata.varp["sparsenode"] != 0, dtype=np.float32))
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", n_bins=20, regulators="is_tf", prior="prior",
              key_added="sparse", **TINY)
    np.testing.assert_array_equal(adata.varp["sparse"] != 0, adata.varp["sparsenode"] != 0)
    with caplog.at_level(logging.WARNING, logger="sparsenode"):
        sn.tl.fit(adata, time_key="time", n_bins=20, prior=pd.concat([table, pd.DataFrame(
            {"regulator": ["NotAGene"], "target": ["Fog1"]})]), key_added="partial", **TINY)
    assert "1 of the 3 prior edges name genes that are not fitted" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"regulators": ["NotAGene"]}, ValueError, r"regulators= contains none of the fitted genes"),
        ({"regulators": "missing_column"}, KeyError, "not a column of adata.var"),
        ({"prior": "missing"}, KeyError, "prior 'missing' is not in adata.varp"),
        ({"prior": pd.DataFrame({"a": [1]})}, KeyError, "a prior DataFrame needs columns"),
        ({"prior": pd.DataFrame({"regulator": ["GATA1"], "target": ["FOG1"]})}, ValueError,
         "none of the 1 edges of the prior DataFrame connects two fitted genes"),
        ({"velocity_key": "velocity"}, KeyError, "velocity_key='velocity' is not a layer"),
    ],
)
def test_tl_fit_rejects_bad_network_arguments(kwargs, error, match) -> None:
    adata = sn.datasets.krumsiek11()
    with pytest.raises(error, match=match):
        sn.tl.fit(adata, time_key="time", **kwargs, **TINY)
    assert "sparsenode" not in adata.uns


def test_gene_arguments_share_one_reading(caplog) -> None:
    """regulators= reads names, masks and var columns as genes= does; a name listed twice or one the data lack
    (common in TF lists) leaves the same set, while genes= refuses both (its order sets the fitted genes)."""
    from sparsenode.tl._prior import gene_selection

    adata = sn.datasets.krumsiek11()
    genes = list(adata.var_names)
    adata.var["tf"] = adata.var_names.isin(["Gata1", "Pu.1"])
    by_name = gene_selection(adata, ["Gata1", "Pu.1", "Gata1"], genes, name="regulators")
    np.testing.assert_array_equal(by_name, adata.var["tf"].to_numpy())
    np.testing.assert_array_equal(gene_selection(adata, "tf", genes, name="regulators"), by_name)
    with caplog.at_level("WARNING", logger="sparsenode"):
        np.testing.assert_array_equal(gene_selection(adata, ["Gata1", "Pu.1", "GATA1"], genes, name="regulators"),
                                      by_name)
    assert "regulators: 1 of the 3 genes are not in adata.var_names and are ignored: ['GATA1']" in caplog.text
    with pytest.raises(KeyError, match=r"genes: 1 requested genes not found in adata\.var_names: \['GATA1'\]"):
        sn.tl.fit(adata.copy(), time_key="time", genes=["Gata1", "GATA1"], **TINY)
    np.testing.assert_array_equal(gene_selection(adata, adata.var["tf"].to_numpy(), genes, name="regulators"),
                                  by_name)
    np.testing.assert_array_equal(gene_selection(adata, {"Pu.1", "Gata1"}, genes, name="regulators"), by_name)
    with pytest.raises(ValueError, match="regulators as a boolean mask has missing values"):
        gene_selection(adata, adata.var["tf"].astype("boolean").where(adata.var_names != "Fog1"), genes,
                       name="regulators")
    with pytest.raises(TypeError, match=r"regulators holds values that are not gene names \(\[0, 1\]\)"):
        gene_selection(adata, pd.Series([0, 1], dtype=object), genes, name="regulators")
    for argument in ("genes", "regulators"):
        with pytest.raises(TypeError, match=rf"{argument} holds numbers"):
            sn.tl.fit(adata.copy(), time_key="time", **{argument: [0, 1]}, **TINY)
        with pytest.raises(KeyError, match=rf"for one gene pass {argument}=\['Gata1'\]"):
            sn.tl.fit(adata.copy(), time_key="time", **{argument: "Gata1"}, **TINY)
    with pytest.raises(ValueError, match=r"\['Gata1'\] are listed more than once in genes"):
        sn.tl.fit(adata, time_key="time", genes=["Gata1", "Pu.1", "Gata1"], **TINY)


def test_regularization_path_passes_regulators_to_every_fit() -> None:
    adata = sn.datasets.krumsiek11()
    sn.tl.regularization_path(adata, lams=[0.01, 0.1], time_key="time", lineage_key="lineage", n_bins=20,
                              regulators=["Gata1", "Pu.1"], **TINY)
    dependencies = adata.varp["sparsenode"]
    others = ~adata.var_names.isin(["Gata1", "Pu.1"])
    off_diagonal = ~np.eye(adata.n_vars, dtype=bool)
    assert np.all(dependencies[:, others][off_diagonal[:, others]] == 0)


# ------------------------------------------------------------------------------------------------- velocity
def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean cosine similarity of matching rows."""
    return float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


def test_velocity_term_aligns_the_field_with_given_velocities(linear) -> None:
    X, t, A = linear
    rng = np.random.default_rng(0)
    # velocities of another system: the term must pull the field towards them, away from the data's own field
    other = A + rng.normal(0.0, 1.0, A.shape)
    velocity = np.einsum("ij,ktj->kti", other, X) * 3.0
    settings = {**FAST, "warm_start_epochs": 0, "epochs": 40}
    plain = SparseNODE(**settings).fit(X, t)
    supervised = SparseNODE(**settings, velocity_weight=1.0).fit(X, t, velocity=velocity)
    states = X.reshape(-1, 10)
    target = velocity.reshape(-1, 10)
    assert cosine(supervised.derivatives(states), target) > cosine(plain.derivatives(states), target) + 0.1
    assert np.all(np.isfinite(supervised.history_["velocity"])) and np.all(np.isnan(plain.history_["velocity"]))


def test_velocity_validation(linear) -> None:
    X, t, _ = linear
    with pytest.raises(ValueError, match="velocity must have the shape of X"):
        SparseNODE(**TINY).fit(X, t, velocity=X[:, :5])
    with pytest.raises(ValueError, match="no finite value"):
        SparseNODE(**TINY).fit(X, t, velocity=np.full_like(X, np.nan))
    with pytest.raises(ValueError, match="first-order model"):
        SparseNODE(order=2, **TINY).fit(X, t, velocity=X)


@pytest.fixture(scope="module")
def scvelo_simulation() -> sc.AnnData:
    """scvelo's simulated spliced/unspliced data with dynamical-model velocity and latent time."""
    import scvelo as scv
    scv.settings.verbosity = 0
    adata = scv.datasets.simulation(n_obs=300, n_vars=10, random_seed=0)
    adata.X = adata.layers["spliced"].copy()
    sc.pp.neighbors(adata, n_neighbors=30, use_rep="X", method="gauss")
    scv.pp.moments(adata)
    scv.tl.recover_dynamics(adata, n_jobs=1)
    scv.tl.velocity(adata, mode="dynamical")
    scv.tl.velocity_graph(adata)
    scv.tl.latent_time(adata)
    return adata


def test_scvelo_latent_time_and_velocity(scvelo_simulation) -> None:
    adata = scvelo_simulation.copy()
    settings = {"time_key": "latent_time", "layer": "Ms", "n_bins": 30, "epochs": 40, "hidden": (16, 16),
                "training_data": "trajectories", "progress": False}
    sn.tl.fit(adata, **settings, key_added="plain")
    sn.tl.fit(adata, **settings, velocity_key="velocity", velocity_weight=1.0, key_added="velocity")
    assert adata.uns["velocity"]["params"]["velocity_key"] == "velocity"
    assert np.all(np.isfinite(adata.uns["velocity"]["history"]["velocity"]))
    # alignment where the term acts: the trajectory points, in the (min-max scaled) units the models were fitted in
    trajs = sn.pp.trajectories(adata, time_key="latent_time", layer="Ms", n_bins=30)
    points, velocity = np.concatenate(trajs.expression), np.concatenate(point_velocities(adata, trajs, "velocity"))
    known = np.isfinite(velocity).all(axis=1) & (np.linalg.norm(np.nan_to_num(velocity), axis=1) > 0)
    alignment = {key: cosine(sn.tl.model(adata, key).derivatives(points[known]), velocity[known])
                 for key in ("plain", "velocity")}
    assert alignment["velocity"] > alignment["plain"] + 0.2  # measured: 0.33 plain, 0.78 with velocity
    # the model follows the data along latent time: its fitted curve correlates with the smoothed expression
    assert adata.uns["velocity"]["metrics"]["train_mse"] < np.var(points)


# ------------------------------------------------------------------------------------------ transport pairs
def linear_snapshots(A: np.ndarray, start: list[float], spread: float, n_cells: int = 400):
    """One snapshot each of ``n_cells`` runs of dx/dt = A x from normal starts, at uniform times in [0, 3]."""
    from scipy.linalg import expm

    rng = np.random.default_rng(0)
    starts = rng.normal(start, spread, (n_cells, len(start)))
    times = rng.uniform(0.0, 3.0, n_cells)
    return np.stack([expm(A * time) @ x for x, time in zip(starts, times, strict=True)]), times


def test_sinkhorn_log_sum_exp_is_scipys_bit_for_bit() -> None:
    """The Sinkhorn loop's own log-sum-exp (scipy's has a large per-call overhead) gives scipy's results exactly,
    ties of the maximum and large magnitudes included, so transport pairs did not change with it."""
    from scipy.special import logsumexp

    from sparsenode.pp._transport import log_sum_exp

    rng = np.random.default_rng(0)
    for trial in range(300):
        values = rng.normal(scale=[0.1, 10.0, 300.0][trial % 3], size=tuple(rng.integers(1, 60, size=2)))
        if trial % 4 == 0:
            values[:, 0] = values.max(axis=1)  # a tie with the maximum in every row
        for axis in (0, 1):
            np.testing.assert_array_equal(log_sum_exp(values, axis), logsumexp(values, axis=axis))


def test_transport_pairs_follow_the_flow_of_snapshots() -> None:
    """Snapshots of many runs of dx/dt = A x: the pairs' finite differences approximate A x at the cells."""
    A = np.array([[-0.5, 0.0], [1.0, -0.5]])
    cells, times = linear_snapshots(A, [2.0, 0.0], 0.3)

    def alignment(epsilon: float) -> float:
        pairs, pair_times = sn.pp.transport_pairs([cells], [times], n_bins=8, epsilon=epsilon)
        pairs, pair_times = np.stack(pairs), np.stack(pair_times)
        assert pairs.shape[1:] == (2, 2) and np.all(pair_times[:, 0] == 0) and np.all(pair_times[:, 1] > 0)
        return cosine((pairs[:, 1] - pairs[:, 0]) / pair_times[:, 1:], pairs[:, 0] @ A.T)

    # measured: 0.869 with transport pairs, 0.617 pairing every cell with the mean of the next bin (huge epsilon)
    assert alignment(0.05) > 0.8 and alignment(0.05) > alignment(100.0) + 0.15
    default = sn.pp.transport_pairs([cells], [times], n_bins=8)
    explicit = sn.pp.transport_pairs([cells], [times], n_bins=8, feature_scale=cells.std(0))
    assert np.allclose(np.stack(default[0]), np.stack(explicit[0]))
    rescaled = sn.pp.transport_pairs([cells], [times], n_bins=8, feature_scale=cells.std(0) * [1.0, 100.0])
    assert not np.allclose(np.stack(default[0]), np.stack(rescaled[0]))


@pytest.mark.parametrize(
    ("expression", "time", "kwargs", "match"),
    [
        ([np.zeros((10, 2))], [np.arange(10.0)], {"n_bins": 1}, "n_bins=1"),
        ([np.zeros((10, 2))], [np.arange(10.0)], {"epsilon": 0.0}, "epsilon=0.0"),
        ([np.zeros((10, 2))], [np.arange(10.0)], {"feature_scale": np.zeros(2)}, "feature_scale must hold 2 positive"),
        ([np.zeros((10, 2))], [np.arange(10.0)], {"feature_scale": np.ones(3)}, r"got shape \(3,\)"),
        ([np.zeros((10, 2))], [np.arange(9.0)], {}, r"time of trajectory 0 has shape \(9,\); expected \(10,\)"),
        ([np.zeros((10, 2))], [np.full(10, np.nan)], {}, "time of trajectory 0 holds NaN"),
        ([np.zeros(10)], [np.arange(10.0)], {}, r"expression of trajectory 0 has shape \(10,\)"),
        ([np.zeros((10, 2))], [np.zeros(10)], {}, "every trajectory has its cells at a single time"),
    ],
)
def test_transport_pairs_validation(expression, time, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        sn.pp.transport_pairs(expression, time, **kwargs)
    assert sn.pp.transport_pairs([np.ones((10, 2))], [np.arange(10.0)], epsilon=np.float32(0.1))[0]


def test_transport_pairs_leave_missing_values_out_and_skip_empty_bins() -> None:
    expression = np.array([[0.0, np.nan], [1.0, 0.0], [0.0, 5.0], [1.0, np.nan]])
    pairs, _ = sn.pp.transport_pairs([expression], [np.array([0.0, 0.0, 1.0, 1.0])], n_bins=2, epsilon=1e3)
    # both cells pair evenly with cells 2 and 3: gene 1 is the observed 5.0 of cell 2, not 2.5 (NaN read as 0)
    assert np.allclose(np.stack(pairs)[:, 1, 1], 5.0)
    times = np.array([0.0, 0.1, 0.3, 0.9, 1.0])  # bins 0, 0, 1, 3, 3: bin 2 is empty
    pairs, pair_times = sn.pp.transport_pairs([np.ones((5, 2))], [times], n_bins=4, epsilon=1e3)
    # the cell of bin 1 pairs with bin 3, the next bin that holds cells (mean time 0.95)
    assert len(pairs) == 3 and np.allclose(np.stack(pair_times)[:, 1], [0.3, 0.2, 0.65])


def test_transport_pairs_couple_every_time_point_of_a_time_course_with_the_next() -> None:
    days = np.repeat(np.arange(7.0), 40)  # days 0-6: 7 time points in 12 bins, so that 5 bins are empty
    expression = np.random.default_rng(0).normal(size=(len(days), 3))
    _, pair_times = sn.pp.transport_pairs([expression], [days], n_bins=12)
    assert len(pair_times) == 6 * 40  # every cell but those of the last day
    assert np.allclose(np.stack(pair_times)[:, 1], 1.0)


def test_tl_fit_on_transport_pairs_with_stability() -> None:
    adata = sn.datasets.krumsiek11()
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", training_data="transport", n_models=2,
              **{**TINY, "warm_start_epochs": 30})
    params = adata.uns["sparsenode"]["params"]
    assert params["training_data"] == "transport" and params["transport_bins"] == 12
    assert params["initial_points"] == 1 == sn.tl.model(adata).initial_points  # as the pairs ran
    # transport defaults: no held-out points (a pair's only target), decay, the regularizer's own default λ
    assert params["validation_fraction"] == 0.0 and params["decay"] and params["lam"] == 0.1  # the default λ used
    assert params["dependency_measure"] == "jacobian"
    assert np.allclose(adata.varp["sparsenode"], np.abs(adata.varp["sparsenode_jacobian"]))
    stability = adata.varp["sparsenode_stability"]
    assert stability.shape == (11, 11) and np.all((stability >= 0) & (stability <= 1))
    sn.tl.predict(adata)  # curves and predictions still use the lineage trajectories
    assert np.isfinite(adata.layers["sparsenode_predicted"]).all()
    with pytest.raises(ValueError, match="velocity_key works with training_data='trajectories'"):
        sn.tl.fit(adata, time_key="time", training_data="transport", velocity_key="x", **TINY)
    with pytest.raises(ValueError, match="training_data='pairs' must be one of"):
        sn.tl.fit(adata, time_key="time", training_data="pairs", **TINY)
    with pytest.raises(ValueError, match="dependency_measure='weights' must be one of"):
        sn.tl.fit(adata, time_key="time", dependency_measure="weights", **TINY)
    sn.tl.fit(adata, time_key="time", training_data="transport", dependency_measure="paths", key_added="paths",
              **TINY)
    assert np.allclose(adata.varp["paths"], sn.tl.model(adata, "paths").dependencies())


def test_default_fit_refines_the_transport_fit_on_the_trajectories() -> None:
    """Snapshots of dx/dt = A x (one lineage): the default fits the transport pairs, then the trajectory."""
    cells, times = linear_snapshots(np.array([[-1.0, 0.0, 0.0], [2.0, -1.0, 0.0], [0.0, -1.5, -0.5]]),
                                    [2.0, 0.0, 1.0], 0.2)
    adata = ad.AnnData(cells.astype(np.float32), obs=pd.DataFrame({"time": times}, index=[f"c{i}" for i in range(400)]))
    settings = {"time_key": "time", "activation": "tanh", "seed": 0, **TINY, "warm_start_epochs": 30, "epochs": 10}
    sn.tl.fit(adata, training_data="transport", key_added="pairs", **settings)
    sn.tl.fit(adata, refine_epochs=20, key_added="refined", **settings)  # the default training_data
    pairs, refined = adata.uns["pairs"], adata.uns["refined"]
    assert refined["params"]["training_data"] == "transport+trajectories"
    # the first stage is the transport fit itself (same seed and arguments), then 20 epochs on the trajectory
    assert len(refined["history"]["epoch"]) == 10 + 20
    np.testing.assert_array_equal(refined["history"]["loss"][:10], pairs["history"]["loss"])
    # RK4 steps of half the median pair duration for the pairs
    cell_trajectory = sn.pp.trajectories(adata, time_key="time")
    _, pair_times = sn.pp.transport_pairs(cell_trajectory.expression, cell_trajectory.time, n_bins=12, epsilon=0.05)
    assert pairs["params"]["step_size"] == pytest.approx(np.median([t[-1] - t[0] for t in pair_times]) / 2)
    # refining makes the field follow the whole trajectory from its initial state
    X, t = cell_trajectory.to_arrays()
    errors = {key: sn.tl.model(adata, key).mse(X, t) for key in ("pairs", "refined")}
    assert errors["refined"] < 0.7 * errors["pairs"], errors  # measured ratios 0.39-0.54 over seeds 0-2
    with pytest.raises(ValueError, match="refine_epochs=0 must be a positive integer"):
        sn.tl.fit(adata, time_key="time", refine_epochs=0, **TINY)
    with pytest.raises(ValueError, match="transport_max_pairs=0 must be a positive integer"):
        sn.tl.fit(adata, time_key="time", transport_max_pairs=0, **TINY)


def test_transport_pairs_of_binned_trajectories_are_in_their_units() -> None:
    """With ``n_bins`` the pairs come from the cells, scaled like the binned trajectories the fit is refined on."""
    rng = np.random.default_rng(0)
    times = rng.uniform(0, 10, 120)
    values = np.column_stack([times, 5 + 2 * np.sin(times), rng.normal(3, 1, 120)]).astype(np.float32)
    obs = pd.DataFrame({"time": times, "lineage": np.where(np.arange(120) % 2, "a", "b")},
                       index=[f"c{i}" for i in range(120)])
    adata = ad.AnnData(values, obs=obs)
    arguments = {"time_key": "time", "lineage_key": "lineage", "scale": "trajectory"}
    binned = sn.pp.trajectories(adata, n_bins=6, **arguments)
    pairs, pair_times = cell_pairs(adata, binned, arguments, names=binned.names, bins=4, epsilon=0.05,
                                   max_pairs=None, seed=0)
    # the pairs of the cells, converted by hand to each binned trajectory's scaled expression and time
    expected_pairs, expected_times = sn.pp.transport_pairs(
        [binned.scale_expression(k, values[binned.cells[k]]) for k in range(len(binned))],
        [(times[binned.cells[k]] - binned.time_offset[k]) / binned.time_scale[k] for k in range(len(binned))],
        n_bins=4, epsilon=0.05)
    np.testing.assert_allclose(np.array(pairs), np.array(expected_pairs), atol=1e-5)
    np.testing.assert_allclose(np.array(pair_times), np.array(expected_times), atol=1e-6)
    assert len(pairs) > 60


def test_transport_pairs_are_subsampled_reproducibly() -> None:
    pairs = [np.full((2, 3), k, dtype=float) for k in range(50)]
    times = [np.array([0.0, 1.0 + k]) for k in range(50)]
    kept, kept_times = subsample_pairs(pairs, times, 20, seed=0)
    indices = [int(x[0, 0]) for x in kept]
    assert len(kept) == 20 and indices == sorted(set(indices))  # distinct pairs, in their order
    assert [float(t[1]) for t in kept_times] == [1.0 + k for k in indices]  # times stay with their pairs
    assert [int(x[0, 0]) for x in subsample_pairs(pairs, times, 20, seed=0)[0]] == indices
    assert [int(x[0, 0]) for x in subsample_pairs(pairs, times, 20, seed=1)[0]] != indices
    assert subsample_pairs(pairs, times, 50, seed=0)[0] is pairs and subsample_pairs(pairs, times, None, seed=0)[0] is pairs

