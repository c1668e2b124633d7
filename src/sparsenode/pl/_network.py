"""Directed graph of the strongest learned dependencies."""

from __future__ import annotations

from functools import partial
from typing import Literal

import networkx as nx
import numpy as np
import pandas as pd
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sparsenode._checks import check_positive_int
from sparsenode._docs import fill_doc
from sparsenode.pl._utils import (
    ACTIVATION_COLOR,
    NEUTRAL_COLOR,
    REPRESSION_COLOR,
    _finish,
    _gene_matrix,
    _new_axes,
)

_LAYOUTS = {
    "circular": nx.circular_layout,
    "spring": partial(nx.spring_layout, seed=0),
    "kamada_kawai": nx.kamada_kawai_layout,
    "shell": nx.shell_layout,
}


def _top_edges(strength: pd.DataFrame, jacobian: pd.DataFrame, n_top: int) -> pd.DataFrame:
    """The ``n_top`` strongest non-zero regulator → target edges, self-loops excluded."""
    edges = strength.rename_axis(index="target", columns="regulator").stack().rename("weight").reset_index()
    edges = edges[(edges["target"] != edges["regulator"]) & (edges["weight"] > 0)]
    edges = edges.nlargest(n_top, "weight")
    rows = jacobian.index.get_indexer(edges["target"])
    columns = jacobian.columns.get_indexer(edges["regulator"])
    edges["sign"] = np.sign(jacobian.to_numpy()[rows, columns])
    return edges


@fill_doc
def network(
    adata: AnnData,
    key: str = "sparsenode",
    *,
    n_top: int = 50,
    layout: Literal["circular", "spring", "kamada_kawai", "shell"] = "circular",
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | list[Axes] | None:
    """Plot the strongest learned dependencies as a directed gene network.

    Arrows point from regulator to target. Edges are coloured by the sign of the mean Jacobian
    (red: activation, blue: repression, grey: zero) and their width is proportional to the
    dependency strength ``adata.varp[key]``.

    Parameters
    ----------
    {fit_parameters}
    n_top
        Number of strongest edges to draw (self-loops and zero-strength edges are excluded).
    layout
        Node layout from :mod:`networkx`: ``'circular'``, ``'spring'`` (seeded), ``'kamada_kawai'``
        or ``'shell'``.
    ax
        Axes to draw into. A new figure is created if `None`.
    {plot_show_parameters}

    Returns
    -------
    {plot_returns}
    """
    check_positive_int("n_top", n_top)
    if layout not in _LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}; choose one of {list(_LAYOUTS)}.")
    edges = _top_edges(_gene_matrix(adata, key), _gene_matrix(adata, key, signed=True), n_top)
    sign_colors = {1.0: ACTIVATION_COLOR, -1.0: REPRESSION_COLOR, 0.0: NEUTRAL_COLOR}

    graph = nx.DiGraph()
    graph.add_edges_from(zip(edges["regulator"], edges["target"]))
    positions = _LAYOUTS[layout](graph)
    max_weight = edges["weight"].max() if len(edges) else 1.0

    n_nodes = graph.number_of_nodes()
    side = float(np.clip(2.0 + 0.15 * n_nodes, 6.0, 16.0))  # room for every node on the circle
    fig, network_ax = _new_axes(ax, figsize=(side + 1.5, side))
    node_size = 600 if n_nodes <= 40 else max(200, 24_000 // n_nodes)
    nx.draw_networkx_nodes(graph, positions, ax=network_ax, node_size=node_size, node_color="lightgrey")
    nx.draw_networkx_labels(graph, positions, ax=network_ax, font_size=8 if n_nodes <= 40 else 6)
    nx.draw_networkx_edges(
        graph,
        positions,
        edgelist=list(zip(edges["regulator"], edges["target"])),
        width=list(0.5 + 3.5 * edges["weight"] / max_weight),
        edge_color=[sign_colors[sign] for sign in edges["sign"]],
        arrows=True,
        arrowstyle="-|>",
        arrowsize=12,
        node_size=node_size,
        connectionstyle="arc3,rad=0.1",
        ax=network_ax,
    )
    handles = [Line2D([], [], color=ACTIVATION_COLOR, label="activation"),
               Line2D([], [], color=REPRESSION_COLOR, label="repression")]
    if (edges["sign"] == 0).any():
        handles.append(Line2D([], [], color=NEUTRAL_COLOR, label="no sign (Jacobian 0)"))
    handles.append(Line2D([], [], color="black", linewidth=4, label="width: dependency strength"))
    network_ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)  # off the nodes
    network_ax.set_title(f"{key}: top {len(edges)} edges (regulator → target)")
    network_ax.set_axis_off()
    return _finish(fig, network_ax, ax=ax, show=show, return_fig=return_fig)
