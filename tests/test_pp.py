"""Tests for :func:`sparsenode.pp.trajectories`."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

from sparsenode.pp import Trajectories, trajectories


def make_adata(
    n_obs: int = 12, n_vars: int = 4, *, seed: int = 0, time: np.ndarray | None = None
) -> ad.AnnData:
    """Float expression, shuffled times, two lineages (A, B) and two donors (d1, d2)."""
    rng = np.random.default_rng(seed)
    adata = ad.AnnData(
        X=rng.normal(size=(n_obs, n_vars)),
        obs=pd.DataFrame(index=[f"cell{i}" for i in range(n_obs)]),
        var=pd.DataFrame(index=[f"g{j}" for j in range(n_vars)]),
    )
    adata.obs["t"] = rng.permutation(n_obs).astype(float) if time is None else time
    adata.obs["lineage"] = pd.Categorical(np.where(np.arange(n_obs) % 2 == 0, "A", "B"))
    adata.obs["donor"] = pd.Categorical(np.where(np.arange(n_obs) < n_obs // 2, "d1", "d2"))
    return adata


def assert_equal(adata: ad.AnnData, snapshot: ad.AnnData) -> None:
    """Assert that ``adata`` still equals the copy ``snapshot`` taken before the call."""
    pd.testing.assert_frame_equal(adata.obs, snapshot.obs)
    pd.testing.assert_frame_equal(adata.var, snapshot.var)
    for matrix, expected in [
        (adata.X, snapshot.X),
        *((adata.layers[key], snapshot.layers[key]) for key in snapshot.layers),
    ]:
        assert type(matrix) is type(expected)
        np.testing.assert_array_equal(
            sparse.csr_matrix(matrix).toarray(), sparse.csr_matrix(expected).toarray()
        )
    assert list(adata.layers.keys()) == list(snapshot.layers.keys())
    assert list(adata.obsm.keys()) == list(snapshot.obsm.keys())
    for key in snapshot.obsm:
        np.testing.assert_array_equal(np.asarray(adata.obsm[key]), np.asarray(snapshot.obsm[key]))
    assert adata.uns.keys() == snapshot.uns.keys()


def test_orders_cells_by_time_with_stable_ties() -> None:
    adata = make_adata(n_obs=6, time=np.array([3.0, 1.0, 2.0, 1.0, 0.0, 5.0]))
    result = trajectories(adata, time_key="t", scale="none")
    assert result.names == ["all"]
    np.testing.assert_array_equal(result.cells[0], [4, 1, 3, 2, 0, 5])
    np.testing.assert_array_equal(result.time[0], [0.0, 1.0, 1.0, 2.0, 3.0, 5.0])
    np.testing.assert_array_equal(result.cell_to_point[0], np.arange(6))
    np.testing.assert_allclose(result.expression[0], adata.X[[4, 1, 3, 2, 0, 5]], rtol=1e-6)
    assert result.expression[0].dtype == np.float32
    assert result.time[0].dtype == np.float64


def test_ties_keep_obs_order_in_large_trajectories() -> None:
    time = np.random.default_rng(3).integers(0, 3, size=60).astype(float)
    result = trajectories(make_adata(n_obs=60, time=time), time_key="t", scale="none")
    np.testing.assert_array_equal(result.cells[0], np.argsort(time, kind="stable"))


def test_obs_column_lineages_ignore_unused_categories_and_missing_cells() -> None:
    adata = make_adata(n_obs=12)
    adata.obs["lineage"] = adata.obs["lineage"].cat.add_categories(["unused"])
    adata.obs.loc["cell0", "lineage"] = np.nan
    result = trajectories(adata, time_key="t", lineage_key="lineage")
    assert result.names == ["A", "B"]
    assert result.lineages == ["A", "B"]
    assert result.batches == ["all", "all"]
    assert sorted(result.cells[0]) == [2, 4, 6, 8, 10]
    assert sorted(result.cells[1]) == [1, 3, 5, 7, 9, 11]


def test_obsm_table_puts_shared_root_cells_in_every_lineage() -> None:
    adata = make_adata(n_obs=10, time=np.arange(10.0))
    root = np.arange(10) < 2
    table = pd.DataFrame(
        {"ery": root | (np.arange(10) % 2 == 0), "mono": root | (np.arange(10) % 2 == 1)},
        index=adata.obs_names,
    )
    adata.obsm["fate"] = table
    adata.obsm["fate_array"] = table.to_numpy()
    by_frame = trajectories(adata, time_key="t", lineage_key="fate")
    by_array = trajectories(adata, time_key="t", lineage_key="fate_array")
    assert by_frame.names == ["ery", "mono"]
    assert by_array.names == ["0", "1"]
    np.testing.assert_array_equal(by_frame.cells[0], [0, 1, 2, 4, 6, 8])
    np.testing.assert_array_equal(by_frame.cells[1], [0, 1, 3, 5, 7, 9])
    for frame_cells, array_cells in zip(by_frame.cells, by_array.cells, strict=True):
        np.testing.assert_array_equal(frame_cells, array_cells)
    # The obs column (no shared cells) gives the same trajectories without the root cell of the other lineage.
    by_column = trajectories(adata, time_key="t", lineage_key="lineage")
    np.testing.assert_array_equal(by_column.cells[0], [0, 2, 4, 6, 8])
    np.testing.assert_array_equal(by_column.cells[1], [1, 3, 5, 7, 9])


def test_batches_times_lineages_naming() -> None:
    adata = make_adata(n_obs=16)
    result = trajectories(adata, time_key="t", lineage_key="lineage", batch_key="donor")
    assert result.names == ["d1/A", "d1/B", "d2/A", "d2/B"]
    assert result.lineages == ["A", "B", "A", "B"]
    assert result.batches == ["d1", "d1", "d2", "d2"]
    assert len(result) == result.n_trajectories == 4
    for k in range(4):
        assert set(adata.obs["lineage"].iloc[result.cells[k]]) == {result.lineages[k]}
        assert set(adata.obs["donor"].iloc[result.cells[k]]) == {result.batches[k]}
    only_batch = trajectories(adata, time_key="t", batch_key="donor")
    assert only_batch.names == ["d1/all", "d2/all"]
    assert only_batch.lineages == ["all", "all"]


def test_batch_and_lineage_labels_whose_names_collide_are_refused() -> None:
    adata = make_adata(n_obs=16)
    # batch "d1/A" with lineage "B" and batch "d1" with lineage "A/B" would both be named "d1/A/B"
    adata.obs["donor"] = np.where(adata.obs["lineage"] == "A", "d1", "d1/A")
    adata.obs["lineage"] = np.where(adata.obs["lineage"] == "A", "A/B", "B")
    with pytest.raises(ValueError, match=r"Trajectory names \['d1/A/B'\] \('batch/lineage'\) are shared"):
        trajectories(adata, time_key="t", lineage_key="lineage", batch_key="donor")


def test_trim_drops_first_and_last_cells_of_each_trajectory() -> None:
    adata = make_adata(n_obs=20, time=np.arange(20.0)[::-1].copy())
    result = trajectories(adata, time_key="t", lineage_key="lineage", trim=(2, 3), scale="none")
    # Lineage A holds the even cells, cell i at time 19 - i; sorted by time: cells 18, 16, ..., 0.
    np.testing.assert_array_equal(result.cells[0], [14, 12, 10, 8, 6])
    np.testing.assert_array_equal(result.time[0], [5.0, 7.0, 9.0, 11.0, 13.0])
    np.testing.assert_array_equal(result.cells[1], [15, 13, 11, 9, 7])
    assert result.params["trim"] == [2, 3]


def test_genes_from_a_boolean_var_column_as_scanpy_writes_it() -> None:
    adata = make_adata()
    adata.var["highly_variable"] = [False, True, False, True]
    by_column = trajectories(adata, time_key="t", genes="highly_variable")
    by_names = trajectories(adata, time_key="t", genes=["g1", "g3"])
    assert by_column.genes == ["g1", "g3"] and by_column.params["genes"] == ["g1", "g3"]
    np.testing.assert_array_equal(by_column.expression[0], by_names.expression[0])


def test_binning_means_by_hand() -> None:
    # Times 0, 1, 2, 9, 10 with 5 bins of width 2: bins 0 {0, 1}, 1 {2}, 4 {9, 10}; bins 2, 3 are empty.
    time = np.array([9.0, 0.0, 2.0, 10.0, 1.0])
    adata = make_adata(n_obs=5, n_vars=2, time=time)
    adata.X = np.array([[9.0, 90.0], [0.0, 0.0], [2.0, 20.0], [10.0, 100.0], [1.0, 10.0]])
    result = trajectories(adata, time_key="t", n_bins=5, scale="none")
    np.testing.assert_allclose(result.time[0], [0.5, 2.0, 9.5])
    np.testing.assert_allclose(result.expression[0], [[0.5, 5.0], [2.0, 20.0], [9.5, 95.0]])
    obs, points = result.point_of_cells(0)
    np.testing.assert_array_equal(obs, [1, 4, 2, 0, 3])
    np.testing.assert_array_equal(points, [0, 0, 1, 2, 2])
    assert result.params["n_bins"] == 5


def test_binning_puts_the_last_cell_in_the_last_bin() -> None:
    adata = make_adata(n_obs=6, n_vars=1, time=np.array([0.0, 1.0, 2.0, 3.0, 4.0, 6.0]))
    result = trajectories(adata, time_key="t", n_bins=3, scale="none")
    # Edges 0, 2, 4, 6: {0, 1}, {2, 3}, {4, 6}.
    np.testing.assert_array_equal(result.point_of_cells(0)[1], [0, 0, 1, 1, 2, 2])
    np.testing.assert_allclose(result.time[0], [0.5, 2.5, 5.0])


def raw_points(adata: ad.AnnData, result: Trajectories, k: int) -> np.ndarray:
    """Unscaled point expression recomputed from adata for trajectory k (no binning)."""
    return adata.X[result.cells[k]][:, [adata.var_names.get_loc(gene) for gene in result.genes]]


def test_global_scaling_maps_all_points_to_unit_range() -> None:
    adata = make_adata(n_obs=16)
    result = trajectories(adata, time_key="t", lineage_key="lineage", batch_key="donor", scale="global")
    stacked = np.concatenate(result.expression)
    np.testing.assert_allclose(stacked.min(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(stacked.max(axis=0), 1.0, atol=1e-6)
    assert result.offset.shape == result.scale.shape == (4, adata.n_vars)
    np.testing.assert_array_equal(result.offset, np.tile(result.offset[0], (4, 1)))
    np.testing.assert_array_equal(result.time_offset, 0.0)
    np.testing.assert_array_equal(result.time_scale, 1.0)
    for k in range(4):
        np.testing.assert_array_equal(result.time[k], np.sort(adata.obs["t"].to_numpy()[result.cells[k]]))


def test_trajectory_scaling_maps_each_trajectory_and_its_time_to_unit_range() -> None:
    adata = make_adata(n_obs=16)
    result = trajectories(adata, time_key="t", lineage_key="lineage", batch_key="donor", scale="trajectory")
    for k in range(4):
        np.testing.assert_allclose(result.expression[k].min(axis=0), 0.0, atol=1e-6)
        np.testing.assert_allclose(result.expression[k].max(axis=0), 1.0, atol=1e-6)
        assert result.time[k][0] == 0.0
        assert result.time[k][-1] == 1.0
        raw_time = adata.obs["t"].to_numpy()[result.cells[k]]
        np.testing.assert_allclose(result.unscale_time(k, result.time[k]), raw_time)
        np.testing.assert_allclose(result.scale_time(k, raw_time), result.time[k])
    assert not np.allclose(result.offset[0], result.offset[1])


def test_no_scaling_keeps_input_values() -> None:
    adata = make_adata(n_obs=12)
    result = trajectories(adata, time_key="t", lineage_key="lineage", scale="none")
    for k in range(2):
        np.testing.assert_allclose(result.expression[k], raw_points(adata, result, k), rtol=1e-6)
    np.testing.assert_array_equal(result.offset, 0.0)
    np.testing.assert_array_equal(result.scale, 1.0)


@pytest.mark.parametrize("scale", ["global", "trajectory", "none"])
def test_unscale_inverts_scale(scale: str) -> None:
    adata = make_adata(n_obs=16)
    result = trajectories(adata, time_key="t", lineage_key="lineage", batch_key="donor", scale=scale)
    values = np.random.default_rng(1).normal(size=(7, adata.n_vars))
    for k in range(len(result)):
        np.testing.assert_allclose(
            result.unscale_expression(k, result.scale_expression(k, values)), values, rtol=1e-12
        )
        np.testing.assert_allclose(
            result.unscale_expression(k, result.expression[k]),
            raw_points(adata, result, k),
            rtol=1e-5,
            atol=1e-6,
        )
        times = np.array([-1.0, 0.25, 3.0])
        np.testing.assert_allclose(result.unscale_time(k, result.scale_time(k, times)), times, rtol=1e-12)


def test_with_scaling_expresses_the_same_points_in_another_scaling() -> None:
    adata = make_adata(n_obs=16)
    own = trajectories(adata, time_key="t", lineage_key="lineage", scale="trajectory")
    other = trajectories(adata, time_key="t", lineage_key="lineage", scale="global")
    converted = own.with_scaling(other.names[::-1], other.offset[::-1], other.scale[::-1], other.time_offset[::-1],
                                 other.time_scale[::-1])  # rows matched by name
    for k in range(len(own)):
        np.testing.assert_allclose(converted.expression[k], other.expression[k], atol=1e-6)
        np.testing.assert_allclose(converted.time[k], other.time[k], atol=1e-12)
    assert converted.cells is own.cells and own.expression[0].max() == 1.0  # the original is unchanged
    with pytest.raises(ValueError, match=r"time_scale has shape \(1,\); 2 rows"):
        own.with_scaling(other.names, other.offset, other.scale, other.time_offset, np.ones(1))
    with pytest.raises(KeyError, match=r"\['B'\] are not among"):
        own.with_scaling(["A"], other.offset[:1], other.scale[:1], other.time_offset[:1], other.time_scale[:1])


def test_unscale_rejects_wrong_gene_axis() -> None:
    result = trajectories(make_adata(), time_key="t")
    with pytest.raises(ValueError, match="n_genes=4"):
        result.unscale_expression(0, np.zeros((3, 5)))


@pytest.mark.parametrize("scale", ["global", "trajectory"])
def test_constant_gene_gets_scale_one_and_a_warning(scale: str, caplog: pytest.LogCaptureFixture) -> None:
    adata = make_adata(n_obs=12)
    adata.X[:, 2] = 7.0
    with caplog.at_level(logging.WARNING, logger="sparsenode"):
        result = trajectories(adata, time_key="t", lineage_key="lineage", scale=scale)
    assert "g2" in caplog.text
    assert "constant" in caplog.text
    np.testing.assert_array_equal(result.scale[:, 2], 1.0)
    np.testing.assert_array_equal(np.concatenate(result.expression)[:, 2], 0.0)
    np.testing.assert_allclose(result.unscale_expression(0, result.expression[0])[:, 2], 7.0)


@pytest.mark.parametrize("fmt", [sparse.csr_matrix, sparse.csc_matrix, sparse.csr_array])
def test_sparse_matrix_gives_the_dense_result(fmt: Callable) -> None:
    adata = make_adata(n_obs=16, n_vars=6)
    adata.X[np.abs(adata.X) < 0.8] = 0.0
    dense = trajectories(adata, time_key="t", lineage_key="lineage", n_bins=3, genes=["g4", "g1", "g2"])
    adata_sparse = adata.copy()
    adata_sparse.X = fmt(adata.X)
    result = trajectories(
        adata_sparse, time_key="t", lineage_key="lineage", n_bins=3, genes=["g4", "g1", "g2"]
    )
    for k in range(len(dense)):
        np.testing.assert_array_equal(result.expression[k], dense.expression[k])
        np.testing.assert_array_equal(result.time[k], dense.time[k])
        np.testing.assert_array_equal(result.cells[k], dense.cells[k])
    np.testing.assert_array_equal(result.offset, dense.offset)


def test_layer_selection_uses_the_layer_not_x() -> None:
    adata = make_adata(n_obs=8)
    adata.layers["spliced"] = adata.X * 10.0 + 3.0
    from_x = trajectories(adata, time_key="t", scale="none")
    from_layer = trajectories(adata, time_key="t", layer="spliced", scale="none")
    np.testing.assert_allclose(from_layer.expression[0], from_x.expression[0] * 10.0 + 3.0, rtol=1e-5)
    assert from_layer.params["layer"] == "spliced"


def test_genes_by_names_keep_order_and_by_mask() -> None:
    adata = make_adata(n_obs=8, n_vars=5)
    by_names = trajectories(adata, time_key="t", genes=["g3", "g0", "g4"], scale="none")
    assert by_names.genes == ["g3", "g0", "g4"]
    assert by_names.n_genes == 3
    np.testing.assert_allclose(by_names.expression[0], adata.X[by_names.cells[0]][:, [3, 0, 4]], rtol=1e-6)
    mask = np.array([False, True, False, True, True])
    by_mask = trajectories(adata, time_key="t", genes=mask, scale="none")
    assert by_mask.genes == ["g1", "g3", "g4"]
    np.testing.assert_allclose(by_mask.expression[0], adata.X[by_mask.cells[0]][:, [1, 3, 4]], rtol=1e-6)
    assert by_mask.params["genes"] == ["g1", "g3", "g4"]
    assert trajectories(adata, time_key="t").genes == list(adata.var_names)


def test_count_data_is_flagged_not_transformed(caplog: pytest.LogCaptureFixture) -> None:
    adata = make_adata(n_obs=8)
    adata.X = np.random.default_rng(0).poisson(40, size=adata.shape).astype(np.float32)
    adata.X[0, 0] = 200.0
    with caplog.at_level(logging.WARNING, logger="sparsenode"):
        result = trajectories(adata, time_key="t", scale="none")
    assert "log1p" in caplog.text
    np.testing.assert_array_equal(result.expression[0], adata.X[result.cells[0]])


def test_no_count_warning_for_float_data(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sparsenode"):
        trajectories(make_adata(), time_key="t")
    assert "log1p" not in caplog.text


def test_params_json_and_to_arrays() -> None:
    adata = make_adata(n_obs=16)
    result = trajectories(adata, time_key="t", lineage_key="lineage", trim=(1, 1), n_bins=4)
    assert json.loads(json.dumps(result.params))["scale"] == "global"
    expression, time = result.to_arrays()
    assert len(expression) == len(time) == 2
    for k in range(2):
        np.testing.assert_array_equal(expression[k], result.expression[k])
        assert expression[k] is not result.expression[k]
        assert expression[k].shape == (time[k].shape[0], result.n_genes)
    assert "n_trajectories=2" in repr(result)


def set_obs(key: str, values: object) -> Callable[[ad.AnnData], None]:
    def mutate(adata: ad.AnnData) -> None:
        adata.obs[key] = values

    return mutate


def set_x(row: int, col: int, value: float) -> Callable[[ad.AnnData], None]:
    def mutate(adata: ad.AnnData) -> None:
        adata.X[row, col] = value

    return mutate


def set_obsm(key: str, make: Callable[[ad.AnnData], object]) -> Callable[[ad.AnnData], None]:
    def mutate(adata: ad.AnnData) -> None:
        adata.obsm[key] = make(adata)

    return mutate


def unchanged(adata: ad.AnnData) -> None:
    """Leave adata as built."""


def empty_lineage_table(adata: ad.AnnData) -> pd.DataFrame:
    return pd.DataFrame(
        {"A": np.ones(adata.n_obs, dtype=bool), "ghost": np.zeros(adata.n_obs, dtype=bool)},
        index=adata.obs_names,
    )


def duplicate_var_names(adata: ad.AnnData) -> None:
    adata.var_names = ["g0", "g1", "g1", "g3"]


ERROR_CASES = [
    pytest.param(
        unchanged,
        {"time_key": "pseudotime"},
        KeyError,
        r"'pseudotime'.*available columns.*'t'",
        id="time-key",
    ),
    pytest.param(set_obs("t", ["x"] * 12), {}, TypeError, "numeric", id="time-not-numeric"),
    pytest.param(set_obs("t", pd.Categorical(np.arange(12))), {}, TypeError, "astype", id="time-categorical"),
    pytest.param(set_obs("t", pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(12), unit="D")), {}, TypeError,
                 r"holds dates or durations.*\(adata\.obs\['t'\] - adata\.obs\['t'\]\.min\(\)\) / pd\.Timedelta",
                 id="time-dates"),
    pytest.param(set_obs("t", pd.to_timedelta(np.arange(12), unit="h")), {}, TypeError,
                 r"adata\.obs\['days'\] = adata\.obs\['t'\] / pd\.Timedelta\(days=1\)", id="time-durations"),
    pytest.param(set_obsm("fate", lambda adata: np.full((adata.n_obs, 2), 0.5)), {"lineage_key": "fate"}, TypeError,
                 r"got ndarray of float64; fate probabilities.*adata\.obsm\['fate'\] > 0\.5", id="fate-probabilities"),
    pytest.param(
        set_obs("t", np.r_[np.nan, np.arange(11.0)]),
        {},
        ValueError,
        "NaN or infinite in 1 cells",
        id="time-nan",
    ),
    pytest.param(set_obs("t", np.r_[np.inf, np.arange(11.0)]), {}, ValueError, "cell0", id="time-inf"),
    pytest.param(
        unchanged, {"lineage_key": "fate"}, KeyError, "neither adata.obs .* nor adata.obsm", id="lineage-key"
    ),
    pytest.param(
        unchanged, {"batch_key": "donor_id"}, KeyError, "'donor_id' not found in adata.obs", id="batch-key"
    ),
    pytest.param(
        unchanged, {"layer": "spliced"}, KeyError, "'spliced' not found in adata.layers", id="layer"
    ),
    pytest.param(
        set_x(3, 1, np.nan), {}, ValueError, "NaN or infinite values in 1 cells and 1 genes", id="x-nan"
    ),
    pytest.param(set_x(3, 2, np.inf), {}, ValueError, r"genes \['g2'\]", id="x-inf"),
    pytest.param(duplicate_var_names, {}, ValueError, r"'g1'.*var_names_make_unique", id="duplicate-genes"),
    pytest.param(
        unchanged,
        {"genes": ["g1", "nope", "g0", "nada"]},
        KeyError,
        r"2 requested genes.*'nope', 'nada'",
        id="missing-genes",
    ),
    pytest.param(
        unchanged, {"genes": ["g1", "g1"]}, ValueError, "listed more than once", id="gene-listed-twice"
    ),
    pytest.param(
        unchanged, {"genes": np.array([True, False])}, ValueError, r"shape \(2,\)", id="mask-length"
    ),
    pytest.param(unchanged, {"genes": "g1"}, KeyError, r"not a column of adata.var.*genes=\[.g1.\]",
                 id="genes-string"),
    pytest.param(unchanged, {"genes": [0, 1]}, TypeError, r"genes holds numbers \(\[0, 1\]\)", id="genes-numbers"),
    pytest.param(
        unchanged,
        {"batch_key": "donor", "lineage_key": "lineage"},
        ValueError,
        "'d1/A' has 3 cells.*min_cells=4",
        id="min-cells",
    ),
    pytest.param(unchanged, {"trim": (5, 5)}, ValueError, "'all' has 2 cells after trim", id="trim-too-much"),
    pytest.param(unchanged, {"n_bins": 2}, ValueError, "2 non-empty time bins", id="too-few-bins"),
    pytest.param(
        set_obsm("fate", empty_lineage_table),
        {"lineage_key": "fate"},
        ValueError,
        "'ghost'.*no cells",
        id="empty-lineage",
    ),
    pytest.param(
        set_obsm("fate", lambda adata: np.ones((adata.n_obs, 2))),
        {"lineage_key": "fate"},
        TypeError,
        "boolean",
        id="lineage-not-bool",
    ),
    pytest.param(
        set_obs("t", np.r_[np.zeros(6), np.arange(6.0)]),
        {"batch_key": "donor"},
        ValueError,
        "constant .* 'd1/all'",
        id="constant-time",
    ),
    pytest.param(unchanged, {"scale": "minmax"}, ValueError, "scale='minmax'", id="bad-scale"),
    pytest.param(unchanged, {"min_cells": 1}, ValueError, "min_cells=1", id="bad-min-cells"),
    pytest.param(unchanged, {"trim": (1, -1)}, ValueError, "non-negative", id="bad-trim"),
]


@pytest.mark.filterwarnings("ignore:Variable names are not unique")
@pytest.mark.parametrize(("mutate", "kwargs", "error", "match"), ERROR_CASES)
def test_validation_errors_leave_adata_unchanged(
    mutate: Callable[[ad.AnnData], None], kwargs: dict, error: type[Exception], match: str
) -> None:
    adata = make_adata(n_obs=12)
    mutate(adata)
    snapshot = adata.copy()
    arguments = {
        "time_key": "t",
        "min_cells": 4 if "min_cells" not in kwargs and "batch_key" in kwargs else 3,
    } | kwargs
    with pytest.raises(error, match=match):
        trajectories(adata, **arguments)
    assert_equal(adata, snapshot)


@pytest.mark.parametrize("shape", [(0, 4), (5, 0)])
def test_empty_anndata_is_rejected(shape: tuple[int, int]) -> None:
    obs = pd.DataFrame({"t": np.arange(shape[0], dtype=float)}, index=[f"c{i}" for i in range(shape[0])])
    adata = ad.AnnData(X=np.zeros(shape), obs=obs)
    with pytest.raises(ValueError, match="adata is empty"):
        trajectories(adata, time_key="t")


def test_successful_call_leaves_adata_unchanged() -> None:
    adata = make_adata(n_obs=40, time=np.arange(40.0))
    adata.X = sparse.csr_matrix(adata.X)
    snapshot = adata.copy()
    trajectories(adata, time_key="t", lineage_key="lineage", batch_key="donor", scale="trajectory", n_bins=3)
    assert_equal(adata, snapshot)


@st.composite
def random_inputs(draw: st.DrawFn) -> tuple[ad.AnnData, dict]:
    n_obs = draw(st.integers(8, 40))
    n_lineages = draw(st.integers(1, 3))
    times = draw(st.lists(st.integers(0, 6), min_size=n_obs, max_size=n_obs))
    membership = draw(
        st.lists(
            st.lists(st.booleans(), min_size=n_lineages, max_size=n_lineages), min_size=n_obs, max_size=n_obs
        )
    )
    batches = draw(st.lists(st.sampled_from(["b1", "b2"]), min_size=n_obs, max_size=n_obs))
    adata = ad.AnnData(
        X=np.arange(n_obs * 2, dtype=float).reshape(n_obs, 2) / 7.0,
        obs=pd.DataFrame(
            {"t": np.array(times, dtype=float), "batch": batches}, index=[f"c{i}" for i in range(n_obs)]
        ),
    )
    adata.obsm["fate"] = np.array(membership, dtype=bool)
    kwargs = {
        "batch_key": draw(st.sampled_from([None, "batch"])),
        "n_bins": draw(st.sampled_from([None, 2, 3, 5])),
        "trim": draw(st.sampled_from([None, (1, 0), (1, 2)])),
        "scale": draw(st.sampled_from(["global", "trajectory", "none"])),
    }
    return adata, kwargs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_inputs())
def test_every_kept_cell_maps_to_exactly_one_point_and_times_are_sorted(
    inputs: tuple[ad.AnnData, dict],
) -> None:
    adata, kwargs = inputs
    try:
        result = trajectories(adata, time_key="t", lineage_key="fate", min_cells=2, **kwargs)
    except ValueError as error:
        # Random inputs can legitimately be too small; those must be the documented errors.
        assert any(reason in str(error) for reason in ("min_cells", "constant", "no cells")), error
        return
    membership = adata.obsm["fate"]
    time = adata.obs["t"].to_numpy()
    first, last = kwargs["trim"] or (0, 0)
    for k in range(len(result)):
        obs, points = result.point_of_cells(k)
        lineage = int(result.lineages[k])
        in_batch = (
            np.ones(adata.n_obs, dtype=bool)
            if kwargs["batch_key"] is None
            else (adata.obs["batch"].to_numpy() == result.batches[k])
        )
        members = np.flatnonzero(membership[:, lineage] & in_batch)
        assert obs.size == points.size == members.size - first - last
        assert np.unique(obs).size == obs.size
        assert set(obs) <= set(members)
        assert np.all(np.diff(points) >= 0)
        np.testing.assert_array_equal(np.unique(points), np.arange(result.time[k].size))
        assert np.all(np.diff(result.time[k]) >= 0)
        assert np.all(np.diff(time[obs]) >= 0)
        assert result.expression[k].shape == (result.time[k].size, 2)
        point_times = np.bincount(points, weights=time[obs]) / np.bincount(points)
        np.testing.assert_allclose(
            result.unscale_time(k, result.time[k]), point_times, rtol=1e-12, atol=1e-12
        )
        if kwargs["n_bins"] is None:
            ties = np.diff(time[obs]) == 0
            assert np.all(np.diff(obs)[ties] > 0)
