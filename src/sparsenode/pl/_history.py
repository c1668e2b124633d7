"""Training curves of a fit."""

from __future__ import annotations

import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sparsenode.pl._utils import _finish, _get_fit_entry, _new_axes


def history(
    adata: AnnData,
    key: str = "sparsenode",
    *,
    log: bool = True,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | None:
    """Plot the training loss, training MSE and validation MSE against the epoch.

    The validation curve is omitted when the fit used no validation data (all ``val_mse`` NaN).

    Parameters
    ----------
    adata
        Annotated data matrix with a fit from :func:`sparsenode.tl.fit`.
    key
        The ``key_added`` of the fit.
    log
        Use a logarithmic y axis.
    ax
        Axes to draw into. A new figure is created if `None`.
    show
        Whether to show the plot. Defaults to showing unless ``return_fig`` or ``ax`` is given.
    return_fig
        Whether to return the figure.

    Returns
    -------
    The figure if ``return_fig``, else `None`.
    """
    record = _get_fit_entry(adata, key, "history")
    epoch = np.asarray(record["epoch"])
    curves = {"loss": "training loss", "mse": "training MSE", "val_mse": "validation MSE"}

    fig, history_ax = _new_axes(ax)
    for name, label in curves.items():
        values = np.asarray(record[name], dtype=float)
        if not np.isnan(values).all():
            history_ax.plot(epoch, values, label=label)
    if log:
        history_ax.set_yscale("log")
    history_ax.set_xlabel("epoch")
    history_ax.set_ylabel("loss")
    history_ax.set_title(key)
    history_ax.legend(frameon=False)
    return _finish(fig, ax=ax, show=show, return_fig=return_fig)
