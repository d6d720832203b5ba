"""docs/build_reference.py: its check of the docstrings' cross-references
finds exactly the broken ones, on a small package written here (the whole
reference is built by CI: .ci/run)."""

import importlib.util
import os
import sys

import pytest

pdoc_doc = pytest.importorskip("pdoc.doc")  # the dev extra

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PACKAGE = {
    "__init__.py": '''"""A package: :mod:`.tools` and :func:`refpkg.tools.double` exist,
:func:`refpkg.tools.triple` does not."""
''',
    "tools.py": '''"""Tools: :func:`double`, :class:`Box`, :data:`LIMIT`, :class:`np.ndarray`
(imported), :func:`os.path.join` (a module's), :exc:`ValueError`
(builtins), :func:`halve` (missing), :mod:`.other` (missing), and a name
broken across lines, :func:`refpkg.tools.
double`."""

import numpy as np

LIMIT = 3


def double(x):
  """Twice ``x``; see :attr:`Box.size` and :func:`.tools.double` (in a
  module, ``.`` is its package)."""
  return 2 * x


class Box:
  """A box of :attr:`size` (set in ``__init__``), :attr:`width` (missing).
  """

  def __init__(self):
    self.size = np.zeros(1)

  def grow(self):
    """:meth:`grow` itself, :meth:`shrink` (missing)."""
''',
}


def _build_reference():
  spec = importlib.util.spec_from_file_location(
      "build_reference", os.path.join(REPO, "docs", "build_reference.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_broken_references_are_exactly_the_missing_names(tmp_path,
                                                        monkeypatch):
  for name, text in PACKAGE.items():
    (tmp_path / "refpkg").mkdir(exist_ok=True)
    (tmp_path / "refpkg" / name).write_text(text)
  monkeypatch.syspath_prepend(str(tmp_path))
  build_reference = _build_reference()
  names = build_reference.package_modules(
      importlib.import_module("refpkg"))
  assert names == ["refpkg", "refpkg.tools"]
  try:
    modules = build_reference.render(names, tmp_path / "html")
    assert sorted(p.name for p in (tmp_path / "html").rglob("*.html")) == [
        "index.html", "refpkg.html", "tools.html"]
    assert sorted(build_reference.broken_references(modules)) == [
        "refpkg.tools.Box.grow: :meth:`shrink`",
        "refpkg.tools.Box: :attr:`width`",
        "refpkg.tools: :func:`halve`",
        "refpkg.tools: :mod:`.other`",
        "refpkg: :func:`refpkg.tools.triple`"]
  finally:
    for name in names:
      sys.modules.pop(name, None)
