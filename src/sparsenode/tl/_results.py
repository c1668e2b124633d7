"""Tools that read a fit back from AnnData: rebuild the model, predict, list edges, score a network."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._checks import check_positive_int
from .._docs import fill_doc
from .._keys import Keys
from ..estimator import SparseNODE
from ..io import ModelFormatError
from ..metrics import network_scores
from ..pp import Trajectories, trajectories
from ._fit import (
    FIT_ENTRIES,
    SCALING_ARRAYS,
    check_slot_name,
    check_writable,
    is_fit,
    layers_read_by_fits,
    predict_from_start,
    trajectory_params,
)
from ._prior import dense, gene_positions, network_matrix

if TYPE_CHECKING:
    from anndata import AnnData

logger = logging.getLogger(__name__)


def fit_results(adata: AnnData, key: str) -> dict[str, Any]:
    """``adata.uns[key]`` of a fit, or a :class:`KeyError` that says how to create it."""
    keys = Keys(key)
    refit = (f"run sn.tl.fit(adata, ..., key_added={key!r}) first (after anndata.concat, pass merge='first' and "
             "uns_merge='first' to keep the first object's fit)")
    if keys.uns not in adata.uns or keys.dependencies not in adata.varp:
        raise KeyError(f"no sparsenode fit under key {key!r} (adata.uns[{key!r}] / adata.varp[{key!r}] missing); "
                       f"{refit}")
    results = adata.uns[keys.uns]
    if not is_fit(results):
        missing = sorted(FIT_ENTRIES - set(results)) if isinstance(results, Mapping) else sorted(FIT_ENTRIES)
        raise KeyError(f"adata.uns[{key!r}] is not a sparsenode fit (it lacks {missing}); {refit}")
    return results


def fitted_genes(adata: AnnData, key: str) -> tuple[list[str], np.ndarray]:
    """Names of the fitted genes and their positions in ``adata.var_names`` (KeyError if any is absent)."""
    genes = [str(gene) for gene in fit_results(adata, key)["params"]["genes"]]
    positions = gene_positions(adata, genes)
    if (positions < 0).any():
        missing = [gene for gene, position in zip(genes, positions, strict=True) if position < 0]
        raise KeyError(
            f"the fit {key!r} used genes absent from this AnnData ({missing[:10]}); the model can only be used on "
            "an object holding the genes it was fitted on"
        )
    return genes, positions


def model(adata: AnnData, key: str = "sparsenode") -> SparseNODE:
    """Rebuild the fitted :class:`~sparsenode.SparseNODE` stored in ``adata.uns[key]["model"]``.

    Parameters
    ----------
    adata
        AnnData fitted with :func:`sparsenode.tl.fit` (possibly written to and read from .h5ad).
    key
        ``key_added`` of the fit.

    Returns
    -------
    The estimator; its predictions equal those of the model that was fitted.
    """
    fitted_genes(adata, key)
    stored = fit_results(adata, key)["model"]
    try:
        config, weights = json.loads(str(stored["config"])), dict(stored["weights"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFormatError(f"adata.uns[{key!r}]['model'] is incomplete or corrupted ({type(error).__name__}: "
                               f"{error}); fit again with sn.tl.fit(adata, ..., key_added={key!r})") from error
    return SparseNODE.from_state(config, weights)


def fit_trajectories(adata: AnnData, key: str) -> Trajectories:
    """The trajectories of a fit, rebuilt from the cells of ``adata`` with the fit's recorded parameters and
    expressed in the fit's own scaling, so that a subset of the cells is predicted in the units the model was
    fitted in."""
    results = fit_results(adata, key)
    fitted_genes(adata, key)
    trajs = trajectories(adata, **trajectory_params(results["params"]))
    fitted = [str(name) for name in results["params"]["trajectories"]]
    unknown = [name for name in trajs.names if name not in fitted]
    if unknown:
        raise ValueError(f"trajectories {unknown} of this AnnData were not part of the fit {key!r} (fitted: "
                         f"{fitted}); subset the cells of fitted trajectories or fit again")
    return trajs.with_scaling(fitted, *(results["scaling"][name] for name in SCALING_ARRAYS))


@fill_doc
def predict(adata: AnnData, key: str = "sparsenode", *, layer_added: str | None = None, copy: bool = False
            ) -> AnnData | None:
    """Fitted expression of every cell at its time, from its trajectory's initial state.

    Each trajectory is integrated from its initial state; every cell gets the model's value at its point
    (a cell shared by several lineages gets the mean over them). Values are in the input's units.

    Parameters
    ----------
    {fit_parameters}
    layer_added
        Layer to write; default ``f"{key}_predicted"``. Not the layer the fit reads (``layer`` of
        :func:`sparsenode.tl.fit`); another existing layer is replaced, with a logged warning.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` or a copy, with ``adata.layers[layer_added]``: float32 cells x genes; NaN for cells outside every
    trajectory and for genes that were not fitted.
    """
    check_writable(adata, copy=copy)
    layer_added = Keys(key).predicted if layer_added is None else check_slot_name(layer_added, "layer_added")
    reader = layers_read_by_fits(adata).get(layer_added)
    if reader is not None:
        raise ValueError(f"layer_added={layer_added!r} is the layer the fit {reader!r} reads its expression from "
                         "(its predictions and perturbations would start from these predictions); choose another "
                         "layer_added")
    estimator = model(adata, key)
    trajs = fit_trajectories(adata, key)
    _, positions = fitted_genes(adata, key)
    total = np.zeros((adata.n_obs, len(positions)))
    count = np.zeros(adata.n_obs)
    for k, (values, times) in enumerate(zip(trajs.expression, trajs.time, strict=True)):
        predicted = trajs.unscale_expression(k, predict_from_start(estimator, values, times, times))
        cells, points = trajs.point_of_cells(k)
        np.add.at(total, cells, predicted[points])
        np.add.at(count, cells, 1.0)
    adata = adata.copy() if copy else adata
    layer = np.full(adata.shape, np.nan, dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        layer[:, positions] = total / count[:, None]
    if layer_added in adata.layers and layer_added != Keys(key).predicted:
        logger.warning("replacing adata.layers[%r] with the prediction of the fit %r", layer_added, key)
    adata.layers[layer_added] = layer
    return adata if copy else None


@fill_doc
def edges(adata: AnnData, key: str = "sparsenode", *, n_top: int | None = None, include_self: bool = False
          ) -> pd.DataFrame:
    """The inferred network as a tidy edge list, strongest first.

    Parameters
    ----------
    {fit_parameters}
    n_top
        Keep only the ``n_top`` strongest edges (a positive integer).
    include_self
        Keep self-loops (a gene's dependence on itself).

    Returns
    -------
    DataFrame with columns ``regulator``, ``target``, ``weight`` (``varp[key]`` entry, > 0) and ``sign``
    (+1 activation, -1 repression, from the sign of the mean Jacobian), sorted by decreasing weight.
    """
    if n_top is not None:
        check_positive_int("n_top", n_top)
    genes, positions = fitted_genes(adata, key)
    keys = Keys(key)
    if keys.jacobian not in adata.varp:
        raise KeyError(f"adata.varp[{keys.jacobian!r}] not found: the signed mean Jacobian of the fit {key!r}, which "
                       f"gives each edge its sign; run sn.tl.fit(adata, ..., key_added={key!r}) again")
    weight = dense(adata.varp[keys.dependencies])[np.ix_(positions, positions)]
    jacobian = dense(adata.varp[keys.jacobian])[np.ix_(positions, positions)]
    target, regulator = np.nonzero(weight > 0)
    if not include_self:
        keep = target != regulator
        target, regulator = target[keep], regulator[keep]
    names = np.asarray(genes)
    table = pd.DataFrame({
        "regulator": names[regulator],
        "target": names[target],
        "weight": weight[target, regulator],
        "sign": np.sign(jacobian[target, regulator]).astype(int),
    })
    table = table.sort_values("weight", ascending=False, kind="stable", ignore_index=True)
    return table if n_top is None else table.head(n_top)


@fill_doc
def score(adata: AnnData, key: str = "sparsenode", *, reference: str | pd.DataFrame | np.ndarray = "reference"
          ) -> dict[str, float]:
    """Score the inferred network against a reference, BEELINE style (directed, self-loops excluded).

    Parameters
    ----------
    {fit_parameters}
    reference
        A ``varp`` key, a DataFrame of edges (``regulator``/``target``, ``source``/``target`` or
        ``Gene1``/``Gene2`` columns; other columns ignored) or an array (all genes or fitted genes),
        row = target, column = regulator; non-zero = edge, signs ignored.

    Returns
    -------
    ``auroc``, ``auprc``, ``auprc_ratio`` (to a random predictor), ``early_precision`` and
    ``early_precision_ratio`` (BEELINE's EPR), over the fitted genes.
    """
    genes, positions = fitted_genes(adata, key)
    scores = dense(adata.varp[Keys(key).dependencies])[np.ix_(positions, positions)]
    return network_scores(scores, network_matrix(adata, reference, genes, positions))
