"""Edge stability over bootstrap fits (``sn.tl.fit(n_models=...)``) and reproducibility across ``n_jobs``/backends."""

from __future__ import annotations

import time

import anndata as ad
import joblib
import numpy as np
import pandas as pd
import pytest
import torch

import sparsenode as sn
from sparsenode.metrics import feature_sparsity
from sparsenode.tl._fit import bootstrap_tasks, edge_frequency
from sparsenode.tl._parallel import isolated_torch, run_tasks

GENES = ["g0", "g1", "g2", "g3"]
TRAJECTORY = {"time_key": "time", "lineage_key": "lineage"}
#: Small, but trained long enough with a strong penalty that some edges vanish in some replicates.
SPARSE = {"regularization": "pathreg", "lam": 1.0, "validation_fraction": 0.2, "hidden": (8, 8), "epochs": 40,
          "learning_rate": 0.05, "warm_start_epochs": 5, "progress": False}
N_MODELS = 3
PATH = {"lams": [1e-3, 0.1, 1.0], "hidden": (8, 8), "epochs": 10, "warm_start_epochs": 5, "progress": False}
DASK_BUDGET_S = 60


def make_adata(n_per: int = 15, seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    time_points = np.tile(np.linspace(0.0, 1.0, n_per), 2)
    phase = np.repeat([0, 1], n_per)[:, None]
    X = 0.5 + 0.4 * np.sin(3 * time_points[:, None] + np.arange(4) + phase) + 0.02 * rng.normal(size=(2 * n_per, 4))
    return ad.AnnData(
        X=X.astype(np.float32),
        obs=pd.DataFrame({"time": time_points, "lineage": pd.Categorical(np.repeat(["a", "b"], n_per))},
                         index=[f"cell{i}" for i in range(2 * n_per)]),
        var=pd.DataFrame(index=GENES),
    )


def stability_fit(n_jobs: int = 1, **extra) -> ad.AnnData:
    adata = make_adata()
    sn.tl.fit(adata, n_models=N_MODELS, n_jobs=n_jobs, **TRAJECTORY, **SPARSE, **extra)
    return adata


def path_fit(n_jobs: int = 1) -> ad.AnnData:
    adata = make_adata()
    sn.tl.regularization_path(adata, n_jobs=n_jobs, **TRAJECTORY, **PATH)
    return adata


def assert_same_results(first: ad.AnnData, second: ad.AnnData) -> None:
    assert set(first.varp) == set(second.varp)
    for name in first.varp:
        assert np.array_equal(first.varp[name], second.varp[name]), name
    if "regularization_path" in first.uns["sparsenode"]:
        path, other = first.uns["sparsenode"]["regularization_path"], second.uns["sparsenode"]["regularization_path"]
        for name in ("lam", "val_mse", "train_mse", "feature_sparsity", "weight_sparsity", "selected_lam"):
            assert np.array_equal(path[name], other[name]), name


@pytest.fixture(scope="module")
def reference() -> ad.AnnData:
    """Stability fit with n_jobs=1."""
    return stability_fit()


@pytest.fixture(scope="module")
def reference_path() -> ad.AnnData:
    return path_fit()


# ---------------------------------------------------------------------------------------------- the slot
def test_stability_slot(reference: ad.AnnData) -> None:
    stability = reference.varp["sparsenode_stability"]
    assert stability.shape == (4, 4) and stability.dtype == np.float32
    assert ((stability >= 0) & (stability <= 1)).all()
    # a share of N_MODELS models
    assert np.allclose(stability * N_MODELS, np.round(stability * N_MODELS), atol=1e-5)
    assert reference.uns["sparsenode"]["params"]["n_models"] == N_MODELS


def test_main_model_is_the_full_data_fit_and_n_models_1_writes_no_stability(reference: ad.AnnData) -> None:
    adata = reference.copy()
    sn.tl.fit(adata, **TRAJECTORY, **SPARSE)  # n_models=1 under the same key: the stale stability goes
    assert set(adata.varp) == {"sparsenode", "sparsenode_jacobian"}
    assert np.array_equal(adata.varp["sparsenode"], reference.varp["sparsenode"])
    assert np.array_equal(adata.varp["sparsenode_jacobian"], reference.varp["sparsenode_jacobian"])


def test_stability_on_a_gene_subset_is_zero_for_unfitted_genes() -> None:
    adata = make_adata()
    sn.tl.fit(adata, genes=["g0", "g2", "g3"], n_models=2, key_added="sub", **TRAJECTORY,
              **{**SPARSE, "epochs": 5})
    stability = adata.varp["sub_stability"]
    unfitted = GENES.index("g1")
    assert not stability[unfitted].any() and not stability[:, unfitted].any()
    assert stability[[0, 2, 3]][:, [0, 2, 3]].any()


def test_edge_frequency_counts_edges_as_feature_sparsity_counts_zeros() -> None:
    rng = np.random.default_rng(0)
    matrices = [rng.exponential(size=(5, 5)) ** 4 for _ in range(4)]
    matrices[1][:] = 0.0  # an all-zero model has no edge
    frequency = edge_frequency(matrices)
    for matrix in matrices:
        assert edge_frequency([matrix]).mean() == pytest.approx(1 - feature_sparsity(matrix))
    manual = np.mean([m > 0.01 * m.max() for m in matrices], axis=0)
    assert np.array_equal(frequency, manual)
    assert frequency.max() <= 0.75  # the all-zero model never counts


def test_bootstrap_resamples() -> None:
    rng = np.random.default_rng(1)
    X = [rng.normal(size=(12, 3)).astype(np.float32), rng.normal(size=(9, 3)).astype(np.float32)]
    t = [np.sort(rng.uniform(size=12)), np.sort(rng.uniform(size=9))]
    params = {"seed": 7, "epochs": 3}
    tasks = bootstrap_tasks(params, X, t, n_models=4, seed=7)
    again = bootstrap_tasks(params, X, t, n_models=4, seed=7)
    other = bootstrap_tasks(params, X, t, n_models=4, seed=8)
    assert len(tasks) == 4
    assert len({task.params["seed"] for task in tasks}) == 4
    for task, repeat in zip(tasks, again, strict=True):
        assert task.params == repeat.params and task.params["epochs"] == 3
        for k in range(2):
            assert np.array_equal(task.X[k], repeat.X[k]) and np.array_equal(task.t[k], repeat.t[k])
            assert task.X[k].shape == X[k].shape and len(task.t[k]) == len(t[k])
            assert np.all(np.diff(task.t[k]) >= 0)  # time order kept
            rows = [int(np.flatnonzero(t[k] == time_k)[0]) for time_k in task.t[k]]
            assert np.array_equal(task.X[k], X[k][rows])  # points stay paired with their times
    assert any(len(np.unique(task.t[0])) < len(t[0]) for task in tasks)  # drawn with replacement
    assert not np.array_equal(tasks[0].t[0], tasks[1].t[0])
    assert not all(np.array_equal(a.t[0], b.t[0]) for a, b in zip(tasks, other, strict=True))


# ---------------------------------------------------------------------------------------------- determinism
def test_replicate_fits_are_identical_for_any_n_jobs() -> None:
    adata = make_adata()
    X, t = sn.pp.trajectories(adata, **TRAJECTORY).to_arrays()
    params = sn.SparseNODE(**{**SPARSE, "epochs": 5}).get_params()
    tasks = bootstrap_tasks(params, X, t, n_models=2, seed=3)
    serial, parallel = run_tasks(tasks, n_jobs=1), run_tasks(tasks, n_jobs=2)
    for first, second in zip(serial, parallel, strict=True):
        assert first.config == second.config
        assert set(first.arrays) == set(second.arrays)
        for name, values in first.arrays.items():
            assert np.array_equal(values, second.arrays[name], equal_nan=True), name


def test_threads_of_one_process_do_not_share_random_state() -> None:
    """Sampled L0 gates draw from torch's process-wide generator at every step: concurrent fits would mix."""
    adata = make_adata()
    X, t = sn.pp.trajectories(adata, **TRAJECTORY).to_arrays()
    params = sn.SparseNODE(regularization="l0", lam=0.1, regularization_options={"sample_gates": True},
                           hidden=(8, 8), epochs=10, warm_start_epochs=5, progress=False).get_params()
    tasks = bootstrap_tasks(params, X, t, n_models=4, seed=5)
    serial = run_tasks(tasks, n_jobs=1)
    with joblib.parallel_backend("threading"):
        threaded = run_tasks(tasks, n_jobs=4)
    for first, second in zip(serial, threaded, strict=True):
        for name, values in first.arrays.items():
            assert np.array_equal(values, second.arrays[name], equal_nan=True), name


def test_isolated_torch_uses_one_thread_and_restores_the_count() -> None:
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with isolated_torch():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), isolated_torch():
            raise RuntimeError("a failing fit")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_fit_and_path_are_identical_for_n_jobs_1_and_2(reference: ad.AnnData, reference_path: ad.AnnData) -> None:
    assert_same_results(stability_fit(n_jobs=2), reference)
    assert_same_results(path_fit(n_jobs=2), reference_path)


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_identical_under_a_dask_cluster(processes: bool, reference: ad.AnnData, reference_path: ad.AnnData) -> None:
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    start = time.perf_counter()
    with (
        distributed.Client(processes=processes, n_workers=2, threads_per_worker=1, dashboard_address=None),
        joblib.parallel_backend("dask"),
    ):
        stability, path = stability_fit(n_jobs=2), path_fit(n_jobs=2)
    assert_same_results(stability, reference)
    assert_same_results(path, reference_path)
    assert time.perf_counter() - start < DASK_BUDGET_S


# ---------------------------------------------------------------------------------------------- bad arguments
@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("SparseNODE.fit was reached: the input was not validated before training")

    monkeypatch.setattr(sn.SparseNODE, "fit", refuse)


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"n_models": 0}, r"n_models=0"),
        ({"n_models": 2.5}, r"n_models=2\.5"),
        ({"n_models": True}, r"n_models=True"),
        ({"n_jobs": 0}, r"n_jobs=0"),
        ({"n_jobs": "2"}, r"n_jobs='2'"),
    ],
)
def test_bad_arguments_fail_before_any_fit(arguments: dict, match: str, no_training: None) -> None:
    adata = make_adata()
    adata.uns["keep"] = 1
    before = adata.copy()
    with pytest.raises(ValueError, match=match):
        sn.tl.fit(adata, **TRAJECTORY, **SPARSE, **arguments)
    assert set(adata.uns) == {"keep"} and not adata.varp
    assert np.array_equal(adata.X, before.X)
    pd.testing.assert_frame_equal(adata.obs, before.obs)


def test_failed_replicates_are_left_out_of_the_stability_and_all_failing_fails(monkeypatch, caplog) -> None:
    from sparsenode.tl import _fit
    from sparsenode.tl._parallel import FitOutcome

    def failing_first(tasks, *, n_jobs):
        outcomes = run_tasks(tasks, n_jobs=n_jobs)
        return [FitOutcome(None, None, "loss is NaN"), *outcomes[1:]]

    options = {**TRAJECTORY, **SPARSE, "epochs": 5, "n_models": 3}
    complete, partial = make_adata(), make_adata()
    sn.tl.fit(complete, **options)
    monkeypatch.setattr(_fit, "run_tasks", failing_first)
    with caplog.at_level("WARNING", logger="sparsenode"):
        sn.tl.fit(partial, **options)
    assert "1 of 3 bootstrap replicates failed and are left out of the stability (the first: loss is NaN)" in caplog.text
    stability = partial.varp["sparsenode_stability"]
    assert set(np.unique(stability)) <= {0.0, 0.5, 1.0}  # shares of the 2 replicates that were fitted
    assert np.array_equal(partial.varp["sparsenode"], complete.varp["sparsenode"])
    monkeypatch.setattr(_fit, "run_tasks", lambda tasks, *, n_jobs: [FitOutcome(None, None, "loss is NaN")] * len(tasks))
    with pytest.raises(sn.nn.FitError, match=r"every bootstrap replicate failed \(n_models=3\); the first: loss is NaN"):
        sn.tl.fit(make_adata(), **options)
