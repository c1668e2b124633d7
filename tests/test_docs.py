"""Shared docstring sections (sparsenode._docs.fill_doc)."""

import doctest
import inspect
import re

import pytest

import sparsenode as sn
from sparsenode._docs import PLOT_SHOW_PARAMETERS, fill_doc

PLACEHOLDER = re.compile(r"^\s*\{[A-Za-z_]\w*\}\s*$", re.MULTILINE)


def test_fill_doc_indents_the_section_as_the_placeholder_and_keeps_other_braces():
    @fill_doc
    def plot(adata, *, show=None, return_fig=False):
        """Draw.

        Parameters
        ----------
        adata
            Data with ``varp[f"{key}_jacobian"]``.
        {plot_show_parameters}
        """

    lines = plot.__doc__.splitlines()
    indent = " " * 8  # the placeholder's, inside this test function
    start = lines.index(indent + "show")
    assert lines[start:start + 5] == [indent + line for line in PLOT_SHOW_PARAMETERS.splitlines()]
    assert 'varp[f"{key}_jacobian"]' in plot.__doc__


def test_fill_doc_refuses_an_unknown_section():
    def plot():
        """Draw.

        {no_such_section}
        """

    with pytest.raises(KeyError, match="no_such_section"):
        fill_doc(plot)


@pytest.mark.parametrize("module", [sn.pl, sn.metrics, sn.tl, sn.pp, sn.datasets])
def test_public_docstrings_have_no_unfilled_section(module):
    for name, member in inspect.getmembers(module, callable):
        if not name.startswith("_") and member.__doc__:
            assert not PLACEHOLDER.search(member.__doc__), f"{module.__name__}.{name}"


@pytest.mark.parametrize("function", [sn.tl.fit, sn.SparseNODE, sn.pl.dependencies],
                         ids=["tl.fit", "SparseNODE", "pl.dependencies"])
def test_docstring_examples_run(function, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = doctest.DocTestFinder(recurse=False).find(function, function.__name__, globs={})
    assert tests and tests[0].examples
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
