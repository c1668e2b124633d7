"""MLP vector fields ``dx/dt = f(x)`` (order 1) and ``d²x/dt² = f(x, dx/dt)`` (order 2)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from .gates import HardConcreteGate
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
    edge_gates
        Give every (output, input) connection its own hard-concrete gate ``Z_e``: output ``i`` is computed from
        the input masked by row ``i`` of ``Z_e`` (see Notes).
    input_mask
        Fixed ``(n_features, n_features)`` mask, row = output, column = input (or ``(n_features, n_inputs)``;
        for ``order=2`` a square mask is applied to positions and velocities alike): output ``i`` may only
        depend on inputs ``j`` with a non-zero ``input_mask[i, j]`` (prior knowledge, allowed regulators).
    penalty_weights
        Optional per-connection weights of the path penalties, same shape and orientation as ``input_mask``
        (a soft prior: smaller weights for known connections). Stored with the model; the regularizer uses them.
    decay
        Add a learned first-order decay ``-gamma * x`` per feature (``gamma = softplus(.) >= 0``, not penalised)
        to the network's output: ``f(x) = MLP(x) - gamma * x``, the production-minus-degradation form of
        gene-regulatory ODEs. Self-dependence then needs no path through the shared hidden layers, where it
        would create dependencies on every other input.

    Notes
    -----
    With edge gates or an input mask the network runs once per output on its own masked copy of the input
    (``f_i(x) = MLP(m_i * x)_i``), so a cost of ``n_features`` times the plain network; the hidden layers are
    shared by all outputs.
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
        edge_gates: bool = False,
        input_mask: torch.Tensor | None = None,
        penalty_weights: torch.Tensor | None = None,
        decay: bool = False,
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
        # softplus(-2.25) = 0.1: a slow initial decay
        self.decay_parameter = nn.Parameter(torch.full((n_features,), -2.25)) if decay else None
        self.edge_gate = HardConcreteGate((n_features, self.n_inputs), initial_open=initial_open) if edge_gates else None
        self.register_buffer("input_mask", self._connection_matrix(input_mask, "input_mask"))
        self.register_buffer("penalty_weights", self._connection_matrix(penalty_weights, "penalty_weights"))
        self.clamped: torch.Tensor | None = None
        self._weights: list[torch.Tensor] = []
        self._gates: list[torch.Tensor | None] = []
        self._biases: list[torch.Tensor] = []
        self._edge_mask: torch.Tensor | None = None
        self._decay: torch.Tensor | None = None

    def _connection_matrix(self, matrix: torch.Tensor | None, name: str) -> torch.Tensor | None:
        """A per-connection matrix as a float ``(n_features, n_inputs)`` tensor (square ones tiled for order 2)."""
        if matrix is None:
            return None
        matrix = torch.as_tensor(matrix, dtype=torch.float32)
        if matrix.shape == (self.n_features, self.n_features) and self.order == 2:
            matrix = matrix.repeat(1, 2)
        if matrix.shape != (self.n_features, self.n_inputs):
            raise ValueError(f"{name} must have shape ({self.n_features}, {self.n_features}) or ({self.n_features}, "
                             f"{self.n_inputs}); got {tuple(matrix.shape)}")
        return matrix

    @property
    def connection_weights(self) -> torch.Tensor | None:
        """``(n_features, n_inputs)`` weights of the path penalties per connection: ``penalty_weights`` (or 1)
        where ``input_mask`` allows the connection, 0 where it forbids it (``None`` without either), so that
        penalties fall only on connections the field can use."""
        if self.input_mask is None:
            return self.penalty_weights
        return self.input_mask if self.penalty_weights is None else self.input_mask * self.penalty_weights

    def prepare(self, *, sample: bool) -> None:
        """Compute the gated weights (and decay rates) for the next solve, with sampled or deterministic gates.

        Parameters
        ----------
        sample
            Draw the layer and edge gates with hard-concrete noise (training) instead of using the
            deterministic gates.
        """
        self._sampling = sample
        pairs = [layer.gated_weight(sample) for layer in self.layers]
        self._weights = [weight for weight, _ in pairs]
        self._gates = [gates for _, gates in pairs]
        self._biases = [layer.bias for layer in self.layers]
        self._edge_mask = self.connection_mask(sample=sample)
        self._decay = None if self.decay_parameter is None else self.decay_rates

    def restrict(self, strength: torch.Tensor) -> torch.Tensor:
        """``(n_features, n_inputs)`` strengths times the connection mask of the current solve (if any).

        Parameters
        ----------
        strength
            ``(n_features, n_inputs)`` per-connection values, row = output, column = input.

        Returns
        -------
        ``(n_features, n_inputs)`` tensor: ``strength`` times the mask set by the last :meth:`prepare`, or
        ``strength`` itself without edge gates and input mask.
        """
        return strength if self._edge_mask is None else strength * self._edge_mask

    def connection_mask(self, *, sample: bool) -> torch.Tensor | None:
        """``(n_features, n_inputs)`` product of the edge gates and the input mask (``None`` without either).

        Parameters
        ----------
        sample
            Draw the edge gates with hard-concrete noise instead of using the deterministic gates.

        Returns
        -------
        ``(n_features, n_inputs)`` tensor, row = output, column = input (the edge gates, the input mask or
        their product), or ``None`` without edge gates and input mask.
        """
        mask = self.input_mask
        if self.edge_gate is not None:
            gates = self.edge_gate(sample)
            mask = gates if mask is None else gates * mask
        return mask

    @property
    def current_weights(self) -> list[torch.Tensor]:
        """Gated weights of the current solve (call :meth:`prepare` first).

        One ``(out_l, in_l)`` tensor per layer in layer order (``in_1 = n_inputs``, ``out_L = n_features``).
        """
        if not self._weights:
            raise RuntimeError("VectorField.prepare() must be called before evaluating the field")
        return self._weights

    @property
    def current_gates(self) -> list[torch.Tensor | None]:
        """Gate values of the current solve, one entry per layer (``None`` without gates).

        ``(in_l,)`` tensors for ``"unit"`` gates, ``(out_l, in_l)`` for ``"weight"`` gates.
        """
        self.current_weights  # noqa: B018 - raises when prepare() was not called
        return self._gates

    def network(self, state: torch.Tensor) -> torch.Tensor:
        """The MLP (plus skip connection) on a batch of network inputs ``(..., n_inputs)``.

        Uses the gated weights of the current solve (call :meth:`prepare` first); the learned decay, if any,
        is subtracted.

        Parameters
        ----------
        state
            ``(..., n_inputs)`` network inputs: ``x`` for ``order=1``, ``(x, v)`` for ``order=2``.

        Returns
        -------
        ``(..., n_features)`` tensor ``f(state)``: ``dx/dt`` for ``order=1``, the acceleration for
        ``order=2``.
        """
        weights, biases = self.current_weights, self._biases
        if self._edge_mask is None:
            hidden = state
            for weight, bias in zip(weights[:-1], biases[:-1], strict=True):
                hidden = self.activation(F.linear(hidden, weight, bias))
            out = F.linear(hidden, weights[-1], biases[-1])
        else:
            hidden = state.unsqueeze(-2) * self._edge_mask  # (..., n_features, n_inputs): one input per output
            for weight, bias in zip(weights[:-1], biases[:-1], strict=True):
                hidden = self.activation(F.linear(hidden, weight, bias))
            out = (hidden * weights[-1]).sum(-1) + biases[-1]
        if self.skip is not None:
            out = out + F.linear(state, self.restrict(self.skip.weight))
        if self._decay is not None:
            out = out - self._decay * state[..., : self.n_features]
        return out

    @property
    def decay_rates(self) -> torch.Tensor:
        """``(n_features,)`` decay rates ``gamma >= 0`` (zeros without ``decay``)."""
        if self.decay_parameter is None:
            parameter = next(self.parameters())
            return torch.zeros(self.n_features, dtype=parameter.dtype, device=parameter.device)
        return F.softplus(self.decay_parameter)

    def forward(self, t: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Time derivative of the ODE state (the signature ``torchdiffeq`` expects).

        Parameters
        ----------
        t
            The time (unused: the field is autonomous).
        state
            ``(..., n_inputs)`` ODE states: ``x`` for ``order=1``, ``(x, v)`` for ``order=2``.

        Returns
        -------
        ``(..., n_inputs)`` tensor ``d state/dt``: ``f(x)`` for ``order=1``, ``(v, f(x, v))`` for ``order=2``;
        zero for the features held by :meth:`clamping`.
        """
        if self.resample_every_evaluation and self._sampling:
            self.prepare(sample=True)
        if self.order == 1:
            derivative = self.network(state)
        else:
            derivative = torch.cat([state[..., self.n_features :], self.network(state)], dim=-1)
        if self.clamped is not None:
            derivative = derivative.masked_fill(self.clamped, 0.0)
        return derivative

    @contextmanager
    def clamping(self, features: torch.Tensor) -> Iterator[None]:
        """Hold the given features (a boolean ``(n_features,)`` mask) constant while the context is active.

        Parameters
        ----------
        features
            Boolean ``(n_features,)`` tensor, True for the features to hold (for ``order=2`` their positions
            and velocities both).
        """
        self.clamped = features.repeat(self.order)
        try:
            yield
        finally:
            self.clamped = None
