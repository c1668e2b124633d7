"""Scale benchmark: wall time and peak memory of ``sn.tl.fit`` on synthetic sparse systems of growing size.

Each size runs in its own process so that its peak resident memory (``ru_maxrss``) is its own; memory is
reported in GiB (1024**3 bytes). The largest default case is the target: 2,000 genes and 20,000 cells along 4
lineages in <= 10 minutes with peak memory <= 4 GiB on 2 cores. The target line prints "met" or "NOT met" only
when a 2,000-gene run is among ``--genes``, and "not run" otherwise.

Usage::

    python benchmarks/scale.py                      # 200, 500, 1000, 2000 genes
    python benchmarks/scale.py --genes 200 500      # a subset
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

N_CELLS = 20_000
N_LINEAGES = 4
REGULATORS_PER_GENE = 3
#: The target: ``TARGET_GENES`` genes and ``N_CELLS`` cells in <= ``TARGET_SECONDS`` s, peak memory <=
#: ``TARGET_PEAK_GIB`` GiB.
TARGET_GENES = 2000
TARGET_SECONDS = 600.0
TARGET_PEAK_GIB = 4.0
#: ``ru_maxrss`` units per GiB: KiB on Linux, bytes on macOS.
MAXRSS_PER_GIB = 1024**3 if sys.platform == "darwin" else 1024**2


def simulate(n_genes: int, n_cells: int = N_CELLS, n_lineages: int = N_LINEAGES, seed: int = 0):
    """Cells along ``n_lineages`` trajectories of ``dx/dt = W tanh(x) - x`` with a sparse ``W``."""
    import anndata
    import pandas as pd

    rng = np.random.default_rng(seed)
    weights = np.zeros((n_genes, n_genes), dtype=np.float32)
    targets = np.repeat(np.arange(n_genes), REGULATORS_PER_GENE)
    weights[targets, rng.integers(0, n_genes, targets.size)] = rng.choice([-1.5, 1.5], targets.size)
    steps, dt = 400, 2.5 / 400
    states = rng.normal(0.0, 1.0, (n_lineages, n_genes)).astype(np.float32)
    path = np.empty((steps, n_lineages, n_genes), dtype=np.float32)
    for step in range(steps):
        path[step] = states
        states = states + dt * (np.tanh(states) @ weights.T - states)
    lineage = np.repeat(np.arange(n_lineages), n_cells // n_lineages)
    time_of_cell = rng.uniform(0.0, 1.0, lineage.size)
    step_of_cell = np.minimum((time_of_cell * steps).astype(int), steps - 1)
    expression = path[step_of_cell, lineage] + rng.normal(0.0, 0.05, (lineage.size, n_genes)).astype(np.float32)
    adata = anndata.AnnData(expression)
    adata.var_names = [f"g{i}" for i in range(n_genes)]
    adata.obs["time"] = time_of_cell
    adata.obs["lineage"] = pd.Categorical([f"L{k}" for k in lineage])
    adata.varp["reference"] = weights
    return adata


def run_one(n_genes: int) -> dict[str, float]:
    """Simulate, fit with default settings (plus time bins) and measure; runs in a child process."""
    import torch

    import sparsenode as sn

    torch.set_num_threads(2)
    adata = simulate(n_genes)
    start = time.perf_counter()
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", n_bins=100, progress=False)
    seconds = time.perf_counter() - start
    scores = sn.tl.score(adata, reference="reference")
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / MAXRSS_PER_GIB
    return {"genes": n_genes, "cells": adata.n_obs, "seconds": seconds, "peak_gib": peak_gib,
            "epochs": len(adata.uns["sparsenode"]["history"]["epoch"]), "auroc": scores["auroc"]}


def target_verdict(results: list[dict[str, float]]) -> str:
    """The target line: "met" or "NOT met" from a run at the target size, "not run" without one.

    Parameters
    ----------
    results
        The measurements of :func:`run_one`, one per size run.

    Returns
    -------
    The line to print.
    """
    target = (f"target ({TARGET_GENES} genes, {N_CELLS} cells: <= {TARGET_SECONDS:.0f} s, "
              f"<= {TARGET_PEAK_GIB:g} GiB)")
    runs = [r for r in results if r["genes"] == TARGET_GENES and r["cells"] == N_CELLS]
    if not runs:
        return f"{target}: not run (sizes run: {', '.join(str(r['genes']) for r in results)} genes)"
    run = runs[-1]
    met = run["seconds"] <= TARGET_SECONDS and run["peak_gib"] <= TARGET_PEAK_GIB
    return f"{target}: {'met' if met else 'NOT met'} ({run['seconds']:.0f} s, {run['peak_gib']:.2f} GiB)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--genes", type=int, nargs="+", default=[200, 500, 1000, 2000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child)))
        return
    print(f"{'genes':>6}{'cells':>8}{'seconds':>9}{'peak GiB':>9}{'epochs':>8}{'AUROC':>7}")
    results = []
    for n_genes in args.genes:
        output = subprocess.run([sys.executable, __file__, "--child", str(n_genes)], check=True,
                                capture_output=True, text=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        results.append(result)
        print(f"{result['genes']:>6}{result['cells']:>8}{result['seconds']:>9.1f}{result['peak_gib']:>9.2f}"
              f"{result['epochs']:>8}{result['auroc']:>7.3f}", flush=True)
    if len(results) > 1:
        first, last = results[0], results[-1]
        growth = np.log(last["seconds"] / first["seconds"]) / np.log(last["genes"] / first["genes"])
        print(f"time grows like genes^{growth:.2f} from {first['genes']} to {last['genes']} genes")
    print(target_verdict(results))


if __name__ == "__main__":
    main()
