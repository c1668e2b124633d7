"""Tests of :mod:`sparsenode.metrics`: hand-computed examples, properties and error cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsenode.metrics import (
    auprc,
    auprc_ratio,
    auroc,
    early_precision,
    early_precision_ratio,
    feature_sparsity,
    network_scores,
    spurious_feature_sparsity,
    weight_sparsity,
)

# Edges (row = target, column = regulator) at (0, 1) and (2, 0); the sign of (2, 0) is ignored.
REFERENCE = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
# Off the diagonal, ranked: 0.9 edge, 0.8, 0.7 edge, 0.3, 0.2, 0.1. The diagonal (9) ranks first.
SCORES = np.array([[9.0, 0.9, 0.1], [0.8, 9.0, 0.3], [0.7, 0.2, 9.0]])


def test_hand_computed_scores_without_self_loops():
    # 2 edges x 4 non-edges = 8 pairs; the 0.7 edge loses only against the 0.8 non-edge.
    assert auroc(SCORES, REFERENCE) == pytest.approx(7 / 8)
    # Precision at the edges' ranks 1 and 3: (1 + 2/3) / 2.
    assert auprc(SCORES, REFERENCE) == pytest.approx(5 / 6)
    assert auprc_ratio(SCORES, REFERENCE) == pytest.approx((5 / 6) / (2 / 6))
    # Top-2: the 0.9 edge and the 0.8 non-edge.
    assert early_precision(SCORES, REFERENCE) == pytest.approx(1 / 2)
    assert early_precision_ratio(SCORES, REFERENCE) == pytest.approx((1 / 2) / (2 / 6))


def test_hand_computed_scores_with_self_loops():
    # The three diagonal non-edges now outrank everything.
    assert auroc(SCORES, REFERENCE, exclude_self=False) == pytest.approx(7 / 14)
    assert auprc(SCORES, REFERENCE, exclude_self=False) == pytest.approx((1 / 4 + 2 / 6) / 2)
    # The k-th (2nd) score is tied with a third 9: all three are predicted, none is an edge.
    assert early_precision(SCORES, REFERENCE, exclude_self=False) == 0.0


def test_network_scores_collects_all_scores():
    collected = network_scores(SCORES, REFERENCE)
    assert collected == {
        "auroc": auroc(SCORES, REFERENCE),
        "auprc": auprc(SCORES, REFERENCE),
        "auprc_ratio": auprc_ratio(SCORES, REFERENCE),
        "early_precision": early_precision(SCORES, REFERENCE),
        "early_precision_ratio": early_precision_ratio(SCORES, REFERENCE),
    }


def test_early_precision_includes_ties_at_rank_k():
    reference = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    scores = np.array([[0, 0.9, 0.4], [0, 0, 0.4], [0, 0, 0]])
    # k = 2; the 2nd-largest score 0.4 is tied, so 3 pairs are predicted, 2 of them edges.
    assert early_precision(scores, reference) == pytest.approx(2 / 3)


def test_early_precision_ignores_pairs_tied_at_the_lowest_score():
    reference = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    only_one_nonzero = np.array([[0, 0.9, 0], [0, 0, 0], [0, 0, 0]])
    assert early_precision(only_one_nonzero, reference) == 1.0
    assert early_precision(np.zeros((3, 3)), reference) == 0.0


def test_tied_scores_are_scored_deterministically():
    reference = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    constant = np.ones((3, 3))
    assert auroc(constant, reference) == 0.5
    assert auprc(constant, reference) == pytest.approx(2 / 6)
    assert auprc(constant, reference) == auprc(constant.copy(), reference)


def test_dataframes_and_integer_arrays_are_accepted():
    assert auroc(pd.DataFrame(SCORES), pd.DataFrame(REFERENCE.astype(int))) == pytest.approx(7 / 8)


@pytest.mark.parametrize(
    ("scores", "reference", "message"),
    [
        (np.zeros((3, 3)), np.zeros((3, 4)), "same shape"),
        (np.zeros(3), np.zeros(3), "2-D"),
        (np.zeros((2, 3)), np.ones((2, 3)), "square"),
        (np.where(np.eye(3) > 0, np.nan, 0.5), REFERENCE, "NaN"),
        (np.full((3, 3), np.inf), REFERENCE, "infinite"),
        (SCORES, np.eye(3), "no edge"),
        (SCORES, 1 - np.eye(3), "no non-edge"),
        (SCORES, np.where(REFERENCE != 0, np.nan, 0), "NaN"),
    ],
)
def test_invalid_inputs_raise(scores, reference, message):
    for metric in (auroc, auprc, auprc_ratio, early_precision, early_precision_ratio, network_scores):
        with pytest.raises(ValueError, match=message):
            metric(scores, reference)


@st.composite
def networks(draw, *, distinct_scores: bool = True):
    """A reference with an edge and a non-edge off the diagonal, and scores (distinct or with ties)."""
    n_genes = draw(st.integers(min_value=2, max_value=6))
    n_pairs = n_genes * n_genes
    flat_edges = draw(st.lists(st.booleans(), min_size=n_pairs, max_size=n_pairs))
    reference = np.array(flat_edges, dtype=float).reshape(n_genes, n_genes)
    off_diagonal = reference[~np.eye(n_genes, dtype=bool)]
    if off_diagonal.all():
        reference[0, 1] = 0.0
    if not off_diagonal.any():
        reference[1, 0] = -1.0
    if distinct_scores:
        ranks = draw(st.permutations(range(n_pairs)))
    else:
        ranks = draw(st.lists(st.integers(0, 3), min_size=n_pairs, max_size=n_pairs))
    return np.array(ranks, dtype=float).reshape(n_genes, n_genes), reference


def _density(reference: np.ndarray) -> float:
    return float((reference[~np.eye(len(reference), dtype=bool)] != 0).mean())


@settings(max_examples=60, deadline=None)
@given(networks())
def test_perfect_and_reversed_rankings(network):
    ranks, reference = network
    perfect = ranks + 100.0 * (reference != 0)
    assert auroc(perfect, reference) == 1.0
    assert auroc(-perfect, reference) == 0.0
    assert auprc(perfect, reference) == pytest.approx(1.0)
    assert auprc_ratio(perfect, reference) == pytest.approx(1 / _density(reference))
    assert early_precision(perfect, reference) == 1.0
    assert early_precision_ratio(perfect, reference) == pytest.approx(1 / _density(reference))


@settings(max_examples=60, deadline=None)
@given(networks())
def test_scores_are_invariant_to_increasing_transforms(network):
    ranks, reference = network
    transformed = 2.0 * ranks**3 - 5.0
    assert network_scores(transformed, reference) == pytest.approx(network_scores(ranks, reference))


@settings(max_examples=100, deadline=None)
@given(networks(distinct_scores=False))
def test_bounds_and_symmetry_with_ties(network):
    scores, reference = network
    assert 0.0 <= early_precision(scores, reference) <= 1.0
    assert 0.0 <= early_precision_ratio(scores, reference) <= 1 / _density(reference) + 1e-12
    assert 0.0 < auprc(scores, reference) <= 1.0
    assert auroc(scores, reference) + auroc(-scores, reference) == pytest.approx(1.0)


def test_feature_sparsity_uses_a_relative_threshold():
    dependencies = np.array([[0.0, 0.005], [-1.0, 0.5]])
    assert feature_sparsity(dependencies) == 0.5
    assert feature_sparsity(dependencies, threshold=0.0) == 0.25
    assert feature_sparsity(dependencies, threshold=0.6) == 0.75
    assert feature_sparsity(np.zeros((3, 3))) == 1.0


def test_weight_sparsity_pools_all_arrays():
    weights = [np.array([0.0, 1.0]), np.array([[0.05], [-10.0]])]
    assert weight_sparsity(weights) == 0.25
    assert weight_sparsity(weights, threshold=0.01) == 0.5
    assert weight_sparsity([np.zeros(4)]) == 1.0


def test_spurious_feature_sparsity_counts_disallowed_columns_only():
    dependencies = np.array([[0.0, 0.01, 2.0], [5.0, 3.0, 0.0], [0.0, 1.0, 7.0]])
    allowed = np.array([True, False, False])
    # Disallowed columns 1 and 2 hold 0.01, 1 and 2, 0 off the diagonal; 0.01 <= 0.01 * 7 counts as zero.
    assert spurious_feature_sparsity(dependencies, allowed) == pytest.approx(2 / 4)
    assert spurious_feature_sparsity(dependencies, allowed, threshold=0.0) == pytest.approx(1 / 4)


def test_spurious_feature_sparsity_leaves_self_dependence_out():
    """A gene's dependence on itself (decay) is always allowed, as with ``regulators=``: a model whose
    disallowed genes influence only themselves has no spurious dependency."""
    dependencies = np.array(
        [[1.0, 2.0, 0.0, 0.0], [3.0, 1.0, 0.0, 0.0], [1.0, 1.0, 5.0, 0.0], [2.0, 0.5, 0.0, 4.0]]
    )
    assert spurious_feature_sparsity(dependencies, np.array([True, True, False, False])) == 1.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: feature_sparsity(np.zeros(3)), "2-D"),
        (lambda: feature_sparsity(np.array([[np.nan]])), "NaN"),
        (lambda: feature_sparsity(np.ones((2, 2)), threshold=-0.1), r"`threshold` .* >= 0, got -0\.1"),
        (lambda: feature_sparsity(np.ones((2, 2)), threshold=np.nan), r"`threshold` must be a finite .*got nan"),
        (lambda: feature_sparsity(np.ones((2, 2)), threshold=np.inf), r"`threshold` must be a finite .*got inf"),
        (lambda: weight_sparsity([np.ones(2)], threshold=np.nan), r"`threshold` must be a finite .*got nan"),
        (lambda: spurious_feature_sparsity(np.ones((2, 2)), np.array([True, False]), threshold=np.nan),
         r"`threshold` must be a finite .*got nan"),
        (lambda: spurious_feature_sparsity(np.ones((2, 3)), np.array([True, False, False])), r"square.*\(2, 3\)"),
        (lambda: spurious_feature_sparsity(np.ones((1, 1)), np.array([False])), "single gene"),
        (lambda: weight_sparsity([]), "no weights"),
        (lambda: weight_sparsity([np.array([np.inf])]), "infinite"),
        (lambda: spurious_feature_sparsity(np.ones((2, 2)), np.array([True, True])), "every input"),
        (lambda: spurious_feature_sparsity(np.ones((2, 2)), np.array([1, 0])), "boolean"),
        (lambda: spurious_feature_sparsity(np.ones((2, 2)), np.array([True])), "shape"),
    ],
)
def test_invalid_sparsity_inputs_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()
