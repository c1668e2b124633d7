"""Simulated myeloid differentiation (Krumsiek et al. 2011) with its ground-truth network."""

from __future__ import annotations

import importlib.resources
import warnings

import numpy as np
import pandas as pd
from anndata import AnnData

from .._keys import ORIENTATION

_STEPS_PER_REALIZATION = 160
_COUPLING_HEADER = "# coupling list:"


def _coupling_matrix(model_text: str, genes: pd.Index) -> np.ndarray:
    """Signed (target, regulator) matrix from the "coupling list" of a scanpy simulation model file."""
    lines = model_text.splitlines()
    start = lines.index(_COUPLING_HEADER) + 1
    coupling = np.zeros((len(genes), len(genes)), dtype=np.float32)
    for line in lines[start:]:
        if line.startswith("#"):
            break
        if not line.strip():
            continue
        target, regulator, strength = line.split()
        coupling[genes.get_loc(target), genes.get_loc(regulator)] = float(strength)
    return coupling


def krumsiek11() -> AnnData:
    """Simulated myeloid progenitors with the signed ground-truth network they were simulated from.

    Scanpy's :func:`scanpy.datasets.krumsiek11`: 640 cells, which are 4 simulated realizations of
    160 time steps each, in order, over 11 transcription factors. Annotations added here:

    - ``obs["time"]``: step index within the realization (float, 0 to 159);
    - ``obs["lineage"]``: the fate the realization reaches, the ``cell_type`` of its last cell
      (``"Ery"``, ``"Mk"``, ``"Mo"`` or ``"Neu"``);
    - unique ``obs_names`` ``"r<realization>_t<step>"``;
    - ``varp["reference"]``: float32 coupling strengths of the simulation model
      (scanpy's ``sim_models/krumsiek11.txt``), row = target, column = regulator; negative =
      repression. Self-couplings sit on the diagonal.
    - ``uns["reference_orientation"]``: ``"row=target, column=regulator"``;
    - ``uns["highlights"]`` with string keys, so that the object saves to .h5ad.

    Returns
    -------
    The annotated data; no network access is needed.
    """
    import scanpy as sc

    with warnings.catch_warnings():  # scanpy warns about the duplicate obs_names replaced below
        warnings.filterwarnings("ignore", message="Observation names are not unique")
        adata = sc.datasets.krumsiek11()
    n_realizations, remainder = divmod(adata.n_obs, _STEPS_PER_REALIZATION)
    if remainder:
        raise ValueError(
            f"scanpy's krumsiek11 holds {adata.n_obs} cells, not a multiple of {_STEPS_PER_REALIZATION}."
        )
    realization = np.repeat(np.arange(n_realizations), _STEPS_PER_REALIZATION)
    step = np.tile(np.arange(_STEPS_PER_REALIZATION), n_realizations)
    final_cell_type = adata.obs["cell_type"].to_numpy()[_STEPS_PER_REALIZATION - 1 :: _STEPS_PER_REALIZATION]
    adata.obs_names = [f"r{r}_t{t}" for r, t in zip(realization, step, strict=True)]
    adata.obs["time"] = step.astype(np.float64)
    adata.obs["lineage"] = pd.Categorical(np.repeat(final_cell_type.astype(str), _STEPS_PER_REALIZATION))

    model_file = importlib.resources.files("scanpy") / "sim_models" / "krumsiek11.txt"
    adata.varp["reference"] = _coupling_matrix(model_file.read_text(), adata.var_names)
    adata.uns["reference_orientation"] = ORIENTATION
    # scanpy's highlights use integer keys, which .h5ad cannot store
    adata.uns["highlights"] = {str(cell): label for cell, label in adata.uns.get("highlights", {}).items()}
    return adata
