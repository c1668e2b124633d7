"""No regularization: the plain neural ODE."""

from __future__ import annotations

import torch

from ..vector_field import VectorField
from .base import Regularizer


class NoRegularization(Regularizer):
    """Plain NODE; ``lam`` is ignored. Dependencies are the path product of absolute weights."""

    name = "none"

    def penalty(self, field: VectorField) -> torch.Tensor:
        return field.current_weights[0].new_zeros(())
