"""BEELINE synthetic benchmark networks (Pratapa et al., Nature Methods 2020) and published scores."""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
from anndata import AnnData

from .._keys import ORIENTATION
from ._cache import fetch

BEELINE_SYNTHETIC: tuple[str, ...] = ("dyn-LI", "dyn-CY", "dyn-BF", "dyn-BFC", "dyn-LL", "dyn-TF")
"""Synthetic networks: linear, cycle, bifurcating, bifurcating-converging, long linear, trifurcating."""

PUBLISHED_METRICS: tuple[str, ...] = ("AUPRC", "AUROC")
"""Metrics whose published per-method scores :func:`beeline_published_scores` reads."""

#: The replicates and cell counts of BEELINE's synthetic data sets.
BEELINE_REPLICATES = tuple(str(replicate) for replicate in range(10))
BEELINE_CELL_COUNTS = ("100", "200", "500", "2000", "5000")
_DATASET_NAME = re.compile(r"(?P<network>dyn-[A-Z]+)_(?P<n_cells>\d+)_(?P<replicate>\d+)")
_EDGE_SIGNS = {"+": 1.0, "-": -1.0}


def _validated_network(network: str) -> str:
    """Return ``network`` if it is one of :data:`BEELINE_SYNTHETIC`."""
    if network not in BEELINE_SYNTHETIC:
        raise ValueError(f"Unknown BEELINE network {network!r}; choose from {BEELINE_SYNTHETIC}.")
    return network


def _network_of(name: str) -> str:
    """The network of a data-set name such as ``"dyn-LI_500_0"``."""
    match = _DATASET_NAME.fullmatch(name)
    if match is None:
        raise ValueError(
            f"Unknown BEELINE data set {name!r}; expected '<network>_<cells>_<replicate>' such as "
            f"'dyn-LI_500_0' (replicates 0 to 9) with a network from {BEELINE_SYNTHETIC}."
        )
    if match["replicate"] not in BEELINE_REPLICATES:
        raise ValueError(f"BEELINE data set {name!r}: replicate {match['replicate']!r} out of range; BEELINE has "
                         "replicates 0 to 9.")
    if match["n_cells"] not in BEELINE_CELL_COUNTS:
        raise ValueError(f"BEELINE data set {name!r}: BEELINE has data sets of {', '.join(BEELINE_CELL_COUNTS)} "
                         f"cells, not {match['n_cells']}.")
    return _validated_network(match["network"])


def _signed_reference(edges: pd.DataFrame, genes: pd.Index) -> np.ndarray:
    """Signed (target, regulator) matrix from BEELINE's ``Gene1 -> Gene2`` edge list with ``Type`` +/-."""
    unknown_genes = sorted(set(edges["Gene1"]).union(edges["Gene2"]) - set(genes))
    if unknown_genes:
        raise ValueError(f"The reference network names genes without expression data: {unknown_genes}.")
    unknown_types = sorted(set(edges["Type"]) - set(_EDGE_SIGNS))
    if unknown_types:
        raise ValueError(f"Unknown edge types {unknown_types} in the reference network; expected '+' or '-'.")
    reference = np.zeros((len(genes), len(genes)), dtype=np.float32)
    targets = genes.get_indexer(edges["Gene2"])
    regulators = genes.get_indexer(edges["Gene1"])
    reference[targets, regulators] = edges["Type"].map(_EDGE_SIGNS).to_numpy(np.float32)
    return reference


def beeline(name: str, *, path: str | os.PathLike[str] | None = None) -> AnnData:
    """One BEELINE synthetic data set (BoolODE simulations of a known network).

    Parameters
    ----------
    name
        Data set name ``"<network>_<cells>_<replicate>"``, e.g. ``"dyn-LI_500_0"``; the network is
        one of :data:`BEELINE_SYNTHETIC`, the reference data hold 500 cells and replicates 0 to 9.
    path
        Data folder laid out like ``SPARSENODE_DATA_DIR`` (holding ``beeline/``). By default the
        environment variable ``SPARSENODE_DATA_DIR``, else the files are downloaded into
        ``~/.cache/sparsenode`` (or ``$XDG_CACHE_HOME/sparsenode``).

    Returns
    -------
    Cells x genes, in the order of ``ExpressionData.csv``, with

    - ``X``: float32 simulated expression;
    - ``obs["pseudotime"]``: the true simulation time, the largest over the branch columns of
      ``PseudoTime.csv`` in which the cell appears;
    - ``obs["lineage"]``: categorical, the branch column the cell belongs to (``"Time"`` for
      networks without branches, ``"PseudoTime0"``, ``"PseudoTime1"``, ... otherwise); a cell listed
      in several branches gets the first of them;
    - ``obsm["lineages"]``: boolean DataFrame cells x branch columns, the cell appears in that branch;
    - ``varp["reference"]``: float32 signed network from ``refNetwork.csv``, row = target, column =
      regulator, +1 activation, -1 repression; self-loops sit on the diagonal;
    - ``uns["reference_orientation"]``: ``"row=target, column=regulator"``.

    Raises
    ------
    ValueError
        On an unknown data set name or inconsistent files.
    FileNotFoundError
        If a file is missing from the chosen data folder or its download fails.
    """
    folder = f"beeline/inputs/Synthetic/{_network_of(name)}/{name}"
    expression = pd.read_csv(fetch(f"{folder}/ExpressionData.csv", path=path), index_col=0, engine="c")
    branch_times = pd.read_csv(fetch(f"{folder}/PseudoTime.csv", path=path), index_col=0, engine="c")
    edges = pd.read_csv(fetch(f"{folder}/refNetwork.csv", path=path), dtype=str, engine="c")

    cells = expression.columns.astype(str)
    genes = expression.index.astype(str)
    if not branch_times.index.astype(str).sort_values().equals(cells.sort_values()):
        raise ValueError(f"The cells of {folder}/PseudoTime.csv differ from those of ExpressionData.csv.")
    branch_times = branch_times.set_axis(branch_times.index.astype(str)).reindex(cells)
    on_branch = branch_times.notna()
    if not on_branch.any(axis=1).all():
        raise ValueError(f"{folder}/PseudoTime.csv lists cells without a time on any branch.")

    branches = branch_times.columns.astype(str)
    first_branch = on_branch.to_numpy().argmax(axis=1)
    adata = AnnData(
        X=expression.to_numpy(np.float32).T,
        obs=pd.DataFrame(
            {
                "pseudotime": branch_times.max(axis=1).to_numpy(np.float64),
                "lineage": pd.Categorical.from_codes(first_branch, categories=branches),
            },
            index=cells,
        ),
        var=pd.DataFrame(index=genes),
    )
    adata.obsm["lineages"] = pd.DataFrame(on_branch.to_numpy(), index=cells, columns=branches)
    adata.varp["reference"] = _signed_reference(edges, genes)
    adata.uns["reference_orientation"] = ORIENTATION
    return adata


def beeline_published_scores(
    network: str, metric: str = "AUPRC", *, path: str | os.PathLike[str] | None = None
) -> pd.DataFrame:
    """Scores of the 12 GRN inference methods evaluated in BEELINE, as published.

    Parameters
    ----------
    network
        One of :data:`BEELINE_SYNTHETIC`.
    metric
        One of :data:`PUBLISHED_METRICS`. BEELINE scores directed edges without self-loops; its AUPRC
        uses the Davis-Goadrich interpolation (R package PRROC).
    path
        Data folder laid out like ``SPARSENODE_DATA_DIR`` (holding ``beeline/``). By default the
        environment variable ``SPARSENODE_DATA_DIR``, else the file is downloaded into the cache.

    Returns
    -------
    Methods (rows, e.g. ``"GENIE3"``, ``"SINCERITIES"``) x data sets (columns, e.g.
    ``"dyn-LI_500_0"``, also the 2000- and 5000-cell data sets).

    Raises
    ------
    ValueError
        On an unknown network or metric.
    FileNotFoundError
        If the file is missing from the chosen data folder or its download fails.
    """
    _validated_network(network)
    if metric not in PUBLISHED_METRICS:
        raise ValueError(f"Unknown metric {metric!r}; choose from {PUBLISHED_METRICS}.")
    file = fetch(f"beeline/outputs/Synthetic/{network}/{network}-{metric}.csv", path=path)
    scores = pd.read_csv(file, index_col=0, engine="c")
    return scores.rename_axis(index="method", columns="dataset")
