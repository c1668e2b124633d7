"""Training curves of a fit."""

from __future__ import annotations

import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sparsenode._docs import fill_doc
from sparsenode.pl._utils import _finish, _fit_instruction, _get_fit_entry, _new_axes, _require


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
    curves = {"loss": "training loss", "mse": "training MSE", "val_mse": "validation MSE"}
    where, instruction = f"adata.uns[{key!r}]['history']", _fit_instruction(key)
    # every entry is read before drawing: a missing one leaves no figure behind
    epoch = np.asarray(_require(record, "epoch", where=where, instruction=instruction))
    series = {label: np.asarray(_require(record, name, where=where, instruction=instruction), dtype=float)
              for name, label in curves.items()}

    # a fit continued on other data (tl.fit: transport pairs, then trajectories) is drawn stage by stage
    stage = np.asarray(record["stage"]) if "stage" in record else np.zeros(len(epoch), dtype=int)
    fig, history_ax = _new_axes(ax)
    for color, (label, values) in enumerate(series.items()):
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
