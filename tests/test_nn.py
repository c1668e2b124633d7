"""Torch building blocks: hard-concrete gates, gated layers, path products, LassoNet's hier-prox, the
regularizers' penalties and the vector field."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sparsenode.nn import REGULARIZERS, GatedLinear, HardConcreteGate, VectorField, make_regularizer
from sparsenode.nn.regularizers import mean_path_product, path_product
from sparsenode.nn.regularizers.lassonet import hierarchical_proximal
from sparsenode.nn.regularizers.pathreg import PathReg
from sparsenode.nn.solve import masked_mse


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


def gate_with(log_alpha: torch.Tensor) -> HardConcreteGate:
    gate = HardConcreteGate(tuple(log_alpha.shape))
    with torch.no_grad():
        gate.log_alpha.copy_(log_alpha)
    return gate


# ---------------------------------------------------------------------------------------------- gates
def test_deterministic_gates_lie_in_the_unit_interval_with_exact_zeros_and_ones() -> None:
    gate = gate_with(torch.linspace(-10.0, 10.0, 201))
    values = gate.deterministic()
    assert values.min() == 0.0 and values.max() == 1.0
    assert (values == 0).sum() > 50 and (values == 1).sum() > 50  # both ends are reached exactly
    assert torch.all(values[1:] >= values[:-1])  # monotone in log_alpha
    inside = (values > 0) & (values < 1)
    assert inside.sum() > 5  # and the gate is continuous in between


def test_sampled_gates_lie_in_the_unit_interval_and_reach_exact_zero() -> None:
    gate = gate_with(torch.zeros(20_000))
    samples = gate.sample()
    assert samples.min() == 0.0 and samples.max() == 1.0
    assert 0.05 < (samples == 0).float().mean() < 0.5
    assert samples.requires_grad  # reparameterised: differentiable in log_alpha


@pytest.mark.parametrize("log_alpha", [-3.0, -1.0, 0.0, 1.5, 4.0])
def test_open_probability_matches_monte_carlo(log_alpha: float) -> None:
    n = 200_000
    gate = gate_with(torch.full((n,), log_alpha))
    with torch.no_grad():
        share_open = (gate.sample() > 0).double().mean().item()
        expected = gate.open_probability()[0].item()
    assert abs(share_open - expected) < 5 * math.sqrt(expected * (1 - expected) / n) + 1e-4


def test_initial_open_is_the_initial_open_probability() -> None:
    gate = HardConcreteGate((5000,), initial_open=0.9)
    assert gate.open_probability().mean().item() == pytest.approx(0.9, abs=2e-3)
    with pytest.raises(ValueError, match=r"initial_open=1\.0 must be in \(0, 1\)"):
        HardConcreteGate((3,), initial_open=1.0)


# ---------------------------------------------------------------------------------------------- path products
def test_mean_path_product_is_the_mean_of_the_explicit_product() -> None:
    matrices = [torch.rand(7, 4), torch.rand(5, 7), torch.rand(3, 5)]
    explicit = path_product(matrices)
    assert explicit.shape == (3, 4)
    torch.testing.assert_close(explicit, matrices[2] @ matrices[1] @ matrices[0])
    torch.testing.assert_close(mean_path_product(matrices), explicit.mean())


# ---------------------------------------------------------------------------------------------- gated layers
@pytest.mark.parametrize(("mode", "gate_shape"), [("none", None), ("unit", (4,)), ("weight", (3, 4))])
def test_gated_linear_shapes(mode: str, gate_shape: tuple[int, ...] | None) -> None:
    layer = GatedLinear(4, 3, gates=mode)
    weight, gates = layer.gated_weight(sample=True)
    assert weight.shape == (3, 4) and layer.bias.shape == (3,)
    if gate_shape is None:
        assert layer.gate is None and gates is None and weight is layer.weight
    else:
        assert layer.gate.log_alpha.shape == gate_shape and gates.shape == gate_shape
        assert layer.gate_matrix(gates).shape == (3, 4)
        torch.testing.assert_close(weight, layer.weight * layer.gate_matrix(gates))


def test_a_closed_unit_gate_removes_its_input_column() -> None:
    layer = GatedLinear(4, 3, gates="unit")
    with torch.no_grad():
        layer.gate.log_alpha[2] = -20.0
    weight, _ = layer.gated_weight(sample=False)
    assert torch.all(weight[:, 2] == 0) and torch.all(weight[:, [0, 1, 3]] != 0)


def test_unknown_gate_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="gates='row' is not one of"):
        GatedLinear(2, 2, gates="row")


# ---------------------------------------------------------------------------------------------- hier-prox
def lassonet_objective(theta: torch.Tensor, weight: torch.Tensor, theta0: torch.Tensor, weight0: torch.Tensor,
                       threshold: float) -> torch.Tensor:
    """The per-feature objective hier-prox minimises, summed over features."""
    return (0.5 * ((theta - theta0) ** 2).sum(0) + 0.5 * ((weight - weight0) ** 2).sum(0)
            + threshold * theta.norm(dim=0)).sum()


@pytest.mark.parametrize("threshold", [0.0, 0.05, 0.5, 5.0])
@pytest.mark.parametrize("hierarchy", [0.5, 10.0])
def test_hierarchical_proximal_satisfies_the_hierarchy_and_is_optimal(threshold: float, hierarchy: float) -> None:
    skip, first = torch.randn(3, 6, dtype=torch.float64), torch.randn(8, 6, dtype=torch.float64)
    new_skip, new_first = hierarchical_proximal(skip, first, threshold, hierarchy)
    assert new_skip.shape == skip.shape and new_first.shape == first.shape
    assert torch.all(new_first.abs().amax(0) <= hierarchy * new_skip.norm(dim=0) + 1e-9)
    best = lassonet_objective(new_skip, new_first, skip, first, threshold)
    generator = torch.Generator().manual_seed(1)
    for _ in range(200):  # no nearby feasible point is better
        theta = new_skip + 0.05 * torch.randn(skip.shape, generator=generator, dtype=torch.float64)
        bound = hierarchy * theta.norm(dim=0)
        weight = (new_first + 0.05 * torch.randn(first.shape, generator=generator, dtype=torch.float64))
        weight = weight.clamp(-bound, bound)
        assert lassonet_objective(theta, weight, skip, first, threshold) >= best - 1e-9


def test_hierarchical_proximal_is_the_identity_without_threshold_when_the_hierarchy_holds() -> None:
    skip = torch.randn(3, 6, dtype=torch.float64)
    first = 0.05 * torch.rand(8, 6, dtype=torch.float64) * skip.norm(dim=0)  # ||W_j||_inf < 10 ||theta_j||
    new_skip, new_first = hierarchical_proximal(skip, first, 0.0, 10.0)
    torch.testing.assert_close(new_skip, skip)
    torch.testing.assert_close(new_first, first)


def test_hierarchical_proximal_zeroes_a_feature_with_a_large_threshold() -> None:
    skip, first = torch.randn(3, 4), torch.randn(8, 4)
    skip[:, 1], first[:, 1] = 1e-3, 1e-3
    new_skip, new_first = hierarchical_proximal(skip, first, 0.1, 10.0)
    assert torch.all(new_skip[:, 1] == 0) and torch.all(new_first[:, 1] == 0)
    assert torch.all(new_skip[:, [0, 2, 3]] != 0)


# ---------------------------------------------------------------------------------------------- regularizers
def field_for(name: str, lam: float | None = None, n_features: int = 4) -> tuple[VectorField, object]:
    regularizer = make_regularizer(name, lam)
    field = VectorField(n_features, hidden=(6, 5), **regularizer.field_options())
    if field.skip is not None:
        torch.nn.init.normal_(field.skip.weight)  # LassoNet's skip starts at zero
    return field, regularizer


@pytest.mark.parametrize("name", sorted(REGULARIZERS))
def test_every_penalty_is_finite_and_trains(name: str) -> None:
    field, regularizer = field_for(name)
    field.prepare(sample=regularizer.sample_gates)
    state = torch.randn(16, 4)
    mse = masked_mse(field.network(state), torch.randn(16, 4), torch.ones(16, 4, dtype=torch.bool))
    penalty = regularizer.penalty(field)
    assert penalty.shape == () and torch.isfinite(penalty)
    (mse + penalty).backward()
    grads = [p.grad for p in field.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    if name == "none":
        assert penalty.item() == 0.0
    else:
        assert penalty.item() > 0.0


@pytest.mark.parametrize("name", ["l1", "l0", "cnode", "group_lasso", "pathreg"])
def test_gradient_penalties_have_gradients_of_their_own(name: str) -> None:
    field, regularizer = field_for(name)
    field.prepare(sample=regularizer.sample_gates)
    regularizer.penalty(field).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in field.parameters())


def test_lassonet_penalty_is_applied_by_the_proximal_step() -> None:
    field, regularizer = field_for("lassonet")
    field.prepare(sample=False)
    assert not regularizer.penalty(field).requires_grad  # reported only, not applied twice
    with torch.no_grad():
        field.skip.weight.copy_(torch.randn_like(field.skip.weight))
        field.layers[0].weight.zero_()  # no hierarchy interaction: the prox is plain group soft-thresholding
    before = field.skip.weight.detach().norm(dim=0).clone()
    # the reported penalty is the one the proximal step applies: lam * sum_j ||theta_j||, whose step of size
    # learning_rate shrinks every column norm by learning_rate * lam
    torch.testing.assert_close(regularizer.penalty(field), regularizer.lam * before.sum())
    regularizer.proximal_step(field, learning_rate=0.01)
    after = field.skip.weight.detach().norm(dim=0)
    torch.testing.assert_close(before - after, torch.full_like(before, 0.01 * regularizer.lam), rtol=0, atol=1e-6)


def test_pathreg_released_formula() -> None:
    regularizer = PathReg(0.3, gates="unit", normalize=False, sample_gates=True)
    field = VectorField(4, hidden=(6, 5), **regularizer.field_options())
    field.prepare(sample=True)
    weights = path_product([layer.weight.abs() for layer in field.layers]).mean()
    gates = field.current_gates
    # (Z3 Z2 Z1)_ij = z1_j * sum(z2) * sum(z3) for unit gates broadcast over their layer
    gate_paths = (gates[0] * gates[1].sum() * gates[2].sum()).mean()
    torch.testing.assert_close(regularizer.penalty(field), 0.3 * (weights + 0.1 * gate_paths))


@pytest.mark.parametrize("gates", ["unit", "weight"])
def test_pathreg_normalised_gate_term_does_not_grow_with_width(gates: str) -> None:
    terms = {}
    for normalize in (True, False):
        for width in (4, 40):
            regularizer = PathReg(1.0, gates=gates, gate_weight=1.0, normalize=normalize, initial_open=0.999)
            field = VectorField(3, hidden=(width, width), **regularizer.field_options())
            with torch.no_grad():
                for layer in field.layers:
                    layer.weight.zero_()  # leave the gate term alone
            field.prepare(sample=False)
            terms[normalize, width] = regularizer.penalty(field).item()
    assert terms[True, 4] == pytest.approx(terms[True, 40], rel=0.02)
    assert terms[True, 4] == pytest.approx(0.999**3, rel=0.02)  # the share of open paths
    assert terms[False, 40] == pytest.approx(100 * terms[False, 4], rel=0.05)  # the released term: width²


def test_pathreg_closed_gates_give_exact_zero_dependencies() -> None:
    field, regularizer = field_for("pathreg")
    with torch.no_grad():
        field.layers[0].gate.log_alpha[:, 2] = -20.0  # every first-layer gate from input 2
        field.layers[-1].gate.log_alpha[1] = -20.0  # every last-layer gate into output 1
    strength = regularizer.dependencies(field)
    assert strength.shape == (4, 4)
    assert torch.all(strength[:, 2] == 0) and torch.all(strength[1] == 0)
    assert (strength > 0).sum() == 9


def test_unknown_regularizer_and_bad_lam_are_refused() -> None:
    with pytest.raises(ValueError, match="regularization='ridge' is unknown"):
        make_regularizer("ridge", 0.1)
    for lam in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="must be a finite number >= 0"):
            make_regularizer("l1", lam)
    assert make_regularizer("cnode", None).lam == REGULARIZERS["cnode"].default_lam


# ---------------------------------------------------------------------------------------------- vector field
def test_first_order_field() -> None:
    field = VectorField(3, hidden=(5,))
    field.prepare(sample=False)
    state = torch.randn(7, 3)
    assert field(torch.tensor(0.0), state).shape == (7, 3)


def test_second_order_field_returns_velocity_and_acceleration() -> None:
    field = VectorField(3, hidden=(5, 4), order=2)
    assert field.layers[0].in_features == 6 and field.layers[-1].out_features == 3
    field.prepare(sample=False)
    position, velocity = torch.randn(7, 3), torch.randn(7, 3)
    state = torch.cat([position, velocity], dim=1)
    derivative = field(torch.tensor(0.0), state)
    assert derivative.shape == (7, 6)
    torch.testing.assert_close(derivative[:, :3], velocity)
    torch.testing.assert_close(derivative[:, 3:], field.network(state))


def test_decay_subtracts_a_non_negative_rate_per_feature_outside_the_network() -> None:
    plain, decaying = VectorField(3, hidden=(5,)), VectorField(3, hidden=(5,), decay=True)
    decaying.load_state_dict({**plain.state_dict(), "decay_parameter": torch.tensor([-1.0, 0.0, 2.0])})
    for field in (plain, decaying):
        field.prepare(sample=False)
    state = torch.randn(7, 3)
    rates = torch.nn.functional.softplus(torch.tensor([-1.0, 0.0, 2.0]))
    torch.testing.assert_close(decaying.decay_rates, rates)
    torch.testing.assert_close(decaying.network(state), plain.network(state) - rates * state)
    torch.testing.assert_close(plain.decay_rates, torch.zeros(3))
    # the decay is the only difference on the Jacobian's diagonal
    difference = torch.func.jacrev(decaying.network)(state[0]) - torch.func.jacrev(plain.network)(state[0])
    torch.testing.assert_close(difference, -torch.diag(rates))


def test_vector_field_needs_prepare_and_valid_arguments() -> None:
    field = VectorField(2, hidden=(3,))
    with pytest.raises(RuntimeError, match=r"prepare\(\) must be called"):
        field(torch.tensor(0.0), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="order=3"):
        VectorField(2, order=3)
    with pytest.raises(ValueError, match="activation='gelu'"):
        VectorField(2, activation="gelu")


def test_masked_mse_ignores_masked_entries() -> None:
    predicted, observed = torch.randn(4, 5, 3), torch.randn(4, 5, 3)
    mask = torch.rand(4, 5, 3) > 0.3
    corrupted = torch.where(mask, observed, torch.full_like(observed, 1e6))
    torch.testing.assert_close(masked_mse(predicted, corrupted, mask), masked_mse(predicted, observed, mask))
    expected = ((predicted - observed)[mask] ** 2).mean()
    torch.testing.assert_close(masked_mse(predicted, observed, mask), expected)
    assert np.isfinite(masked_mse(predicted, observed, torch.zeros_like(mask)).item())
