"""Argument checks shared by every layer (no torch; AnnData only as a type)."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from anndata import AnnData


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number: Python or numpy, not ``bool``."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def checked_bool(name: str, value: Any) -> bool:
    """``value`` as a ``bool``, refusing anything but ``True``/``False`` (Python or numpy): a string such as
    ``"false"`` would otherwise read as ``True``."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name}={value!r} must be True or False")
    return bool(value)


def checked_real(name: str, value: Any, *, positive: bool = False) -> float:
    """``value`` as a ``float``, refusing with a :class:`ValueError` naming ``name`` anything but a finite real
    number ``>= 0`` (``> 0`` when ``positive``)."""
    if not is_real(value) or not np.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name}={value!r} must be a finite number {'> 0' if positive else '>= 0'}")
    return float(value)


def check_positive_int(name: str, value: Any) -> None:
    """Raise a :class:`ValueError` naming ``name`` unless ``value`` is an integer >= 1 (Python or numpy, not
    ``bool``)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer")


def gene_positions(adata: AnnData, genes: Any) -> np.ndarray:
    """Positions of ``genes`` in ``adata.var_names`` (-1 for absent ones), refusing non-unique var_names: the
    tools write gene x gene matrices over all of ``adata.var_names``, which needs one row per name."""
    if not adata.var_names.is_unique:
        duplicated = adata.var_names[adata.var_names.duplicated()].unique()[:10].tolist()
        raise ValueError(f"adata.var_names are not unique ({duplicated} occur more than once); call "
                         "adata.var_names_make_unique() first")
    return adata.var_names.get_indexer(genes)
