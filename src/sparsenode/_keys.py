"""Names of the AnnData slots written by :mod:`sparsenode`, derived from ``key_added`` in one place.

Contract (``key_added = "sparsenode"``):

==============================================  ===================================================================
slot                                            content
==============================================  ===================================================================
``varp["sparsenode"]``                          float32 (genes, genes) >= 0, row = target gene, column = regulator
``varp["sparsenode_jacobian"]``                 signed mean Jacobian d f_target / d x_regulator, same orientation
``varp["sparsenode_stability"]``                edge frequency over resampled fits (when asked)
``uns["sparsenode"]["params"]``                 every argument, ``orientation``, ``genes``, ``trajectories``, package
                                                ``version``
``uns["sparsenode"]["metrics"]``                train/validation MSE, feature and weight sparsity, ``epochs_run``
``uns["sparsenode"]["history"]``                per-epoch arrays: ``epoch``, ``loss``, ``mse``, ``penalty``, ``velocity``,
                                                ``val_mse`` (``velocity``: the velocity term, NaN without ``velocity_key``);
                                                ``stage`` (0, then 1 in the refinement) with transport+trajectories
``uns["sparsenode"]["fitted"]``                 per trajectory: ``names``, ``lineage``, ``batch``, ``time`` (n_traj, n_grid),
                                                ``expression`` (n_traj, n_grid, n_genes) in the units of the input
``uns["sparsenode"]["model"]``                  ``config`` (JSON string) and ``weights`` (dict of arrays)
``uns["sparsenode"]["scaling"]``                ``offset``, ``scale``, ``time_offset``, ``time_scale`` of the fitted
                                                trajectories (rows in the order of ``params["trajectories"]``)
``uns["sparsenode"]["regularization_path"]``    ``tl.regularization_path``: per-λ errors, sparsities, ``selected_lam``
``uns["sparsenode_perturbation"]``              ``tl.perturb``: baseline and perturbed trajectories, ``effect`` per gene,
                                                ``key`` (the fit's) and ``params``
``layers["sparsenode_predicted"]``              ``tl.predict``: the model's prediction at every cell
==============================================  ===================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

ORIENTATION = "row=target, column=regulator"


@dataclass(frozen=True)
class Keys:
    """Slot names for one fit, derived from ``key_added``."""

    key: str

    @property
    def dependencies(self) -> str:
        """``varp`` key of the dependency matrix."""
        return self.key

    @property
    def jacobian(self) -> str:
        """``varp`` key of the signed mean Jacobian."""
        return f"{self.key}_jacobian"

    @property
    def stability(self) -> str:
        """``varp`` key of the edge-stability (confidence) matrix."""
        return f"{self.key}_stability"

    @property
    def perturbation(self) -> str:
        """Default ``uns`` key of :func:`sparsenode.tl.perturb`'s result for this fit."""
        return f"{self.key}_perturbation"

    @property
    def predicted(self) -> str:
        """Default ``layers`` key of :func:`sparsenode.tl.predict`'s result for this fit."""
        return f"{self.key}_predicted"

    @property
    def uns(self) -> str:
        """``uns`` key holding params, metrics, history, fitted curves and the model."""
        return self.key
