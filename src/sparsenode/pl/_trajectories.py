"""Observed expression of cells over time with the fitted ODE trajectories."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import sparse

from sparsenode._docs import fill_doc
from sparsenode._uns import read_params
from sparsenode.pl._utils import (
    _check_names,
    _color_map,
    _finish,
    _fitted_genes,
    _gene_positions,
    _get_fit,
    _get_fit_entry,
    _panel_axes,
    _require,
)

ALL_CELLS = "all cells"


def _lineage_membership(adata: AnnData, lineage_key: str | None) -> pd.DataFrame:
    """Boolean cells × lineages table from an ``obs`` column or an ``obsm`` table.

    Without a ``lineage_key`` all cells form the single lineage :data:`ALL_CELLS`.
    """
    if lineage_key is None:
        return pd.DataFrame({ALL_CELLS: np.ones(adata.n_obs, dtype=bool)}, index=adata.obs_names)
    if lineage_key in adata.obs.columns:
        labels = adata.obs[lineage_key]
        if isinstance(labels.dtype, pd.CategoricalDtype):
            names = list(labels.cat.categories)
        else:
            names = sorted(labels.dropna().unique())
        return pd.DataFrame({str(name): (labels == name).to_numpy() for name in names}, index=adata.obs_names)
    if lineage_key in adata.obsm:
        table = adata.obsm[lineage_key]
        if not isinstance(table, pd.DataFrame):
            table = pd.DataFrame(np.asarray(table), index=adata.obs_names)
        return table.astype(bool).rename(columns=str)
    raise KeyError(f"Lineage key {lineage_key!r} is neither a column of `adata.obs` nor a key of `adata.obsm`.")


def _expression(adata: AnnData, genes: Sequence[str], layer: str | None, key: str) -> np.ndarray:
    """Dense (cells, genes) expression of fitted ``genes`` of fit ``key`` from ``adata.layers[layer]`` or
    ``adata.X``."""
    matrix = adata.X if layer is None else _require(
        adata.layers, layer, where="adata.layers",
        instruction=f"The fit {key!r} read its expression from this layer (available layers: "
        f"{list(adata.layers.keys())}); plot an object that holds it.",
    )
    # columns read in increasing order, each once: what the matrix of an object opened with backed="r" allows
    columns, order = np.unique(_gene_positions(adata, genes, key), return_inverse=True)
    values = matrix[:, columns]
    values = values.toarray() if sparse.issparse(values) else np.asarray(values)
    return values[:, order]


@fill_doc
def trajectories(
    adata: AnnData,
    key: str = "sparsenode",
    genes: str | Sequence[str] | None = None,
    *,
    lineages: Sequence[str] | None = None,
    ncols: int = 4,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | list[Axes] | None:
    """Plot cells' expression over time together with the fitted ODE trajectories.

    One panel per gene: cells are dots (expression from the ``layer`` of the fit against
    ``obs[time_key]``) and the fitted curves from ``adata.uns[key]['fitted']`` are lines, both
    coloured by lineage. Cells belonging to several lineages of an ``obsm`` lineage table are
    drawn once per lineage.

    Parameters
    ----------
    {fit_parameters}
    genes
        Fitted gene(s) to plot. Defaults to all fitted genes.
    lineages
        Lineages to plot. Defaults to all lineages of the fit's ``lineage_key``.
    ncols
        Number of panels per row.
    ax
        Axes to draw into; only possible for a single gene. A new figure is created if `None`.
    {plot_show_parameters}

    Returns
    -------
    {plot_returns}

    Raises
    ------
    KeyError
        If the fit is missing, or ``genes`` / ``lineages`` contain names that were not fitted.
    ValueError
        If ``ax`` is given for more than one gene.
    """
    params = read_params(_get_fit(adata, key)["params"])
    fitted = _get_fit_entry(adata, key, "fitted")
    fitted_genes = _fitted_genes(adata, key)
    genes = fitted_genes if genes is None else _check_names(genes, fitted_genes, what="fitted genes")

    lineage_key = params["lineage_key"]
    membership = _lineage_membership(adata, lineage_key)
    colors = _color_map(list(membership.columns), adata.uns.get(f"{lineage_key}_colors"))
    lineages = list(membership.columns) if lineages is None else _check_names(
        lineages, list(membership.columns), what="lineages"
    )

    time = np.asarray(_require(
        adata.obs, params["time_key"], where="adata.obs",
        instruction=f"The fit {key!r} took the cells' times from this column (time_key; available columns: "
        f"{list(adata.obs.columns)}); plot an object that holds it.",
    ), dtype=float)
    expression = _expression(adata, genes, params["layer"], key)
    curve_times = np.asarray(fitted["time"], dtype=float)
    curve_expression = np.asarray(fitted["expression"], dtype=float)
    if lineage_key is None:
        curve_lineages = np.full(len(curve_times), ALL_CELLS)
    else:
        curve_lineages = np.asarray(fitted["lineage"]).astype(str)

    fig, axes = _panel_axes(len(genes), ncols=ncols, ax=ax)
    for column, (gene, panel) in enumerate(zip(genes, axes)):
        gene_position = fitted_genes.index(gene)
        for lineage in lineages:
            cells = membership[lineage].to_numpy()
            panel.scatter(
                time[cells], expression[cells, column], s=8, alpha=0.4, linewidths=0, color=colors[lineage],
                label=lineage,
            )
        for curve_time, curve, lineage in zip(curve_times, curve_expression[..., gene_position], curve_lineages):
            if lineage in lineages:
                panel.plot(curve_time, curve, color=colors[lineage], linewidth=2)
        panel.set_title(gene)
        panel.set_xlabel(params["time_key"])
        panel.set_ylabel("expression" if params["layer"] is None else params["layer"])
    if lineage_key is not None:
        # beside the panels, not over the first panel's cells: in a figure of its own a figure legend (constrained
        # layout makes room); in the caller's ``ax`` a legend of that axes, leaving the rest of the figure alone
        legend_kwargs = {"handles": axes[0].get_legend_handles_labels()[0], "title": lineage_key, "markerscale": 2,
                         "frameon": False, "fontsize": "small"}
        if ax is None:
            fig.legend(**legend_kwargs, loc="outside right upper")
        else:
            ax.legend(**legend_kwargs, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _finish(fig, axes, ax=ax, show=show, return_fig=return_fig)
