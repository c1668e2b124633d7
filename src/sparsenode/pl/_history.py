"""Training curves of a fit."""

from __future__ import annotations

import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sparsenode._docs import fill_doc
from sparsenode.pl._utils import _finish, _get_fit_entry, _new_axes


@fill_doc
def history(
    adata: AnnData,
    key: str = "sparsenode",
    *,
    log: bool = True,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | list[Axes] | None:
    """Plot the training loss, training MSE and validation MSE against the epoch.

    The validation curve is omitted when the fit used no validation data (all ``val_mse`` NaN). A fit in stages
    (``tl.fit``'s default ``training_data="transport+trajectories"``: cells paired with their transport
    successors, then whole trajectories) has a dashed line where the next stage starts: the stages fit
    different data, so their errors differ in size (a jump there is not a divergence).

    Parameters
    ----------
    {fit_parameters}
    log
        Use a logarithmic y axis.
    ax
        Axes to draw into. A new figure is created if `None`.
    {plot_show_parameters}

    Returns
    -------
    {plot_returns}
    """
    record = _get_fit_entry(adata, key, "history")
    epoch = np.asarray(record["epoch"])
    curves = {"loss": "training loss", "mse": "training MSE", "val_mse": "validation MSE"}

    # a fit continued on other data (tl.fit: transport pairs, then trajectories) is drawn stage by stage
    stage = np.asarray(record["stage"]) if "stage" in record else np.zeros(len(epoch), dtype=int)
    fig, history_ax = _new_axes(ax)
    for color, (name, label) in enumerate(curves.items()):
        values = np.asarray(record[name], dtype=float)
        if np.isnan(values).all():
            continue
        for number, current in enumerate(np.unique(stage)):
            rows = stage == current
            history_ax.plot(epoch[rows], values[rows], color=f"C{color}", label=label if number == 0 else None)
    for number, start in enumerate(epoch[1:][np.diff(stage) != 0]):
        history_ax.axvline(start - 0.5, color="0.5", linestyle="--", linewidth=1,
                           label="next training stage" if number == 0 else None)
    if log:
        history_ax.set_yscale("log")
    history_ax.set_xlabel("epoch")
    history_ax.set_ylabel("loss")
    history_ax.set_title(key)
    history_ax.legend(frameon=False)
    return _finish(fig, history_ax, ax=ax, show=show, return_fig=return_fig)
