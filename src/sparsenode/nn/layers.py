"""Linear layers with optional hard-concrete gates on input units or on single weights."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from .gates import HardConcreteGate

GateMode = Literal["none", "unit", "weight"]


class GatedLinear(nn.Module):
    """``y = x (W * Z)^T + b`` with gates ``Z`` per input unit (``"unit"``), per weight (``"weight"``) or none.

    Parameters
    ----------
    in_features, out_features
        Layer sizes.
    gates
        ``"none"``: a plain linear layer; ``"unit"``: one gate per input unit, broadcast over the weight's
        columns (the released PathReg ``L0Dense``); ``"weight"``: one gate per weight.
    initial_open
        Initial open probability of the gates (see :class:`~sparsenode.nn.gates.HardConcreteGate`).
    """

    def __init__(
        self, in_features: int, out_features: int, *, gates: GateMode = "none", initial_open: float = 0.99
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        shapes = {"none": None, "unit": (in_features,), "weight": (out_features, in_features)}
        if gates not in shapes:
            raise ValueError(f"gates={gates!r} is not one of {sorted(shapes)}")
        self.gate_mode = gates
        shape = shapes[gates]
        self.gate = HardConcreteGate(shape, initial_open=initial_open) if shape is not None else None

    def gate_matrix(self, gates: torch.Tensor) -> torch.Tensor:
        """Broadcast gate values to the weight's shape ``(out_features, in_features)``.

        Parameters
        ----------
        gates
            Gate values (or open probabilities): ``(in_features,)`` for unit gates, one per input column, or
            ``(out_features, in_features)`` for weight gates.

        Returns
        -------
        ``(out_features, in_features)`` tensor (row = output, column = input): unit gates repeated in every
        row (an expanded view, not a copy), weight gates unchanged.
        """
        return gates.expand(self.out_features, self.in_features)

    def gated_weight(self, sample: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return ``(W * Z, Z)`` with sampled or deterministic gates; ``(W, None)`` without gates.

        Parameters
        ----------
        sample
            Draw the gates with hard-concrete noise (training) instead of using the deterministic gates.

        Returns
        -------
        The gated weight, an ``(out_features, in_features)`` tensor (row = output, column = input; the weight
        parameter itself without gates), and the gate values used, ``(in_features,)`` for ``"unit"`` gates,
        ``(out_features, in_features)`` for ``"weight"`` gates, ``None`` without gates.
        """
        if self.gate is None:
            return self.weight, None
        gates = self.gate(sample)
        return self.weight * gates, gates
