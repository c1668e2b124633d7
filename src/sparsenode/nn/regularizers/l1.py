"""L1 penalty on all weights (weight sparsity)."""

from __future__ import annotations

import torch

from ..vector_field import VectorField
from .base import Regularizer


class L1(Regularizer):
    """``lambda * sum_l mean(|W_l|)`` over every layer's weights (weight sparsity)."""

    name = "l1"
    sparsity = "weight"
    default_lam = 0.01

    def penalty(self, field: VectorField) -> torch.Tensor:
        return self.lam * sum(layer.weight.abs().mean() for layer in field.layers)
