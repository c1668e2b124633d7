"""Gene sets and networks given by the user (regulators, priors, references) as masks over the fitted genes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse

from .._checks import gene_positions
from ..pp._trajectories import selected_gene_positions

if TYPE_CHECKING:
    from anndata import AnnData

logger = logging.getLogger(__name__)


def gene_selection(adata: AnnData, selection: Any, genes: list[str], *, name: str) -> np.ndarray | None:
    """A user's gene set as a boolean mask over the fitted ``genes`` (``None`` stays ``None``).

    ``selection``: gene names (names not in ``adata.var_names`` are ignored with a warning, as gene lists from
    databases name genes a data set lacks), a boolean mask over ``adata.var_names``, or the name of a boolean
    ``adata.var`` column; ``name`` is the argument's name in messages.
    """
    if selection is None:
        return None
    mask = np.zeros(adata.n_vars, dtype=bool)
    mask[selected_gene_positions(adata, selection, name=name, missing="ignore")] = True
    return mask[gene_positions(adata, genes)]


def network_matrix(adata: AnnData, network: str | pd.DataFrame | np.ndarray, genes: list[str],
                   positions: np.ndarray, *, name: str = "reference") -> np.ndarray:
    """A network (``varp`` key, edge-list DataFrame or array) as a fitted-genes matrix, row = target,
    column = regulator; ``name`` is the argument's name in error messages."""
    if isinstance(network, str):
        if network not in adata.varp:
            raise KeyError(f"{name} {network!r} is not in adata.varp (keys: {list(adata.varp.keys())})")
        return dense(adata.varp[network])[np.ix_(positions, positions)]
    if isinstance(network, pd.DataFrame):
        columns = [pair for pair in (("regulator", "target"), ("source", "target"), ("Gene1", "Gene2"))
                   if set(pair) <= set(network.columns)]
        if not columns:
            raise KeyError(f"a {name} DataFrame needs columns 'regulator' and 'target' (or 'source'/'target', "
                           f"'Gene1'/'Gene2'); got {list(network.columns)}")
        regulator_column, target_column = columns[0]
        index = pd.Index(genes)
        regulators, targets = index.get_indexer(network[regulator_column]), index.get_indexer(network[target_column])
        known = (regulators >= 0) & (targets >= 0)
        if not known.any():
            raise ValueError(f"none of the {len(network)} edges of the {name} DataFrame connects two fitted genes "
                             f"(e.g. {list(genes[:3])}); check the gene names")
        if not known.all():
            logger.warning("%d of the %d %s edges name genes that are not fitted; they are ignored",
                           int((~known).sum()), len(network), name)
        matrix = np.zeros((len(genes), len(genes)))
        matrix[targets[known], regulators[known]] = 1.0
        return matrix
    matrix = dense(network)
    if matrix.shape == (adata.n_vars, adata.n_vars):
        return matrix[np.ix_(positions, positions)]
    if matrix.shape == (len(genes), len(genes)):
        return matrix
    raise ValueError(f"{name} array has shape {matrix.shape}; expected ({adata.n_vars}, {adata.n_vars}) or "
                     f"({len(genes)}, {len(genes)}) (fitted genes), row = target, column = regulator")


def dense(matrix: Any) -> np.ndarray:
    """A dense or :mod:`scipy.sparse` matrix as a numpy array."""
    return matrix.toarray() if sparse.issparse(matrix) else np.asarray(matrix)


def connection_constraints(adata: AnnData, genes: list[str], *, regulators: Any, prior: Any) -> dict[str, Any]:
    """:meth:`SparseNODE.fit <sparsenode.SparseNODE.fit>`'s ``regulators`` and ``prior`` for the fitted genes."""
    positions = gene_positions(adata, genes)
    allowed = gene_selection(adata, regulators, genes, name="regulators")
    if allowed is not None and not allowed.any():
        raise ValueError("regulators= contains none of the fitted genes; give at least one fitted regulator")
    matrix = None if prior is None else network_matrix(adata, prior, genes, positions, name="prior")
    if matrix is not None and not np.isfinite(np.asarray(matrix, dtype=np.float64)).all():
        raise ValueError("prior holds NaN or infinite values; use 0 for 'no known edge'")
    return {"regulators": allowed, "prior": matrix}


def recorded_selection(selection: Any, var_names: pd.Index) -> Any:
    """How a gene set or network argument is recorded in ``uns[key]["params"]`` (h5ad-safe, compact).

    A set has no order of its own, and ``.h5ad`` cannot store one: it is recorded as a string array in the
    order in which it is read (``var_names`` order, then the names not in ``var_names`` sorted).
    """
    if selection is None or isinstance(selection, str):
        return selection
    if isinstance(selection, pd.DataFrame) or np.ndim(selection) == 2:
        return "<given>"
    if isinstance(selection, set | frozenset):
        known = list(var_names[var_names.isin(list(selection))])
        return np.asarray([*known, *sorted(selection - set(known), key=str)], dtype=str)
    return np.asarray(selection)
