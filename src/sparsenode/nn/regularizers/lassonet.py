"""LassoNet (Lemhadri et al. 2021): linear skip connection, hierarchy constraint, proximal step."""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from ..._checks import checked_real
from ..vector_field import VectorField
from .base import Regularizer, path_product


def hierarchical_proximal(
    skip: torch.Tensor, first_layer: torch.Tensor, threshold: float, hierarchy: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """LassoNet's multi-output hier-prox operator, for all input features at once.

    Solves, for each input ``j``, ``min 1/2 ||theta_j - skip_j||^2 + 1/2 ||W_j - first_layer_j||^2
    + threshold ||theta_j||_2`` subject to ``||W_j||_inf <= hierarchy * ||theta_j||_2``.

    Parameters
    ----------
    skip
        ``(n_outputs, n_inputs)`` skip-connection weights ``theta``.
    first_layer
        ``(n_hidden, n_inputs)`` first-layer weights ``W``.
    threshold
        ``learning_rate * lambda``.
    hierarchy
        The hierarchy multiplier ``M``.

    Returns
    -------
    The updated ``(skip, first_layer)``.
    """
    n_hidden, n_inputs = first_layer.shape
    sorted_abs = first_layer.abs().sort(dim=0, descending=True).values
    zeros = first_layer.new_zeros(1, n_inputs)
    n_kept = torch.arange(n_hidden + 1, dtype=first_layer.dtype, device=first_layer.device).unsqueeze(1)
    partial_sums = torch.cat([zeros, sorted_abs.cumsum(dim=0)])
    skip_norm = skip.norm(dim=0)
    candidates = hierarchy * F.relu(skip_norm + hierarchy * partial_sums - threshold) / (1 + n_kept * hierarchy**2)
    lower_bounds = torch.cat([sorted_abs, zeros])
    choice = (lower_bounds > candidates).sum(dim=0, keepdim=True)
    magnitude = candidates.gather(0, choice).squeeze(0)
    new_skip = skip * (magnitude / (hierarchy * skip_norm.clamp_min(1e-12)))
    new_first_layer = first_layer.sign() * torch.minimum(first_layer.abs(), magnitude)
    return new_skip, new_first_layer


class LassoNet(Regularizer):
    """Linear skip ``theta`` plus MLP; group-L1 ``lam * sum_j ||theta_j||`` on ``theta``'s input columns (a sum,
    as in LassoNet: ``group_lasso`` takes the mean over inputs) with the hierarchy constraint
    ``||W_1[:, j]||_inf <= M ||theta[:, j]||_2`` enforced by the hier-prox step after every optimiser step.

    Dependencies are the combined strength ``|theta| + |W_L| ... |W_1|``.

    Parameters
    ----------
    lam
        Strength of the group-L1 penalty on the skip connection.
    hierarchy
        The hierarchy multiplier ``M`` (LassoNet's default 10).
    """

    name = "lassonet"
    sparsity = "feature"
    default_lam = 0.1

    def __init__(self, lam: float, *, hierarchy: float = 10.0) -> None:
        super().__init__(lam)
        self.hierarchy = checked_real("hierarchy", hierarchy, positive=True)

    def field_options(self) -> dict[str, Any]:
        return {"gates": "none", "skip": True}

    def penalty(self, field: VectorField) -> torch.Tensor:
        # Reported only: the proximal step (threshold learning_rate * lam per input column), not the gradient,
        # applies this penalty, lam * sum_j ||theta_j|| (a sum over inputs, as in LassoNet)
        return (self.lam * field.skip.weight.norm(dim=0).sum()).detach()

    @torch.no_grad()
    def proximal_step(self, field: VectorField, learning_rate: float) -> None:
        skip, first_layer = hierarchical_proximal(
            field.skip.weight, field.layers[0].weight, learning_rate * self.lam, self.hierarchy
        )
        field.skip.weight.copy_(skip)
        field.layers[0].weight.copy_(first_layer)

    @torch.no_grad()
    def dependencies(self, field: VectorField) -> torch.Tensor:
        """``|skip weight| + |W_L| ... |W_1|``: the linear skip connection plus the path product of the network.

        Parameters
        ----------
        field
            The vector field, with its skip connection.

        Returns
        -------
        ``(n_features, n_inputs)`` tensor, row = output, column = input, times the connection mask when the
        field has one (input mask).
        """
        field.prepare(sample=False)
        return field.restrict(field.skip.weight.abs() + path_product([weight.abs() for weight in field.current_weights]))

    def config(self) -> dict[str, Any]:
        return {**super().config(), "hierarchy": self.hierarchy}
