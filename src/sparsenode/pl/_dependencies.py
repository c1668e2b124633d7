"""Heatmap of the gene-gene dependency matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from scipy.cluster.hierarchy import leaves_list, linkage

from sparsenode._docs import fill_doc
from sparsenode.pl._utils import _check_names, _finish, _fitted_genes, _gene_matrix, _new_axes


def _cluster_order(values: np.ndarray) -> np.ndarray:
    """Order of the rows of ``values`` given by average-linkage hierarchical clustering."""
    if values.shape[0] < 2:
        return np.arange(values.shape[0])
    return leaves_list(linkage(values, method="average", metric="euclidean"))


#: Most gene names written along one side of the heatmap (larger matrices label every k-th gene).
MAX_TICK_LABELS = 60


@fill_doc
def dependencies(
    adata: AnnData,
    key: str = "sparsenode",
    *,
    regulators: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
    cluster: bool = True,
    signed: bool = False,
    reference: str | None = None,
    cmap: str | Colormap | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | list[Axes] | None:
    """Plot the learned gene-gene dependency matrix as a heatmap.

    Rows are target genes and columns are regulator genes: entry (i, j) is how strongly
    the dynamics of target i depend on regulator j. Only fitted genes are shown. The figure grows with the
    number of genes up to 20 inches a side; beyond :data:`MAX_TICK_LABELS` genes a side, every k-th gene is
    named (select ``regulators``/``targets`` to see names).

    Parameters
    ----------
    {fit_parameters}
    regulators
        Regulator genes (columns) to show, in this order unless ``cluster``. Defaults to all fitted genes.
    targets
        Target genes (rows) to show, in this order unless ``cluster``. Defaults to all fitted genes.
    cluster
        Order rows and columns by hierarchical clustering (average linkage, Euclidean distance).
    signed
        Plot the signed mean Jacobian ``adata.varp[f"{key}_jacobian"]`` (activation > 0, repression < 0)
        with a diverging colormap centred at 0, instead of the non-negative dependency strength.
    reference
        ``adata.varp`` key of a known network (row = target, column = regulator, non-zero = edge; e.g.
        ``"reference"`` of the built-in datasets): its edges are outlined, so that learned and known
        dependencies are seen together.
    cmap
        Colormap. Defaults to ``'viridis'``, or ``'RdBu_r'`` when ``signed``.
    ax
        Axes to draw into. A new figure is created if `None`.
    {plot_show_parameters}

    Returns
    -------
    {plot_returns}

    Raises
    ------
    KeyError
        If the fit is missing or ``regulators`` / ``targets`` contain genes that were not fitted.

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.krumsiek11()
    >>> sn.tl.fit(adata, time_key="time", lineage_key="lineage", progress=False)
    >>> ax = sn.pl.dependencies(adata, reference="reference", show=False)
    >>> ax.get_ylabel(), ax.get_xlabel()
    ('target', 'regulator')
    """
    genes = _fitted_genes(adata, key)
    regulators = genes if regulators is None else _check_names(regulators, genes, what="regulators")
    targets = genes if targets is None else _check_names(targets, genes, what="targets")
    for name, selected in (("regulators", regulators), ("targets", targets)):
        if not selected:
            raise ValueError(f"{name}=[] selects no gene; pass fitted genes or None for all")
        if len(set(selected)) < len(selected):
            raise ValueError(f"{name} lists genes more than once: {sorted({g for g in selected if selected.count(g) > 1})}")
    matrix = _gene_matrix(adata, key, signed=signed).loc[targets, regulators]
    if cluster:
        values = matrix.to_numpy()
        matrix = matrix.iloc[_cluster_order(values), _cluster_order(values.T)]
    # the reference is read before drawing: a wrong key leaves no figure behind and nothing in ``ax``
    known = None if reference is None else (
        _gene_matrix(adata, key, varp_key=reference).loc[matrix.index, matrix.columns].to_numpy() != 0
    )

    # 0.3 inch per gene, at most 20 inches: larger matrices get fewer tick labels instead
    fig, heatmap_ax = _new_axes(ax, figsize=(min(20.0, 2.5 + 0.3 * len(regulators)), min(20.0, 1.5 + 0.3 * len(targets))))
    if signed:
        half_range = float(np.abs(matrix.to_numpy()).max()) or 1.0
        image = heatmap_ax.imshow(
            matrix.to_numpy(), cmap=cmap or "RdBu_r", vmin=-half_range, vmax=half_range, aspect="auto"
        )
    else:
        image = heatmap_ax.imshow(matrix.to_numpy(), cmap=cmap or "viridis", vmin=0, aspect="auto")
    fig.colorbar(image, ax=heatmap_ax, label="mean Jacobian" if signed else "dependency strength")
    for axis, names, rotation in ((heatmap_ax.xaxis, matrix.columns, 90), (heatmap_ax.yaxis, matrix.index, 0)):
        shown = np.arange(0, len(names), -(-len(names) // MAX_TICK_LABELS))  # every gene up to MAX_TICK_LABELS
        axis.set_ticks(shown, [names[i] for i in shown], rotation=rotation)
    if known is not None:
        # squares of 0.8 cell in data coordinates: each stays inside its own cell at any figure or matrix size
        rows, columns = np.nonzero(known)
        outlines = [Rectangle((column - 0.4, row - 0.4), 0.8, 0.8)
                    for row, column in zip(rows, columns, strict=True)]
        heatmap_ax.add_collection(PatchCollection(outlines, facecolors="none", linewidths=1.2,
                                                  edgecolors="white" if not signed else "black"),
                                  autolim=False)
    heatmap_ax.set_xlabel("regulator")
    heatmap_ax.set_ylabel("target")
    heatmap_ax.set_title(f"{key}: target ← regulator" + (" (signed)" if signed else "")
                         + ("" if reference is None else f"\noutlined: edges of {reference!r}"))
    return _finish(fig, heatmap_ax, ax=ax, show=show, return_fig=return_fig)
