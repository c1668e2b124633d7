"""Fitting failures: non-finite loss, exhausted solver budget and interruption keep the best parameters and
never leave an AnnData half-written."""

from __future__ import annotations

import anndata
import numpy as np
import pandas as pd
import pytest
import torch

import sparsenode as sn
from sparsenode.nn.regularizers.cnode import CNODE
from sparsenode.nn.train import FitError

TINY = {"hidden": (8, 8), "warm_start_epochs": 0, "progress": False}


def decaying_trajectories(n_traj: int = 4, n_time: int = 15, d: int = 3) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.0, 2.0, n_time)
    start = np.random.default_rng(0).normal(size=(n_traj, 1, d))
    return start * np.exp(-t)[None, :, None], t


def tiny_adata() -> anndata.AnnData:
    X, t = decaying_trajectories()
    adata = anndata.AnnData(X.reshape(-1, X.shape[-1]).astype(np.float32))
    adata.var_names = ["a", "b", "c"]
    adata.obs["time"] = np.tile(t, X.shape[0])
    adata.obs["lineage"] = pd.Categorical(np.repeat([f"L{k}" for k in range(X.shape[0])], len(t)))
    return adata


def test_non_finite_loss_stops_with_remedy_and_keeps_the_previous_fit(monkeypatch) -> None:
    calls = {"n": 0}
    penalty = CNODE.penalty

    def failing_penalty(self, field):
        calls["n"] += 1
        value = penalty(self, field)
        return value * float("nan") if calls["n"] > 3 else value

    model = sn.SparseNODE("cnode", epochs=10, **TINY).fit(*decaying_trajectories())
    before = {name: value.clone() for name, value in model.field_.state_dict().items()}
    monkeypatch.setattr(CNODE, "penalty", failing_penalty)
    with pytest.raises(FitError, match="lower the learning rate"):
        model.fit(*decaying_trajectories())
    after = model.field_.state_dict()
    assert all(torch.isfinite(value).all() and torch.equal(value, before[name]) for name, value in after.items())


def test_exhausted_solver_budget_raises_fit_error_with_remedy() -> None:
    model = sn.SparseNODE("none", epochs=3, solver="dopri5", max_steps=1, **TINY)
    with pytest.raises(FitError, match="max_steps|step_size"):
        model.fit(*decaying_trajectories())


@pytest.mark.parametrize(("validation_fraction", "kept"), [(0.0, "the last parameters"),
                                                        (0.3, "the best parameters by validation MSE")])
def test_keyboard_interrupt_says_which_parameters_are_kept(interrupt_at_step, caplog, validation_fraction, kept) -> None:
    interrupt_at_step(4, once=False)
    with caplog.at_level("WARNING", logger="sparsenode"):
        sn.SparseNODE(epochs=20, validation_fraction=validation_fraction, **TINY).fit(*decaying_trajectories())
    assert f"fitting interrupted after 3 epochs; keeping {kept}" in caplog.text


def test_keyboard_interrupt_during_tl_fit_writes_every_slot(interrupt_at_step) -> None:
    interrupt_at_step(4, once=False)
    adata = tiny_adata()
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", epochs=50, **TINY)
    assert {"sparsenode", "sparsenode_jacobian"} <= set(adata.varp)
    assert {"params", "metrics", "history", "fitted", "model"} <= set(adata.uns["sparsenode"])
    assert len(adata.uns["sparsenode"]["history"]["epoch"]) == 3
    assert np.isfinite(adata.varp["sparsenode"]).all()


def test_keyboard_interrupt_ends_the_chain_of_stages(interrupt_at_step) -> None:
    """One Ctrl-C in the transport stage ends tl.fit there: the refinement on trajectories does not run."""
    interrupt_at_step(4)
    adata = tiny_adata()
    sn.tl.fit(adata, time_key="time", lineage_key="lineage", epochs=20, refine_epochs=20, transport_bins=4, **TINY)
    history = adata.uns["sparsenode"]["history"]
    assert len(history["epoch"]) == 3
    assert "stage" not in history  # one stage only: no refinement followed
    assert sn.tl.model(adata).interrupted_


def adata_contents(adata: anndata.AnnData) -> tuple:
    return set(adata.varp), set(adata.uns), set(adata.layers), set(adata.obsm), adata.X.copy()


@pytest.mark.parametrize("tool", ["regularization_path", "bootstrap", "bootstrap_replicate"])
def test_keyboard_interrupt_stops_a_tool_with_several_fits_and_writes_nothing(interrupt_at_step, tool) -> None:
    """A fit cut short by Ctrl-C must not enter a λ selection or a stability matrix: the tool stops (as it does
    with n_jobs > 1, where joblib receives the interrupt) and the AnnData keeps what it held."""
    adata = tiny_adata()
    keys = {"time_key": "time", "lineage_key": "lineage", "training_data": "trajectories", "epochs": 5, **TINY}
    interrupt_at_step(8 if tool == "bootstrap_replicate" else 4)  # replicate: after the 5 steps of the main fit
    before = adata_contents(adata)
    with pytest.raises(KeyboardInterrupt):
        if tool == "regularization_path":
            sn.tl.regularization_path(adata, lams=[0.01, 0.1], n_jobs=1, **keys)
        else:
            sn.tl.fit(adata, n_models=2, n_jobs=1, **keys)
    after = adata_contents(adata)
    assert after[:4] == before[:4]
    np.testing.assert_array_equal(after[4], before[4])


def test_failed_tl_fit_leaves_adata_unchanged(monkeypatch) -> None:
    def failing_fit(self, *args, **kwargs):
        raise FitError("simulated failure")

    monkeypatch.setattr(sn.SparseNODE, "fit", failing_fit)
    adata = tiny_adata()
    before = (set(adata.varp), set(adata.uns), set(adata.layers), adata.X.copy())
    with pytest.raises(FitError):
        sn.tl.fit(adata, time_key="time", lineage_key="lineage", **TINY)
    assert (set(adata.varp), set(adata.uns), set(adata.layers)) == before[:3]
    np.testing.assert_array_equal(adata.X, before[3])
