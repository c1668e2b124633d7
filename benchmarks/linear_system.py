"""Structure recovery of every regularizer, at its defaults, on sparse linear systems ``dx/dt = A x``.

``d = 10``, 15 random off-diagonal edges, 12 trajectories of 30 time points (``tests/_systems.py``). For each
regularizer and system seed the script fits ``SparseNODE(regularization)`` with every other argument at its
default and prints the mean over the systems of: AUROC of ``dependencies()`` against the off-diagonal edges
of ``A``, feature sparsity (share of entries at most 1% of the largest), trajectory MSE (``model.mse``) and
fit time. Run from the repository root::

    python benchmarks/linear_system.py [--seeds 0 1 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from sparsenode import SparseNODE
from sparsenode.metrics import auroc, feature_sparsity
from sparsenode.nn import REGULARIZERS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _systems import sparse_linear_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="system seeds")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest for small fields)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    systems = [sparse_linear_system(seed=seed) for seed in args.seeds]
    variance = np.mean([X.var() for X, _, _ in systems])
    print(f"d=10 linear systems, seeds {args.seeds}, data variance {variance:.3f}, torch threads {args.threads}")
    print(f"{'regularization':<14} {'lam':>5} {'AUROC':>6} {'min':>6} {'sparsity':>8} {'MSE':>9} {'time s':>7}")
    for name in REGULARIZERS:
        rows = []
        for X, t, A in systems:
            start = time.perf_counter()
            model = SparseNODE(name, progress=False).fit(X, t)
            seconds = time.perf_counter() - start
            dependencies = model.dependencies()
            rows.append((auroc(dependencies, A), feature_sparsity(dependencies), model.mse(X, t), seconds))
        scores, sparsity, mse, seconds = np.asarray(rows).T
        print(f"{name:<14} {model.regularizer_.lam:>5g} {scores.mean():>6.3f} {scores.min():>6.3f} "
              f"{sparsity.mean():>8.2f} {mse.mean():>9.2e} {seconds.mean():>7.1f}")


if __name__ == "__main__":
    main()
