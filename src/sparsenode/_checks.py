"""Argument checks shared by every layer (no AnnData, no torch)."""

from __future__ import annotations

import numbers
from typing import Any


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number: Python or numpy, not ``bool``."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_positive_int(name: str, value: Any) -> None:
    """Raise a :class:`ValueError` naming ``name`` unless ``value`` is an integer >= 1 (Python or numpy, not
    ``bool``)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer")
