"""Hard-concrete gates (Louizos, Welling & Kingma 2018) for L0 sparsity."""

from __future__ import annotations

import math

import torch
from torch import nn

#: Stretch interval (gamma, zeta) and temperature beta of the hard-concrete distribution.
GAMMA, ZETA, BETA = -0.1, 1.1, 2.0 / 3.0
_EPS = 1e-6


class HardConcreteGate(nn.Module):
    """A tensor of independent hard-concrete gates in ``[0, 1]``.

    Parameters
    ----------
    shape
        Shape of the gate tensor: ``(in_features,)`` for one gate per input unit, ``(out, in)`` for one per weight.
    initial_open
        Initial probability that a gate is non-zero (:meth:`open_probability`), in ``(0, 1)``. Values near 1
        start with gates that are almost always fully open, so the sampling noise of training starts small.
    """

    def __init__(self, shape: tuple[int, ...], *, initial_open: float = 0.99) -> None:
        super().__init__()
        if not 0.0 < initial_open < 1.0:
            raise ValueError(f"initial_open={initial_open!r} must be in (0, 1)")
        init = math.log(initial_open) - math.log1p(-initial_open) + BETA * math.log(-GAMMA / ZETA)
        self.log_alpha = nn.Parameter(torch.full(shape, init) + 0.01 * torch.randn(shape))

    def sample(self) -> torch.Tensor:
        """Draw gates with the reparameterised hard-concrete noise (differentiable in ``log_alpha``).

        Returns
        -------
        A tensor of the gates' shape (``shape``) with values in ``[0, 1]``, drawn anew at every call.
        """
        u = torch.rand_like(self.log_alpha).clamp(_EPS, 1.0 - _EPS)
        s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + self.log_alpha) / BETA)
        return (s * (ZETA - GAMMA) + GAMMA).clamp(0.0, 1.0)

    def deterministic(self) -> torch.Tensor:
        """Test-time gates: the stretched sigmoid of ``log_alpha`` clipped to ``[0, 1]`` (exact zeros possible).

        Returns
        -------
        A tensor of the gates' shape (``shape``) with values in ``[0, 1]``.
        """
        return (torch.sigmoid(self.log_alpha) * (ZETA - GAMMA) + GAMMA).clamp(0.0, 1.0)

    def open_probability(self) -> torch.Tensor:
        """Probability that each gate is non-zero; its sum is the expected L0 norm.

        Returns
        -------
        A tensor of the gates' shape (``shape``): the open probabilities, differentiable in ``log_alpha``.
        """
        return torch.sigmoid(self.log_alpha - BETA * math.log(-GAMMA / ZETA))

    def forward(self, sample: bool) -> torch.Tensor:
        """Sampled gates when ``sample`` else deterministic gates.

        Parameters
        ----------
        sample
            Draw the gates with hard-concrete noise (:meth:`sample`, for training) instead of using the
            deterministic gates (:meth:`deterministic`).

        Returns
        -------
        A tensor of the gates' shape (``shape``) with values in ``[0, 1]``.
        """
        return self.sample() if sample else self.deterministic()
