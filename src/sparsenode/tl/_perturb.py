"""``sn.tl.perturb``: in-silico knock-out / over-expression by clamping genes in the fitted model."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from .._keys import Keys
from .._uns import to_json
from ._fit import (
    N_CURVE_POINTS,
    check_key,
    check_writable,
    is_perturbation,
    package_version,
    predict_from_start,
)
from ._results import fit_trajectories, fitted_genes, model

if TYPE_CHECKING:
    from anndata import AnnData

logger = logging.getLogger(__name__)


def check_perturbations(perturbations: Mapping[str, float], genes: list[str]) -> dict[int, float]:
    """``{gene: value}`` as ``{position among the fitted genes: value}``, or an error naming the bad entry."""
    if not isinstance(perturbations, Mapping) or not perturbations:
        raise TypeError(f"perturbations must be a non-empty dict {{gene: value}}, e.g. {{'GATA1': 0.0}}; "
                        f"got {perturbations!r}")
    index = {gene: position for position, gene in enumerate(genes)}
    positions = {}
    for gene, value in perturbations.items():
        if gene not in index:
            raise KeyError(f"perturbations: gene {gene!r} was not fitted (fitted genes: {genes[:10]}"
                           f"{' ...' if len(genes) > 10 else ''})")
        if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not np.isfinite(value):
            raise ValueError(f"perturbations: the value of {gene!r} must be a finite number, got {value!r}")
        positions[index[gene]] = float(value)
    return positions


def perturb(
    adata: AnnData,
    perturbations: Mapping[str, float],
    key: str = "sparsenode",
    *,
    n_points: int = N_CURVE_POINTS,
    key_added: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Predict the effect of clamping genes (knock-out, over-expression) with a fitted model.

    Every trajectory of the fit is integrated twice from its initial state, once unchanged (baseline) and once
    with the perturbed genes set to the given values and held there (their time derivative is 0), on
    ``n_points`` equally spaced times over its time range. The effect on a gene is the mean difference,
    perturbed minus baseline, over trajectories and times.

    Parameters
    ----------
    adata
        AnnData fitted with :func:`sparsenode.tl.fit`.
    perturbations
        ``{gene: value}`` in the units of the expression the model was fitted on (``X`` or the fit's layer,
        before the fit's scaling), e.g. ``{"Gata1": 0.0}`` for a knock-out.
    key
        ``key_added`` of the fit.
    n_points
        Time points per trajectory.
    key_added
        ``adata.uns`` key of the result; default ``f"{key}_perturbation"`` (what
        :func:`sparsenode.pl.perturbation` reads). An earlier perturbation result of the same fit under this key
        is replaced; any other entry (a fit, another fit's perturbation result) is refused.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` or a copy, with ``adata.uns[key_added]``: ``key`` (the fit's), ``genes`` (fitted genes), ``perturbed_genes``,
    ``perturbed_values``, ``names`` (trajectories), ``time`` (trajectories x points, input units),
    ``baseline`` and ``perturbed`` (trajectories x points x genes, input units), ``effect`` (per gene) and
    ``params``: ``key``, ``perturbations`` (``{gene: value}`` as a JSON string), ``n_points`` and the package
    ``version``.
    """
    check_writable(adata, copy=copy)
    result_key = Keys(key).perturbation if key_added is None else check_key(key_added).uns
    earlier = adata.uns.get(result_key)
    if earlier is not None and not is_perturbation(earlier):
        raise ValueError(f"key_added={result_key!r}: adata.uns[{result_key!r}] holds something other than a "
                         "perturbation result (e.g. a fit); choose another key_added")
    if earlier is not None and not is_perturbation(earlier, key):
        raise ValueError(f"key_added={result_key!r}: adata.uns[{result_key!r}] holds the perturbation result of the "
                         f"fit {str(earlier['key'])!r}, not of the fit {key!r}; choose another key_added, or delete "
                         f"adata.uns[{result_key!r}] first to replace it")
    if isinstance(n_points, bool) or not isinstance(n_points, int | np.integer) or n_points < 2:
        raise ValueError(f"n_points={n_points!r} must be an integer >= 2")
    genes, _ = fitted_genes(adata, key)
    clamp = check_perturbations(perturbations, genes)
    estimator = model(adata, key)
    trajs = fit_trajectories(adata, key)
    values = np.zeros(len(genes))
    values[list(clamp)] = list(clamp.values())

    times, baseline, perturbed = [], [], []
    for k, (expression, observed_times) in enumerate(zip(trajs.expression, trajs.time, strict=True)):
        grid = np.linspace(observed_times[0], observed_times[-1], n_points)
        scaled_values = trajs.scale_expression(k, values[None])[0]
        scaled_clamp = {position: float(scaled_values[position]) for position in clamp}
        baseline.append(trajs.unscale_expression(k, predict_from_start(estimator, expression, observed_times, grid)))
        perturbed.append(trajs.unscale_expression(
            k, predict_from_start(estimator, expression, observed_times, grid, clamp=scaled_clamp)))
        times.append(trajs.unscale_time(k, grid))
    baseline, perturbed = np.stack(baseline), np.stack(perturbed)
    result = {
        "key": key,
        "genes": np.asarray(genes),
        "perturbed_genes": np.asarray([genes[position] for position in clamp]),
        "perturbed_values": np.asarray(list(clamp.values())),
        "names": np.asarray(trajs.names),
        "time": np.stack(times),
        "baseline": baseline,
        "perturbed": perturbed,
        "effect": (perturbed - baseline).mean(axis=(0, 1)),
        "params": {"key": key, "perturbations": to_json({genes[position]: value for position, value in clamp.items()}),
                   "n_points": int(n_points), "version": package_version()},
    }
    adata = adata.copy() if copy else adata
    adata.uns[result_key] = result
    logger.info("    finished: added\n    '%s', perturbation results (uns)", result_key)
    return adata if copy else None
