"""Argument checks shared by every layer (no AnnData, no torch)."""

from __future__ import annotations

import numbers
from typing import Any


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number: Python or numpy, not ``bool``."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
