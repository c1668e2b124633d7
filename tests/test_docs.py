"""Shared docstring sections (sparsenode._docs.fill_doc), docstring examples, and the package's public surface:
its ``__all__``, the API reference and the declared dependencies."""

import ast
import doctest
import importlib.metadata
import inspect
import re
import sys
import tomllib
from pathlib import Path

import pytest

import sparsenode as sn
from sparsenode._docs import PLOT_SHOW_PARAMETERS, fill_doc

PLACEHOLDER = re.compile(r"^\s*\{[A-Za-z_]\w*\}\s*$", re.MULTILINE)
ROOT = Path(__file__).resolve().parents[1]


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


def test_the_package_exports_its_modules_estimator_and_exceptions() -> None:
    assert set(sn.__all__) == {"ModelFormatError", "NotFittedError", "SparseNODE", "__version__", "datasets",
                               "metrics", "nn", "pl", "pp", "tl"}
    assert all(hasattr(sn, name) for name in sn.__all__)
    assert all(issubclass(getattr(sn, name), Exception) for name in ("ModelFormatError", "NotFittedError"))


def test_the_api_reference_lists_every_module_class_and_exception_of_the_package() -> None:
    """docs/api.md says it lists every function, class and exception of each ``__all__``."""
    api = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^ {3}(sparsenode\.\w+)$", api, re.MULTILINE))
    public = {f"sparsenode.{name}" for name in sn.__all__ if inspect.ismodule(getattr(sn, name))
              or inspect.isclass(getattr(sn, name))}
    assert public <= listed, sorted(public - listed)


def canonical(distribution: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def test_every_module_level_import_of_the_package_is_a_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {canonical(re.match(r"[A-Za-z0-9_.-]+", requirement).group())
                for requirement in project["dependencies"]}
    providers = importlib.metadata.packages_distributions()
    undeclared = set()
    for file in (ROOT / "src" / "sparsenode").rglob("*.py"):
        for statement in ast.parse(file.read_text(encoding="utf-8")).body:
            if isinstance(statement, ast.Import):
                modules = [alias.name for alias in statement.names]
            elif isinstance(statement, ast.ImportFrom) and statement.level == 0:
                modules = [statement.module]
            else:
                continue
            for top in {module.split(".")[0] for module in modules} - set(sys.stdlib_module_names) - {"sparsenode"}:
                if not {canonical(name) for name in providers.get(top, [top])} & declared:
                    undeclared.add(f"{top} ({file.relative_to(ROOT)})")
    assert not undeclared, sorted(undeclared)
