"""C-NODE path penalty (Aliee et al. 2021): input-to-output path strength (feature sparsity)."""

from __future__ import annotations

import torch

from ..vector_field import VectorField
from .base import Regularizer, mean_path_product


class CNODE(Regularizer):
    """``lambda * mean(|W_L| ... |W_1|)``, computed with vector-matrix products (feature sparsity).

    With a soft prior (``field.penalty_weights``) the mean is weighted per input-output connection; connections
    an input mask forbids are not penalised (the mean is still over all ``n_features * n_inputs``).
    """

    name = "cnode"
    sparsity = "feature"
    default_lam = 0.1
    weighs_connections = True

    def penalty(self, field: VectorField) -> torch.Tensor:
        return self.lam * mean_path_product([layer.weight.abs() for layer in field.layers], field.connection_weights)
