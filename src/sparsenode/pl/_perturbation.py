"""Per-gene effect of an in-silico perturbation."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sparsenode._checks import check_positive_int
from sparsenode._docs import fill_doc
from sparsenode._keys import Keys
from sparsenode.pl._utils import ACTIVATION_COLOR, REPRESSION_COLOR, _finish, _new_axes, _require

#: The entries of a :func:`sparsenode.tl.perturb` result that the plot reads.
RESULT_ENTRIES = frozenset({"genes", "effect", "perturbed_genes", "perturbed_values"})


@fill_doc
def perturbation(
    adata: AnnData,
    key: str = "sparsenode",
    *,
    n_top: int = 20,
    perturbation_key: str | None = None,
    include_perturbed: bool = False,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | list[Axes] | None:
    """Plot the mean change of each gene after an in-silico perturbation as a bar chart.

    The ``n_top`` genes with the largest absolute mean effect are shown, sorted by it; increases
    are red and decreases blue. The title names the perturbed genes and their values; their own change (the
    clamp, not a response) is left out unless ``include_perturbed``.

    Parameters
    ----------
    adata
        Annotated data matrix with a result of :func:`sparsenode.tl.perturb` in ``adata.uns``.
    key
        The ``key_added`` of the fit that was perturbed (a result of another fit is refused).
    n_top
        Number of genes to show.
    perturbation_key
        The ``key_added`` of :func:`sparsenode.tl.perturb`; default ``f"{key}_perturbation"``, its default.
    include_perturbed
        Also rank and show the perturbed (clamped) genes, with hatched bars.
    ax
        Axes to draw into. A new figure is created if `None`.
    {plot_show_parameters}

    Returns
    -------
    {plot_returns}

    Raises
    ------
    KeyError
        If there is no result under ``perturbation_key`` or the entry there is not a result of
        :func:`sparsenode.tl.perturb`.
    ValueError
        If the result records another fit than ``key``.
    """
    check_positive_int("n_top", n_top)
    result_key = Keys(key).perturbation if perturbation_key is None else perturbation_key
    result = _require(
        adata.uns,
        result_key,
        where="adata.uns",
        instruction=f"Run `sn.tl.perturb(adata, {{gene: value}}, key={key!r})` on the fit {key!r} first, or pass the "
        "key_added of sn.tl.perturb as perturbation_key.",
    )
    missing = sorted(RESULT_ENTRIES - set(result)) if isinstance(result, Mapping) else sorted(RESULT_ENTRIES)
    if missing:
        raise KeyError(f"adata.uns[{result_key!r}] is not a result of sn.tl.perturb (it lacks {missing}); pass the "
                       "key_added of sn.tl.perturb as perturbation_key.")
    perturbed_fit = str(result.get("key", key))  # tl.perturb records its fit; a result without one is taken as is
    if perturbed_fit != key:
        raise ValueError(f"adata.uns[{result_key!r}] is the perturbation result of the fit {perturbed_fit!r}, not of "
                         f"the fit {key!r}; pass key={perturbed_fit!r} to plot it.")
    genes = np.asarray(result["genes"]).astype(str)
    effect = np.asarray(result["effect"], dtype=float)
    clamped = np.isin(genes, np.asarray(result["perturbed_genes"]).astype(str))
    ranking = np.argsort(-np.abs(effect), kind="stable")
    top = (ranking if include_perturbed else ranking[~clamped[ranking]])[:n_top]
    perturbed = ", ".join(
        f"{gene} = {float(value):.3g}"
        for gene, value in zip(np.asarray(result["perturbed_genes"]), np.asarray(result["perturbed_values"]))
    )

    fig, bar_ax = _new_axes(ax, figsize=(max(4.0, 0.35 * len(top) + 1.5), 3.5))
    bars = bar_ax.bar(
        np.arange(len(top)),
        effect[top],
        color=np.where(effect[top] >= 0, ACTIVATION_COLOR, REPRESSION_COLOR),
    )
    for bar, is_clamped in zip(bars, clamped[top], strict=True):
        if is_clamped:
            bar.set_hatch("//")
    bar_ax.axhline(0, color="black", linewidth=0.8)
    bar_ax.set_xticks(np.arange(len(top)), genes[top], rotation=90)
    bar_ax.set_ylabel("mean change in expression")
    bar_ax.set_title(f"perturbation: {perturbed}")
    return _finish(fig, bar_ax, ax=ax, show=show, return_fig=return_fig)
