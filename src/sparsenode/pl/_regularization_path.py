"""Validation error and sparsity along a sweep of the sparsity penalty λ."""

from __future__ import annotations

import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sparsenode._docs import fill_doc
from sparsenode.pl._utils import _finish, _get_fit_entry, _new_axes, _require


@fill_doc
def regularization_path(
    adata: AnnData,
    key: str = "sparsenode",
    *,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | list[Axes] | None:
    """Plot prediction error and sparsity against the penalty strength λ.

    Validation (and training) MSE are drawn on the left axis and feature, weight (and, when
    known, spurious-feature) sparsity on a twin right axis, against λ on a logarithmic x axis
    (symmetric-logarithmic when the grid holds λ = 0).
    The selected λ is marked by a vertical line.

    Parameters
    ----------
    adata
        Annotated data matrix with a sweep from :func:`sparsenode.tl.regularization_path`.
    key
        The ``key_added`` of the fit.
    ax
        Axes to draw into (the sparsity axis is its twin). A new figure is created if `None`.
    {plot_show_parameters}

    Returns
    -------
    {plot_returns}
    """
    instruction = (f"Run `sn.tl.regularization_path(adata, time_key=..., key_added={key!r})` first (time_key: the "
                   "adata.obs column of the cells' times).")
    path = _get_fit_entry(adata, key, "regularization_path", instruction=instruction)
    lam, selected = (_require(path, name, where=f"adata.uns[{key!r}]['regularization_path']", instruction=instruction)
                     for name in ("lam", "selected_lam"))
    lam, selected = np.asarray(lam, dtype=float), float(selected)
    order = np.argsort(lam)
    error_curves = {"val_mse": "validation MSE", "train_mse": "training MSE"}
    sparsity_curves = {
        "feature_sparsity": "feature sparsity",
        "weight_sparsity": "weight sparsity",
        "spurious_feature_sparsity": "spurious-feature sparsity",
    }

    fig, error_ax = _new_axes(ax)
    sparsity_ax = error_ax.twinx()
    colors = iter(f"C{index}" for index in range(len(error_curves) + len(sparsity_curves)))
    for target_ax, curves, marker in ((error_ax, error_curves, "o"), (sparsity_ax, sparsity_curves, "s")):
        for name, label in curves.items():
            if name in path:
                values = np.asarray(path[name], dtype=float)[order]
                target_ax.plot(lam[order], values, marker=marker, color=next(colors), label=label)
    error_ax.axvline(selected, color="black", linestyle=":", label=f"selected λ = {selected:.3g}")

    positive = lam[lam > 0]
    if (lam == 0).any():  # λ = 0 (no penalty) stays visible: linear below the smallest positive λ
        linthresh = positive.min() if positive.size else 1.0
        error_ax.set_xscale("symlog", linthresh=linthresh)
        error_ax.set_xlim(left=-0.1 * linthresh)  # λ < 0 does not exist
    else:
        error_ax.set_xscale("log")
    error_ax.set_xlabel("λ")
    error_ax.set_ylabel("MSE")
    sparsity_ax.set_ylabel("sparsity")
    sparsity_ax.set_ylim(-0.03, 1.03)  # sparsities are shares
    error_ax.set_title(f"{key}: regularization path")
    handles = error_ax.get_legend_handles_labels()[0] + sparsity_ax.get_legend_handles_labels()[0]
    # outside the axes, so that no curve of either axis runs through it
    error_ax.legend(handles=handles, frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.15, 1.0))
    return _finish(fig, error_ax, ax=ax, show=show, return_fig=return_fig)
