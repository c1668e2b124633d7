"""MLP vector fields ``dx/dt = f(x)`` (order 1) and ``d²x/dt² = f(x, dx/dt)`` (order 2)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from .layers import GatedLinear, GateMode

ACTIVATIONS = {"elu": F.elu, "tanh": torch.tanh, "relu": F.relu, "softplus": F.softplus, "silu": F.silu}


class VectorField(nn.Module):
    """An autonomous MLP vector field with optional gates and an optional linear skip connection.

    The network maps the state to the highest derivative: for ``order=1`` the state is ``x`` (``n_features``)
    and ``f(x)`` is ``dx/dt``; for ``order=2`` the state is ``(x, v)`` (``2 * n_features``) and the network
    gives the acceleration, so ``d(x, v)/dt = (v, f(x, v))`` (second-order NODE).

    Gated weights are computed once per solve by :meth:`prepare` (gates sampled once per solve, not at each
    function evaluation), so the right-hand side is only matrix products and activations.

    Parameters
    ----------
    n_features
        Number of observed features ``d``.
    hidden
        Hidden layer widths; ``(100, 100)`` gives ``d -> 100 -> 100 -> d`` as in the released PathReg code.
    order
        1 or 2.
    gates
        Gate mode of every layer (see :class:`~sparsenode.nn.layers.GatedLinear`).
    skip
        Add a linear skip connection ``theta x`` from the network input to the output (LassoNet).
    activation
        Name of the activation applied after every hidden layer.
    initial_open
        Initial open probability of the gates (see :class:`~sparsenode.nn.gates.HardConcreteGate`).
    resample_gates
        ``"solve"``: sampled gates are drawn once per solve by :meth:`prepare`; ``"evaluation"``: redrawn at every
        evaluation of the field while sampling (the released PathReg scheme; slower, for comparisons).
    """

    def __init__(
        self,
        n_features: int,
        *,
        hidden: Sequence[int] = (100, 100),
        order: int = 1,
        gates: GateMode = "none",
        skip: bool = False,
        activation: str = "elu",
        initial_open: float = 0.99,
        resample_gates: Literal["solve", "evaluation"] = "solve",
    ) -> None:
        super().__init__()
        if order not in (1, 2):
            raise ValueError(f"order={order!r}: only first- (1) and second-order (2) dynamics are supported")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r} is not one of {sorted(ACTIVATIONS)}")
        if resample_gates not in ("solve", "evaluation"):
            raise ValueError(f"resample_gates={resample_gates!r} must be 'solve' or 'evaluation'")
        self.n_features, self.order = n_features, order
        self.resample_every_evaluation = resample_gates == "evaluation"
        self._sampling = False
        self.n_inputs = order * n_features
        sizes = [self.n_inputs, *hidden, n_features]
        self.layers = nn.ModuleList(
            GatedLinear(n_in, n_out, gates=gates, initial_open=initial_open)
            for n_in, n_out in pairwise(sizes)
        )
        self.skip = nn.Linear(self.n_inputs, n_features, bias=False) if skip else None
        if self.skip is not None:
            nn.init.zeros_(self.skip.weight)
        self.activation = ACTIVATIONS[activation]
        self._weights: list[torch.Tensor] = []
        self._gates: list[torch.Tensor | None] = []
        self._biases: list[torch.Tensor] = []

    def prepare(self, *, sample: bool) -> None:
        """Compute the gated weights for the next solve, with sampled or deterministic gates."""
        self._sampling = sample
        pairs = [layer.gated_weight(sample) for layer in self.layers]
        self._weights = [weight for weight, _ in pairs]
        self._gates = [gates for _, gates in pairs]
        self._biases = [layer.bias for layer in self.layers]

    @property
    def current_weights(self) -> list[torch.Tensor]:
        """Gated weights of the current solve (call :meth:`prepare` first)."""
        if not self._weights:
            raise RuntimeError("VectorField.prepare() must be called before evaluating the field")
        return self._weights

    @property
    def current_gates(self) -> list[torch.Tensor | None]:
        """Gate values of the current solve, one entry per layer (``None`` without gates)."""
        self.current_weights  # noqa: B018 - raises when prepare() was not called
        return self._gates

    def network(self, state: torch.Tensor) -> torch.Tensor:
        """The MLP (plus skip connection) on a batch of network inputs ``(..., n_inputs)``."""
        weights, biases = self.current_weights, self._biases
        hidden = state
        for weight, bias in zip(weights[:-1], biases[:-1], strict=True):
            hidden = self.activation(F.linear(hidden, weight, bias))
        out = F.linear(hidden, weights[-1], biases[-1])
        if self.skip is not None:
            out = out + self.skip(state)
        return out

    def forward(self, t: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Time derivative of the ODE state (the signature ``torchdiffeq`` expects)."""
        if self.resample_every_evaluation and self._sampling:
            self.prepare(sample=True)
        if self.order == 1:
            return self.network(state)
        velocity = state[..., self.n_features :]
        return torch.cat([velocity, self.network(state)], dim=-1)
