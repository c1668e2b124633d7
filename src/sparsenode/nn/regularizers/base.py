"""The interface every sparsity regularizer implements, and the path-product helpers they share."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from ..._checks import is_real
from ..layers import GateMode
from ..vector_field import VectorField

REGULARIZERS: dict[str, type[Regularizer]] = {}


def mean_path_product(matrices: Sequence[torch.Tensor], weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean entry of ``A_L ... A_1`` for non-negative ``A_l`` of shape ``(out_l, in_l)``, in layer order.

    Without ``weights`` computed as ``1^T A_L ... A_1 1 / (out_L * in_1)`` with vector-matrix products
    (``O(sum of sizes)``), never forming the ``(out_L, in_1)`` product. With ``(out_L, in_1)`` ``weights``
    (per-connection penalty weights of a soft prior) the mean of ``weights * A_L ... A_1``.

    Parameters
    ----------
    matrices
        Non-negative ``(out_l, in_l)`` matrices ``A_1, ..., A_L``, first layer first (``in_{l+1} = out_l``).
    weights
        ``(out_L, in_1)`` per-connection weights (row = output, column = input), or ``None`` for all 1.

    Returns
    -------
    A 0-dimensional tensor: the (weighted) mean entry of the path product.
    """
    if weights is not None:
        return (weights * path_product(matrices)).mean()
    vector = torch.ones(matrices[-1].shape[0], dtype=matrices[-1].dtype, device=matrices[-1].device)
    for matrix in reversed(matrices):
        vector = vector @ matrix
    return vector.sum() / (matrices[-1].shape[0] * matrices[0].shape[1])


def path_product(matrices: Sequence[torch.Tensor]) -> torch.Tensor:
    """``A_L ... A_1`` (``(out_L, in_1)``): summed strength of all paths from each input to each output.

    Parameters
    ----------
    matrices
        ``(out_l, in_l)`` matrices ``A_1, ..., A_L``, first layer first (``in_{l+1} = out_l``).

    Returns
    -------
    ``(out_L, in_1)`` tensor, row = output, column = input.
    """
    product = matrices[0]
    for matrix in matrices[1:]:
        product = matrix @ product
    return product


class Regularizer:
    """A sparsity penalty on a :class:`~sparsenode.nn.vector_field.VectorField`.

    Subclasses set ``name`` (the string users pass) and register themselves; they override :meth:`penalty`
    and, where needed, :meth:`dependencies`, :meth:`proximal_step` and :meth:`field_options`.

    Parameters
    ----------
    lam
        Regularization strength ``lambda``.
    """

    name: ClassVar[str]
    #: ``lambda`` used when none is given (measured on sparse linear and nonlinear systems).
    default_lam: ClassVar[float] = 0.0
    #: Whether training samples the field's gates (hard-concrete noise) instead of using deterministic gates.
    sample_gates: bool = False
    #: What the regularizer sparsifies: ``"weight"``, ``"feature"`` or ``"none"``.
    sparsity: ClassVar[Literal["weight", "feature", "none"]] = "none"
    #: Whether the penalty can weight input-output connections (a soft prior, ``field.penalty_weights``).
    weighs_connections: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        REGULARIZERS[cls.name] = cls

    def __init__(self, lam: float) -> None:
        self.lam = float(lam)

    def field_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`VectorField` that this regularizer needs (gates, skip).

        Returns
        -------
        A dict with ``gates`` (:attr:`gate_mode`) and ``skip``; subclasses add options such as
        ``initial_open`` or ``edge_gates``.
        """
        return {"gates": self.gate_mode, "skip": False}

    @property
    def gate_mode(self) -> GateMode:
        """Gates the field needs."""
        return "none"

    def penalty(self, field: VectorField) -> torch.Tensor:
        """The penalty (``lambda`` included) for the weights and gates of the current solve.

        Parameters
        ----------
        field
            The vector field, prepared for the current solve (:meth:`VectorField.prepare`).

        Returns
        -------
        A 0-dimensional tensor, added to the training loss.
        """
        raise NotImplementedError

    def proximal_step(self, field: VectorField, learning_rate: float) -> None:
        """Proximal update after each optimiser step (no-op unless the method is proximal).

        Parameters
        ----------
        field
            The vector field; a proximal method updates its parameters in place.
        learning_rate
            Learning rate of the optimiser step just taken.
        """

    @torch.no_grad()
    def dependencies(self, field: VectorField) -> torch.Tensor:
        """Non-negative ``(n_features, n_inputs)`` input-output strengths (row = output, column = input).

        Default: the path product of the absolute gated weights with deterministic gates,
        ``|W_L Z_L| ... |W_1 Z_1|``, times the field's connection mask (edge gates, input mask) when it has one:
        entry ``(i, j)`` is zero exactly when no open path connects input ``j`` to output ``i``.

        Parameters
        ----------
        field
            The vector field; it is prepared here with deterministic gates (:meth:`VectorField.prepare`).

        Returns
        -------
        ``(n_features, n_inputs)`` tensor, row = output, column = input.
        """
        field.prepare(sample=False)
        return field.restrict(path_product([weight.abs() for weight in field.current_weights]))

    def config(self) -> dict[str, Any]:
        """JSON-able options that rebuild this regularizer with ``make_regularizer(**config)``.

        Returns
        -------
        A dict with ``regularization`` (the name), ``lam`` and the regularizer's own options.
        """
        return {"regularization": self.name, "lam": self.lam}


def make_regularizer(regularization: str, lam: float | None, **options: Any) -> Regularizer:
    """Instantiate a registered regularizer by name; ``lam=None`` uses its ``default_lam``.

    Parameters
    ----------
    regularization
        Name of a registered regularizer (a key of :data:`REGULARIZERS`).
    lam
        Regularization strength, a finite number ``>= 0``, or ``None`` for the regularizer's ``default_lam``.
    **options
        Keyword options of that regularizer (its constructor's parameters other than ``lam``).

    Returns
    -------
    The regularizer, an instance of ``REGULARIZERS[regularization]``.

    Raises
    ------
    ValueError
        For an unknown name, or a negative or non-finite ``lam``.
    TypeError
        For ``options`` that the regularizer does not accept.
    """
    if regularization not in REGULARIZERS:
        raise ValueError(f"regularization={regularization!r} is unknown; choose one of {sorted(REGULARIZERS)}")
    if lam is None:
        lam = REGULARIZERS[regularization].default_lam
    if not is_real(lam) or not np.isfinite(lam) or lam < 0:
        raise ValueError(f"lam={lam!r} must be a finite number >= 0")
    accepted = [name for name in inspect.signature(REGULARIZERS[regularization]).parameters if name != "lam"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        hint = "; gates (edge or unit gates) are an option of 'pathreg' only" if "gates" in unknown else ""
        raise TypeError(f"regularization_options {unknown} are not options of regularization={regularization!r} "
                        f"(its options: {accepted or 'none'}){hint}")
    return REGULARIZERS[regularization](lam, **options)
