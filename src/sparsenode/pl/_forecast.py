"""Observed versus predicted multivariate time series (no AnnData needed)."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sparsenode._docs import fill_doc
from sparsenode.pl._utils import _check_names, _finish, _panel_axes


def _feature_indices(
    features: Sequence[int | str] | int | str | None, feature_names: Sequence[str] | None, n_features: int
) -> list[int]:
    """Resolve feature indices and/or names (looked up in ``feature_names``) to indices."""
    if features is None:
        return list(range(n_features))
    features = [features] if isinstance(features, str | Integral) else list(features)
    named = [feature for feature in features if isinstance(feature, str)]
    if named and feature_names is None:
        raise ValueError(f"features {named} are names; pass feature_names= (one name per feature) to select "
                         "features by name, or give their indices")
    names = [] if feature_names is None else [str(name) for name in feature_names]
    _check_names([feature for feature in features if isinstance(feature, str)], names, what="feature names")
    indices = [names.index(feature) if isinstance(feature, str) else int(feature) for feature in features]
    out_of_range = [index for index in indices if not 0 <= index < n_features]
    if out_of_range:
        raise IndexError(f"Feature indices {out_of_range} are out of range for {n_features} features.")
    return indices


@fill_doc
def forecast(
    true: np.ndarray,
    predicted: np.ndarray,
    t: np.ndarray,
    *,
    features: Sequence[int | str] | int | str | None = None,
    feature_names: Sequence[str] | None = None,
    sequence: int = 0,
    ncols: int = 4,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | list[Axes] | None:
    """Plot observed against predicted time series, one panel per feature.

    Parameters
    ----------
    true
        Observed values, shape ``(n_time, n_features)`` or ``(n_seq, n_time, n_features)``.
    predicted
        Predicted values, same shape as ``true``.
    t
        Time points, shape ``(n_time,)``, or ``(n_seq, n_time)`` for several sequences.
    features
        Feature indices or names (names need ``feature_names``) to plot. Defaults to all features.
    feature_names
        Names of the features, used for panel titles and to select ``features`` by name.
    sequence
        Which sequence to plot when the arrays hold several.
    ncols
        Number of panels per row.
    ax
        Axes to draw into; only possible for a single feature. A new figure is created if `None`.
    {plot_show_parameters}

    Returns
    -------
    {plot_returns}
    """
    true, predicted, t = np.asarray(true), np.asarray(predicted), np.asarray(t)
    if true.shape != predicted.shape:
        raise ValueError(f"`true` and `predicted` differ in shape: {true.shape} vs {predicted.shape}.")
    if true.ndim not in (2, 3):
        raise ValueError(
            f"Expected arrays of shape (n_time, n_features) or (n_seq, n_time, n_features), got {true.shape}."
        )
    n_sequences = true.shape[0] if true.ndim == 3 else t.shape[0] if t.ndim == 2 else 1
    if (true.ndim == 3 or t.ndim == 2) and not (
        isinstance(sequence, int | np.integer) and not isinstance(sequence, bool) and 0 <= sequence < n_sequences
    ):
        raise ValueError(f"sequence={sequence!r} must be an integer from 0 to {n_sequences - 1} (the arrays hold "
                         f"{n_sequences} sequences)")
    if true.ndim == 3:
        true, predicted = true[sequence], predicted[sequence]
    if t.ndim == 2:
        t = t[sequence]
    if t.shape != true.shape[:1]:
        raise ValueError(f"`t` has {t.shape[0]} time points, the series have {true.shape[0]}.")
    n_features = true.shape[1]
    if feature_names is not None and len(feature_names) != n_features:
        raise ValueError(f"Got {len(feature_names)} feature names for {n_features} features.")
    indices = _feature_indices(features, feature_names, n_features)

    fig, axes = _panel_axes(len(indices), ncols=ncols, ax=ax)
    for index, panel in zip(indices, axes):
        panel.plot(t, true[:, index], "o", markersize=3, color="black", alpha=0.6, label="observed")
        panel.plot(t, predicted[:, index], color="C3", linewidth=2, label="predicted")
        panel.set_title(str(index) if feature_names is None else str(feature_names[index]))
        panel.set_xlabel("time")
    axes[0].legend(frameon=False, fontsize="small")
    return _finish(fig, axes, ax=ax, show=show, return_fig=return_fig)
