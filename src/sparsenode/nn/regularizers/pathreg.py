"""PathReg (Aliee et al., NeurIPS 2022): L0 gates plus path penalties on weights and gates."""

from __future__ import annotations

from typing import Any

import torch

from ..layers import GateMode
from ..vector_field import VectorField
from .base import Regularizer, mean_path_product


class PathReg(Regularizer):
    """``lambda * mean(|W_L| ... |W_1|) + gate_weight * lambda * mean(Z_L ... Z_1)``.

    Parameters
    ----------
    lam
        Regularization strength.
    gates
        ``"unit"`` (as released): one hard-concrete gate per input unit of every layer; ``Z_l`` are the gates
        sampled for the current solve, broadcast over the layer. With unit gates ``(Z_L ... Z_1)_ij`` is the same
        for every output ``i``, so this term selects input features globally.
        ``"weight"``: one gate per weight; ``Z_l`` are the gates' open probabilities, so the term is the expected
        number of input-output paths (divided by ``n_outputs * n_inputs``): it sparsifies each input-output
        connection separately.
    gate_weight
        Relative weight of the gate term (0.1 as released).

    Notes
    -----
    Dependencies are the path product of the absolute gated weights with deterministic gates (per output,
    unlike the released gate-only product).
    """

    name = "pathreg"
    sparsity = "feature"

    def __init__(self, lam: float, *, gates: GateMode = "unit", gate_weight: float = 0.1) -> None:
        super().__init__(lam)
        if gates not in ("unit", "weight"):
            raise ValueError(f"PathReg gates={gates!r} must be 'unit' or 'weight'")
        self.gates, self.gate_weight = gates, float(gate_weight)

    @property
    def gate_mode(self) -> GateMode:
        return self.gates

    def gate_matrices(self, field: VectorField) -> list[torch.Tensor]:
        """``Z_l`` as ``(out_l, in_l)`` matrices: sampled unit gates, or open probabilities of weight gates."""
        if self.gates == "unit":
            return [layer.gate_matrix(gates) for layer, gates in zip(field.layers, field.current_gates, strict=True)]
        return [layer.gate.open_probability() for layer in field.layers]

    def penalty(self, field: VectorField) -> torch.Tensor:
        weight_paths = mean_path_product([layer.weight.abs() for layer in field.layers])
        gate_paths = mean_path_product(self.gate_matrices(field))
        return self.lam * (weight_paths + self.gate_weight * gate_paths)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "gates": self.gates, "gate_weight": self.gate_weight}
