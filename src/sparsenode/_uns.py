"""Values stored in ``adata.uns`` must survive ``.h5ad``: conversion both ways, in one place."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

#: How ``None`` is stored (``.h5ad`` cannot hold ``None``).
NONE = "None"


def to_json(value: Any) -> str:
    """``json.dumps`` that also takes numpy scalars and arrays (e.g. ``epochs=np.int64(5)``)."""
    return json.dumps(value, default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def to_h5ad_value(value: Any) -> Any:
    """Make a value writable to .h5ad: ``None`` -> ``"None"``, tuples/lists -> arrays, dicts -> JSON strings."""
    if value is None:
        return NONE
    if isinstance(value, dict):
        return to_json(value)
    if isinstance(value, tuple | list):
        return np.asarray(value)
    return value


def from_h5ad_value(value: Any) -> Any:
    """Inverse of :func:`to_h5ad_value` for scalars, strings and arrays (arrays become lists)."""
    if isinstance(value, str) and value == NONE:
        return None
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``uns[key]["params"]`` with every value converted back by :func:`from_h5ad_value`."""
    return {name: from_h5ad_value(value) for name, value in params.items()}
