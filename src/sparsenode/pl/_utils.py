"""Helpers shared by the plotting functions: reading fits from AnnData and figure handling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import cycle
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import sparse

from sparsenode._checks import gene_positions
from sparsenode._keys import ORIENTATION, Keys

ACTIVATION_COLOR = "#d62728"
REPRESSION_COLOR = "#1f77b4"
NEUTRAL_COLOR = "#7f7f7f"


def _fit_instruction(key: str) -> str:
    """What to run to create the fit ``key`` (a call with every required argument)."""
    return (f"Run `sn.tl.fit(adata, time_key=..., key_added={key!r})` first (time_key: the adata.obs column of "
            "the cells' times).")


def _require(container: Mapping[str, Any], entry: str, *, where: str, instruction: str) -> Any:
    """Return ``container[entry]`` or raise a :class:`KeyError` naming the slot and what writes it."""
    if entry not in container:
        raise KeyError(f"`{where}[{entry!r}]` not found. {instruction}")
    return container[entry]


def _get_fit(adata: AnnData, key: str) -> Mapping[str, Any]:
    """Return ``adata.uns[key]`` of a fit written by :func:`sparsenode.tl.fit` (with its ``params`` and its
    dependency matrix in ``adata.varp``)."""
    fit = _require(adata.uns, Keys(key).uns, where="adata.uns", instruction=_fit_instruction(key))
    missing = [] if isinstance(fit, Mapping) and "params" in fit else [f"adata.uns[{key!r}]['params']"]
    missing += [] if Keys(key).dependencies in adata.varp else [f"adata.varp[{Keys(key).dependencies!r}]"]
    if missing:
        raise KeyError(f"the fit {key!r} is incomplete ({', '.join(missing)} missing), e.g. after anndata.concat, "
                       "which keeps only what is equal in all objects (anndata.concat(..., merge='first', "
                       "uns_merge='first') keeps the first object's fit: varp and uns). "
                       + _fit_instruction(key))
    return fit


def _get_fit_entry(adata: AnnData, key: str, entry: str, *, instruction: str | None = None) -> Any:
    """Return ``adata.uns[key][entry]`` (e.g. ``'history'``, ``'fitted'``) of a fit."""
    return _require(
        _get_fit(adata, key),
        entry,
        where=f"adata.uns[{key!r}]",
        instruction=_fit_instruction(key) if instruction is None else instruction,
    )


def _fitted_genes(adata: AnnData, key: str) -> list[str]:
    """Names of the genes of a fit, in the order of the fitted expression arrays."""
    return [str(gene) for gene in np.asarray(_get_fit(adata, key)["params"]["genes"])]


def _gene_matrix(adata: AnnData, key: str, *, signed: bool = False, varp_key: str | None = None) -> pd.DataFrame:
    """Dependency (or signed Jacobian, or any ``varp_key``) matrix of fit ``key`` restricted to its fitted genes.

    Returns a frame with index = target genes and columns = regulator genes.
    """
    keys = Keys(key)
    genes = _fitted_genes(adata, key)
    orientation = _get_fit(adata, key)["params"].get("orientation", ORIENTATION)
    if orientation != ORIENTATION:
        raise ValueError(f"Unsupported orientation {orientation!r} of fit {key!r}; expected {ORIENTATION!r}.")
    if varp_key is None:
        varp_key = keys.jacobian if signed else keys.dependencies
    positions = _gene_positions(adata, genes, key)
    instruction = _fit_instruction(key) if varp_key in (keys.jacobian, keys.dependencies) else \
        "Store the network there (row = target, column = regulator) or pass another key."
    matrix = _require(adata.varp, varp_key, where="adata.varp", instruction=instruction)
    values = matrix.toarray() if sparse.issparse(matrix) else np.asarray(matrix)
    return pd.DataFrame(values[np.ix_(positions, positions)], index=genes, columns=genes)


def _gene_positions(adata: AnnData, genes: Sequence[str], key: str) -> np.ndarray:
    """Positions of the fitted ``genes`` of fit ``key`` in ``adata.var_names`` (a :class:`KeyError` names the
    ones this object lacks)."""
    positions = gene_positions(adata, genes)
    if (positions < 0).any():
        missing = [gene for gene, position in zip(genes, positions, strict=True) if position < 0]
        raise KeyError(f"Fitted genes {missing} of fit {key!r} are not in `adata.var_names`; plot an object that "
                       "holds every gene the fit used.")
    return positions


def _check_names(names: Sequence[str], available: Sequence[str], *, what: str) -> list[str]:
    """Return ``names`` as a list, raising a :class:`KeyError` for names not in ``available``."""
    names = [names] if isinstance(names, str) else list(names)
    available_names = set(available)
    unknown = [name for name in names if name not in available_names]
    if unknown:
        raise KeyError(f"Unknown {what} {unknown}; available: {list(available)}.")
    return names


def _color_map(names: Sequence[str], stored_colors: Sequence[str] | None = None) -> dict[str, str]:
    """Map names to colours: ``stored_colors`` (scanpy ``uns['<key>_colors']``) if it fits, else the cycle."""
    if stored_colors is not None and len(stored_colors) == len(names):
        palette = list(stored_colors)
    else:
        palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return dict(zip(names, cycle(palette)))


def _new_axes(ax: Axes | None, *, figsize: tuple[float, float] | None = None) -> tuple[Figure, Axes]:
    """Return ``ax`` and its figure, or a new figure with a single axes."""
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")  # labels stay inside a saved figure
    return fig, ax


def _panel_axes(
    n_panels: int, *, ncols: int, ax: Axes | None, panel_size: tuple[float, float] = (3.5, 2.8)
) -> tuple[Figure, list[Axes]]:
    """Return a grid of ``n_panels`` axes, or ``[ax]`` when ``ax`` is given for a single panel."""
    if n_panels < 1:
        raise ValueError("Nothing to plot: select at least one panel.")
    if ax is not None:
        if n_panels != 1:
            raise ValueError(f"`ax` can only be given for a single panel, got {n_panels} panels.")
        return ax.figure, [ax]
    ncols = min(ncols, n_panels)
    nrows = -(-n_panels // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
        squeeze=False,
        layout="constrained",
    )
    axes = list(axes.ravel())
    for unused in axes[n_panels:]:
        unused.set_visible(False)
    return fig, axes[:n_panels]


def _finish(fig: Figure, drawn: Axes | list[Axes], *, ax: Axes | None, show: bool | None, return_fig: bool
            ) -> Figure | Axes | list[Axes] | None:
    """Show the figure if asked (by default unless ``return_fig`` or ``ax``); return it if asked, else the axes
    ``drawn`` into when it is not shown (one panel: its axes), else ``None``."""
    if show is None:
        show = not (return_fig or ax is not None)
    if show:
        plt.show()
    if return_fig:
        return fig
    if show:
        return None
    return drawn[0] if isinstance(drawn, list) and len(drawn) == 1 else drawn
