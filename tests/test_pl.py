"""Tests of :mod:`sparsenode.pl` on a synthetic AnnData carrying every slot of a fit."""

from __future__ import annotations

import inspect
import re
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from anndata import AnnData, read_h5ad
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch
from matplotlib.transforms import Affine2D, IdentityTransform
from scipy import sparse

import sparsenode as sn
from sparsenode._keys import ORIENTATION
from sparsenode.pl import (
    dependencies,
    forecast,
    history,
    network,
    perturbation,
    regularization_path,
    trajectories,
)
from sparsenode.pl._utils import ACTIVATION_COLOR, REPRESSION_COLOR
from sparsenode.tl import edges

KEY = "fit"
FITTED = [f"g{index}" for index in range(6)]
LINEAGES = ["A", "B", "C"]
N_CELLS, N_GRID = 90, 15


def _make_adata(lineage_table: bool) -> AnnData:
    """AnnData with 7 genes, 6 of them fitted, 3 lineages and every slot written by ``sn.tl``."""
    rng = np.random.default_rng(0)
    var_names = [*FITTED, "unfitted"]
    n_genes, n_fitted = len(var_names), len(FITTED)
    lineage = np.repeat(LINEAGES, N_CELLS // len(LINEAGES))
    adata = AnnData(
        X=rng.random((N_CELLS, n_genes)).astype(np.float32),
        obs=pd.DataFrame(
            {"time": rng.random(N_CELLS), "lineage": pd.Categorical(lineage)},
            index=[f"cell{index}" for index in range(N_CELLS)],
        ),
        var=pd.DataFrame(index=var_names),
    )
    adata.layers["counts"] = adata.X * 10

    strength = np.zeros((n_genes, n_genes), dtype=np.float32)
    strength[:n_fitted, :n_fitted] = np.arange(n_fitted**2, dtype=np.float32).reshape(n_fitted, n_fitted)
    np.fill_diagonal(strength, 100.0)  # strongest entries are self-loops, which the network skips
    indices = np.add.outer(np.arange(n_genes), np.arange(n_genes))
    adata.varp[KEY] = strength
    adata.varp[f"{KEY}_jacobian"] = np.where(indices % 2 == 0, strength, -strength)

    if lineage_table:
        adata.obsm["lineages"] = pd.DataFrame(
            {name: lineage == name for name in LINEAGES}, index=adata.obs_names
        )
        adata.obsm["lineages"].iloc[0] = True  # a progenitor shared by all lineages
    time_grid = np.tile(np.linspace(0, 1, N_GRID), (len(LINEAGES), 1))
    epochs = np.arange(10)
    lam = np.logspace(-3, 0, 5)
    adata.uns[KEY] = {
        "params": {
            "time_key": "time",
            "lineage_key": "lineages" if lineage_table else "lineage",
            "batch_key": None,
            "layer": None if lineage_table else "counts",
            "genes": np.array(FITTED),
            "orientation": ORIENTATION,
        },
        "history": {
            "epoch": epochs,
            "loss": 1.0 / (epochs + 1) + 0.1,
            "mse": 1.0 / (epochs + 1),
            "penalty": np.full(len(epochs), 0.1),
            "val_mse": np.full(len(epochs), np.nan) if lineage_table else 1.2 / (epochs + 1),
        },
        "fitted": {
            "names": np.array(LINEAGES),
            "lineage": np.array(LINEAGES),
            "batch": np.array(["", "", ""]),
            "time": time_grid,
            "expression": rng.random((len(LINEAGES), N_GRID, n_fitted)),
        },
        "regularization_path": {
            "lam": lam,
            "val_mse": np.linspace(0.5, 0.2, 5),
            "train_mse": np.linspace(0.4, 0.1, 5),
            "feature_sparsity": np.linspace(0.9, 0.1, 5),
            "weight_sparsity": np.linspace(0.8, 0.2, 5),
            "spurious_feature_sparsity": np.linspace(1.0, 0.5, 5),
            "selected_lam": lam[2],
        },
    }
    adata.uns[f"{KEY}_perturbation"] = {
        "genes": np.array(FITTED),
        "perturbed_genes": np.array(["g0"]),
        "perturbed_values": np.array([0.0]),
        "names": np.array(LINEAGES),
        "time": time_grid,
        "baseline": np.zeros((len(LINEAGES), N_GRID, n_fitted)),
        "perturbed": np.ones((len(LINEAGES), N_GRID, n_fitted)),
        "effect": np.array([-0.5, 0.3, -0.1, 0.05, 0.2, 0.0]),
    }
    return adata


@pytest.fixture
def adata() -> AnnData:
    return _make_adata(lineage_table=False)


@pytest.fixture
def adata_table() -> AnnData:
    return _make_adata(lineage_table=True)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _strength(adata: AnnData) -> pd.DataFrame:
    return pd.DataFrame(adata.varp[KEY], index=adata.var_names, columns=adata.var_names)


PLOTS = {
    "dependencies": lambda adata, **kwargs: dependencies(adata, KEY, **kwargs),
    "network": lambda adata, **kwargs: network(adata, KEY, n_top=5, **kwargs),
    "trajectories": lambda adata, **kwargs: trajectories(adata, KEY, "g1", **kwargs),
    "history": lambda adata, **kwargs: history(adata, KEY, **kwargs),
    "regularization_path": lambda adata, **kwargs: regularization_path(adata, KEY, **kwargs),
    "perturbation": lambda adata, **kwargs: perturbation(adata, KEY, **kwargs),
}


@pytest.mark.parametrize("plot", PLOTS.values(), ids=PLOTS.keys())
def test_return_fig(adata, plot):
    assert isinstance(plot(adata, return_fig=True), Figure)


@pytest.mark.parametrize("plot", PLOTS.values(), ids=PLOTS.keys())
def test_draws_into_ax(adata, plot):
    fig, ax = plt.subplots()
    assert plot(adata, ax=ax) is ax
    assert ax.get_children() and (ax.images or ax.lines or ax.patches or ax.collections)
    assert len(fig.axes) >= 1 and ax in fig.axes


@pytest.mark.parametrize("plot", PLOTS.values(), ids=PLOTS.keys())
def test_show_false_returns_the_axes(adata, plot, monkeypatch):
    """scanpy's convention: ``ax = sn.pl.x(..., show=False); ax.set_title(...)``."""
    monkeypatch.setattr(plt, "show", lambda: pytest.fail("plt.show called with show=False"))
    ax = plot(adata, show=False)
    assert isinstance(ax, Axes) and ax.figure.get_layout_engine() is not None  # constrained: labels kept
    ax.set_title("renamed")


def test_show_false_returns_a_list_for_several_panels(adata):
    axes = trajectories(adata, KEY, ["g0", "g1"], show=False)
    assert isinstance(axes, list) and len(axes) == 2 and all(isinstance(ax, Axes) for ax in axes)


def test_plots_name_the_missing_genes_of_a_gene_subset(adata):
    subset = adata[:, [gene for gene in adata.var_names if gene != "g5"]].copy()
    subset.varp[KEY] = np.zeros((subset.n_vars, subset.n_vars), dtype=np.float32)
    for plot in (lambda: trajectories(subset, KEY), lambda: trajectories(subset, KEY, "g5"),
                 lambda: dependencies(subset, KEY)):
        with pytest.raises(KeyError, match=r"Fitted genes \['g5'\] of fit 'fit' are not in `adata.var_names`"):
            plot()


def test_plots_refuse_an_incomplete_fit(adata):
    del adata.varp[KEY]  # what anndata.concat(..., uns_merge="same") leaves of two different fits
    for plot in (history, trajectories, dependencies):
        with pytest.raises(KeyError, match=r"the fit 'fit' is incomplete \(adata.varp\['fit'\] missing\).*"
                           r"anndata\.concat\(\.\.\., merge='first', uns_merge='first'\)"):
            plot(adata, KEY)


def test_history_marks_the_next_training_stage(adata):
    adata.uns[KEY]["history"]["stage"] = np.repeat([0, 1], [7, 3])
    ax = history(adata, KEY, show=False)
    boundaries = [line for line in ax.lines if line.get_label() == "next training stage"]
    assert len(boundaries) == 1 and boundaries[0].get_xdata()[0] == pytest.approx(6.5)
    loss = [line for line in ax.lines if line.get_color() == "C0"]  # one piece per stage, not joined
    assert [list(line.get_xdata()) for line in loss] == [list(range(7)), [7, 8, 9]]


def test_show_by_default(adata, monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(True))
    history(adata, KEY)
    history(adata, KEY, return_fig=True)
    assert shown == [True]


@pytest.mark.parametrize(
    ("plot", "missing", "hint"),
    [
        (lambda adata: dependencies(adata, "absent"), "absent", "sn.tl.fit(adata, time_key=..., key_added='absent')"),
        (lambda adata: network(adata, "absent"), "absent", "sn.tl.fit"),
        (lambda adata: trajectories(adata, "absent"), "absent", "sn.tl.fit"),
        (lambda adata: history(adata, "absent"), "absent", "sn.tl.fit"),
        (lambda adata: perturbation(adata, "absent"), "absent_perturbation", "sn.tl.perturb"),
    ],
)
def test_missing_key(adata, plot, missing, hint):
    with pytest.raises(KeyError) as error:
        plot(adata)
    assert repr(missing) in str(error.value) and hint in str(error.value)


def test_missing_regularization_path(adata):
    del adata.uns[KEY]["regularization_path"]
    with pytest.raises(KeyError, match="sn.tl.regularization_path"):
        regularization_path(adata, KEY)


def test_dependencies_orientation(adata):
    regulators, targets = ["g3", "g0"], ["g5", "g1", "g2"]
    fig = dependencies(adata, KEY, regulators=regulators, targets=targets, cluster=False, return_fig=True)
    ax = fig.axes[0]
    expected = _strength(adata).loc[targets, regulators].to_numpy()
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)
    assert [label.get_text() for label in ax.get_yticklabels()] == targets
    assert [label.get_text() for label in ax.get_xticklabels()] == regulators
    assert ax.get_ylabel() == "target" and ax.get_xlabel() == "regulator"


def test_dependencies_cluster_permutes_fitted_genes(adata):
    ax = dependencies(adata, KEY, return_fig=True).axes[0]
    rows = [label.get_text() for label in ax.get_yticklabels()]
    columns = [label.get_text() for label in ax.get_xticklabels()]
    assert sorted(rows) == sorted(columns) == FITTED
    expected = _strength(adata).loc[rows, columns].to_numpy()
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)


def test_dependencies_signed_is_centred(adata):
    ax = dependencies(adata, KEY, signed=True, cluster=False, return_fig=True).axes[0]
    image = ax.images[0]
    assert image.norm.vmin == -image.norm.vmax
    assert (image.get_array() < 0).any()


def test_dependencies_unknown_gene(adata):
    with pytest.raises(KeyError, match="unfitted"):
        dependencies(adata, KEY, regulators=["unfitted"])


@pytest.mark.parametrize("n_top", [1, 5, 12])
def test_network_edges_and_colours(adata, n_top):
    ax = network(adata, KEY, n_top=n_top, return_fig=True).axes[0]
    arrows = [patch for patch in ax.patches if isinstance(patch, FancyArrowPatch)]
    assert len(arrows) == n_top
    # strongest off-diagonal edges: target g5 <- regulators g4, g3, ...; jacobian sign is (-1)^(i + j)
    strength = _strength(adata).loc[FITTED, FITTED].to_numpy()
    np.fill_diagonal(strength, 0)
    targets, regulators = np.unravel_index(np.argsort(-strength, axis=None)[:n_top], strength.shape)
    n_activating = int(((targets + regulators) % 2 == 0).sum())
    colours = [patch.get_edgecolor() for patch in arrows]
    assert colours.count(to_rgba(ACTIVATION_COLOR)) == n_activating
    assert colours.count(to_rgba(REPRESSION_COLOR)) == n_top - n_activating


def test_trajectories_panels(adata, adata_table):
    fig = trajectories(adata, KEY, ["g0", "g2", "g4"], ncols=2, return_fig=True)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["g0", "g2", "g4"]
    assert all(len(ax.lines) == len(LINEAGES) and len(ax.collections) == len(LINEAGES) for ax in visible)

    ax = trajectories(adata_table, KEY, "g1", lineages=["B"], return_fig=True).axes[0]
    assert len(ax.lines) == 1 and len(ax.collections) == 1
    assert len(ax.collections[0].get_offsets()) == N_CELLS // len(LINEAGES) + 1  # plus the shared cell


def test_trajectories_without_lineages(adata):
    adata.uns[KEY]["params"]["lineage_key"] = None
    ax = trajectories(adata, KEY, "g0", return_fig=True).axes[0]
    assert len(ax.collections) == 1 and len(ax.lines) == len(LINEAGES)


def test_trajectories_ax_needs_single_gene(adata):
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="single panel"):
        trajectories(adata, KEY, ["g0", "g1"], ax=ax)


@pytest.mark.parametrize(("variant", "n_lines"), [(False, 3), (True, 2)])
def test_history_lines(variant, n_lines):
    ax = history(_make_adata(lineage_table=variant), KEY, return_fig=True).axes[0]
    assert len(ax.lines) == n_lines
    assert ax.get_yscale() == "log"


def test_regularization_path(adata):
    fig = regularization_path(adata, KEY, return_fig=True)
    error_ax, sparsity_ax = fig.axes
    assert error_ax.get_xscale() == "log"
    assert len(error_ax.lines) == 3  # validation, train, selected λ
    assert len(sparsity_ax.lines) == 3  # feature, weight, spurious
    selected = adata.uns[KEY]["regularization_path"]["selected_lam"]
    assert error_ax.lines[-1].get_xdata()[0] == selected


def test_perturbation_top_genes(adata):
    ax = perturbation(adata, KEY, n_top=3, return_fig=True).axes[0]
    assert [label.get_text() for label in ax.get_xticklabels()] == ["g1", "g4", "g2"]  # g0 is the clamped gene
    assert [bar.get_height() for bar in ax.patches] == [0.3, 0.2, -0.1]
    assert "g0" in ax.get_title()
    ax = perturbation(adata, KEY, n_top=3, include_perturbed=True, return_fig=True).axes[0]
    assert [label.get_text() for label in ax.get_xticklabels()] == ["g0", "g1", "g4"]
    assert [bar.get_hatch() for bar in ax.patches] == ["//", None, None]
    # a result stored under tl.perturb's own key_added
    adata.uns["knockout"] = adata.uns.pop(f"{KEY}_perturbation")
    ax = perturbation(adata, KEY, n_top=3, perturbation_key="knockout", return_fig=True).axes[0]
    assert [bar.get_height() for bar in ax.patches] == [0.3, 0.2, -0.1]


def test_forecast():
    rng = np.random.default_rng(0)
    true = rng.random((2, 20, 3))
    t = np.linspace(0, 1, 20)
    names = ["x", "y", "z"]
    fig = forecast(true, true + 0.1, t, features=["z", 0], feature_names=names, return_fig=True)
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["z", "x"]
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), true[0, :, 2])

    _, ax = plt.subplots()
    assert forecast(true[1], true[1], t, features=1, ax=ax) is ax
    assert len(ax.lines) == 2
    assert len(forecast(true, true, t, sequence=1, show=False)) == 3  # one axes per feature
    with pytest.raises(KeyError, match="nope"):
        forecast(true, true, t, features=["nope"], feature_names=names)
    with pytest.raises(ValueError, match="shape"):
        forecast(true, true[:, :5], t)
    with pytest.raises(ValueError, match=r"sequence=5 must be an integer from 0 to 1 \(the arrays hold 2"):
        forecast(true, true, t, sequence=5)


def test_dependencies_refuses_empty_or_repeated_selections(adata):
    with pytest.raises(ValueError, match=r"regulators=\[\] selects no gene"):
        dependencies(adata, KEY, regulators=[])
    with pytest.raises(ValueError, match=r"targets lists genes more than once: \['g1'\]"):
        dependencies(adata, KEY, targets=["g1", "g2", "g1"])


def test_dependencies_of_many_genes_stay_readable():
    genes = [f"gene{index}" for index in range(200)]
    adata = AnnData(np.zeros((3, 200), dtype=np.float32), var=pd.DataFrame(index=genes))
    adata.varp[KEY] = np.random.default_rng(0).random((200, 200)).astype(np.float32)
    adata.uns[KEY] = {"params": {"genes": np.array(genes), "orientation": ORIENTATION}}
    ax = dependencies(adata, KEY, cluster=False, show=False)
    assert max(ax.figure.get_size_inches()) <= 20  # 0.3 inch per gene would be 62 inches
    labels = [label.get_text() for label in ax.get_xticklabels()]
    assert 0 < len(labels) <= 60 and labels[:2] == ["gene0", "gene4"]


def test_network_legend_is_beside_the_nodes_and_names_unsigned_edges(adata):
    adata.varp[f"{KEY}_jacobian"][1, 0] = 0.0
    ax = network(adata, KEY, n_top=30, show=False)
    legend = ax.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == [
        "activation", "repression", "no sign (Jacobian 0)", "width: dependency strength"]
    assert legend.get_bbox_to_anchor().bounds[0] >= ax.get_window_extent().x1 - 1  # right of the axes


def test_regularization_path_keeps_the_legend_off_the_curves(adata):
    ax = regularization_path(adata, KEY, show=False)
    legend = ax.get_legend()
    assert legend.get_bbox_to_anchor().bounds[0] > ax.get_window_extent().x1  # beside the twin axis label
    sparsity_ax = next(other for other in ax.figure.axes if other is not ax)
    assert sparsity_ax.get_ylim() == pytest.approx((-0.03, 1.03))


def test_trajectories_legend_is_beside_the_panels(adata):
    fig = trajectories(adata, KEY, ["g0", "g1"], return_fig=True)
    assert fig.legends and all(ax.get_legend() is None for ax in fig.axes)
    assert [text.get_text() for text in fig.legends[0].get_texts()] == LINEAGES


def test_forecast_needs_feature_names_for_names():
    true = np.zeros((5, 2))
    with pytest.raises(ValueError, match=r"features \['z'\] are names; pass feature_names="):
        forecast(true, true, np.arange(5.0), features="z")


def test_dependencies_outline_the_reference_edges(adata):
    reference = np.zeros((adata.n_vars, adata.n_vars))
    reference[1, 0] = reference[3, 2] = 1.0  # g1 <- g0, g3 <- g2
    adata.varp["truth"] = reference
    ax = dependencies(adata, KEY, cluster=False, reference="truth", show=False)
    outlines = ax.collections[-1]
    assert outlines.get_transform() == ax.transData
    centres = [tuple(np.round(path.get_extents().get_points().mean(axis=0), 6)) for path in outlines.get_paths()]
    assert sorted(centres) == [(0.0, 1.0), (2.0, 3.0)]  # (column, row)
    with pytest.raises(KeyError, match=r"adata.varp\['absent'\]"):
        dependencies(adata, KEY, reference="absent")


def test_plots_refuse_non_unique_var_names_with_the_tools_message(adata: AnnData) -> None:
    names = list(adata.var_names)
    names[-1] = names[0]
    adata.var_names = names
    with pytest.raises(ValueError, match=r"adata\.var_names are not unique.*var_names_make_unique"):
        dependencies(adata, KEY, show=False)


@pytest.mark.parametrize("matrix", ["dense", "csr"])
def test_trajectories_read_a_backed_object_in_any_gene_order(adata_table, tmp_path, matrix):
    """A matrix opened with backed="r" (h5py) reads columns only in increasing order, each once."""
    expression = adata_table.X.copy()
    if matrix == "csr":
        adata_table.X = sparse.csr_matrix(expression)
    adata_table.write_h5ad(tmp_path / "fit.h5ad")
    backed = read_h5ad(tmp_path / "fit.h5ad", backed="r")
    genes = ["g4", "g1", "g4"]  # not in var order, and one twice
    axes = trajectories(backed, KEY, genes, lineages=["A"], show=False)
    backed.file.close()
    cells = adata_table.obsm["lineages"]["A"].to_numpy()
    for gene, ax in zip(genes, axes, strict=True):
        assert ax.get_title() == gene
        np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 1], expression[cells, FITTED.index(gene)])


def test_trajectories_into_the_callers_axes_keep_the_legend_there(adata):
    fig, axes = plt.subplots(1, 2)
    for gene, ax in zip(["g0", "g1"], axes, strict=True):
        trajectories(adata, KEY, gene, ax=ax)
    assert fig.legends == []  # nothing added to the caller's figure outside the axes it passed
    assert all([text.get_text() for text in ax.get_legend().get_texts()] == LINEAGES for ax in axes)


def _outline_pixels(ax: Axes) -> np.ndarray:
    """(width, height) in pixels of each reference outline, the last collection drawn into ``ax``."""
    ax.figure.canvas.draw()
    outlines = ax.collections[-1]
    paths, scales = outlines.get_paths(), outlines.get_transforms()  # markers: one path, a scale per item
    sizes = []
    for index in range(max(len(paths), len(outlines.get_offsets()))):
        item = Affine2D(scales[index % len(scales)]) if len(scales) else IdentityTransform()
        extents = paths[index % len(paths)].get_extents(item + outlines.get_transform())
        sizes.append((extents.width, extents.height))
    return np.asarray(sizes)


@pytest.mark.parametrize(("n_genes", "ax_size"), [(11, (3.0, 3.0)), (150, None)])
def test_dependencies_reference_outlines_stay_inside_their_cells(n_genes, ax_size):
    """In a small ``ax`` or a figure at its 20-inch cap, an outline must not cover the neighbouring cells."""
    genes = [f"gene{index}" for index in range(n_genes)]
    adata = AnnData(np.zeros((3, n_genes), dtype=np.float32), var=pd.DataFrame(index=genes))
    adata.varp[KEY] = np.random.default_rng(0).random((n_genes, n_genes)).astype(np.float32)
    adata.varp["truth"] = np.zeros((n_genes, n_genes))
    adata.varp["truth"][5, 6] = adata.varp["truth"][6, 5] = 1.0  # two neighbouring known edges
    adata.uns[KEY] = {"params": {"genes": np.array(genes), "orientation": ORIENTATION}}
    ax = None if ax_size is None else plt.subplots(figsize=ax_size)[1]
    ax = dependencies(adata, KEY, cluster=False, reference="truth", ax=ax, show=False)
    outlines = _outline_pixels(ax)  # after the layout is done
    ratio = outlines / np.abs(ax.transData.transform((1, 1)) - ax.transData.transform((0, 0)))
    assert ratio.shape == (2, 2) and ((ratio > 0.5) & (ratio <= 1)).all()


INVALID = {
    "dependencies_reference": (lambda adata: None, lambda adata, **kwargs: dependencies(
        adata, KEY, reference="truht", **kwargs), r"`adata\.varp\['truht'\]` not found"),
    "history_val_mse": (lambda adata: adata.uns[KEY]["history"].pop("val_mse"), lambda adata, **kwargs: history(
        adata, KEY, **kwargs), r"`adata\.uns\['fit'\]\['history'\]\['val_mse'\]` not found"),
    "regularization_path_selected_lam": (
        lambda adata: adata.uns[KEY]["regularization_path"].pop("selected_lam"),
        lambda adata, **kwargs: regularization_path(adata, KEY, **kwargs),
        r"`adata\.uns\['fit'\]\['regularization_path'\]\['selected_lam'\]` not found",
    ),
}


@pytest.mark.parametrize("case", INVALID)
def test_invalid_input_is_refused_before_drawing(adata, case):
    """No figure is left open and nothing is drawn into the caller's ``ax`` when the input is invalid."""
    breaks, plot, message = INVALID[case]
    breaks(adata)
    with pytest.raises(KeyError) as own_figure:
        plot(adata, show=False)
    assert plt.get_fignums() == []
    fig, ax = plt.subplots()
    with pytest.raises(KeyError) as callers_ax:
        plot(adata, ax=ax)
    assert fig.axes == [ax] and not (ax.images or ax.lines or ax.collections or ax.patches)
    assert re.search(message, str(own_figure.value)) and re.search(message, str(callers_ax.value))


def test_missing_slots_are_named_with_what_to_do(adata):
    adata.uns["notes"] = {"text": "a user's entry"}
    for entry in (KEY, "notes"):  # a fit, or anything else, where a perturbation result is expected
        with pytest.raises(KeyError, match=rf"adata\.uns\['{entry}'\] is not a result of sn\.tl\.perturb \(it lacks "
                           r"\['effect', 'genes', 'perturbed_genes', 'perturbed_values'\]\); pass the key_added"):
            perturbation(adata, KEY, perturbation_key=entry)
    renamed = adata.copy()
    renamed.obs = renamed.obs.rename(columns={"time": "t"})
    with pytest.raises(KeyError, match=r"`adata\.obs\['time'\]` not found\. The fit 'fit' took the cells' times from "
                       r"this column \(time_key; available columns: \['t', 'lineage'\]\)"):
        trajectories(renamed, KEY)
    del adata.layers["counts"]
    with pytest.raises(KeyError, match=r"`adata\.layers\['counts'\]` not found\. The fit 'fit' read its expression "
                       r"from this layer \(available layers: \[\]\)"):
        trajectories(adata, KEY)


def test_edges_name_a_missing_jacobian_as_the_network_plot_does(adata):
    adata.uns[KEY].update(model={}, scaling={})  # the entries that make it a fit for the tl tools
    del adata.varp[f"{KEY}_jacobian"]
    for tool in (edges, network):
        with pytest.raises(KeyError, match=r"adata\.varp\['fit_jacobian'\]`? not found.*sn\.tl\.fit\(adata, "):
            tool(adata, KEY)


@pytest.mark.parametrize("tool", ["fit", "regularization_path"])
def test_the_suggested_call_has_every_required_argument(adata, tool):
    """The call an error message suggests binds to the tool's signature (``time_key`` is required)."""
    with pytest.raises(KeyError) as error:
        if tool == "fit":
            history(adata, "absent")
        else:
            del adata.uns[KEY]["regularization_path"]
            regularization_path(adata, KEY)
    call = re.search(rf"`(sn\.tl\.{tool}\(.*?\))`", str(error.value)).group(1)
    signature = inspect.signature(getattr(sn.tl, tool))
    bound = []
    stub = SimpleNamespace(tl=SimpleNamespace(**{tool: lambda *args, **kwargs: bound.append(
        signature.bind(*args, **kwargs))}))
    eval(call, {"sn": stub, "adata": adata})  # raises TypeError if a required argument is missing
    assert bound[0].arguments["key_added"] == ("absent" if tool == "fit" else KEY)


def test_perturbation_refuses_the_result_of_another_fit(adata):
    result = adata.uns[f"{KEY}_perturbation"]
    result["key"] = "other"  # tl.perturb records the fit it perturbed
    adata.uns["knockout"] = result
    for perturbation_key in (None, "knockout"):
        with pytest.raises(ValueError, match=r"adata\.uns\['(fit_perturbation|knockout)'\] is the perturbation "
                           r"result of the fit 'other', not of the fit 'fit'; pass key='other'"):
            perturbation(adata, KEY, perturbation_key=perturbation_key)
    ax = perturbation(adata, "other", perturbation_key="knockout", show=False)
    assert "g0" in ax.get_title()
