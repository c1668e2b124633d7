"""How far can the krumsiek11 network be recovered from its data? Exhaustive parent-set search next to sparsenode.

krumsiek11 (scanpy) is 4 realizations x 160 steps of a Hill-type ODE over 11 transcription factors, simulated
from one shared start with tiny noise; the ground truth is the simulation's coupling list (``varp["reference"]``;
self-loops are not scored). Its issue asks for AUROC >= 0.8. This script measures what the data support:

Every target gene's candidate regulator sets S (at most K other genes) are searched exhaustively; each edge's score
is its posterior inclusion weight under BIC (``n log MSE + complexity log n``) over all sets. Two model classes:

``best-subset kNN (k <= K)``
    A flexible, generic regressor: a 5-nearest-neighbour regression of the target's finite-difference rate on
    (target, S), scored by held-out error; folds are blocks of 20 time steps (GroupKFold, 8 folds), so that
    neighbouring time points do not leak; complexity |S|.
``best-subset Hill kinetics (k <= K)``
    The simulator's own model class (scanpy's ``sim``: rate = r (production - x), production a sum of products of
    Hill functions x^2 / (x^2 + theta^2) of the regulators, one per Boolean term): the rate regressed by least
    squares on the multilinear terms (all products) of Hill transforms of the target and S, plus the target's own
    level (decay), with every threshold theta chosen from 0.01-1 times the gene's maximum; complexity: the
    coefficients and thresholds. This shows what a model class that matches the data can recover.
``Hill library, Lasso (CV)``
    The same model class with a penalty instead of the search, as sparsity penalties select: per target, a
    cross-validated Lasso on the target's level, Hill transforms of every gene (thresholds 0.1 and 0.3 times
    its maximum) and all products of two genes' transforms; an edge scores its terms' summed |coefficients|.
``sigmoid network``
    The classic connectionist gene-network ODE (Mjolsness, Sharp & Reinitz 1991): rate_i = r_i sigmoid(W_i x + b_i)
    - gamma_i x_i + c_i, one sigmoid unit per target, L1 penalty ``SIGMOID_L1`` on W, fitted to all targets at
    once by Adam (standardised states and rates); an edge scores |W|. A generic model class with few parameters.
``sigmoid network, log inputs``
    The same network on the standardised ``log(max(x, 0) + LOG_OFFSET * max(x))``: a unit with one input is then
    a Hill function of it, so the class comes close to the simulator's. ``LOG_OFFSET`` was chosen on krumsiek11.
    ``benchmarks/grn_recovery.py`` runs it on BEELINE (``sigmoid net (log)``) to show what it costs there.
``sigmoid layer, log inputs``
    A layer of ``LAYER_HIDDEN`` sigmoid units shared by all targets on the same log inputs (offset
    ``LAYER_LOG_OFFSET``), ``rate = A sigmoid(W u + b) - gamma x + c``, with PathReg's path penalty for two layers
    (``LAYER_PATH_WEIGHT`` times the mean of ``|A||W|``); an edge scores ``(|A||W|)_ij``. A unit is
    ``sigmoid(sum_j n_j log x_j - b) = prod_j x_j^n_j / (prod_j x_j^n_j + theta)``, a product of Hill-type
    terms, so the class holds the simulator's sums of products of Hill functions while staying a feature-sparse
    neural network. Its size, weight and offset were chosen on krumsiek11's transport pairs (16 or 32 units,
    weights 0.03-0.07, offsets 0.02-0.1); ``grn_recovery.py`` runs it on BEELINE (``sigmoid layer (log)``).
    The ``seeds 0-4`` row gives the mean AUROC and AUPRC of ``LAYER_SEEDS`` initialisations.
``best-subset kinetics, sigmoid unit / MLP of 8 ELU units (k <= 2)``
    The same exhaustive search with generic neural kinetic classes in place of the simulator's:
    ``rate = a sigmoid(g(target, S)) - gamma target + c``, ``g`` linear or one hidden ELU layer
    (``kinetic_subset_scores``); complexity: the parameters. Does the search, with a neural class, suffice?
``... transport pairs``
    The Hill search and the sigmoid networks on the secant rates of the transport pairs that ``sn.tl.fit``
    builds by default (``ot_pairs`` of ``benchmarks/grn_recovery.py``) instead of consecutive steps.
``|Pearson|``
    Absolute correlation of expression.
``sparsenode ...``
    ``sn.tl.fit`` with its defaults, with one cell per transport bin (``transport_bins=160``: the pairs are
    consecutive steps), and with the settings of ``sparsenode demo`` (trajectories).

``... exact rates`` rows separate noise from identifiability: the same searches, and the vector field of
``sn.tl.fit``'s transport stage (``sn.SparseNODE`` with its defaults and ``SINGLE_CELL_DEFAULTS["transport"]``,
network = |mean Jacobian| over the cells), given the simulator's noise-free rates at the 640 observed states
(scanpy's own ``GRNsim.Xdiff_hill``) instead of the noisy steps between them (the dynamic noise per step is
about 4 times the rates' spread). The field is fitted to the pairs ``(x, x + EXACT_PAIR_STEPS * rate(x))``.

Run from the repository root (about 4-6 minutes on 2 cores; one torch thread, ``TORCH_THREADS``)::

    python benchmarks/krumsiek11_limits.py [--max-parents 2 3 4] [--hill-max-parents 2]
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.linear_model import LassoCV
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.neighbors import KNeighborsRegressor

import sparsenode as sn
from sparsenode.cli import DEMO_SETTINGS
from sparsenode.nn.regularizers import mean_path_product, path_product
from sparsenode.tl._fit import SINGLE_CELL_DEFAULTS

STEPS, BLOCK, FOLDS = 160, 20, 8
#: Hill thresholds of the Hill-kinetics search, as shares of each gene's maximum.
HILL_THRESHOLDS = (0.01, 0.03, 0.1, 0.3, 1.0)
#: Thresholds (shares of each gene's maximum) of the Hill library of the penalised selection.
LASSO_THRESHOLDS = (0.1, 0.3)
#: L1 weight (on mean |W|, standardised units) and Adam steps of the sigmoid network.
SIGMOID_L1, SIGMOID_STEPS = 0.01, 3000
#: Offset (share of each gene's maximum) of the sigmoid network's log inputs; chosen on krumsiek11 (0.01, 0.05 and
#: 0.2 were tried, with L1 weights 0.003-0.03), so its rows are an optimistic figure for this model class.
LOG_OFFSET = 0.05
#: Hidden units, path-penalty weight and log offset (share of each gene's maximum) of the sigmoid layer on log
#: inputs, chosen on krumsiek11 (so its rows are optimistic too), and the seeds of its mean row.
LAYER_HIDDEN, LAYER_PATH_WEIGHT, LAYER_LOG_OFFSET, LAYER_SEEDS = 32, 0.03, 0.02, 5
#: Torch threads of every fit, as in each worker of ``grn_recovery.py``: fixed, so that the figures do not depend
#: on the machine's core count.
TORCH_THREADS = 1
#: Full-batch Adam steps and learning rate of the neural kinetic subset search.
KINETIC_STEPS, KINETIC_LEARNING_RATE = 1500, 0.02
#: Duration (simulation steps) of the pairs built from the exact rates.
EXACT_PAIR_STEPS = 10.0
#: A set's error and complexity, from (states, rates, blocks, target, regulators).
SetError = Callable[[np.ndarray, np.ndarray, np.ndarray | None, int, tuple[int, ...]], tuple[float, int]]


def realization_rates(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """States, their finite-difference rates to the next step and the CV block of each (20 steps of one
    realization), from krumsiek11's cells in order."""
    d = X.shape[1]
    series = X.reshape(-1, STEPS, d)
    realization = np.repeat(np.arange(len(series)), STEPS - 1)
    blocks = np.tile(np.arange(STEPS - 1) // BLOCK, len(series)) + 100 * realization
    return series[:, :-1].reshape(-1, d), (series[:, 1:] - series[:, :-1]).reshape(-1, d), blocks


def best_subset_scores(states: np.ndarray, rates: np.ndarray, max_parents: int, set_error: SetError,
                       blocks: np.ndarray | None = None) -> np.ndarray:
    """``(d, d)`` BIC inclusion weights (row = target) of all parent sets of size <= max_parents, each scored by
    ``set_error`` on the ``states`` and their ``rates`` (``blocks``: CV groups, for errors that need them)."""
    d = states.shape[1]
    scores = np.zeros((d, d))
    for target in range(d):
        others = [j for j in range(d) if j != target]
        sets = [s for k in range(max_parents + 1) for s in itertools.combinations(others, k)]
        errors, complexity = np.array([set_error(states, rates, blocks, target, s) for s in sets]).T
        for weight, s in zip(bic_weights(errors, complexity, len(states)), sets, strict=True):
            scores[target, list(s)] += weight
    return scores


def bic_weights(errors: np.ndarray, complexity: np.ndarray, n: int) -> np.ndarray:
    """Posterior weights of candidate sets from their mean squared ``errors`` and ``complexity`` (parameters)
    under BIC, ``n log MSE + complexity log n``, on ``n`` points."""
    bic = n * np.log(errors) + complexity * np.log(n)
    weights = np.exp(-(bic - bic.min()) / 2)
    return weights / weights.sum()


def kinetic_tensors(inputs: np.ndarray, states: np.ndarray, rates: np.ndarray):
    """float32 tensors of the kinetic models ``rate = a sigmoid(g(u)) - gamma x + c``: the standardised network
    inputs ``u``, the states ``x`` divided by their standard deviation (for the decay) and the rates divided by
    theirs."""
    import torch

    def tensor(values: np.ndarray):
        return torch.tensor(values, dtype=torch.float32)

    return (tensor((inputs - inputs.mean(0)) / (inputs.std(0) + 1e-12)), tensor(states / (states.std(0) + 1e-12)),
            tensor(rates / (rates.std(0) + 1e-12)))


def kinetic_subset_scores(states: np.ndarray, rates: np.ndarray, hidden: int, max_parents: int = 2,
                          seed: int = 0) -> np.ndarray:
    """``(d, d)`` BIC inclusion weights (row = target) of every parent set S of at most ``max_parents`` genes,
    each fitted within a generic neural kinetic class: ``rate_t = a sigmoid(g(x_t, x_S)) - gamma x_t + c``,
    ``g`` linear (``hidden=0``: one sigmoid unit) or one ELU layer of ``hidden`` units, inputs standardised.
    All (target, S) models are fitted at once (``KINETIC_STEPS`` full-batch Adam steps); complexity = their
    parameters. The subset search of the Hill rows with a neural class in place of the simulator's."""
    import torch

    n, d = states.shape
    inputs_all, scaled, targets = kinetic_tensors(states, states, rates)
    candidates = [(t, s) for t in range(d) for k in range(max_parents + 1)
                  for s in itertools.combinations([j for j in range(d) if j != t], k)]
    width = max_parents + 1
    columns = torch.zeros(len(candidates), width, dtype=torch.long)
    used = torch.zeros(len(candidates), width)
    for row, (t, s) in enumerate(candidates):
        columns[row, : len(s) + 1] = torch.tensor([t, *s])
        used[row, : len(s) + 1] = 1.0
    inputs = inputs_all[:, columns] * used  # (n, candidates, width)
    target_of = torch.tensor([t for t, _ in candidates])
    generator = torch.Generator().manual_seed(seed)
    shape = (len(candidates), width, hidden) if hidden else (len(candidates), width)
    weight = torch.nn.Parameter(torch.randn(*shape, generator=generator) * (0.5 if hidden else 0.1))
    output = torch.nn.Parameter(torch.randn(len(candidates), max(hidden, 1), generator=generator) * 0.3)
    hidden_bias = torch.nn.Parameter(torch.zeros(len(candidates), max(hidden, 1)))
    bias, amplitude, decay, offset = (torch.nn.Parameter(torch.full((len(candidates),), value))
                                      for value in (0.0, 1.0, 0.0, 0.0))
    parameters = [weight, bias, amplitude, decay, offset] + ([output, hidden_bias] if hidden else [])
    optimizer = torch.optim.Adam(parameters, lr=KINETIC_LEARNING_RATE)
    for _ in range(KINETIC_STEPS):
        if hidden:
            units = torch.nn.functional.elu(torch.einsum("nbm,bmh->nbh", inputs, weight * used[..., None])
                                            + hidden_bias)
            activation = (units * output).sum(-1) + bias
        else:
            activation = (inputs * weight).sum(-1) + bias
        predicted = (amplitude * torch.sigmoid(activation) - torch.nn.functional.softplus(decay) * scaled[:, target_of]
                     + offset)
        errors = ((predicted - targets[:, target_of]) ** 2).mean(0)
        optimizer.zero_grad()
        errors.sum().backward()
        optimizer.step()
    errors = errors.detach().numpy().astype(np.float64)
    sizes = used.sum(1).numpy()
    complexity = sizes * max(hidden, 1) + 4 + 2 * hidden
    scores = np.zeros((d, d))
    for t in range(d):
        rows = np.flatnonzero(target_of.numpy() == t)
        for weight_of_set, row in zip(bic_weights(errors[rows], complexity[rows], n), rows, strict=True):
            scores[t, list(candidates[row][1])] += weight_of_set
    return scores


def transport_pair_rates(adata) -> tuple[np.ndarray, np.ndarray]:
    """States and secant rates of the transport pairs that ``tl.fit`` builds by default (``grn_recovery``'s
    ``ot_pairs``: 12 time bins per lineage, entropic OT)."""
    from grn_recovery import load, ot_pairs

    _, t, lineages = load("krumsiek11")
    x0, x1, dt = ot_pairs(np.asarray(adata.X, dtype=np.float64), t, lineages)
    return x0, (x1 - x0) / dt[:, None]


def knn_error(states: np.ndarray, rates: np.ndarray, blocks: np.ndarray, target: int,
              regulators: tuple[int, ...]) -> tuple[float, int]:
    """Blocked cross-validated error of a kNN regression of the target's rate on (target, regulators)."""
    predicted = cross_val_predict(KNeighborsRegressor(5, weights="distance"), states[:, [target, *regulators]],
                                  rates[:, target], groups=blocks, cv=GroupKFold(FOLDS))
    return float(np.mean((predicted - rates[:, target]) ** 2)), len(regulators)


def hill_error(states: np.ndarray, rates: np.ndarray, blocks: np.ndarray | None, target: int,
               regulators: tuple[int, ...]) -> tuple[float, int]:
    """Least-squares error of the Hill-kinetics class (multilinear in Hill transforms of the target and its
    regulators, plus decay), minimised over the thresholds; complexity = coefficients + thresholds."""
    inputs = [target, *regulators]
    levels = np.clip(states[:, inputs], 0, None)
    thresholds = np.multiply.outer(HILL_THRESHOLDS, levels.max(0) + 1e-12)  # (n_thresholds, n_inputs)
    # (n_thresholds, n, n_inputs) Hill transforms, power 2 as in the simulator
    hill = levels[None] ** 2 / (levels[None] ** 2 + thresholds[:, None, :] ** 2)
    terms = [subset for size in range(1, len(inputs) + 1) for subset in itertools.combinations(range(len(inputs)), size)]
    best = np.inf
    for choice in itertools.product(range(len(HILL_THRESHOLDS)), repeat=len(inputs)):
        transformed = hill[list(choice), :, range(len(inputs))].T  # (n, n_inputs)
        design = np.column_stack([np.ones(len(states)), states[:, target],
                                  *(transformed[:, list(subset)].prod(1) for subset in terms)])
        residual = rates[:, target] - design @ np.linalg.lstsq(design, rates[:, target], rcond=None)[0]
        best = min(best, float(np.mean(residual ** 2)))
    return best, 2 + len(terms) + len(inputs)


def hill_lasso_scores(states: np.ndarray, rates: np.ndarray, thresholds: tuple[float, ...] = LASSO_THRESHOLDS
                      ) -> np.ndarray:
    """``(d, d)`` scores (row = target) of a penalised selection within the Hill-kinetics class: per target, a
    cross-validated Lasso of the rate on the target's level, the Hill transforms of every gene at each threshold
    and all products of two genes' transforms (standardised); an edge scores the summed |coefficients| of the
    terms that hold the regulator."""
    d = states.shape[1]
    levels = np.clip(states, 0, None)
    # (n, d, n_thresholds) Hill transforms
    hill = np.stack([levels**2 / (levels**2 + (share * (levels.max(0) + 1e-12)) ** 2) for share in thresholds], 2)
    columns = [hill[:, j, k] for j in range(d) for k in range(len(thresholds))]
    owners = [(j,) for j in range(d) for _ in thresholds]
    for j, m in itertools.combinations(range(d), 2):
        for k, q in itertools.product(range(len(thresholds)), repeat=2):
            columns.append(hill[:, j, k] * hill[:, m, q])
            owners.append((j, m))
    scores = np.zeros((d, d))
    for target in range(d):
        design = np.column_stack([states[:, target], *columns])
        design = (design - design.mean(0)) / (design.std(0) + 1e-12)
        coefficients = LassoCV(cv=5, max_iter=5000).fit(design, rates[:, target]).coef_[1:]
        for coefficient, owner in zip(coefficients, owners, strict=True):
            scores[target, list(owner)] += abs(coefficient)
    return scores


def minimise(loss: Callable[[], Any], parameters: list) -> None:
    """``SIGMOID_STEPS`` full-batch Adam steps (learning rate 0.01) on the torch ``parameters`` of ``loss()``."""
    import torch

    optimizer = torch.optim.Adam(parameters, lr=1e-2)
    for _ in range(SIGMOID_STEPS):
        value = loss()
        optimizer.zero_grad()
        value.backward()
        optimizer.step()


def sigmoid_network_scores(states: np.ndarray, rates: np.ndarray, seed: int = 0, *,
                           log_inputs: bool = False) -> np.ndarray:
    """``(d, d)`` |W| (row = target) of the sigmoid network ``rate = r * sigmoid(u W^T + b) - gamma * x + c``,
    L1-penalised, with ``u`` the standardised ``x`` or (``log_inputs``) the standardised
    ``log(max(x, 0) + LOG_OFFSET * max(x))``: then a unit with one input is a Hill function of it
    (``sigmoid(n log x - n log theta) = x^n / (x^n + theta^n)``); ``x`` is scaled by its standard deviation in the
    decay."""
    import torch

    torch.manual_seed(seed)
    d = states.shape[1]
    inputs = log_levels(states, LOG_OFFSET) if log_inputs else states
    centred, scaled, target = kinetic_tensors(inputs, states, rates)
    weight = torch.nn.Parameter(0.01 * torch.randn(d, d))
    bias, amplitude, decay, offset = (torch.nn.Parameter(torch.full((d,), value)) for value in (0.0, 1.0, 0.0, 0.0))

    def loss():
        predicted = (amplitude * torch.sigmoid(centred @ weight.T + bias)
                     - torch.nn.functional.softplus(decay) * scaled + offset)
        return ((predicted - target) ** 2).mean() + SIGMOID_L1 * weight.abs().mean()

    minimise(loss, [weight, bias, amplitude, decay, offset])
    return weight.detach().abs().numpy()


def log_levels(states: np.ndarray, offset: float) -> np.ndarray:
    """``log(max(x, 0) + offset * max(x))`` per gene: the log inputs of the sigmoid models."""
    return np.log(np.clip(states, 0, None) + offset * states.max(0))


def sigmoid_layer_scores(states: np.ndarray, rates: np.ndarray, seed: int = 0) -> np.ndarray:
    """``(d, d)`` path products ``|A||W|`` (row = target) of ``rate = A sigmoid(W u + b) - gamma * x + c`` with
    ``LAYER_HIDDEN`` units on the standardised ``u = log_levels(states, LAYER_LOG_OFFSET)``, fitted with the
    penalty ``LAYER_PATH_WEIGHT * mean(|A||W|)`` (PathReg's path penalty for two layers)."""
    import torch

    torch.manual_seed(seed)
    d = states.shape[1]
    inputs, scaled, target = kinetic_tensors(log_levels(states, LAYER_LOG_OFFSET), states, rates)
    weight = torch.nn.Parameter(0.3 * torch.randn(LAYER_HIDDEN, d))
    output = torch.nn.Parameter(0.1 * torch.randn(d, LAYER_HIDDEN))
    bias = torch.nn.Parameter(torch.zeros(LAYER_HIDDEN))
    decay, offset = (torch.nn.Parameter(torch.zeros(d)) for _ in range(2))

    def loss():
        predicted = (torch.sigmoid(inputs @ weight.T + bias) @ output.T
                     - torch.nn.functional.softplus(decay) * scaled + offset)
        return ((predicted - target) ** 2).mean() + LAYER_PATH_WEIGHT * mean_path_product([weight.abs(), output.abs()])

    minimise(loss, [weight, output, bias, decay, offset])
    return path_product([weight.detach().abs(), output.detach().abs()]).numpy()


def exact_rates(states: np.ndarray) -> np.ndarray:
    """The simulator's noise-free rates (change per step) at ``states``: scanpy's krumsiek11 model
    (``scanpy.tools._sim.GRNsim``, a private class, the one ``scanpy.datasets.krumsiek11`` was simulated with)."""
    from scanpy.tools._sim import GRNsim

    simulator = GRNsim(model="krumsiek11", params={"seed": 0})
    simulator.build_boolCoeff()
    return np.array([simulator.Xdiff_hill(state) for state in states])


def field_on_exact_rates(states: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """|mean Jacobian| over ``states`` of ``sn.SparseNODE`` (the transport stage of ``sn.tl.fit``) fitted to
    the two-point trajectories ``(x, x + EXACT_PAIR_STEPS * rate(x))``."""
    pairs = np.stack([states, states + EXACT_PAIR_STEPS * rates], axis=1).astype(np.float32)
    times = np.tile(np.array([0.0, EXACT_PAIR_STEPS], dtype=np.float32), (len(states), 1))
    model = sn.SparseNODE(**SINGLE_CELL_DEFAULTS["transport"], step_size=EXACT_PAIR_STEPS / 2, device="cpu",
                          progress=False)
    model.fit(list(pairs), list(times))
    return np.abs(model.jacobian(states.astype(np.float32)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-parents", type=int, nargs="+", default=[2, 3, 4], help="kNN search sizes")
    parser.add_argument("--hill-max-parents", type=int, nargs="*", default=[2], help="Hill-kinetics search sizes")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(TORCH_THREADS)  # the torch rows' figures depend on it (sums are split differently)
    adata = sn.datasets.krumsiek11()
    X = np.asarray(adata.X, dtype=np.float64)
    states, rates, blocks = realization_rates(X)
    reference = np.asarray(adata.varp["reference"])
    rows = {}
    for k in args.max_parents:
        start = time.perf_counter()
        rows[f"best-subset kNN (k <= {k})"] = (best_subset_scores(states, rates, k, knn_error, blocks),
                                                  time.perf_counter() - start)
    for k in args.hill_max_parents:
        start = time.perf_counter()
        rows[f"best-subset Hill kinetics (k <= {k})"] = (best_subset_scores(states, rates, k, hill_error),
                                                         time.perf_counter() - start)
    for hidden, name in ((0, "sigmoid unit"), (8, "MLP of 8 ELU units")):
        start = time.perf_counter()
        rows[f"best-subset kinetics, {name} (k <= 2)"] = (kinetic_subset_scores(states, rates, hidden),
                                                         time.perf_counter() - start)
    start = time.perf_counter()
    rows["Hill library, Lasso (CV)"] = (hill_lasso_scores(states, rates), time.perf_counter() - start)
    start = time.perf_counter()
    rows["sigmoid network"] = (sigmoid_network_scores(states, rates), time.perf_counter() - start)
    start = time.perf_counter()
    rows["sigmoid network, log inputs"] = (sigmoid_network_scores(states, rates, log_inputs=True),
                                           time.perf_counter() - start)
    start = time.perf_counter()
    rows["sigmoid layer, log inputs"] = (sigmoid_layer_scores(states, rates), time.perf_counter() - start)
    pair_states, pair_rates = transport_pair_rates(adata)
    for name, score in (("best-subset Hill (k <= 2), transport pairs",
                         lambda: best_subset_scores(pair_states, pair_rates, 2, hill_error)),
                        ("sigmoid network, transport pairs", lambda: sigmoid_network_scores(pair_states, pair_rates)),
                        ("sigmoid network, log inputs, transport pairs",
                         lambda: sigmoid_network_scores(pair_states, pair_rates, log_inputs=True))):
        start = time.perf_counter()
        rows[name] = (score(), time.perf_counter() - start)
    layer_fits = []  # (scores, seconds) per seed; seed 0 is also a row of its own, as the other rows have one seed
    for seed in range(LAYER_SEEDS):
        start = time.perf_counter()
        layer_fits.append((sigmoid_layer_scores(pair_states, pair_rates, seed), time.perf_counter() - start))
    rows["sigmoid layer, log inputs, transport pairs"] = layer_fits[0]
    rows[f"sigmoid layer, log inputs, transport pairs, seeds 0-{LAYER_SEEDS - 1}"] = (
        [scores for scores, _ in layer_fits], sum(seconds for _, seconds in layer_fits))
    rows["|Pearson|"] = (np.abs(np.corrcoef(X.T)), 0.0)
    keys = {"time_key": "time", "lineage_key": "lineage"}
    for name, settings in (("sparsenode tl.fit defaults", keys),
                           ("sparsenode tl.fit, one cell per bin",
                            {**keys, "transport_bins": STEPS, "transport_max_pairs": None}),
                           ("sparsenode demo settings", DEMO_SETTINGS)):
        fitted = adata.copy()
        start = time.perf_counter()
        sn.tl.fit(fitted, **settings, progress=False)
        rows[name] = (np.asarray(fitted.varp["sparsenode"]), time.perf_counter() - start)
    rates_exact = exact_rates(X)
    exact_blocks = np.repeat(np.arange(len(X) // BLOCK), BLOCK)  # 20 consecutive steps of one realization
    for name, score in (("best-subset kNN (k <= 2), exact rates",
                         lambda: best_subset_scores(X, rates_exact, 2, knn_error, exact_blocks)),
                        ("best-subset Hill (k <= 2), exact rates",
                         lambda: best_subset_scores(X, rates_exact, 2, hill_error)),
                        ("sigmoid network, exact rates", lambda: sigmoid_network_scores(X, rates_exact)),
                        ("sigmoid network, log inputs, exact rates",
                         lambda: sigmoid_network_scores(X, rates_exact, log_inputs=True)),
                        ("sparsenode field, exact rates", lambda: field_on_exact_rates(X, rates_exact))):
        start = time.perf_counter()
        rows[name] = (score(), time.perf_counter() - start)
    print(f"torch threads: {TORCH_THREADS}; krumsiek11: {adata.n_obs} cells x {adata.n_vars} genes, {int((reference != 0).sum() - (np.diag(reference) != 0).sum())} "
          "true edges between different genes (self-loops not scored)\n")
    width = max(map(len, rows)) + 2
    print(f"{'method':<{width}}{'AUROC':>7}{'AUPRC':>7}{'seconds':>9}")
    for name, (scores, seconds) in rows.items():  # a list of score matrices: the mean of their metrics
        results = [sn.metrics.network_scores(matrix, reference) for matrix in (scores if isinstance(scores, list)
                                                                                 else [scores])]
        auroc, auprc = (np.mean([result[metric] for result in results]) for metric in ("auroc", "auprc"))
        print(f"{name:<{width}}{auroc:>7.3f}{auprc:>7.3f}{seconds:>9.1f}")


if __name__ == "__main__":
    main()
