"""How far can the krumsiek11 network be recovered from its data? Exhaustive parent-set search next to sparsenode.

krumsiek11 (scanpy) is 4 realizations x 160 steps of a Hill-type ODE over 11 transcription factors, simulated
from one shared start with tiny noise; the ground truth is the simulation's coupling list (``varp["reference"]``;
self-loops are not scored). Its issue asks for AUROC >= 0.8. This script measures what the data support:

``best-subset kNN (k <= K)``
    For every target gene, every set S of at most K other genes is scored by the held-out error of a
    5-nearest-neighbour regression of the target's finite-difference rate on (target, S); folds are blocks
    of 20 time steps (GroupKFold, 8 folds), so that neighbouring time points do not leak. Each edge's score is its
    posterior inclusion weight under BIC (``n log MSE + |S| log n``) over all sets. This searches every small
    network exhaustively with a flexible regressor: far more than any penalised fit does.
``|Pearson|``
    Absolute correlation of expression.
``sparsenode ...``
    ``sn.tl.fit`` with its defaults, and with the settings of ``sparsenode demo`` (trajectories).

Run from the repository root (about 3 minutes on 2 cores)::

    python benchmarks/krumsiek11_limits.py [--max-parents 2 3 4]
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import numpy as np
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.neighbors import KNeighborsRegressor

import sparsenode as sn
from sparsenode.cli import DEMO_SETTINGS

STEPS, BLOCK, FOLDS = 160, 20, 8


def best_subset_scores(X: np.ndarray, max_parents: int) -> np.ndarray:
    """``(d, d)`` BIC inclusion weights (row = target) of held-out-error-scored parent sets of size <= max_parents."""
    d = X.shape[1]
    series = X.reshape(-1, STEPS, d)
    states = series[:, :-1].reshape(-1, d)
    rates = (series[:, 1:] - series[:, :-1]).reshape(-1, d)
    realization = np.repeat(np.arange(len(series)), STEPS - 1)
    blocks = np.tile(np.arange(STEPS - 1) // BLOCK, len(series)) + 100 * realization
    scores = np.zeros((d, d))
    for target in range(d):
        others = [j for j in range(d) if j != target]
        sets = [s for k in range(max_parents + 1) for s in itertools.combinations(others, k)]
        errors = np.array([
            np.mean((cross_val_predict(KNeighborsRegressor(5, weights="distance"), states[:, [target, *s]],
                                       rates[:, target], groups=blocks, cv=GroupKFold(FOLDS)) - rates[:, target]) ** 2)
            for s in sets
        ])
        bic = len(states) * np.log(errors) + np.array([len(s) for s in sets]) * np.log(len(states))
        weights = np.exp(-(bic - bic.min()) / 2)
        weights /= weights.sum()
        for weight, s in zip(weights, sets, strict=True):
            scores[target, list(s)] += weight
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-parents", type=int, nargs="+", default=[2, 3, 4])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    adata = sn.datasets.krumsiek11()
    X = np.asarray(adata.X, dtype=np.float64)
    reference = np.asarray(adata.varp["reference"])
    rows = {}
    for k in args.max_parents:
        start = time.perf_counter()
        rows[f"best-subset kNN (k <= {k})"] = (best_subset_scores(X, k), time.perf_counter() - start)
    rows["|Pearson|"] = (np.abs(np.corrcoef(X.T)), 0.0)
    for name, settings in (("sparsenode tl.fit defaults", {"time_key": "time", "lineage_key": "lineage"}),
                           ("sparsenode demo settings", DEMO_SETTINGS)):
        fitted = adata.copy()
        start = time.perf_counter()
        sn.tl.fit(fitted, **settings, progress=False)
        rows[name] = (np.asarray(fitted.varp["sparsenode"]), time.perf_counter() - start)
    print(f"krumsiek11: {adata.n_obs} cells x {adata.n_vars} genes, {int((reference != 0).sum() - (np.diag(reference) != 0).sum())} "
          "true edges between different genes (self-loops not scored)\n")
    print(f"{'method':<30}{'AUROC':>7}{'AUPRC':>7}{'seconds':>9}")
    for name, (scores, seconds) in rows.items():
        result = sn.metrics.network_scores(scores, reference)
        print(f"{name:<30}{result['auroc']:>7.3f}{result['auprc']:>7.3f}{seconds:>9.1f}")


if __name__ == "__main__":
    main()
