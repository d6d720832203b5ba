"""The library does not import its experiments layer (docs: README, Layout).

``tfmdl/experiments/`` turns configs and workdirs into results for ``bin/``;
everything else in ``tfmdl/`` is the library, usable without configs. An
import the other way round would make the library depend on its drivers.
"""

import ast
import os

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tfmdl")


def _imported_modules(path):
  """Every module that the file at ``path`` imports, by full name."""
  with open(path, encoding="utf-8") as f:
    tree = ast.parse(f.read(), path)
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_the_library_does_not_import_experiments():
  offenders = []
  for folder, _, files in os.walk(PACKAGE):
    if os.path.relpath(folder, PACKAGE).split(os.sep)[0] == "experiments":
      continue
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(folder, name)
        offenders += [f"{os.path.relpath(path, PACKAGE)}: {module}"
                      for module in _imported_modules(path)
                      if module.startswith("tfmdl.experiments")]
  assert not offenders
