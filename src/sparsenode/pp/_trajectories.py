"""Turn an :class:`~anndata.AnnData` into time-ordered gene-expression trajectories."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse

if TYPE_CHECKING:
    import numpy.typing as npt
    from anndata import AnnData

logger = logging.getLogger(__name__)

ALL = "all"
SCALINGS = ("global", "trajectory", "none")
MAX_LISTED = 10
#: A gene whose range within the scaled points is at most this share of its magnitude counts as constant.
CONSTANT_TOLERANCE = 1e-9
COUNT_DATA_MIN_MAX = 50


@dataclass(frozen=True, eq=False, repr=False)
class Trajectories:
    """Time-ordered trajectories of cells, one per lineage and batch, ready for an ODE fit.

    Created by :func:`sparsenode.pp.trajectories`. Trajectory ``k`` has ``n_k`` points; a point is one
    cell, or the mean of the cells of one non-empty time bin when ``n_bins`` was given.

    Attributes
    ----------
    names
        Name of each trajectory: ``"batch/lineage"`` when ``batch_key`` was given, else ``"lineage"``.
    lineages
        Lineage of each trajectory (``"all"`` without ``lineage_key``).
    batches
        Batch of each trajectory (``"all"`` without ``batch_key``).
    time
        Per trajectory, float64 array ``(n_k,)`` of scaled point times, non-decreasing.
    expression
        Per trajectory, float32 array ``(n_k, n_genes)`` of scaled point expression.
    cells
        Per trajectory, int64 array of the obs positions (``adata`` row numbers) of the cells kept in
        the trajectory (after ``trim``), in time order. A cell shared by several lineages appears in each.
    cell_to_point
        Per trajectory, int64 array of the same length as ``cells[k]``: the point each cell went into.
        It is non-decreasing and every point has at least one cell. Without binning it is
        ``arange(n_k)``, so ``cells[k][p]`` is the cell of point ``p``; with binning the cells of point
        ``p`` are ``cells[k][cell_to_point[k] == p]``.
    genes
        Names of the genes, in the column order of ``expression``.
    offset
        float64 array ``(n_trajectories, n_genes)``; input units = scaled * ``scale`` + ``offset``.
        Rows are identical for ``scale="global"``; zeros for ``scale="none"``.
    scale
        float64 array ``(n_trajectories, n_genes)``, positive; 1 for constant genes and ``scale="none"``.
    time_offset
        float64 array ``(n_trajectories,)``; input time = scaled time * ``time_scale`` + ``time_offset``.
        Zeros unless ``scale="trajectory"``.
    time_scale
        float64 array ``(n_trajectories,)``, positive; ones unless ``scale="trajectory"``.
    params
        The arguments used (JSON-serialisable); ``genes`` holds the selected gene names, or ``None``.
    """

    names: list[str]
    lineages: list[str]
    batches: list[str]
    time: list[np.ndarray]
    expression: list[np.ndarray]
    cells: list[np.ndarray]
    cell_to_point: list[np.ndarray]
    genes: list[str]
    offset: np.ndarray
    scale: np.ndarray
    time_offset: np.ndarray
    time_scale: np.ndarray
    params: dict[str, Any]

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return (
            f"Trajectories(n_trajectories={self.n_trajectories}, n_genes={self.n_genes}, "
            f"n_points={[len(time) for time in self.time]}, scale={self.params['scale']!r}, "
            f"names={self.names})"
        )

    @property
    def n_trajectories(self) -> int:
        """Number of trajectories."""
        return len(self.names)

    @property
    def n_genes(self) -> int:
        """Number of genes (columns of every ``expression`` array)."""
        return len(self.genes)

    def point_of_cells(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Obs positions of the cells of trajectory ``k`` and the point each one went into.

        Parameters
        ----------
        k
            Trajectory index.

        Returns
        -------
        Two int64 arrays of equal length: obs positions (``adata`` row numbers) and point indices, so
        that a fitted value per point ``fitted[k][points]`` can be written to rows ``obs`` of ``adata``.
        """
        return self.cells[k], self.cell_to_point[k]

    def point_means(self, values: np.ndarray) -> list[np.ndarray]:
        """Average per-cell values (e.g. a velocity layer) over the cells of every trajectory point.

        Parameters
        ----------
        values
            Array ``(n_obs, n_genes)``: one row per cell of the AnnData the trajectories were built from, one
            column per trajectory gene (NaN: unknown, left out of the means).

        Returns
        -------
        Per trajectory, float64 array ``(n_k, n_genes)`` of point means (NaN where no cell of the point has a
        value), in the units of ``values``.
        """
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != self.n_genes:
            raise ValueError(f"values must be (n_obs, {self.n_genes}); got {values.shape}")
        means = []
        for k in range(self.n_trajectories):
            cells, points = self.point_of_cells(k)
            known = np.isfinite(values[cells])
            total = np.zeros((len(self.time[k]), self.n_genes))
            count = np.zeros_like(total)
            np.add.at(total, points, np.where(known, values[cells], 0.0))
            np.add.at(count, points, known)
            with np.errstate(invalid="ignore", divide="ignore"):
                means.append(total / count)
        return means

    def scale_expression(self, k: int, values: npt.ArrayLike) -> np.ndarray:
        """Convert expression of trajectory ``k`` from input units to scaled units.

        Parameters
        ----------
        k
            Trajectory index.
        values
            Array ``(..., n_genes)`` in the units of the input layer.

        Returns
        -------
        float64 array of the same shape, ``(values - offset[k]) / scale[k]``.
        """
        values = self._gene_values(values)
        return (values - self.offset[k]) / self.scale[k]

    def unscale_expression(self, k: int, values: npt.ArrayLike) -> np.ndarray:
        """Convert expression of trajectory ``k`` from scaled units back to input units.

        Parameters
        ----------
        k
            Trajectory index.
        values
            Array ``(..., n_genes)`` in scaled units (as in ``expression[k]``).

        Returns
        -------
        float64 array of the same shape, ``values * scale[k] + offset[k]``.
        """
        values = self._gene_values(values)
        return values * self.scale[k] + self.offset[k]

    def scale_time(self, k: int, t: npt.ArrayLike) -> np.ndarray:
        """Convert times of trajectory ``k`` from input units to scaled units.

        Parameters
        ----------
        k
            Trajectory index.
        t
            Times in the units of ``adata.obs[time_key]``.

        Returns
        -------
        float64 array, ``(t - time_offset[k]) / time_scale[k]``.
        """
        return (np.asarray(t, dtype=np.float64) - self.time_offset[k]) / self.time_scale[k]

    def unscale_time(self, k: int, t: npt.ArrayLike) -> np.ndarray:
        """Convert times of trajectory ``k`` from scaled units back to input units.

        Parameters
        ----------
        k
            Trajectory index.
        t
            Scaled times (as in ``time[k]``).

        Returns
        -------
        float64 array, ``t * time_scale[k] + time_offset[k]``.
        """
        return np.asarray(t, dtype=np.float64) * self.time_scale[k] + self.time_offset[k]

    def with_scaling(
        self,
        names: Sequence[str],
        offset: np.ndarray,
        scale: np.ndarray,
        time_offset: np.ndarray,
        time_scale: np.ndarray,
    ) -> Trajectories:
        """The same trajectories expressed in another scaling, e.g. the one a model was fitted in or that of
        other (binned) trajectories of the same names.

        Parameters
        ----------
        names
            Trajectory names of the rows of the arrays below; every name of these trajectories must be among them.
        offset, scale
            ``(len(names), n_genes)``: input units = scaled * ``scale`` + ``offset``.
        time_offset, time_scale
            ``(len(names),)``: input time = scaled time * ``time_scale`` + ``time_offset``.

        Returns
        -------
        New trajectories with the given scaling and the expression and times converted to it.
        """
        names = list(names)
        missing = [name for name in self.names if name not in names]
        if missing:
            raise KeyError(f"trajectories {missing} are not among the names of the given scaling {names}")
        rows = [names.index(name) for name in self.names]
        arrays = {"offset": offset, "scale": scale, "time_offset": time_offset, "time_scale": time_scale}
        arrays = {name: np.asarray(array, dtype=np.float64) for name, array in arrays.items()}
        for name, array in arrays.items():
            if array.shape[:1] != (len(names),) or array.shape[1:] != getattr(self, name).shape[1:]:
                raise ValueError(f"{name} has shape {array.shape}; {len(names)} rows of shape "
                                 f"{getattr(self, name).shape[1:]} are needed")
        offset, scale, time_offset, time_scale = (array[rows] for array in arrays.values())
        return replace(
            self,
            expression=[((self.unscale_expression(k, values) - offset[k]) / scale[k]).astype(np.float32)
                        for k, values in enumerate(self.expression)],
            time=[(self.unscale_time(k, times) - time_offset[k]) / time_scale[k] for k, times in enumerate(self.time)],
            offset=offset, scale=scale, time_offset=time_offset, time_scale=time_scale,
        )

    def to_arrays(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Copies of the scaled data for a numpy-level estimator ``fit(X_list, t_list)``.

        Returns
        -------
        ``(expression, time)``: lists of float32 ``(n_k, n_genes)`` and float64 ``(n_k,)`` arrays.
        """
        return [values.copy() for values in self.expression], [times.copy() for times in self.time]

    def _gene_values(self, values: npt.ArrayLike) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 0 or values.shape[-1] != self.n_genes:
            msg = f"Expected values with a last axis of n_genes={self.n_genes}, got shape {values.shape}."
            raise ValueError(msg)
        return values


@dataclass(frozen=True)
class _Layout:
    """Which cells form one trajectory and which point each cell goes into (no expression yet)."""

    name: str
    lineage: str
    batch: str
    cells: np.ndarray
    cell_to_point: np.ndarray


def trajectories(
    adata: AnnData,
    *,
    time_key: str,
    lineage_key: str | None = None,
    batch_key: str | None = None,
    layer: str | None = None,
    genes: Sequence[str] | npt.ArrayLike | None = None,
    n_bins: int | None = None,
    scale: Literal["global", "trajectory", "none"] = "global",
    trim: tuple[int, int] | None = None,
    min_cells: int = 3,
) -> Trajectories:
    """Split cells into time-ordered trajectories (one per lineage and batch) and scale them.

    A trajectory holds the cells of one lineage within one batch, sorted by ``adata.obs[time_key]``
    (stable sort). Cells with a missing lineage or batch belong to no trajectory; a lineage-batch
    combination without cells is skipped. ``adata`` is never modified.

    Parameters
    ----------
    adata
        Annotated data matrix, cells x genes.
    time_key
        Numeric column of ``adata.obs`` ordering the cells (pseudotime, latent time or real time).
    lineage_key
        Either a column of ``adata.obs`` (each cell in one lineage; unused categories are ignored) or a
        key of ``adata.obsm`` holding a boolean cells x lineages table: a :class:`~pandas.DataFrame`
        with lineage names as columns, or a numpy bool array (lineages named ``"0"``, ``"1"``, ...).
        With a table a cell may belong to several lineages (shared root cells) and then appears in
        each. ``adata.obs`` is searched first. ``None`` puts every cell in one lineage ``"all"``.
    batch_key
        Column of ``adata.obs`` with the batch (e.g. donor); ``None`` makes one batch ``"all"``.
    layer
        Key of ``adata.layers`` to use; ``None`` uses ``adata.X``. Dense or :mod:`scipy.sparse`.
    genes
        ``None`` for all genes, a sequence of gene names (order kept), a boolean mask of length ``n_vars``, or
        the name of a boolean ``adata.var`` column (e.g. ``"highly_variable"``, as scanpy writes it).
    n_bins
        If given, average the cells of each trajectory in ``n_bins`` equal-width bins over that
        trajectory's time range; empty bins are dropped and a bin's time is the mean time of its cells.
    scale
        ``"global"``: min-max scale each gene to [0, 1] over the points of all trajectories.
        ``"trajectory"``: min-max scale each gene and the time to [0, 1] within each trajectory.
        ``"none"``: keep the input values. Constant genes get scale 1 and a logged warning.
    trim
        ``(first, last)``: drop the first ``first`` and last ``last`` cells of each trajectory after
        sorting, before binning.
    min_cells
        Least number of points (at least 2) a trajectory must have after trimming and binning.

    Returns
    -------
    The trajectories with their scaled points, cell-to-point maps and the scaling to undo.

    Raises
    ------
    KeyError
        If ``time_key``, ``lineage_key``, ``batch_key``, ``layer``, a gene name or a ``genes`` column is missing.
    TypeError
        If the time column is not numeric or an argument has the wrong type.
    ValueError
        If times or expression are NaN/inf, gene names are duplicated, a trajectory is too short or
        has constant time, an obsm lineage has no cells, ``adata`` is empty, or an option is invalid.
    """
    _check_options(n_bins=n_bins, scale=scale, trim=trim, min_cells=min_cells)
    if adata.n_obs == 0 or adata.n_vars == 0:
        msg = (
            f"adata is empty ({adata.n_obs} cells x {adata.n_vars} genes); trajectories need cells and genes."
        )
        raise ValueError(msg)
    matrix = _expression_matrix(adata, layer)
    gene_positions = _gene_positions(adata, genes)
    gene_names = adata.var_names[gene_positions].astype(str).tolist()
    time = _time_values(adata, time_key)
    lineage_names, membership = _lineage_membership(adata, lineage_key)
    batch_names, batch_codes = _batch_codes(adata, batch_key)
    _check_finite_time(adata, time, membership.any(axis=1) & (batch_codes >= 0), time_key)

    layouts = _layouts(
        time,
        lineage_names=lineage_names,
        membership=membership,
        batch_names=batch_names,
        batch_codes=batch_codes,
        named_by_batch=batch_key is not None,
        time_key=time_key,
        n_bins=n_bins,
        trim=trim or (0, 0),
        min_cells=min_cells,
    )
    used_cells = np.unique(np.concatenate([layout.cells for layout in layouts]))
    values = _dense_selection(matrix, used_cells, gene_positions)
    _check_expression(values, adata.obs_names[used_cells], gene_names, layer)

    point_values = []
    point_times = []
    for layout in layouts:
        starts = np.flatnonzero(np.diff(layout.cell_to_point, prepend=-1))
        counts = np.diff(starts, append=layout.cells.size)
        rows = np.searchsorted(used_cells, layout.cells)
        point_values.append(np.add.reduceat(values[rows], starts, axis=0, dtype=np.float64) / counts[:, None])
        point_times.append(np.add.reduceat(time[layout.cells], starts) / counts)

    offset, gene_scale, time_offset, time_scale = _scaling(
        point_values,
        point_times,
        scale=scale,
        gene_names=gene_names,
        names=[layout.name for layout in layouts],
    )
    params = {
        "time_key": time_key,
        "lineage_key": lineage_key,
        "batch_key": batch_key,
        "layer": layer,
        "genes": None if genes is None else gene_names,
        "n_bins": None if n_bins is None else int(n_bins),
        "scale": scale,
        "trim": None if trim is None else [int(trim[0]), int(trim[1])],
        "min_cells": int(min_cells),
    }
    return Trajectories(
        names=[layout.name for layout in layouts],
        lineages=[layout.lineage for layout in layouts],
        batches=[layout.batch for layout in layouts],
        time=[(times - time_offset[k]) / time_scale[k] for k, times in enumerate(point_times)],
        expression=[
            ((points - offset[k]) / gene_scale[k]).astype(np.float32) for k, points in enumerate(point_values)
        ],
        cells=[layout.cells for layout in layouts],
        cell_to_point=[layout.cell_to_point for layout in layouts],
        genes=gene_names,
        offset=offset,
        scale=gene_scale,
        time_offset=time_offset,
        time_scale=time_scale,
        params=params,
    )


def _check_options(*, n_bins: int | None, scale: str, trim: tuple[int, int] | None, min_cells: int) -> None:
    if scale not in SCALINGS:
        msg = f"scale={scale!r} is not supported; use one of {list(SCALINGS)}."
        raise ValueError(msg)
    if not _is_int(min_cells) or min_cells < 2:
        msg = f"min_cells={min_cells!r} must be an integer >= 2 (a trajectory needs two time points)."
        raise ValueError(msg)
    if n_bins is not None and (not _is_int(n_bins) or n_bins < 1):
        msg = f"n_bins={n_bins!r} must be a positive integer, or None for no binning."
        raise ValueError(msg)
    if trim is not None and (
        isinstance(trim, str)
        or not isinstance(trim, Sequence)
        or len(trim) != 2
        or not all(_is_int(count) and count >= 0 for count in trim)
    ):
        msg = f"trim={trim!r} must be a pair of non-negative integers (first, last), or None."
        raise ValueError(msg)


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _listed(items: Sequence[object]) -> str:
    shown = ", ".join(repr(str(item)) for item in items[:MAX_LISTED])
    return f"[{shown}{', ...' if len(items) > MAX_LISTED else ''}]"


def _expression_matrix(adata: AnnData, layer: str | None) -> Any:
    if layer is None:
        if adata.X is None:
            msg = "adata.X is None; pass layer= naming one of adata.layers."
            raise ValueError(msg)
        return adata.X
    if layer not in adata.layers:
        msg = f"Layer {layer!r} not found in adata.layers; available layers: {list(adata.layers.keys())}."
        raise KeyError(msg)
    return adata.layers[layer]


def _gene_positions(adata: AnnData, genes: Sequence[str] | npt.ArrayLike | None) -> np.ndarray:
    positions = np.arange(adata.n_vars) if genes is None else selected_gene_positions(adata, genes, name="genes")
    if positions.size == 0:
        msg = "genes selects no genes; pass None (all genes), gene names or a mask with some True."
        raise ValueError(msg)
    repeated = adata.var_names[positions[pd.Index(positions).duplicated()]].unique()
    if repeated.size:
        msg = f"Genes {_listed(repeated)} are listed more than once in genes; list each gene once."
        raise ValueError(msg)
    selected = adata.var_names[positions]
    duplicated = selected[selected.duplicated()].unique()
    if duplicated.size:
        msg = (
            f"Gene names {_listed(duplicated)} occur more than once among the selected genes; "
            "call adata.var_names_make_unique() first."
        )
        raise ValueError(msg)
    return positions


def selected_gene_positions(
    adata: AnnData, selection: Any, *, name: str, missing: Literal["raise", "ignore"] = "raise"
) -> np.ndarray:
    """Positions in ``adata.var_names`` of a user's gene selection, the one reading of every gene argument.

    Parameters
    ----------
    adata
        The annotated data.
    selection
        Gene names (kept in the given order; a set in ``var_names`` order), a boolean mask over
        ``adata.var_names`` (array, list or pandas Series) or the name of a boolean ``adata.var`` column.
    name
        The argument's name, for error messages.
    missing
        Names not in ``adata.var_names``: ``"raise"`` a :class:`KeyError`, or ``"ignore"`` them with a warning
        (gene sets from databases, such as transcription-factor lists, name genes a data set lacks).

    Returns
    -------
    Integer positions; empty when a mask or column selects nothing.

    Raises
    ------
    KeyError
        A string that is not an ``adata.var`` column, or names not in ``adata.var_names`` (``missing="raise"``).
    TypeError
        Numbers or other non-names (positions are not accepted: they change when genes are subset).
    ValueError
        An empty list, a mask of the wrong length or with missing values, or a non-boolean column.
    """
    if isinstance(selection, str):
        if selection not in adata.var.columns:
            msg = (
                f"{name}={selection!r} is not a column of adata.var (columns: {_listed(adata.var.columns)}); "
                f"for one gene pass {name}=[{selection!r}]."
            )
            raise KeyError(msg)
        return np.flatnonzero(boolean_var_column(adata, selection, argument=name))
    if isinstance(selection, set | frozenset):  # no order of its own: var order, then names not in var_names
        known = adata.var_names[adata.var_names.isin(list(selection))]
        selection = [*known, *sorted(selection - set(known), key=str)]
    if isinstance(selection, pd.Series | pd.Index) and pd.api.types.is_bool_dtype(selection.dtype):
        if selection.isna().any():
            msg = f"{name} as a boolean mask has missing values; fill them (e.g. .fillna(False)) first."
            raise ValueError(msg)
        selection = selection.to_numpy(dtype=bool)
    requested = np.asarray(selection)
    if requested.size == 0:
        msg = (
            f"{name}={selection!r} names no gene; pass gene names, a boolean mask of adata.var_names or a "
            "boolean adata.var column."
        )
        raise ValueError(msg)
    if requested.dtype == bool:
        if requested.shape != (adata.n_vars,):
            msg = f"{name} as a boolean mask has shape {requested.shape}; expected ({adata.n_vars},) = n_vars."
            raise ValueError(msg)
        return np.flatnonzero(requested)
    numbers = np.issubdtype(requested.dtype, np.number)
    if numbers or (requested.dtype == object and not all(isinstance(value, str) for value in requested.ravel())):
        msg = (
            f"{name} holds {'numbers' if numbers else 'values that are not gene names'} "
            f"({requested.ravel()[:MAX_LISTED].tolist()}); pass gene names, a boolean mask of adata.var_names or a "
            "boolean adata.var column."
        )
        raise TypeError(msg)
    return _positions_of_names(adata.var_names, pd.Index(requested.ravel().astype(str)), name=name, missing=missing)


def boolean_var_column(adata: AnnData, column: str, *, argument: str) -> np.ndarray:
    """``adata.var[column]`` as a boolean mask, or a :class:`ValueError` naming ``argument`` when the column is not
    boolean or has missing values (the column must exist)."""
    values = adata.var[column]
    if not pd.api.types.is_bool_dtype(values) or values.isna().any():
        raise ValueError(f"{argument}={column!r}: adata.var[{column!r}] must be a boolean column without missing "
                         f"values, got dtype {values.dtype}")
    return values.to_numpy(dtype=bool)


def _positions_of_names(var_names: pd.Index, requested: pd.Index, *, name: str,
                        missing: Literal["raise", "ignore"] = "raise") -> np.ndarray:
    absent = requested[~requested.isin(var_names)].unique()
    if absent.size and missing == "raise":
        msg = f"{name}: {absent.size} requested genes not found in adata.var_names: {_listed(absent)}."
        raise KeyError(msg)
    if absent.size:
        logger.warning("%s: %d of the %d genes are not in adata.var_names and are ignored: %s", name, absent.size,
                       requested.unique().size, _listed(absent))
        requested = requested[requested.isin(var_names)]
    return var_names.get_indexer_for(requested)


def _time_values(adata: AnnData, time_key: str) -> np.ndarray:
    if time_key not in adata.obs.columns:
        msg = f"time_key {time_key!r} not found in adata.obs; available columns: {list(adata.obs.columns)}."
        raise KeyError(msg)
    column = adata.obs[time_key]
    if pd.api.types.is_datetime64_any_dtype(column) or pd.api.types.is_timedelta64_dtype(column):
        elapsed = f"adata.obs[{time_key!r}]"
        if pd.api.types.is_datetime64_any_dtype(column):
            elapsed = f"({elapsed} - {elapsed}.min())"
        msg = (
            f"adata.obs[{time_key!r}] holds dates or durations ({column.dtype}); time must be a number in a unit "
            f"of your choice, e.g. days: adata.obs['days'] = {elapsed} / pd.Timedelta(days=1), then time_key='days'."
        )
        raise TypeError(msg)
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        msg = (
            f"adata.obs[{time_key!r}] has dtype {column.dtype}; time must be numeric "
            f"(convert it, e.g. adata.obs[{time_key!r}].astype(float))."
        )
        raise TypeError(msg)
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def _codes(column: pd.Series) -> tuple[list[str], np.ndarray]:
    """Names of the used categories of an obs column and each cell's code (-1 when missing)."""
    categorical = pd.Categorical(column).remove_unused_categories()
    return [str(category) for category in categorical.categories], categorical.codes.astype(np.int64)


def _lineage_membership(adata: AnnData, lineage_key: str | None) -> tuple[list[str], np.ndarray]:
    """Lineage names and a boolean cells x lineages membership table."""
    if lineage_key is None:
        return [ALL], np.ones((adata.n_obs, 1), dtype=bool)
    if lineage_key in adata.obs.columns:
        names, codes = _codes(adata.obs[lineage_key])
        return names, codes[:, None] == np.arange(len(names))
    if lineage_key not in adata.obsm:
        msg = (
            f"lineage_key {lineage_key!r} found in neither adata.obs (columns: {list(adata.obs.columns)}) "
            f"nor adata.obsm (keys: {list(adata.obsm.keys())})."
        )
        raise KeyError(msg)
    table = adata.obsm[lineage_key]
    if isinstance(table, pd.DataFrame) and all(pd.api.types.is_bool_dtype(dtype) for dtype in table.dtypes):
        names = [str(column) for column in table.columns]
        membership = table.to_numpy(dtype=bool, na_value=False)
    elif isinstance(table, np.ndarray) and table.dtype == bool and table.ndim == 2:
        names = [str(index) for index in range(table.shape[1])]
        membership = table
    else:
        msg = (
            f"adata.obsm[{lineage_key!r}] must be a boolean cells x lineages table (a DataFrame of bool "
            f"columns or a 2-D numpy bool array), got {type(table).__name__}"
            + (f" of {np.asarray(table).dtype}" if hasattr(table, "shape") else "")
            + "; fate probabilities (CellRank, Palantir) must be turned into memberships first, e.g. "
            f"adata.obsm[{lineage_key!r}] > 0.5 (a cell may be in several lineages), not .astype(bool), which "
            "puts every cell with a non-zero probability in the lineage."
        )
        raise TypeError(msg)
    empty = [name for name, count in zip(names, membership.sum(axis=0), strict=True) if count == 0]
    if empty:
        msg = (
            f"Lineages {_listed(empty)} of adata.obsm[{lineage_key!r}] contain no cells; drop those columns."
        )
        raise ValueError(msg)
    return names, membership


def _batch_codes(adata: AnnData, batch_key: str | None) -> tuple[list[str], np.ndarray]:
    if batch_key is None:
        return [ALL], np.zeros(adata.n_obs, dtype=np.int64)
    if batch_key not in adata.obs.columns:
        msg = f"batch_key {batch_key!r} not found in adata.obs; available columns: {list(adata.obs.columns)}."
        raise KeyError(msg)
    return _codes(adata.obs[batch_key])


def _check_finite_time(adata: AnnData, time: np.ndarray, in_trajectory: np.ndarray, time_key: str) -> None:
    bad = in_trajectory & ~np.isfinite(time)
    if bad.any():
        msg = (
            f"adata.obs[{time_key!r}] is NaN or infinite in {bad.sum()} cells that belong to a trajectory, "
            f"e.g. {_listed(adata.obs_names[bad])}; fill them or remove those cells."
        )
        raise ValueError(msg)


def _layouts(
    time: np.ndarray,
    *,
    lineage_names: list[str],
    membership: np.ndarray,
    batch_names: list[str],
    batch_codes: np.ndarray,
    named_by_batch: bool,
    time_key: str,
    n_bins: int | None,
    trim: tuple[int, int],
    min_cells: int,
) -> list[_Layout]:
    """Sort, trim and bin the cells of every lineage-batch combination (times only, no expression)."""
    first, last = trim
    layouts = []
    for batch_index, batch in enumerate(batch_names):
        for lineage_index, lineage in enumerate(lineage_names):
            name = f"{batch}/{lineage}" if named_by_batch else lineage
            members = np.flatnonzero((batch_codes == batch_index) & membership[:, lineage_index])
            if members.size == 0:
                logger.info("No cells in lineage %r of batch %r; skipping that trajectory.", lineage, batch)
                continue
            ordered = members[np.argsort(time[members], kind="stable")]
            cells = ordered[first : max(ordered.size - last, first)]
            if cells.size < min_cells:
                msg = (
                    f"Trajectory {name!r} has {cells.size} cells after trim={trim} (of {members.size}), "
                    f"fewer than min_cells={min_cells}; lower trim or min_cells, or drop that lineage/batch."
                )
                raise ValueError(msg)
            cell_times = time[cells]
            if cell_times[0] == cell_times[-1]:
                msg = (
                    f"adata.obs[{time_key!r}] is constant ({cell_times[0]}) within trajectory {name!r}; "
                    "a trajectory needs cells at different times."
                )
                raise ValueError(msg)
            cell_to_point = np.arange(cells.size) if n_bins is None else _bin_of_cells(cell_times, n_bins)
            n_points = cell_to_point[-1] + 1
            if n_points < min_cells:
                msg = (
                    f"Trajectory {name!r} has {n_points} non-empty time bins (n_bins={n_bins}), "
                    f"fewer than min_cells={min_cells}; increase n_bins or lower min_cells."
                )
                raise ValueError(msg)
            layouts.append(_Layout(name, lineage, batch, cells, cell_to_point))
    if not layouts:
        msg = "No cell belongs to both a lineage and a batch; check lineage_key and batch_key."
        raise ValueError(msg)
    names = [layout.name for layout in layouts]
    shared = sorted({name for name in names if names.count(name) > 1})
    if shared:
        msg = (
            f"Trajectory names {shared} ('batch/lineage') are shared by different batch-lineage combinations, "
            "whose labels contain '/'; rename those batches or lineages."
        )
        raise ValueError(msg)
    return layouts


def _bin_of_cells(sorted_times: np.ndarray, n_bins: int) -> np.ndarray:
    """Index of the non-empty equal-width time bin of each cell (bins closed on the left, last also right)."""
    edges = np.linspace(sorted_times[0], sorted_times[-1], n_bins + 1)
    bins = np.searchsorted(edges[1:-1], sorted_times, side="right")
    return np.unique(bins, return_inverse=True)[1].astype(np.int64)


def _dense_selection(matrix: Any, cells: np.ndarray, gene_positions: np.ndarray) -> np.ndarray:
    """Dense float copy of the selected cells x genes, densifying nothing else."""
    if sparse.issparse(matrix):
        selection = matrix[cells][:, gene_positions].toarray()
    else:
        selection = np.asarray(matrix)[np.ix_(cells, gene_positions)]
    dtype = selection.dtype if selection.dtype in (np.float32, np.float64) else np.float64
    return selection.astype(dtype, copy=False)


def _check_expression(
    values: np.ndarray, cell_names: pd.Index, gene_names: list[str], layer: str | None
) -> None:
    source = "adata.X" if layer is None else f"adata.layers[{layer!r}]"
    finite = np.isfinite(values)
    if not finite.all():
        bad_genes = [gene_names[gene] for gene in np.flatnonzero(~finite.all(axis=0))]
        bad_cells = cell_names[~finite.all(axis=1)]
        msg = (
            f"{source} has NaN or infinite values in {bad_cells.size} cells and {len(bad_genes)} genes "
            f"of the selection, e.g. genes {_listed(bad_genes)}, cells {_listed(bad_cells)}; "
            "fix or remove them first."
        )
        raise ValueError(msg)
    maximum = values.max()
    if maximum > COUNT_DATA_MIN_MAX and np.array_equal(values, np.round(values)):
        logger.warning(
            "%s looks like raw counts (integers up to %g); consider sc.pp.normalize_total and sc.pp.log1p "
            "before fitting (no transformation is applied).",
            source,
            maximum,
        )


def _scaling(
    point_values: list[np.ndarray],
    point_times: list[np.ndarray],
    *,
    scale: str,
    gene_names: list[str],
    names: list[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-trajectory ``offset``, ``scale`` (genes) and ``time_offset``, ``time_scale``."""
    n_trajectories, n_genes = len(point_values), len(gene_names)
    time_offset = np.zeros(n_trajectories)
    time_scale = np.ones(n_trajectories)
    if scale == "none":
        return (
            np.zeros((n_trajectories, n_genes)),
            np.ones((n_trajectories, n_genes)),
            time_offset,
            time_scale,
        )
    if scale == "global":
        stacked = np.concatenate(point_values)
        low = np.tile(stacked.min(axis=0), (n_trajectories, 1))
        high = np.tile(stacked.max(axis=0), (n_trajectories, 1))
    else:
        low = np.stack([points.min(axis=0) for points in point_values])
        high = np.stack([points.max(axis=0) for points in point_values])
        time_offset = np.array([times.min() for times in point_times])
        time_scale = np.array([times.max() for times in point_times]) - time_offset
    spread = high - low
    # round-off of time-bin means leaves ~1e-17 on a constant gene; min-max scaling would stretch it to [0, 1]
    constant = spread <= CONSTANT_TOLERANCE * np.maximum(np.abs(high), np.abs(low))
    if constant.any():
        if scale == "global":
            constant_names = [gene_names[gene] for gene in np.flatnonzero(constant[0])]
            where = "over all trajectories"
        else:
            trajectory_of, gene_of = np.nonzero(constant)
            constant_names = [
                f"{names[k]}: {gene_names[gene]}" for k, gene in zip(trajectory_of, gene_of, strict=True)
            ]
            where = "within a trajectory (trajectory: gene)"
        logger.warning(
            "%d genes are constant %s; they keep scale 1: %s",
            len(constant_names),
            where,
            _listed(constant_names),
        )
    spread[constant] = 1.0
    return low, spread, time_offset, time_scale
