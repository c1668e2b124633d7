"""``sn.tl.regularization_path``: fit one model per penalty strength λ and keep the sparsest good one."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..estimator import SparseNODE
from ..metrics import spurious_feature_sparsity
from ..nn.train import FitError
from ..pp import Trajectories, trajectories
from ._fit import (
    TRAINING_DATA,
    cell_pairs,
    chained,
    check_fit_key,
    check_transport_options,
    check_writable,
    default_measure,
    fit_metrics,
    recorded_params,
    result_slots,
    stage_params,
    stage_tasks,
    write_results,
)
from ._parallel import check_n_jobs, run_tasks
from ._prior import connection_constraints, gene_selection, recorded_selection

if TYPE_CHECKING:
    from anndata import AnnData

logger = logging.getLogger(__name__)

#: λ grid used when ``lams`` is not given: 7 values, log-spaced from 0.01 to 10 (fits with noisy initial states,
#: the default of :func:`sparsenode.tl.fit` with ``training_data="trajectories"``, may need λ > 1 for zeros on
#: many genes).
DEFAULT_LAMS = np.geomspace(1e-2, 10.0, 7)
#: ``selection="1se"`` keeps the largest λ whose validation MSE is at most ``1 + SELECTION_TOLERANCE`` x the minimum.
SELECTION_TOLERANCE = 0.05
SELECTIONS = ("min", "1se")
#: Per-λ records of ``uns[key]["regularization_path"]`` (all 1-d arrays of ``len(lams)``).
PATH_METRICS = ("val_mse", "train_mse", "feature_sparsity", "weight_sparsity")


def check_lams(lams: Any) -> np.ndarray:
    """The λ grid as a sorted float64 array of distinct finite values >= 0 (``None``: :data:`DEFAULT_LAMS`)."""
    if lams is None:
        return DEFAULT_LAMS.copy()
    try:
        grid = np.asarray(lams, dtype=np.float64)
    except (TypeError, ValueError):
        grid = np.empty(0)
        valid = False
    else:
        valid = grid.ndim == 1 and grid.size > 0 and bool(np.isfinite(grid).all() and (grid >= 0).all())
    if isinstance(lams, str) or not valid:
        raise ValueError(f"lams={lams!r} must be a non-empty 1-d sequence of finite numbers >= 0")
    if np.unique(grid).size != grid.size:
        raise ValueError(f"lams={lams!r} must not repeat a value")
    return np.sort(grid)


def select_lam(val_mse: np.ndarray, selection: str) -> int:
    """Index of the selected λ in an ascending grid (NaN entries, from failed fits, are never selected).

    ``"min"``: the lowest validation MSE (on a tie, the larger λ). ``"1se"``: the largest λ whose validation
    MSE is at most ``(1 + SELECTION_TOLERANCE)`` times the minimum.
    """
    finite = np.isfinite(val_mse)
    if not finite.any():
        raise FitError("no λ of the path gave a finite validation MSE; see the logged warnings")
    best = val_mse[finite].min()
    bound = best if selection == "min" else (1.0 + SELECTION_TOLERANCE) * best
    return int(np.flatnonzero(finite & (val_mse <= bound))[-1])


def allowed_inputs(adata: AnnData, allowed_regulators: Any, genes: list[str]) -> np.ndarray | None:
    """``allowed_regulators`` as a boolean mask over the fitted ``genes`` (``None`` stays ``None``)."""
    allowed = gene_selection(adata, allowed_regulators, genes, name="allowed_regulators")
    if allowed is not None and allowed.all():
        raise ValueError("allowed_regulators allows every fitted gene; there are no spurious regulators to count")
    if allowed is not None and len(genes) < 2:
        raise ValueError("allowed_regulators needs at least 2 fitted genes: a gene's dependence on itself is always "
                         "allowed, so a single gene has no spurious regulators to count")
    return allowed


def split_trajectories(
    trajs: Trajectories, validation_trajectories: Sequence[str] | str | None
) -> tuple[list[np.ndarray], list[np.ndarray], tuple[list[np.ndarray], list[np.ndarray]] | None, list[str]]:
    """Training ``X``, ``t``, the held-out validation trajectories (``None`` without any) and their names (in
    the order of ``trajs``; any collection of names is accepted: list, set, ``pd.Index`` ...)."""
    X, t = trajs.to_arrays()
    if validation_trajectories is None:
        return X, t, None, []
    names = [validation_trajectories] if isinstance(validation_trajectories, str) else list(validation_trajectories)
    if not names:
        raise ValueError(f"validation_trajectories={validation_trajectories!r} names no trajectory; pass None to "
                         f"hold out random points (validation_fraction) or some of {trajs.names}")
    unknown = [name for name in names if name not in trajs.names]
    if unknown:
        raise KeyError(f"validation_trajectories={validation_trajectories!r}: unknown trajectories {unknown}; "
                       f"the trajectories are {trajs.names}")
    held_out = np.isin(trajs.names, names)
    if held_out.all():
        raise ValueError(f"validation_trajectories={validation_trajectories!r} holds out every trajectory; "
                         "keep at least one for training")
    train, test = np.flatnonzero(~held_out), np.flatnonzero(held_out)
    return ([X[k] for k in train], [t[k] for k in train], ([X[k] for k in test], [t[k] for k in test]),
            [trajs.names[k] for k in test])


def check_validation_points(params: dict[str, Any], X: list[np.ndarray]) -> None:
    """Refuse, before any fit, random validation points (``validation_fraction``) that leave every λ unscored.

    ``params`` are the estimator arguments of the stage that holds out points, ``X`` its training trajectories.
    The held-out points are drawn as :meth:`SparseNODE.fit <sparsenode.SparseNODE.fit>` draws them (the first
    draw of its seeded generator; the first :attr:`~sparsenode.SparseNODE.n_initial_frames` points of each
    trajectory stay in training), so this holds out exactly what every fit of the path would.
    """
    model = SparseNODE(**params)
    if any(rows.any() for rows in model._held_out_points(X, np.random.default_rng(model.seed))):
        return
    first, longest = model.n_initial_frames, max(len(x) for x in X)
    fixes = ("pass validation_trajectories=[...] to hold out whole trajectories, a lower initial_points, or more "
             "points per trajectory (a larger n_bins, or n_bins=None for the cells)")
    if longest <= first:
        raise ValueError(
            f"validation_fraction={model.validation_fraction:g} holds out no point, so no λ could be scored: the "
            f"first {first} point(s) of each trajectory (initial_points={model.initial_points}) give its initial "
            f"state and stay in training, and no trajectory has more (the longest has {longest}); {fixes}")
    segments = "" if model.segment_points is None else f" and segment (segment_points={model.segment_points})"
    raise ValueError(
        f"validation_fraction={model.validation_fraction:g} draws none of the points after the first {first} of "
        f"each trajectory{segments} (initial_points={model.initial_points}; seed={model.seed}), so no λ could be "
        f"scored; use a larger validation_fraction, or {fixes}")


#: Arguments of :func:`sparsenode.tl.fit` that a λ path does not take (velocity supervision, the dependency
#: measure and bootstrap models are for the fit of the chosen λ).
FIT_ONLY_ARGUMENTS = ("velocity_key", "dependency_measure", "n_models")


def regularization_path(
    adata: AnnData,
    *,
    lams: Sequence[float] | np.ndarray | None = None,
    time_key: str,
    lineage_key: str | None = None,
    batch_key: str | None = None,
    layer: str | None = None,
    genes: Sequence[str] | np.ndarray | None = None,
    n_bins: int | None = None,
    scale: Literal["global", "trajectory", "none"] = "global",
    trim: tuple[int, int] | None = None,
    min_cells: int = 3,
    regularization: str = "pathreg",
    training_data: Literal["transport+trajectories", "trajectories"] = "transport+trajectories",
    refine_epochs: int = 5,
    transport_bins: int = 12,
    transport_epsilon: float = 0.05,
    transport_max_pairs: int | None = 2000,
    validation_fraction: float = 0.1,
    validation_trajectories: Sequence[str] | str | None = None,
    initial_points: int = 5,
    allowed_regulators: Sequence[str] | np.ndarray | str | None = None,
    regulators: Sequence[str] | np.ndarray | str | None = None,
    prior: str | pd.DataFrame | np.ndarray | None = None,
    selection: Literal["1se", "min"] = "1se",
    key_added: str = "sparsenode",
    seed: int = 0,
    n_jobs: int = 1,
    copy: bool = False,
    **model_kwargs: Any,
) -> AnnData | None:
    """Fit one model per penalty strength λ, record error and sparsity, and store the selected model.

    Every λ is fitted as :func:`sparsenode.tl.fit` would (same trajectories, training data, seed and model
    arguments) and scored on held-out trajectory data: random points (``validation_fraction``) or whole
    trajectories (``validation_trajectories``). Transport pairs are built from the cells of the training
    trajectories (held-out trajectories are left out; random held-out points are not, see ``validation_fraction``).
    The selected model is then written exactly as :func:`sparsenode.tl.fit` writes a fit, plus the path.

    Selection rule, on the validation MSE of each λ (units of the fitted trajectories, as
    ``metrics["val_mse"]``):

    * ``"1se"`` (default, in the spirit of the one-standard-error rule): the **largest** λ whose validation
      MSE is at most 5 % above the minimum over the grid: the sparsest model that predicts about as well
      as the best one.
    * ``"min"``: the λ with the lowest validation MSE (on a tie, the larger λ).

    A λ whose fit fails (:class:`~sparsenode.nn.train.FitError`, e.g. a diverging solver) is logged, recorded
    with NaN and never selected. Data that leave every λ unscored are refused before any fit: random held-out
    points (``validation_fraction``) come only from the points after the first ``initial_points`` of each
    trajectory, so trajectories of at most ``initial_points`` points (e.g. few ``n_bins``) need
    ``validation_trajectories``, a lower ``initial_points`` or more points.

    Every fit of the path runs on one torch thread, whatever :func:`torch.get_num_threads` says (as each bootstrap
    replicate of :func:`sparsenode.tl.fit` with ``n_models > 1`` does), while :func:`sparsenode.tl.fit` fits its
    model on the session's threads. On CPU, ``sn.tl.fit(adata, ..., lam=selected_lam)`` with the same arguments
    therefore reproduces the selected model exactly under ``torch.set_num_threads(1)`` (with random held-out
    points; with ``validation_trajectories`` the path trains on fewer trajectories than ``tl.fit`` does). With
    more threads, floating-point sums run in another order and its figures can differ in the last digits.

    Parameters
    ----------
    adata
        Annotated data matrix, cells x genes.
    lams
        Distinct penalty strengths >= 0, in any order (stored ascending). ``None``: ``np.geomspace(1e-2, 10, 7)``
        (:data:`DEFAULT_LAMS`).
    time_key, lineage_key, batch_key, layer, genes, n_bins, scale, trim, min_cells
        Trajectories, as in :func:`sparsenode.tl.fit`.
    regularization
        One of ``"none"``, ``"l1"``, ``"l0"``, ``"cnode"``, ``"group_lasso"``, ``"lassonet"``, ``"pathreg"``.
    training_data, refine_epochs, transport_bins, transport_epsilon, transport_max_pairs
        As in :func:`sparsenode.tl.fit`; ``"transport"`` alone is not offered, since λ is chosen by the error
        of integrated trajectories, which a fit on pairs alone never sees.
    validation_fraction
        Share of the trajectory points held out at random for validation, as in :func:`sparsenode.tl.fit`; must
        be > 0 unless ``validation_trajectories`` is given, which replaces it (recorded as 0). The held-out points
        are drawn by the trajectory stage; with ``"transport+trajectories"`` their cells can still be among the
        transport pairs of the first stage, so ``validation_trajectories`` gives the stricter held-out error.
    validation_trajectories
        Names of trajectories (``uns[key]["params"]["trajectories"]``, e.g. lineages) held out whole for
        validation; the models are trained on the others.
    initial_points
        The initial state of a trajectory is the mean of its first ``initial_points`` points.
    allowed_regulators
        Genes that may regulate others (e.g. transcription factors): gene names (names not in ``var_names`` are
        ignored with a warning), a boolean mask over ``var_names``, or the name of a boolean ``adata.var`` column
        (``"is_tf"``). Adds the spurious-feature sparsity (:func:`sparsenode.metrics.spurious_feature_sparsity`:
        share of zero dependencies on the other fitted genes, a gene's dependence on itself left out) to the path.
        This only measures; it does not constrain the fits.
    regulators, prior
        Constraints of every fit, as in :func:`sparsenode.tl.fit`.
    selection
        ``"1se"`` or ``"min"`` (see above).
    key_added
        Key under which results are stored (see Returns). An earlier fit under this key is replaced, together
        with its perturbation result and prediction, as in :func:`sparsenode.tl.fit`; a key whose slots hold
        anything else (another fit's Jacobian, a reference network, a perturbation result) is refused.
    seed
        Random seed of every fit (the same for all λ, so only λ differs between them).
    n_jobs
        λ values fitted in parallel with :mod:`joblib` (``-1``: all cores), with the active joblib backend
        (e.g. ``with joblib.parallel_backend("dask"):``). Results do not depend on ``n_jobs`` or the backend:
        every fit runs on one torch thread with its explicit seed (threads of one process take turns).
    copy
        Return a modified copy instead of writing into ``adata``.
    **model_kwargs
        Further :class:`~sparsenode.SparseNODE` arguments (``hidden``, ``epochs``, ...); not ``lam``, nor
        :func:`~sparsenode.tl.fit`'s ``velocity_key``, ``dependency_measure`` or ``n_models`` (use them in the fit
        of the chosen λ).

    Returns
    -------
    ``None``, or a copy of ``adata`` when ``copy=True``, with these fields set (for ``key_added="sparsenode"``):

    ``adata.varp["sparsenode"]``, ``adata.varp["sparsenode_jacobian"]``
        Dependencies (by ``tl.fit``'s default ``dependency_measure`` for ``training_data``) and signed mean
        Jacobian of the selected model, as written by :func:`sparsenode.tl.fit`
        (row = target gene, column = regulator gene). A stability matrix of an earlier fit under this key is
        removed.
    ``adata.uns["sparsenode"]``
        ``params`` (every key :func:`sparsenode.tl.fit` records, with ``lam`` = the selected λ, and ``n_models`` = 1
        and ``velocity_key`` = ``"None"`` as run; plus ``lams``, the fitted grid as a float array in ascending
        order, ``selection``, ``validation_trajectories`` and ``allowed_regulators``), ``metrics``, ``history``,
        ``fitted``, ``model`` and ``scaling`` of the selected model, as :func:`sparsenode.tl.fit` writes them, and
        ``regularization_path``: 1-d arrays of ``len(lams)`` ``lam`` (ascending), ``val_mse``, ``train_mse`` (on
        the training points), ``feature_sparsity``, ``weight_sparsity`` and, with ``allowed_regulators``,
        ``spurious_feature_sparsity``; the scalar ``selected_lam`` and the string ``selection``. This is what
        :func:`sparsenode.pl.regularization_path` draws.
    """
    check_writable(adata, copy=copy)
    keys = check_fit_key(adata, key_added)
    check_n_jobs(n_jobs)
    if selection not in SELECTIONS:
        raise ValueError(f"selection={selection!r} must be one of {SELECTIONS}")
    grid = check_lams(lams)
    if training_data not in TRAINING_DATA or training_data == "transport":
        raise ValueError(f"training_data={training_data!r} must be 'transport+trajectories' or 'trajectories' "
                         "(λ is chosen by the error of integrated trajectories)")
    check_transport_options(transport_bins, transport_epsilon, transport_max_pairs)
    if "lam" in model_kwargs:
        raise TypeError("regularization_path takes the penalty strengths as lams=[...], not lam=")
    fit_only = [name for name in FIT_ONLY_ARGUMENTS if name in model_kwargs]
    if fit_only:
        raise TypeError(f"regularization_path does not take sn.tl.fit's {fit_only}: choose λ here, then fit it with "
                        f"sn.tl.fit(adata, ..., lam=adata.uns[key_added]['regularization_path']['selected_lam'], "
                        f"{', '.join(f'{name}=...' for name in fit_only)})")
    if validation_trajectories is None and validation_fraction == 0:
        raise ValueError("validation_fraction=0 leaves no held-out data to select λ on; use validation_fraction > 0 "
                         "or validation_trajectories")
    if validation_trajectories is not None:
        validation_fraction = 0.0  # held-out trajectories replace the random points (and the record says so)
    stages = [stage_params(training_data, regularization, lam=float(lam), validation_fraction=validation_fraction,
                           initial_points=initial_points, refine_epochs=refine_epochs, seed=seed,
                           model_kwargs=model_kwargs) for lam in grid]
    trajectory_args = {"time_key": time_key, "lineage_key": lineage_key, "batch_key": batch_key, "layer": layer,
                       "genes": genes, "scale": scale, "trim": trim, "min_cells": min_cells}
    trajs = trajectories(adata, n_bins=n_bins, **trajectory_args)
    allowed = allowed_inputs(adata, allowed_regulators, trajs.genes)
    constraints = connection_constraints(adata, trajs.genes, regulators=regulators, prior=prior)
    X, t, validation, held_out = split_trajectories(trajs, validation_trajectories)
    if validation is None:
        first_params, refinement = stages[0]
        check_validation_points(refinement or first_params, X)
    pairs = None if training_data == "trajectories" else cell_pairs(
        adata, trajs, trajectory_args, names=[name for name in trajs.names if name not in held_out],
        bins=transport_bins, epsilon=transport_epsilon, max_pairs=transport_max_pairs, seed=seed)
    tasks = [stage_tasks(params, refinement, (X, t), pairs, fit_kwargs=constraints, trajectory_kwargs=constraints,
                         model_kwargs=model_kwargs, validation=validation) for params, refinement in stages]

    logger.info("fitting %s for %d values of lambda (n_jobs=%d)", regularization, len(grid), n_jobs)
    outcomes = run_tasks([chained([task for task, _ in stage]) for stage in tasks], n_jobs=n_jobs)
    models, metrics = [], []
    for lam, outcome in zip(grid, outcomes, strict=True):
        if outcome.error is not None:
            logger.warning("the fit for lambda=%g failed and is left out of the selection: %s", lam, outcome.error)
            models.append(None)
            metrics.append(dict.fromkeys(PATH_METRICS, np.nan) | {"spurious_feature_sparsity": np.nan})
            continue
        model = outcome.model()
        models.append(model)
        metrics.append(fit_metrics(model))
        if allowed is not None:
            metrics[-1]["spurious_feature_sparsity"] = spurious_feature_sparsity(model.dependencies(), allowed)
    names = PATH_METRICS + (("spurious_feature_sparsity",) if allowed is not None else ())
    path = {"lam": grid, **{name: np.array([row[name] for row in metrics], dtype=np.float64) for name in names}}
    chosen = select_lam(path["val_mse"], selection)
    path |= {"selected_lam": float(grid[chosen]), "selection": selection}
    logger.info("selected lambda=%g (%s rule)", grid[chosen], selection)

    measure = default_measure(training_data)
    recorded = recorded_params(  # the first stage's estimator arguments, as sn.tl.fit records them
        trajs, regularization, tasks[chosen][0][0].params, model_kwargs, key_added=key_added, selection=selection,
        lams=grid.copy(), validation_trajectories=held_out or None, n_models=1, n_jobs=n_jobs, copy=copy,
        velocity_key=None, training_data=training_data, refine_epochs=refine_epochs, transport_bins=transport_bins,
        transport_epsilon=transport_epsilon, transport_max_pairs=transport_max_pairs,
        validation_fraction=validation_fraction, initial_points=initial_points, dependency_measure=measure,
        allowed_regulators=recorded_selection(allowed_regulators, adata.var_names),
        regulators=recorded_selection(regulators, adata.var_names), prior=recorded_selection(prior, adata.var_names),
    )
    selected_metrics = {name: value for name, value in metrics[chosen].items() if name != "spurious_feature_sparsity"}
    varp, uns = result_slots(adata, keys, models[chosen], trajs, recorded, selected_metrics, measure=measure)
    uns["regularization_path"] = path
    adata = adata.copy() if copy else adata
    write_results(adata, keys, varp, uns)
    return adata if copy else None
