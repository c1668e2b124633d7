"""Sphinx configuration of the sparsenode documentation.

Build (warnings are errors)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

The tutorials are the notebooks in ``../tutorials``, copied into ``docs/tutorials`` (generated, git-ignored) at
every build and rendered with their stored outputs: they are never executed here (``nb_execution_mode = "off"``);
``.ci/run`` executes them separately.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import sparsenode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# -- tutorials: copy the committed notebooks next to the pages (Sphinx reads only files below docs/) ----------
_tutorials = HERE / "tutorials"
shutil.rmtree(_tutorials, ignore_errors=True)
_tutorials.mkdir()
for _notebook in sorted((ROOT / "tutorials").glob("*.ipynb")):
    shutil.copy2(_notebook, _tutorials / _notebook.name)

# -- project ---------------------------------------------------------------------------------------------------
project = "sparsenode"
author = "sparsenode developers"
copyright = "sparsenode developers"  # noqa: A001
release = sparsenode.__version__
version = release

# -- general ---------------------------------------------------------------------------------------------------
extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
myst_enable_extensions = ["amsmath", "dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- notebooks: render stored outputs, never execute -----------------------------------------------------------
nb_execution_mode = "off"
nb_merge_streams = True

# -- API reference ---------------------------------------------------------------------------------------------
# Every name in a module's ``__all__`` gets a page (templates in _templates/autosummary), so a new public function
# of sn.tl or sn.pl appears in the reference without editing api.md.
autosummary_generate = True
autosummary_ignore_module_all = False
autosummary_imported_members = False
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
autoclass_content = "class"
add_module_names = False

# Docstrings are numpydoc-style with prose "Returns" sections (scanpy's habit): render those as written.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True
napoleon_custom_sections = [("Returns", "returns_prose")]

# -- HTML ------------------------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = f"sparsenode {release}"
html_theme_options = {"show_toc_level": 2}
html_static_path: list[str] = []
