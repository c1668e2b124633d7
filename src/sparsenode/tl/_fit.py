"""``sn.tl.fit``: fit a sparse neural ODE on AnnData trajectories and write the inferred network."""

from __future__ import annotations

import dataclasses
import logging
import numbers
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .._checks import check_positive_int, is_real
from .._keys import ORIENTATION, Keys
from .._uns import from_h5ad_value, to_h5ad_value, to_json
from ..estimator import SparseNODE
from ..metrics import feature_sparsity, weight_sparsity
from ..nn import FitError
from ..nn.regularizers import make_regularizer
from ..pp import Trajectories, trajectories, transport_pairs
from ..pp._trajectories import CONSTANT_TOLERANCE
from ._parallel import FitTask, check_n_jobs, fit_task, run_tasks
from ._prior import connection_constraints, gene_positions, recorded_selection

if TYPE_CHECKING:
    from anndata import AnnData

logger = logging.getLogger(__name__)

#: Points per trajectory of the fitted curves stored in ``uns[key]["fitted"]``.
N_CURVE_POINTS = 50
#: Arguments of :func:`sparsenode.pp.trajectories` recorded in ``params`` and reused by the other ``tl`` tools.
#: The scaling of the fitted trajectories, recorded in ``uns[key]["scaling"]`` (rows in the order of
#: ``params["trajectories"]``), so that later tools express the cells in the fit's units.
SCALING_ARRAYS = ("offset", "scale", "time_offset", "time_scale")
#: The entries of ``adata.uns[key]`` that make it a fit (what the tools reading a fit need).
FIT_ENTRIES = frozenset({"params", "model", "scaling"})
#: The entries of an ``adata.uns`` entry that make it a result of :func:`sparsenode.tl.perturb`.
PERTURBATION_ENTRIES = frozenset({"baseline", "perturbed", "effect"})
TRAJECTORY_ARGS = ("time_key", "lineage_key", "batch_key", "layer", "genes", "n_bins", "scale", "trim",
                   "min_cells")
#: Training data of :func:`fit`: cells paired with their transport successors and then the trajectories, the
#: pairs alone, or the binned/cell trajectories alone.
TRAINING_DATA = ("transport+trajectories", "transport", "trajectories")
#: Estimator defaults that differ from :class:`~sparsenode.SparseNODE`'s, per kind of training data (for
#: ``"transport+trajectories"``: of its transport stage; the trajectory stage continues that model).
SINGLE_CELL_DEFAULTS = {
    "trajectories": {"time_unit": "duration", "warm_start_epochs": 0, "activation": "tanh", "initial_noise": 0.5,
                     "decay": True},
    "transport": {"warm_start_epochs": 300, "epochs": 100, "decay": True},
    "transport+trajectories": {"warm_start_epochs": 300, "epochs": 100, "decay": True, "activation": "tanh"},
}
#: How ``varp[key_added]`` measures a dependency: path product of the gated weights, or |mean Jacobian|.
DEPENDENCY_MEASURES = ("paths", "jacobian")
#: A dependency is an edge if it exceeds this share of the model's largest one (as in ``metrics.feature_sparsity``).
EDGE_THRESHOLD = 0.01


def default_measure(training_data: str) -> str:
    """``varp[key_added]``'s default dependency measure: path products for trajectory fits, whose fields are
    trained on whole lineages, |mean Jacobian| when transport pairs are involved."""
    return "paths" if training_data == "trajectories" else "jacobian"


def check_writable(adata: AnnData, *, copy: bool) -> None:
    """Refuse objects a tool cannot write into (before any work is done)."""
    from anndata import AnnData

    if not isinstance(adata, AnnData):
        raise TypeError(f"adata must be an AnnData object, got {type(adata).__name__}")
    if adata.isbacked:
        raise ValueError("adata is backed (opened with backed='r'); load it into memory with adata.to_memory()")
    if adata.is_view and not copy:
        raise ValueError("adata is a view; pass copy=True, or pass adata.copy() instead of the view")
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise ValueError(f"adata is empty ({adata.n_obs} cells x {adata.n_vars} genes)")


def trajectory_params(params: dict[str, Any]) -> dict[str, Any]:
    """The :func:`sparsenode.pp.trajectories` arguments recorded by a fit."""
    arguments = {name: from_h5ad_value(params[name]) for name in TRAJECTORY_ARGS}
    arguments["genes"] = [str(gene) for gene in params["genes"]]
    if arguments["trim"] is not None:
        arguments["trim"] = tuple(int(n) for n in arguments["trim"])
    return arguments


def predict_from_start(model: SparseNODE, values: np.ndarray, times: np.ndarray, grid: np.ndarray,
                       clamp: dict[int, float] | None = None) -> np.ndarray:
    """``(len(grid), d)`` prediction over ``grid`` (starting at ``times[0]``) from the initial state the fit
    estimates from a trajectory's first observed points ``values`` at ``times`` (scaled units)."""
    frames = model.initial_frames_for(times)
    return model.predict(values[None, :frames], grid, frame_times=times[:frames], clamp=clamp)[0]


def fitted_curves(model: SparseNODE, trajs: Trajectories, n_points: int = N_CURVE_POINTS) -> dict[str, np.ndarray]:
    """Model curves from each trajectory's initial state over its time range, in the input's units."""
    times = [np.linspace(times_k[0], times_k[-1], n_points) for times_k in trajs.time]
    predicted = [
        predict_from_start(model, values, observed, grid)
        for values, observed, grid in zip(trajs.expression, trajs.time, times, strict=True)
    ]
    return {
        "names": np.asarray(trajs.names),
        "lineage": np.asarray(trajs.lineages),
        "batch": np.asarray(trajs.batches),
        "time": np.stack([trajs.unscale_time(k, grid) for k, grid in enumerate(times)]),
        "expression": np.stack([trajs.unscale_expression(k, values) for k, values in enumerate(predicted)]),
    }


def embed(matrix: np.ndarray, positions: np.ndarray, n_vars: int) -> np.ndarray:
    """Place a fitted-genes matrix into a float32 ``(n_vars, n_vars)`` matrix (zeros elsewhere)."""
    full = np.zeros((n_vars, n_vars), dtype=np.float32)
    full[np.ix_(positions, positions)] = matrix
    return full


def check_slot_name(name: Any, argument: str) -> str:
    """``name`` if it can key an AnnData slot that .h5ad files store (a non-empty string without ``'/'``)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"{argument}={name!r} must be a non-empty string")
    if "/" in name:
        raise ValueError(f"{argument}={name!r} must not contain '/' (.h5ad files cannot store such keys)")
    return name


def check_key(key_added: Any) -> Keys:
    """The slot names for ``key_added`` (a non-empty string without ``'/'``)."""
    return Keys(check_slot_name(key_added, "key_added"))


def is_fit(entry: Any) -> bool:
    """Whether an ``adata.uns`` entry is a sparsenode fit (holds every entry of :data:`FIT_ENTRIES`)."""
    return isinstance(entry, Mapping) and FIT_ENTRIES <= set(entry)


def is_perturbation(entry: Any, key: str | None = None) -> bool:
    """Whether an ``adata.uns`` entry is a result of :func:`sparsenode.tl.perturb` (of the fit ``key``, if given;
    results that do not record their fit count as any fit's)."""
    return (isinstance(entry, Mapping) and PERTURBATION_ENTRIES <= set(entry)
            and (key is None or str(entry.get("key", key)) == key))


def check_fit_key(adata: AnnData, key_added: Any) -> Keys:
    """The slot names for ``key_added``, refusing slots that hold something other than an earlier fit under the
    same key (another fit's Jacobian, a reference network, a perturbation result): re-fitting a key replaces
    that fit, nothing else is overwritten."""
    keys = check_key(key_added)
    others = [name for name in (keys.jacobian, keys.stability) if name in adata.uns and is_fit(adata.uns[name])]
    if others:
        raise ValueError(f"key_added={key_added!r} would overwrite adata.varp {others}, the dependencies of the "
                         "fits under those keys; choose another key_added")
    if keys.uns in adata.uns:
        if not is_fit(adata.uns[keys.uns]):
            raise ValueError(f"key_added={key_added!r}: adata.uns[{keys.uns!r}] holds something other than a "
                             f"sparsenode fit; choose another key_added or delete adata.uns[{keys.uns!r}]")
        return keys
    taken = [name for name in (keys.dependencies, keys.jacobian, keys.stability) if name in adata.varp]
    if taken:
        raise ValueError(f"key_added={key_added!r} would overwrite adata.varp {taken}, which no sparsenode fit "
                         f"under this key wrote (another fit's Jacobian or stability, a reference network); "
                         "choose another key_added")
    return keys


def model_params(
    regularization: str,
    *,
    lam: float | None,
    validation_fraction: float,
    initial_points: int,
    seed: int,
    model_kwargs: dict[str, Any],
    training_data: str = "trajectories",
) -> dict[str, Any]:
    """Validated :class:`~sparsenode.SparseNODE` arguments (invalid ones raise here, before any fit).

    Defaults for transport pairs (two-point trajectories of paired cells; for ``"transport+trajectories"`` these
    are the arguments of its transport stage, see :func:`stage_params` for the trajectory stage): a
    derivative-matching warm start of 300 steps and 100 epochs (BEELINE measurements in
    ``benchmarks/grn_recovery.py``); every pair starts at its cell (``initial_points=1``); with the trajectory
    stage, ``tanh`` as for trajectories (below). For ``"trajectories"``:

    Cells along a pseudotime are dense and noisy: their finite differences overstate the rate of change, so
    unless ``model_kwargs`` say otherwise the internal time unit is the trajectory duration
    (``time_unit="duration"``), there is no derivative-matching warm start (``warm_start_epochs=0``; on the
    hematopoiesis data it made held-out predictions diverge) and the activation is ``tanh``: a bounded field
    kept held-out-donor predictions from drifting away (measured when it was chosen, commit 6eb8b71, before the
    per-gene decay: hematopoiesis, paper protocol, seeds 0-2, mean held-out MSE 0.0427/0.0423/0.0426 with
    ``tanh`` against 0.048-0.055 with ``elu``). Each gene decays at its own learned rate besides the network's
    regulation (``decay=True``), and the initial states are perturbed while fitting (``initial_noise=0.5``) so
    that the field brings nearby starts, such as another donor's, back onto the trajectories (the row
    "trajectories alone" of ``benchmarks/hematopoiesis_speed.py``). Noisy starts reward averaging many inputs,
    which works against feature sparsity (the same row's feature sparsity); choose λ with
    :func:`sparsenode.tl.regularization_path` where zeros matter.
    """
    if training_data not in TRAINING_DATA:
        raise ValueError(f"training_data={training_data!r} must be one of {TRAINING_DATA}")
    for name, value in model_kwargs.items():  # recorded in uns[key]["params"] after the fit: refuse them now
        try:
            to_json(value)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name}={value!r} cannot be recorded in adata.uns (JSON: numbers, strings, lists, "
                            "dicts); pass a plain value, e.g. device='cuda' for torch.device('cuda')") from error
    lam_kwargs = {} if lam is None else {"lam": lam}
    arguments = {"validation_fraction": validation_fraction, "initial_points": initial_points, "seed": seed,
                 **SINGLE_CELL_DEFAULTS[training_data], **lam_kwargs, **model_kwargs}
    if training_data != "trajectories":
        arguments["initial_points"] = 1  # a pair starts at its cell
    return SparseNODE(regularization, **arguments).get_params()


def stage_params(
    training_data: str, regularization: str, *, lam: float | None, validation_fraction: float, initial_points: int,
    refine_epochs: int, seed: int, model_kwargs: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Validated estimator arguments of the first stage of a fit (trajectories or transport pairs) and of its
    trajectory stage (``None`` unless ``training_data="transport+trajectories"``, whose transport stage holds
    out nothing)."""
    refined = training_data == "transport+trajectories"
    params = model_params(regularization, lam=lam, validation_fraction=0.0 if refined else validation_fraction,
                          initial_points=initial_points, seed=seed, model_kwargs=model_kwargs,
                          training_data=training_data)
    if not refined:
        return params, None
    # the trajectory stage: same architecture, its own epochs, initial points, validation share and step size
    # (the transport stage's step suits two-point pairs)
    check_positive_int("refine_epochs", refine_epochs)
    refinement = {**params, "epochs": refine_epochs, "initial_points": initial_points,
                  "validation_fraction": validation_fraction, "step_size": model_kwargs.get("step_size")}
    return params, SparseNODE(**refinement).get_params()


def check_transport_options(bins: Any, epsilon: Any, max_pairs: Any) -> None:
    """Validate ``transport_bins``, ``transport_epsilon`` and ``transport_max_pairs`` under the tools' names."""
    if not isinstance(bins, numbers.Integral) or isinstance(bins, bool) or bins < 2:
        raise ValueError(f"transport_bins={bins!r} must be an integer >= 2")
    if not (is_real(epsilon) and np.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"transport_epsilon={epsilon!r} must be a positive number")
    if max_pairs is not None:
        check_positive_int("transport_max_pairs", max_pairs)


def cell_pairs(
    adata: AnnData, trajs: Trajectories, trajectory_args: dict[str, Any], *, names: Sequence[str], bins: int,
    epsilon: float, max_pairs: int | None, seed: int,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Transport pairs of the cells of the trajectories ``names`` (cells, not time-bin means, whatever
    ``trajs`` holds; in the scaled units of ``trajs``), at most ``max_pairs`` of them."""
    wanted = set(names)
    kept = [k for k, name in enumerate(trajs.names) if name in wanted]
    names = [trajs.names[k] for k in kept]
    if trajs.params["n_bins"] is None:
        expression, time = [trajs.expression[k] for k in kept], [trajs.time[k] for k in kept]
    else:
        expression, time = cells_in_units_of(trajs, trajectories(adata, n_bins=None, **trajectory_args), names)
    pairs, times = transport_pairs(expression, time, n_bins=bins, epsilon=epsilon)
    return subsample_pairs(pairs, times, max_pairs, seed=seed)


def cells_in_units_of(trajs: Trajectories, cells: Trajectories, names: Sequence[str]
                      ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Expression and times of the cell trajectories ``names`` of ``cells``, converted to the scaled units of
    the (binned) trajectories ``trajs`` of the same name: each is scaled over its own points, not over cells."""
    converted = cells.with_scaling(trajs.names, *(getattr(trajs, name) for name in SCALING_ARRAYS))
    kept = [cells.names.index(name) for name in names]
    return [converted.expression[k] for k in kept], [converted.time[k] for k in kept]


def stage_tasks(
    params: dict[str, Any], refinement: dict[str, Any] | None,
    trajectory_data: tuple[list[np.ndarray], list[np.ndarray]],
    pairs: tuple[list[np.ndarray], list[np.ndarray]] | None, *, fit_kwargs: dict[str, Any],
    trajectory_kwargs: dict[str, Any], model_kwargs: dict[str, Any],
    validation: tuple[list[np.ndarray], list[np.ndarray]] | None = None,
) -> list[tuple[FitTask, str]]:
    """The stages of one fit as ``(task, bootstrap resampling)``: the trajectories alone, or the transport
    ``pairs`` (RK4 step of :func:`pair_step_size` unless ``model_kwargs`` give one) followed, with a
    ``refinement``, by the trajectories. ``validation`` goes to the last stage."""
    X, t = trajectory_data
    if pairs is None:
        return [(FitTask(params, X, t, validation, fit_kwargs=trajectory_kwargs), "points")]
    params = params if "step_size" in model_kwargs else {**params, "step_size": pair_step_size(pairs[1])}
    if refinement is None:
        return [(FitTask(params, *pairs, validation, fit_kwargs=fit_kwargs), "trajectories")]
    return [(FitTask(params, *pairs, fit_kwargs=fit_kwargs), "trajectories"),
            (FitTask(refinement, X, t, validation, fit_kwargs=trajectory_kwargs), "points")]


def subsample_pairs(
    pairs: list[np.ndarray], times: list[np.ndarray], max_pairs: int | None, *, seed: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """At most ``max_pairs`` of the transport pairs, drawn at random without replacement (``seed``), in their
    order; all of them when there are fewer or ``max_pairs`` is ``None``."""
    if max_pairs is None or len(pairs) <= max_pairs:
        return pairs, times
    kept = np.sort(np.random.default_rng(seed).choice(len(pairs), size=max_pairs, replace=False))
    return [pairs[k] for k in kept], [times[k] for k in kept]


def pair_step_size(t: list[np.ndarray]) -> float:
    """RK4 step for two-point pairs: half their median duration (2 steps per pair). The estimator's default, a
    tenth of the longest pair, took 49 s against 25 s for the transport fit of the hematopoiesis donor s1d2
    (1,104 pairs x 529 genes); on BEELINE the 2-step pair fits of ``benchmarks/grn_recovery.py`` score as well."""
    return float(np.median([times[-1] - times[0] for times in t])) / 2


def fit_metrics(model: SparseNODE) -> dict[str, float]:
    """``uns[key]["metrics"]`` of a fitted model."""
    return {
        "train_mse": model.training_mse_,
        "val_mse": model.validation_mse_,
        "feature_sparsity": feature_sparsity(model.dependencies()),
        "weight_sparsity": weight_sparsity(model.effective_weights()),
        "epochs_run": len(model.history_["epoch"]),
    }


def recorded_params(
    trajs: Trajectories, regularization: str, estimator_params: dict[str, Any], model_kwargs: dict[str, Any],
    **arguments: Any,
) -> dict[str, Any]:
    """``uns[key]["params"]``: trajectory and estimator arguments (``SparseNODE.get_params()``, with ``lam`` the
    strength used: the regularizer's default for ``lam=None``), the tool's own ``arguments``, provenance."""
    options = estimator_params["regularization_options"] or {}
    return {
        **{name: to_h5ad_value(trajs.params[name]) for name in TRAJECTORY_ARGS if name != "genes"},
        "regularization": regularization,
        **{name: to_h5ad_value(value) for name, value in estimator_params.items()},
        "lam": make_regularizer(regularization, estimator_params["lam"], **options).lam,
        "model_kwargs": to_json(model_kwargs),
        **{name: to_h5ad_value(value) for name, value in arguments.items()},
        "orientation": ORIENTATION,
        "genes": np.asarray(trajs.genes),
        "trajectories": np.asarray(trajs.names),
        "version": package_version(),
    }


def constant_genes(states: np.ndarray) -> np.ndarray:
    """``(d,)`` mask of the genes constant over ``states`` (up to round-off): no dependency of or on a gene that
    never changes can be estimated, and the network's values there are arbitrary (and in the fit's units
    inflated: a constant gene keeps scale 1)."""
    spread = np.nanmax(states, axis=0) - np.nanmin(states, axis=0)
    return ~(spread > CONSTANT_TOLERANCE * max(1.0, float(np.nanmax(np.abs(states)))))


def without_genes(matrix: np.ndarray, genes: np.ndarray) -> np.ndarray:
    """``matrix`` (genes x genes) with zero rows and columns for the ``genes`` mask."""
    if not genes.any():
        return matrix
    matrix = matrix.copy()
    matrix[genes, :] = 0.0
    matrix[:, genes] = 0.0
    return matrix


def dependency_strength(model: SparseNODE, states: np.ndarray, measure: str, constant: np.ndarray, *,
                        jacobian: np.ndarray | None = None) -> np.ndarray:
    """``(d, d)`` dependencies (row = target): the model's path product (``"paths"``) or the absolute mean
    Jacobian over ``states`` (``"jacobian"``; ``jacobian``: that mean, when already computed), zero for the
    ``constant`` genes."""
    if measure == "paths":
        strength = model.dependencies()
    else:
        strength = np.abs(model.jacobian(states) if jacobian is None else jacobian)
    return without_genes(strength, constant)


def result_slots(
    adata: AnnData,
    keys: Keys,
    model: SparseNODE,
    trajs: Trajectories,
    params: dict[str, Any],
    metrics: dict[str, float],
    *,
    measure: str = "paths",
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The ``varp`` matrices and the ``uns[key]`` entry of a fitted model (computed, not yet written)."""
    positions = gene_positions(adata, trajs.genes)
    config, weights = model.get_state()
    states = np.concatenate(trajs.expression)
    constant = constant_genes(states)
    jacobian = without_genes(model.jacobian(states), constant)
    dependencies = dependency_strength(model, states, measure, constant, jacobian=jacobian)
    varp = {
        keys.dependencies: embed(dependencies, positions, adata.n_vars),
        keys.jacobian: embed(jacobian, positions, adata.n_vars),
    }
    uns = {
        "params": params,
        "metrics": metrics,
        "history": dict(model.history_),
        "fitted": fitted_curves(model, trajs),
        "model": {"config": to_json(config), "weights": weights},
        "scaling": {name: getattr(trajs, name) for name in SCALING_ARRAYS},
    }
    return varp, uns


def layers_read_by_fits(adata: AnnData, *, besides: Mapping[str, Any] | None = None,
                        ignore: str | None = None) -> dict[str, str]:
    """``{layer: key}`` of the layers the fits in ``adata.uns`` (and ``besides``, a fit entry about to be
    written) read their expression from, leaving out the fit under ``ignore``."""
    entries = {key: entry for key, entry in adata.uns.items() if key != ignore and is_fit(entry)}
    if besides is not None:
        entries[""] = besides
    layers = {}
    for key, entry in entries.items():
        layer = from_h5ad_value(entry["params"].get("layer"))
        if layer is not None:
            layers.setdefault(str(layer), key or "being written")
    return layers


def write_results(adata: AnnData, keys: Keys, varp: dict[str, np.ndarray], uns: dict[str, Any]) -> None:
    """Write all slots at once (after all computation succeeded) and log each key, scanpy style.

    A stability matrix left by an earlier fit under the same key is removed when this one has none; so are the
    earlier fit's perturbation result and prediction under their default keys (they describe a model that no
    longer exists), unless a fit reads that layer. Anything else under those keys is left alone.
    """
    if keys.stability not in varp and keys.stability in adata.varp:
        del adata.varp[keys.stability]
    if is_perturbation(adata.uns.get(keys.perturbation), keys.key):
        logger.info("    removed '%s', the perturbation result of the replaced fit (uns)", keys.perturbation)
        del adata.uns[keys.perturbation]
    if (is_fit(adata.uns.get(keys.uns)) and keys.predicted in adata.layers
            and keys.predicted not in layers_read_by_fits(adata, besides=uns, ignore=keys.uns)):
        logger.info("    removed '%s', the prediction of the replaced fit (layers)", keys.predicted)
        del adata.layers[keys.predicted]
    for name, matrix in varp.items():
        adata.varp[name] = matrix
    adata.uns[keys.uns] = uns
    added = [f"'{name}', dependencies (varp)" for name in varp] + [f"'{keys.uns}', fit results (uns)"]
    logger.info("    finished: added\n    %s", "\n    ".join(added))


def bootstrap_tasks(
    params: dict[str, Any], X: list[np.ndarray], t: list[np.ndarray], *, n_models: int,
    seed: int | np.random.SeedSequence, fit_kwargs: dict[str, Any] | None = None,
    resample: Literal["points", "trajectories"] = "points",
) -> list[FitTask]:
    """One fit per bootstrap resample of the points of every trajectory (see :func:`fit`, ``n_models``), or of
    the trajectories themselves (``resample="trajectories"``, for many short ones such as transport pairs);
    ``fit_kwargs`` (:meth:`SparseNODE.fit <sparsenode.SparseNODE.fit>` arguments) go to every fit, a ``velocity``
    resampled like the points."""
    fit_kwargs = fit_kwargs or {}
    tasks = []
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    for replicate in root.spawn(n_models):
        resample_seed, model_seed = replicate.spawn(2)
        rng = np.random.default_rng(resample_seed)
        if resample == "trajectories":
            drawn = rng.integers(0, len(X), size=len(X))
            tasks.append(FitTask(params={**params, "seed": int(model_seed.generate_state(1)[0])},
                                 X=[X[k] for k in drawn], t=[t[k] for k in drawn], fit_kwargs=fit_kwargs))
            continue
        picks = [np.sort(rng.integers(0, len(times), size=len(times))) for times in t]
        tasks.append(FitTask(
            params={**params, "seed": int(model_seed.generate_state(1)[0])},
            X=[values[pick] for values, pick in zip(X, picks, strict=True)],
            t=[times[pick] for times, pick in zip(t, picks, strict=True)],
            fit_kwargs=fit_kwargs if fit_kwargs.get("velocity") is None else {
                **fit_kwargs, "velocity": [v[pick] for v, pick in zip(fit_kwargs["velocity"], picks, strict=True)]},
        ))
    return tasks


def bootstrap_replicates(stages: list[tuple[FitTask, str]], *, n_models: int, seed: int) -> list[FitTask]:
    """:func:`bootstrap_tasks` for a fit in stages, each continuing the previous stage's model: ``stages`` are
    ``(task, resample)`` pairs; every replicate resamples each stage's data with seeds of its own (the first
    stage's as a one-stage fit would) and chains its stages with ``FitTask.then``."""
    per_stage = [
        bootstrap_tasks(task.params, task.X, task.t, n_models=n_models, fit_kwargs=task.fit_kwargs, resample=resample,
                        seed=np.random.SeedSequence(seed if k == 0 else [seed, k]))
        for k, (task, resample) in enumerate(stages)
    ]
    return [chained(list(replicate)) for replicate in zip(*per_stage, strict=True)]


def chained(tasks: list[FitTask]) -> FitTask:
    """One task that runs ``tasks`` in order, each continuing the previous one's model (``FitTask.then``)."""
    task = tasks[-1]
    for earlier in reversed(tasks[:-1]):
        task = dataclasses.replace(earlier, then=task)
    return task


def edge_frequency(dependencies: Sequence[np.ndarray], *, threshold: float = EDGE_THRESHOLD) -> np.ndarray:
    """Share of the matrices in which each entry exceeds ``threshold`` times that matrix's largest entry.

    An entry is present exactly when :func:`sparsenode.metrics.feature_sparsity` does not count it as zero.
    """
    present = [np.abs(matrix) > threshold * np.abs(matrix).max() for matrix in dependencies]
    return np.mean(present, axis=0)


def point_velocities(adata: AnnData, trajs: Trajectories, velocity_key: str | None) -> list[np.ndarray] | None:
    """Velocities of the layer ``velocity_key`` averaged per trajectory point, in the trajectories' scaled
    units (``None`` without a key)."""
    if velocity_key is None:
        return None
    if not isinstance(velocity_key, str) or velocity_key not in adata.layers:
        raise KeyError(f"velocity_key={velocity_key!r} is not a layer of adata (layers: {list(adata.layers)}); "
                       "compute RNA velocity first, e.g. scvelo.tl.velocity(adata)")
    layer = adata.layers[velocity_key]
    positions = gene_positions(adata, trajs.genes)
    values = layer[:, positions]
    values = values.toarray() if hasattr(values, "toarray") else np.asarray(values)
    means = trajs.point_means(values)
    velocities = [mean / trajs.scale[k] for k, mean in enumerate(means)]
    if not any(np.isfinite(v).any() for v in velocities):
        raise ValueError(f"adata.layers[{velocity_key!r}] holds no finite velocity for the fitted genes")
    return velocities


def fit(
    adata: AnnData,
    *,
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
    lam: float | None = None,
    regulators: Sequence[str] | np.ndarray | str | None = None,
    prior: str | pd.DataFrame | np.ndarray | None = None,
    velocity_key: str | None = None,
    training_data: Literal["transport+trajectories", "transport", "trajectories"] = "transport+trajectories",
    refine_epochs: int = 5,
    transport_bins: int = 12,
    transport_epsilon: float = 0.05,
    transport_max_pairs: int | None = 2000,
    dependency_measure: Literal["paths", "jacobian"] | None = None,
    validation_fraction: float | None = None,
    initial_points: int = 5,
    key_added: str = "sparsenode",
    seed: int = 0,
    n_models: int = 1,
    n_jobs: int = 1,
    copy: bool = False,
    **model_kwargs: Any,
) -> AnnData | None:
    """Fit a feature-sparse neural ODE on gene-expression trajectories and store the inferred network.

    Cells are split into trajectories (one per lineage and batch, ordered by time) with
    :func:`sparsenode.pp.trajectories`; a :class:`~sparsenode.SparseNODE` is fitted on the cells paired with
    their transport successors along these trajectories and then refined on the trajectories themselves (see
    ``training_data``), and its gene x gene dependency matrix is written to ``adata.varp``. With
    ``n_models > 1`` the edges' stability under resampling of the data is estimated too.

    Parameters
    ----------
    adata
        Annotated data matrix, cells x genes (dense or sparse ``X``/layer).
    time_key
        Numeric ``adata.obs`` column ordering cells: pseudotime, ``latent_time`` (scvelo) or real time. Cells
        with equal times keep their order in ``adata`` (stable sort); with few distinct times (real time points)
        that order sets each trajectory's first points, the held-out points and which transport pairs are
        subsampled, so results can change with the order of the cells.
    lineage_key
        ``adata.obs`` column of lineage labels, or ``adata.obsm`` key of a boolean cells x lineages table
        (root cells may belong to several lineages). ``None``: one lineage.
    batch_key
        ``adata.obs`` column of batches (e.g. donors); each lineage of each batch is its own trajectory.
    layer
        Layer holding expression; ``None`` uses ``X``.
    genes
        Gene names, a boolean mask of ``var_names`` or the name of a boolean ``adata.var`` column (e.g.
        ``"highly_variable"``) to fit; ``None`` uses all genes.
    n_bins
        Average the cells of each trajectory in this many equal-width time bins.
    scale
        ``"global"``: min-max each gene over all trajectories; ``"trajectory"``: the paper's per-trajectory
        min-max of every gene and of time; ``"none"``.
    trim
        ``(first, last)`` numbers of cells to drop at the start and end of each trajectory (the paper: (10, 20)).
    min_cells
        Least number of points a trajectory must have after trimming and binning (at least 2).
    regularization
        One of ``"none"``, ``"l1"``, ``"l0"``, ``"cnode"``, ``"group_lasso"``, ``"lassonet"``, ``"pathreg"``.
    lam
        Regularization strength; ``None`` uses the regularizer's default (:class:`~sparsenode.SparseNODE`). With
        noisy starts (trajectories) a larger λ may be needed for zeros on many genes; see
        :func:`~sparsenode.tl.regularization_path`.
    regulators
        Genes allowed as regulators (e.g. transcription factors): gene names (names not in ``var_names``, as
        in a database's TF list, are ignored with a warning), a boolean mask over ``var_names`` or the name of a
        boolean ``adata.var`` column. Other genes can only influence themselves
        (self-dependence, e.g. decay, is always allowed). ``None``: every fitted gene.
    prior
        Prior network: a ``varp`` key, a DataFrame of edges (``regulator``/``target`` columns, as
        :func:`~sparsenode.tl.edges` returns, or ``source``/``target``, or BEELINE's ``Gene1``/``Gene2``; every
        listed edge is a known edge, other columns such as weights or signs are ignored) or an array (all or
        fitted genes), row = target, column = regulator, non-zero = known edge. ``params`` records a ``varp`` key
        as given and a DataFrame or array as ``"<given>"``: store it in ``adata.varp`` and pass the key to keep
        the fit reproducible from ``params``. Used as a hard mask (default) or, with ``prior_mode="penalty"`` (a
        :class:`~sparsenode.SparseNODE` argument), as a soft one: the path penalty of known edges is
        multiplied by ``prior_weight`` (default 0.1).
    velocity_key
        Layer of RNA velocities (scvelo's ``"velocity"``): adds a loss term that aligns the direction of ``f`` at
        every trajectory point with the mean velocity of its cells (``velocity_weight`` of
        :class:`~sparsenode.SparseNODE`, default 0.1; genes without velocity, NaN in scvelo, are left out).
        Use it with ``time_key="latent_time"`` (scvelo's) or any pseudotime.
    training_data
        ``"transport+trajectories"`` (default): first fit two-point trajectories that pair every cell with the
        expected state of its successors in the next of ``transport_bins`` time bins of its trajectory that
        holds cells (with fewer time points than bins, as in a time course of days: the next time point;
        the cells of the last bin have no successors), coupled by entropic optimal transport
        (:func:`sparsenode.pp.transport_pairs`), then continue that
        model for ``refine_epochs`` epochs on the trajectories of :func:`sparsenode.pp.trajectories`. The
        pairs keep the cell-to-cell variation that time-bin means average away and identify the network; the
        short refinement makes the field follow whole trajectories from their initial states. Measured: best
        mean AUPRC on all six BEELINE networks (``benchmarks/grn_recovery.py``) and held-out-donor MSE 0.036
        (0.0362, mean of seeds 0-2) on the hematopoiesis protocol (``benchmarks/hematopoiesis_speed.py``).
        ``"transport"``: the pairs alone (networks as good, forecasts poor: the field is never integrated over a
        whole trajectory).
        ``"trajectories"``: the trajectories alone, integrated from their initial states; for time series
        that follow the same cells or samples over time (e.g. simulated realizations) rather than snapshots
        of different cells. The stored curves, :func:`~sparsenode.tl.predict` and
        :func:`~sparsenode.tl.perturb` always integrate the lineage trajectories.
    refine_epochs
        Epochs of trajectory fitting after the transport fit (``training_data="transport+trajectories"``).
    transport_bins, transport_epsilon
        Time bins per trajectory and relative entropic regularisation of the transport pairing.
    transport_max_pairs
        Fit at most this many transport pairs, drawn at random (``seed``) after pairing all cells, so that the
        cost of a fit stops growing with the number of cells; ``None``: all.
    dependency_measure
        What ``varp[key_added]`` holds: ``"paths"``, the path product of the absolute gated weights
        (:meth:`SparseNODE.dependencies <sparsenode.SparseNODE.dependencies>`), or ``"jacobian"``, the absolute
        mean Jacobian over the trajectory points. ``None``: ``"jacobian"`` when transport pairs are fitted
        (BEELINE replicates 0-2, mean AUPRC 0.864 against 0.834 with paths: rows ``tl.fit default`` and
        ``tl.fit/paths`` of ``benchmarks/grn_recovery.py``), ``"paths"`` with
        ``training_data="trajectories"``. Stability counts edges by the same measure.
    validation_fraction
        Share of the trajectory points held out at random for validation and early stopping (with
        ``"transport+trajectories"``: of the trajectory stage; its transport stage holds out nothing).
        ``None``: 0 with ``training_data="transport"`` (a held-out point of a two-point pair removes the pair's
        only target; BEELINE replicates 0-2, mean AUPRC 0.64 with 0.1 against 0.87 with 0: rows
        ``tl.fit/transport val 0.1`` and ``tl.fit/transport`` of ``benchmarks/grn_recovery.py``), else 0.1.
    initial_points
        The initial state of a trajectory is the mean of its first ``initial_points`` points (order 2: a line
        through at least 2 at distinct times gives position and velocity; with several cells at the first time
        the line reaches the first later one). Transport pairs always start at their cell.
    key_added
        Key under which results are stored (see Returns). An earlier fit under this key is replaced, together
        with its perturbation result and prediction under their default keys (``uns[f"{key_added}_perturbation"]``,
        ``layers[f"{key_added}_predicted"]``); a key whose slots hold anything else (another fit's Jacobian, a
        reference network, a perturbation result) is refused.
    seed
        Random seed; the same seed gives identical results on CPU with the same number of torch threads
        (``torch.set_num_threads``).
    n_models
        With ``n_models > 1``, also fit ``n_models`` models on bootstrap resamples of the data and store how
        often each edge is found. A resample draws, independently for every trajectory, as many points as
        it has, with replacement, and keeps them in time order; points drawn several times are kept
        (each copy enters the loss, as in a classical bootstrap); transport pairs are drawn whole, as many as
        there are. Replicate ``i`` draws its resample and its model seed from child ``i`` of
        ``numpy.random.SeedSequence(seed).spawn(n_models)`` (the trajectory stage of
        ``"transport+trajectories"`` from ``SeedSequence([seed, 1])``) and fits all stages. The model in
        ``varp[key_added]`` is always the one fitted on all data (identical to ``n_models=1``). A replicate
        whose training fails (``sparsenode.nn.FitError``) is left out of the stability, with a
        warning; if all fail, so does the fit.
    n_jobs
        Replicates fitted in parallel with :mod:`joblib` (``-1``: all cores); the active joblib backend is
        used, e.g. ``with joblib.parallel_backend("dask"):``. Results do not depend on ``n_jobs`` or the
        backend: every replicate runs on one torch thread with its own explicit seed (threads of one
        process take turns).
    copy
        Return a modified copy instead of writing into ``adata``.
    **model_kwargs
        Further :class:`~sparsenode.SparseNODE` arguments (``hidden``, ``epochs``, ``solver``, ``device``, ...);
        with ``"transport+trajectories"`` they apply to both stages, except ``epochs`` (the transport stage's;
        see ``refine_epochs``). Defaults that differ from :class:`~sparsenode.SparseNODE`'s: ``decay=True``
        (each gene's own degradation); with transport pairs ``warm_start_epochs=300``, ``epochs=100`` and an
        RK4 step of half the median pair duration (BEELINE; see ``benchmarks/grn_recovery.py``), with
        ``"transport+trajectories"`` also ``activation="tanh"``; with ``"trajectories"``
        ``time_unit="duration"``, ``warm_start_epochs=0``, ``activation="tanh"`` and ``initial_noise=0.5``
        (measured on the hematopoiesis data; see ``benchmarks/hematopoiesis_speed.py``).

    Returns
    -------
    ``None``, or a copy of ``adata`` when ``copy=True``, with these fields set (for ``key_added="sparsenode"``):

    ``adata.varp["sparsenode"]``
        float32 genes x genes dependency strength >= 0 (see ``dependency_measure``): **row = target gene,
        column = regulator gene**. Genes that were not fitted, and fitted genes constant over the fitted cells
        (nothing can be learned of or from them), have zero rows and columns.
    ``adata.varp["sparsenode_jacobian"]``
        Signed mean Jacobian ``d f_target / d x_regulator`` over the observed states (activation > 0,
        repression < 0), same orientation, in the units of the scaled data the model was fitted on; zero rows
        and columns as above.
    ``adata.varp["sparsenode_stability"]``
        Only when ``n_models > 1`` (removed otherwise): float32 share in ``[0, 1]`` of the bootstrap models in
        which the edge is present, i.e. its dependency exceeds 0.01 x that model's largest dependency (the
        rule by which :func:`sparsenode.metrics.feature_sparsity` counts zeros); same orientation.
    ``adata.uns["sparsenode"]``
        ``params`` (every argument, ``orientation``, ``genes``, ``trajectories``, ``version``), ``metrics``
        (``train_mse`` on the training points of the trajectories of the last stage and ``val_mse`` on the
        held-out points, both predicted from the trajectories' first points, in the units of the fitted
        trajectories: the expression after ``scale``, each gene in [0, 1] by default;
        ``feature_sparsity``, ``weight_sparsity``, ``epochs_run``), ``history`` (per-epoch arrays, in the
        model's standardised units; with ``transport+trajectories``, ``stage`` is 0 on the transport pairs and 1
        in the refinement on trajectories), ``fitted`` (model curves per trajectory in the units of ``X`` or ``layer``), ``model`` (``config``
        JSON and ``weights`` arrays; :func:`sparsenode.tl.model` rebuilds the estimator from it) and
        ``scaling`` (``offset``, ``scale``, ``time_offset``, ``time_scale`` of the fitted trajectories, see
        :class:`~sparsenode.pp.Trajectories`; later tools express the cells in these units, so a subset of the
        cells is predicted in the units of the fit; its trajectories start at the subset's own first cells).

    Examples
    --------
    >>> import sparsenode as sn
    >>> adata = sn.datasets.krumsiek11()
    >>> sn.tl.fit(adata, time_key="time", lineage_key="lineage", progress=False)
    >>> adata.varp["sparsenode"].shape  # row = target, column = regulator
    (11, 11)
    >>> sn.tl.edges(adata, n_top=3).columns.tolist()
    ['regulator', 'target', 'weight', 'sign']
    """
    check_writable(adata, copy=copy)
    keys = check_fit_key(adata, key_added)
    check_positive_int("n_models", n_models)
    check_n_jobs(n_jobs)
    check_transport_options(transport_bins, transport_epsilon, transport_max_pairs)
    if validation_fraction is None:
        validation_fraction = 0.0 if training_data == "transport" else 0.1
    params, refinement = stage_params(training_data, regularization, lam=lam, validation_fraction=validation_fraction,
                                      initial_points=initial_points, refine_epochs=refine_epochs, seed=seed,
                                      model_kwargs=model_kwargs)
    measure = dependency_measure or default_measure(training_data)
    if measure not in DEPENDENCY_MEASURES:
        raise ValueError(f"dependency_measure={dependency_measure!r} must be one of {DEPENDENCY_MEASURES} or None")
    if training_data == "transport" and velocity_key is not None:
        raise ValueError("velocity_key works with training_data='trajectories' or 'transport+trajectories'; "
                         "transport pairs are velocities estimated from the snapshots themselves")
    trajectory_args = {"time_key": time_key, "lineage_key": lineage_key, "batch_key": batch_key, "layer": layer,
                       "genes": genes, "scale": scale, "trim": trim, "min_cells": min_cells}
    trajs = trajectories(adata, n_bins=n_bins, **trajectory_args)
    fit_kwargs = connection_constraints(adata, trajs.genes, regulators=regulators, prior=prior)
    trajectory_kwargs = {**fit_kwargs, "velocity": point_velocities(adata, trajs, velocity_key)}
    X, t = trajs.to_arrays()
    pairs = None if training_data == "trajectories" else cell_pairs(
        adata, trajs, trajectory_args, names=trajs.names, bins=transport_bins, epsilon=transport_epsilon,
        max_pairs=transport_max_pairs, seed=seed)
    stages = stage_tasks(params, refinement, (X, t), pairs, fit_kwargs=fit_kwargs, trajectory_kwargs=trajectory_kwargs,
                         model_kwargs=model_kwargs)
    replicates = bootstrap_replicates(stages, n_models=n_models, seed=seed) if n_models > 1 else []

    logger.info("fitting %s on %d trajectories x %d genes (%s)", regularization, len(trajs), trajs.n_genes,
                training_data)
    model = fit_task(chained([task for task, _ in stages]))
    if replicates and model.interrupted_:
        raise KeyboardInterrupt(f"the fit was interrupted before its {n_models} bootstrap replicates; nothing is "
                                "written (with n_models=1 an interrupted fit is written as it stands)")
    recorded = recorded_params(trajs, regularization, stages[0][0].params, model_kwargs, key_added=key_added,
                               n_models=n_models, n_jobs=n_jobs, copy=copy,
                               regulators=recorded_selection(regulators, adata.var_names),
                               prior=recorded_selection(prior, adata.var_names), velocity_key=velocity_key,
                               training_data=training_data,
                               validation_fraction=validation_fraction,
                               initial_points=1 if training_data == "transport" else initial_points,  # as run
                               refine_epochs=refine_epochs, transport_bins=transport_bins,
                               transport_epsilon=transport_epsilon, transport_max_pairs=transport_max_pairs,
                               dependency_measure=measure)
    metrics = fit_metrics(model)
    varp, uns = result_slots(adata, keys, model, trajs, recorded, metrics, measure=measure)
    if replicates:
        logger.info("fitting %d bootstrap replicates (n_jobs=%d)", n_models, n_jobs)
        states = np.concatenate(trajs.expression)
        outcomes = run_tasks(replicates, n_jobs=n_jobs)
        fitted = [outcome for outcome in outcomes if outcome.error is None]
        if not fitted:
            raise FitError(f"every bootstrap replicate failed (n_models={n_models}); the first: {outcomes[0].error}")
        if len(fitted) < len(outcomes):
            first_error = next(outcome.error for outcome in outcomes if outcome.error is not None)
            logger.warning("%d of %d bootstrap replicates failed and are left out of the stability (the first: %s)",
                           len(outcomes) - len(fitted), len(outcomes), first_error)
        constant = constant_genes(states)
        frequency = edge_frequency([dependency_strength(outcome.model(), states, measure, constant)
                                    for outcome in fitted])
        varp[keys.stability] = embed(frequency, gene_positions(adata, trajs.genes), adata.n_vars)

    adata = adata.copy() if copy else adata
    write_results(adata, keys, varp, uns)
    return adata if copy else None


def package_version() -> str:
    from .. import __version__

    return __version__
