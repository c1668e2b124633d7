"""Group lasso over the first layer's input columns (feature sparsity)."""

from __future__ import annotations

import torch

from ..vector_field import VectorField
from .base import Regularizer


class GroupLasso(Regularizer):
    """``lambda * mean_j ||W_1[:, j]||_2``: drives whole input columns of the first layer to zero.

    A zero column removes input ``j`` from every output, so the path-product dependencies (the default)
    have a zero column there; they also resolve which outputs each remaining input reaches.
    """

    name = "group_lasso"
    sparsity = "feature"
    default_lam = 0.1

    def penalty(self, field: VectorField) -> torch.Tensor:
        return self.lam * field.layers[0].weight.norm(dim=0).mean()
