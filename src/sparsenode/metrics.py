"""Scores for inferred gene-regulatory networks and for the sparsity of fitted models.

Network scores compare a ``(d, d)`` score matrix with a ``(d, d)`` reference network. Both follow the
package-wide orientation: row = target gene, column = regulator. A non-zero reference entry is an edge
(its sign is ignored); a larger score means a more confident edge. Signed scores such as a Jacobian are
ranked as given, so pass their absolute values to score edges regardless of sign. As in BEELINE, the
diagonal (self-loops) is left out by default.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import average_precision_score, roc_auc_score

from sparsenode._docs import fill_doc

__all__ = [
    "auprc",
    "auprc_ratio",
    "auroc",
    "early_precision",
    "early_precision_ratio",
    "feature_sparsity",
    "network_scores",
    "spurious_feature_sparsity",
    "weight_sparsity",
]


def _edge_vectors(
    scores: ArrayLike, reference: ArrayLike, *, exclude_self: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Flatten scores and edge labels over the evaluated gene pairs, validating both matrices."""
    scores = np.asarray(scores, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if scores.ndim != 2 or scores.shape != reference.shape:
        raise ValueError(
            f"`scores` and `reference` must be 2-D arrays of the same shape, got {scores.shape} and "
            f"{reference.shape}."
        )
    if exclude_self and scores.shape[0] != scores.shape[1]:
        raise ValueError(
            f"`exclude_self=True` needs square matrices (genes x genes), got shape {scores.shape}."
        )
    if not np.isfinite(scores).all():
        raise ValueError("`scores` contains NaN or infinite values.")
    if np.isnan(reference).any():
        raise ValueError("`reference` contains NaN values.")
    evaluated = np.ones(scores.shape, dtype=bool)
    if exclude_self:
        np.fill_diagonal(evaluated, False)
    is_edge = reference[evaluated] != 0
    where = " off the diagonal" if exclude_self else ""
    if not is_edge.any():
        raise ValueError(f"`reference` has no edge (non-zero entry){where}; the scores are undefined.")
    if is_edge.all():
        raise ValueError(f"`reference` has no non-edge (zero entry){where}; the scores are undefined.")
    return scores[evaluated], is_edge


def _edge_density(is_edge: np.ndarray) -> float:
    """Share of evaluated gene pairs that are edges: the precision of a random ranking."""
    return float(is_edge.mean())


@fill_doc
def auroc(scores: ArrayLike, reference: ArrayLike, *, exclude_self: bool = True) -> float:
    """Area under the ROC curve of the edge ranking given by ``scores``.

    Parameters
    ----------
    {network_score_parameters}

    Returns
    -------
    The AUROC in ``[0, 1]``; 0.5 for a random ranking. Tied scores count half (trapezoidal rule).

    Raises
    ------
    {network_score_raises}
    """
    edge_scores, is_edge = _edge_vectors(scores, reference, exclude_self=exclude_self)
    return float(roc_auc_score(is_edge, edge_scores))


@fill_doc
def auprc(scores: ArrayLike, reference: ArrayLike, *, exclude_self: bool = True) -> float:
    """Area under the precision-recall curve, computed as average precision.

    Average precision is the step-wise (non-interpolated) area: the mean of the precisions at the
    ranks of the true edges. Edges with tied scores enter at one threshold together, so the value does
    not depend on their order. BEELINE's published AUPRC values use the Davis-Goadrich interpolation of
    the R package PRROC instead; the two differ slightly.

    Parameters
    ----------
    {network_score_parameters}

    Returns
    -------
    The AUPRC in ``(0, 1]``; about the edge density for a random ranking.

    Raises
    ------
    {network_score_raises}
    """
    edge_scores, is_edge = _edge_vectors(scores, reference, exclude_self=exclude_self)
    return float(average_precision_score(is_edge, edge_scores))


@fill_doc
def auprc_ratio(scores: ArrayLike, reference: ArrayLike, *, exclude_self: bool = True) -> float:
    """AUPRC divided by the edge density, the AUPRC of a random ranking.

    Parameters
    ----------
    {network_score_parameters}

    Returns
    -------
    The AUPRC ratio; 1 for a random ranking, ``1 / density`` for a perfect one.

    Raises
    ------
    {network_score_raises}
    """
    edge_scores, is_edge = _edge_vectors(scores, reference, exclude_self=exclude_self)
    return float(average_precision_score(is_edge, edge_scores)) / _edge_density(is_edge)


def _early_precision(edge_scores: np.ndarray, is_edge: np.ndarray) -> float:
    """Precision among the top-k scored pairs, k = number of true edges (tie rule: :func:`early_precision`)."""
    n_edges = int(is_edge.sum())
    kth_largest = np.sort(edge_scores)[::-1][n_edges - 1]
    predicted = (edge_scores >= kth_largest) & (edge_scores > edge_scores.min())
    if not predicted.any():
        return 0.0
    return float(is_edge[predicted].mean())


@fill_doc
def early_precision(scores: ArrayLike, reference: ArrayLike, *, exclude_self: bool = True) -> float:
    """Precision among the ``k`` highest-scored gene pairs, ``k`` = number of true edges.

    This is the numerator of BEELINE's early precision ratio (EPR). Ties at rank ``k`` are handled as in
    BEELINE: every pair scoring at least the ``k``-th largest score is predicted, so a tie at rank ``k`` can
    predict more than ``k`` pairs. Pairs tied at the lowest score carry no ranking and are never predicted;
    if all scores are equal, no pair is predicted and the early precision is 0. BEELINE instead drops only
    exact zeros (of the absolute scores): the two rules agree when the lowest score is 0, as for the
    non-negative sparse dependency matrices of this package, and differ when a positive lowest score is tied
    at rank ``k``.

    Parameters
    ----------
    {network_score_parameters}

    Returns
    -------
    The early precision in ``[0, 1]``.

    Raises
    ------
    {network_score_raises}
    """
    edge_scores, is_edge = _edge_vectors(scores, reference, exclude_self=exclude_self)
    return _early_precision(edge_scores, is_edge)


@fill_doc
def early_precision_ratio(scores: ArrayLike, reference: ArrayLike, *, exclude_self: bool = True) -> float:
    """Early precision divided by the edge density, BEELINE's early precision ratio (EPR).

    Parameters
    ----------
    {network_score_parameters}

    Returns
    -------
    The early precision ratio; about 1 for a random ranking, ``1 / density`` for a perfect one.

    Raises
    ------
    {network_score_raises}

    See Also
    --------
    early_precision : the numerator, with the rule for tied scores.
    """
    edge_scores, is_edge = _edge_vectors(scores, reference, exclude_self=exclude_self)
    return _early_precision(edge_scores, is_edge) / _edge_density(is_edge)


@fill_doc
def network_scores(scores: ArrayLike, reference: ArrayLike, *, exclude_self: bool = True) -> dict[str, float]:
    """All network scores of ``scores`` against ``reference`` at once.

    Parameters
    ----------
    {network_score_parameters}

    Returns
    -------
    A dict with keys ``"auroc"``, ``"auprc"``, ``"auprc_ratio"``, ``"early_precision"`` and
    ``"early_precision_ratio"``; see the functions of the same names.

    Raises
    ------
    {network_score_raises}
    """
    edge_scores, is_edge = _edge_vectors(scores, reference, exclude_self=exclude_self)
    density = _edge_density(is_edge)
    area_under_pr = float(average_precision_score(is_edge, edge_scores))
    precision_at_k = _early_precision(edge_scores, is_edge)
    return {
        "auroc": float(roc_auc_score(is_edge, edge_scores)),
        "auprc": area_under_pr,
        "auprc_ratio": area_under_pr / density,
        "early_precision": precision_at_k,
        "early_precision_ratio": precision_at_k / density,
    }


def _counts_as_zero(magnitudes: np.ndarray, largest: float, threshold: float) -> np.ndarray:
    """Mark magnitudes at or below ``threshold`` times the largest magnitude."""
    return magnitudes <= threshold * largest


def _check_threshold(threshold: float) -> None:
    """Refuse a relative threshold that is negative or not finite (NaN would count nothing as zero)."""
    if not (np.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"`threshold` must be a finite number >= 0, got {threshold}.")


def _validated_dependencies(dependencies: ArrayLike, threshold: float) -> np.ndarray:
    """Absolute values of a finite 2-D dependency matrix; checks the threshold too."""
    _check_threshold(threshold)
    magnitudes = np.abs(np.asarray(dependencies, dtype=np.float64))
    if magnitudes.ndim != 2 or magnitudes.size == 0:
        raise ValueError(f"`dependencies` must be a non-empty 2-D array, got shape {magnitudes.shape}.")
    if not np.isfinite(magnitudes).all():
        raise ValueError("`dependencies` contains NaN or infinite values.")
    return magnitudes


def feature_sparsity(dependencies: ArrayLike, *, threshold: float = 0.01) -> float:
    """Share of entries of a dependency matrix that count as zero.

    The threshold is relative: an entry counts as zero if its absolute value is at most
    ``threshold`` times the largest absolute entry. ``threshold=0`` counts exact zeros only.

    Parameters
    ----------
    dependencies
        ``(d, d)`` dependency matrix, row = target, column = input; all entries, the diagonal
        included, are counted.
    threshold
        Relative threshold, finite and ``>= 0``.

    Returns
    -------
    The share in ``[0, 1]``; 1.0 for an all-zero matrix.

    Raises
    ------
    ValueError
        On a negative or non-finite threshold, an empty or non-2-D matrix, or non-finite entries.
    """
    magnitudes = _validated_dependencies(dependencies, threshold)
    return float(_counts_as_zero(magnitudes, magnitudes.max(), threshold).mean())


def weight_sparsity(weights: Sequence[ArrayLike], *, threshold: float = 0.0) -> float:
    """Share of weights that count as zero, over all given arrays together.

    A weight counts as zero if its absolute value is at most ``threshold`` times the largest
    absolute weight over all arrays. ``threshold=0`` counts exact zeros only.

    Parameters
    ----------
    weights
        The effective weight arrays of a model (any shapes), e.g. after applying masks or gates.
    threshold
        Relative threshold, finite and ``>= 0``.

    Returns
    -------
    The share in ``[0, 1]``; 1.0 if all weights are zero.

    Raises
    ------
    ValueError
        On a negative or non-finite threshold, no weights at all, or non-finite weights.
    """
    _check_threshold(threshold)
    magnitudes = [np.abs(np.asarray(array, dtype=np.float64)).ravel() for array in weights]
    all_magnitudes = np.concatenate(magnitudes) if magnitudes else np.empty(0)
    if all_magnitudes.size == 0:
        raise ValueError("`weights` contains no weights.")
    if not np.isfinite(all_magnitudes).all():
        raise ValueError("`weights` contains NaN or infinite values.")
    return float(_counts_as_zero(all_magnitudes, all_magnitudes.max(), threshold).mean())


def spurious_feature_sparsity(
    dependencies: ArrayLike, allowed_inputs: ArrayLike, *, threshold: float = 0.01
) -> float:
    """Share of zero dependencies on inputs that should not be used, e.g. genes that are not TFs.

    An entry counts as zero as in :func:`feature_sparsity`, relative to the largest absolute entry
    of the whole matrix. Only the columns (inputs) outside ``allowed_inputs`` are counted, and in them
    only the dependencies of other genes: a gene's dependence on itself (the diagonal, e.g. decay) is
    always allowed, as with ``regulators=`` in :func:`sparsenode.tl.fit`, and is left out.

    Parameters
    ----------
    dependencies
        ``(d, d)`` dependency matrix, row = target, column = input.
    allowed_inputs
        Boolean mask of length ``d`` over the columns; ``True`` marks inputs that may be used.
    threshold
        Relative threshold, finite and ``>= 0``.

    Returns
    -------
    The share in ``[0, 1]``; 1.0 means no target depends on any disallowed input other than itself.

    Raises
    ------
    ValueError
        On a mask that is not boolean or does not match the columns, a mask that allows every input,
        a negative or non-finite threshold, or a non-finite, empty or non-square matrix.
    """
    magnitudes = _validated_dependencies(dependencies, threshold)
    if magnitudes.shape[0] != magnitudes.shape[1]:
        raise ValueError(
            f"`dependencies` must be square (genes x genes) to tell self-dependence apart, got shape "
            f"{magnitudes.shape}."
        )
    allowed = np.asarray(allowed_inputs)
    if allowed.dtype != np.bool_ or allowed.shape != (magnitudes.shape[1],):
        raise ValueError(
            f"`allowed_inputs` must be a boolean mask of shape ({magnitudes.shape[1]},), got dtype "
            f"{allowed.dtype} and shape {allowed.shape}."
        )
    if allowed.all():
        raise ValueError("`allowed_inputs` allows every input; there are no spurious inputs to count.")
    if magnitudes.shape[0] == 1:
        raise ValueError(
            "`dependencies` has a single gene, whose dependence on itself is always allowed; there are no "
            "spurious inputs to count."
        )
    counted = np.zeros(magnitudes.shape, dtype=bool)
    counted[:, ~allowed] = True
    np.fill_diagonal(counted, False)
    is_zero = _counts_as_zero(magnitudes, magnitudes.max(), threshold)
    return float(is_zero[counted].mean())
