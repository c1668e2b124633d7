"""Docstring sections shared by several public functions, filled in by :func:`fill_doc`.

A docstring names a shared section by a line that holds only ``{name}``; :func:`fill_doc` replaces that line
with the section, indented as the placeholder was (scanpy's ``_doc_params``, without ``str.format``, so that
docstrings may contain other braces).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

Function = TypeVar("Function", bound=Callable)

#: ``show``/``return_fig`` parameters and the return section of the plotting functions (scanpy's ``ax``/``show``/``return_fig`` contract).
PLOT_SHOW_PARAMETERS = """\
show
    Whether to show the plot (``False``: return the axes). Defaults to showing unless ``return_fig`` or
    ``ax`` is given.
return_fig
    Whether to return the figure."""
PLOT_RETURNS = """\
The figure if ``return_fig``; else, when the plot is not shown (``show=False``, or ``ax`` given), the
axes drawn into (scanpy's convention: a list for several panels); else `None`."""

#: The first two parameters of the functions that read a fit from AnnData.
FIT_PARAMETERS = """\
adata
    Annotated data matrix with a fit from :func:`sparsenode.tl.fit`.
key
    The ``key_added`` of the fit."""

#: Parameter and error sections of the network scores in :mod:`sparsenode.metrics`.
NETWORK_SCORE_PARAMETERS = """\
scores
    ``(d, d)`` edge scores, row = target, column = regulator; larger means more confident.
reference
    ``(d, d)`` reference network in the same orientation; non-zero entries are edges.
exclude_self
    Leave the diagonal (self-loops) out of the evaluation."""
NETWORK_SCORE_RAISES = """\
ValueError
    On a shape mismatch, non-finite scores, or a reference without any edge or any non-edge."""

SECTIONS = {
    "fit_parameters": FIT_PARAMETERS,
    "plot_show_parameters": PLOT_SHOW_PARAMETERS,
    "plot_returns": PLOT_RETURNS,
    "network_score_parameters": NETWORK_SCORE_PARAMETERS,
    "network_score_raises": NETWORK_SCORE_RAISES,
}


def fill_doc(function: Function) -> Function:
    """Replace every line ``{name}`` of ``function``'s docstring by the section ``SECTIONS[name]``.

    Raises
    ------
    KeyError
        If a placeholder names no section (at import, so that a typo cannot reach the documentation).
    """
    lines = []
    for line in (function.__doc__ or "").splitlines():
        stripped = line.strip()
        if stripped.startswith("{") and stripped.endswith("}") and stripped[1:-1].isidentifier():
            indent = line[: len(line) - len(line.lstrip())]
            lines.extend(indent + section_line if section_line else "" for section_line
                         in SECTIONS[stripped[1:-1]].splitlines())
        else:
            lines.append(line)
    function.__doc__ = "\n".join(lines)
    return function
