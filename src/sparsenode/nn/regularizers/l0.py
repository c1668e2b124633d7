"""Hard-concrete L0 gates on every weight (weight sparsity)."""

from __future__ import annotations

import torch

from ..layers import GateMode
from ..vector_field import VectorField
from .base import Regularizer


class L0(Regularizer):
    """One hard-concrete gate per weight; penalty ``lambda * sum_l mean(P(gate open))`` (expected L0 share).

    Louizos et al. (2018), stretch (-0.1, 1.1), temperature 2/3.
    """

    name = "l0"
    sparsity = "weight"

    @property
    def gate_mode(self) -> GateMode:
        return "weight"

    def penalty(self, field: VectorField) -> torch.Tensor:
        return self.lam * sum(layer.gate.open_probability().mean() for layer in field.layers)
