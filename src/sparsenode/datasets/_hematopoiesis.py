"""Human bone-marrow differentiation trajectories and a motif-based prior network (PathReg data)."""

from __future__ import annotations

import gzip
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from .._keys import ORIENTATION
from ._cache import fetch, missing_file_message, not_found_reason, user_data_dir

logger = logging.getLogger(__name__)

DONOR_CODES: dict[str, str] = {"s1d1": "11", "s1d2": "12", "s2d1": "21", "s2d4": "24", "s3d6": "36"}
"""Donor names (site and donor of the NeurIPS 2021 multiome data) and their codes in the file names."""

LINEAGE_PREFIXES: dict[str, str] = {"erythroid": "eryth", "monocyte": "mono", "B": "B"}
"""Lineage names and their prefixes in the file names."""

_BASE_GRN = "pathreg/TFs_Targets/tf_targets_baseGRN_human_matrix.csv.gz"


def _trajectory_file(lineage: str, donor: str) -> str:
    """Path of one trajectory file relative to a data folder."""
    return f"pathreg/trajectories/{LINEAGE_PREFIXES[lineage]}_{DONOR_CODES[donor]}_norm.csv"


def _validated_selection(
    requested: str | Iterable[str] | None, valid: Mapping[str, str], what: str
) -> list[str]:
    """The requested names in canonical order, all names for ``None``; rejects unknown names."""
    if requested is None:
        return list(valid)
    requested_names = {requested} if isinstance(requested, str) else set(requested)
    unknown = sorted(map(str, requested_names - set(valid)))
    if unknown:
        raise ValueError(f"Unknown {what} {unknown}; choose from {list(valid)}.")
    if not requested_names:
        raise ValueError(f"No {what} selected; choose from {list(valid)}.")
    return [name for name in valid if name in requested_names]


def _read_trajectory(file: Path) -> pd.DataFrame:
    """One trajectory table: rows = cells, index = diffusion pseudotime, columns = genes."""
    return pd.read_csv(file, sep="\t", index_col=0, engine="c")


def _reference_network(grn_file: Path, genes: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Prior network (row = target, column = TF) and the TF mask, restricted to ``genes``."""
    with gzip.open(grn_file, "rt") as handle:
        header = handle.readline().rstrip("\n").split(",")
    gene_set = set(genes)
    tf_column, targets = header[0], [name for name in header[1:] if name in gene_set]
    tf_by_target = pd.read_csv(
        grn_file,
        index_col=0,
        usecols=[tf_column, *targets],
        dtype=dict.fromkeys(targets, np.float32),
        engine="c",
    )
    is_tf = genes.isin(tf_by_target.index)
    reference = tf_by_target.reindex(index=genes, columns=genes, fill_value=0.0).to_numpy(np.float32).T
    return np.ascontiguousarray(reference), is_tf


def hematopoiesis(
    donors: str | Iterable[str] | None = None,
    *,
    lineages: str | Iterable[str] | None = None,
    path: str | os.PathLike[str] | None = None,
) -> AnnData:
    """Human hematopoiesis trajectories of 529 genes for three lineages and five donors.

    The curated data of PathReg (github.com/theislab/PathReg, MIT licence), from the processed gene
    expression part of the NeurIPS 2021 bone-marrow multiome data. Each lineage of each donor is one
    trajectory: erythroid (HSC to normoblast), monocyte (HSC to CD16+ monocyte) and B (HSC to naive
    B cell); root HSCs appear in all three lineages of their donor.

    Parameters
    ----------
    donors
        Donor names among ``"s1d1"``, ``"s1d2"``, ``"s2d1"``, ``"s2d4"``, ``"s3d6"``; all by default.
    lineages
        Lineage names among ``"erythroid"``, ``"monocyte"``, ``"B"``; all by default.
    path
        Data folder laid out like ``SPARSENODE_DATA_DIR`` (holding ``pathreg/``). By default the
        environment variable ``SPARSENODE_DATA_DIR``, else the files are downloaded into
        ``~/.cache/sparsenode`` (or ``$XDG_CACHE_HOME/sparsenode``).

    Returns
    -------
    One row per cell of each trajectory file, in file order (not sorted by pseudotime), with

    - ``X``: float32, the authors' exported expression values (not min-max scaled);
    - ``obs["donor"]``, ``obs["lineage"]`` (categorical) and ``obs["dpt_pseudotime"]`` (float,
      diffusion pseudotime per donor); ``obs_names`` ``"<donor>_<lineage>_<row>"``;
    - ``var["is_tf"]``: the gene is a TF of the base GRN;
    - ``varp["reference"]``: float32 0/1 motif-based base GRN, row = target, column = TF regulator;
    - ``uns["reference_orientation"]``: ``"row=target, column=regulator"``.

    Raises
    ------
    ValueError
        On unknown donor or lineage names, or trajectory files with different genes.
    FileNotFoundError
        If the prior network is missing, a selected donor has no trajectory file at all, or a
        download fails.

    Notes
    -----
    A trajectory file absent from a local data folder is skipped with a logged warning; the shared
    copy lacks ``eryth_24_norm.csv`` (erythroid, donor s2d4).
    """
    donor_names = _validated_selection(donors, DONOR_CODES, "donors")
    lineage_names = _validated_selection(lineages, LINEAGE_PREFIXES, "lineages")
    chosen_folder = user_data_dir(path)
    grn_file = fetch(_BASE_GRN, path=path)

    tables: list[pd.DataFrame] = []
    files: list[Path] = []
    obs_parts: list[pd.DataFrame] = []
    for donor in donor_names:
        n_tables_before = len(tables)
        for lineage in lineage_names:
            relative = _trajectory_file(lineage, donor)
            try:
                file = fetch(relative, path=path)
            except FileNotFoundError:
                if chosen_folder is None:
                    raise
                reason = not_found_reason(relative, chosen_folder)
                logger.warning("Skipping the %s trajectory of donor %s: %s", lineage, donor, reason)
                continue
            table = _read_trajectory(file)
            if tables and not table.columns.equals(tables[0].columns):
                raise ValueError(f"{file} has other gene columns than {files[0]}.")
            tables.append(table)
            files.append(file)
            obs_parts.append(
                pd.DataFrame(
                    {"donor": donor, "lineage": lineage, "dpt_pseudotime": table.index.to_numpy(np.float64)},
                    index=[f"{donor}_{lineage}_{row}" for row in range(len(table))],
                )
            )
        if len(tables) == n_tables_before:
            reason = f"Donor {donor!r} has no trajectory file for {lineage_names} in {chosen_folder}."
            first_missing = _trajectory_file(lineage_names[0], donor)
            raise FileNotFoundError(missing_file_message(first_missing, reason=reason))

    obs = pd.concat(obs_parts)
    obs["donor"] = pd.Categorical(obs["donor"], categories=donor_names)
    obs["lineage"] = pd.Categorical(obs["lineage"], categories=lineage_names)
    genes = pd.Index(tables[0].columns.astype(str))
    reference, is_tf = _reference_network(grn_file, genes)
    adata = AnnData(
        X=np.concatenate([table.to_numpy(np.float32) for table in tables]),
        obs=obs,
        var=pd.DataFrame({"is_tf": is_tf}, index=genes),
    )
    adata.varp["reference"] = reference
    adata.uns["reference_orientation"] = ORIENTATION
    return adata
