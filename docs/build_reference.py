"""Build tfmdl's API reference: HTML from the docstrings, by pdoc.

  python docs/build_reference.py --out=build/reference

Documents the package ``tfmdl`` (every module, class, function and config
field, from its docstring; Google-style sections, reStructuredText roles) and
the binaries: a page per ``bin/`` binary with its usage and flags (its
``--helpshort``), as the package ``binaries`` beside ``tfmdl``. Open
``<out>/index.html``.

The build fails (exit status 1, one line per problem) on a module that pdoc
cannot import or render (its warnings), a binary whose ``--helpshort``
fails, and a broken cross-reference: a ``:func:``, ``:class:``, ``:mod:``,
``:meth:``, ``:attr:``, ``:data:``, ``:exc:`` or ``:obj:`` role in a
docstring naming nothing that exists, looked up as Python would from where
the docstring is written (the module's names, the class's, full dotted
paths). CI (.ci/run) builds it.
"""

import argparse
import builtins
import importlib
import os
import pathlib
import pkgutil
import re
import subprocess
import sys
import tempfile
import warnings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pdoc  # noqa: E402
import pdoc.doc  # noqa: E402
import pdoc.render  # noqa: E402

BIN = os.path.join(REPO, "bin")
# pdoc's note that a module constant equals an environment variable's value
# (tfmdl.results.ROOT under PYTHONPATH=<the checkout>): not a docs error.
ENV_VALUE = "The default value of "
ROLE = re.compile(r"(?::py)?:(mod|func|data|const|class|meth|attr|exc|obj):"
                  r"`~?([^`<]+?)(?:\(\))?`")


def binaries_package(folder: str) -> str:
  """Write the package ``binaries`` into ``folder``: a module per binary,
  whose docstring is the binary's ``--helpshort`` (usage, then flags).

  Raises:
    RuntimeError: a binary whose ``--helpshort`` fails.
  """
  package = os.path.join(folder, "binaries")
  os.makedirs(package)
  names = sorted(name for name in os.listdir(BIN)
                 if os.path.isfile(os.path.join(BIN, name)))
  env = dict(os.environ, PYTHONPATH=REPO)
  running = {name: subprocess.Popen(
      [sys.executable, os.path.join(BIN, name), "--helpshort"],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for name in names}
  for name, proc in running.items():
    stdout, stderr = proc.communicate(timeout=300)
    # absl's help flags exit with status 1 after printing the help.
    if "\nflags:\n" not in stdout:
      raise RuntimeError(f"bin/{name} --helpshort failed (exit status "
                         f"{proc.returncode}): "
                         f"{stderr.strip().splitlines()[-1:]}")
    usage, _, flags = stdout.replace(os.path.join(BIN, name),
                                     f"bin/{name}").partition("\nflags:\n")
    text = (f"`bin/{name}`: its usage and flags (`bin/{name} --helpshort`; "
            "`--helpfull` adds absl's and TensorFlow's own).\n\n"
            f"```\n{usage.strip()}\n```\n\n# Flags\n\n```\n"
            f"{flags.strip()}\n```\n")
    with open(os.path.join(package, f"{name}.py"), "w",
              encoding="utf-8") as f:
      f.write(f'"""{_escaped(text)}"""\n')
  with open(os.path.join(package, "__init__.py"), "w", encoding="utf-8") as f:
    f.write(_module_docstring(
        "The binaries in `bin/`: absl-flag programs that build a config, run "
        "one code and write `results.json` and TensorBoard events into "
        "`--workdir` (see the README). One page per binary, with its "
        "flags:\n\n" + "\n".join(f"* `bin/{name}`" for name in names)))
  return "binaries"


def _escaped(text: str) -> str:
  return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _module_docstring(text: str) -> str:
  return f'"""{_escaped(text)}"""\n'


def _walk(doc, classes=()):
  """``(doc, the classes it is written in)`` for ``doc`` and every member
  written in its module (not an import), down through classes."""
  yield doc, classes
  if isinstance(doc, pdoc.doc.Module):
    inner = classes
  elif isinstance(doc, pdoc.doc.Class):
    inner = classes + (doc,)
  else:
    return
  for member in doc.own_members:
    if not isinstance(member, pdoc.doc.Module):
      yield from _walk(member, inner)


def _absolute(target: str, home) -> str:
  """``target`` with a leading ``.`` (``.module``, ``..module.name``) made
  absolute from the module ``home``, as pdoc reads it: in a package's
  ``__init__`` relative to the package, elsewhere to its parent."""
  if not target.startswith("."):
    return target
  base = home.__name__ if hasattr(home, "__path__") else (
      home.__name__.rpartition(".")[0])
  target = target[1:]
  while target.startswith("."):
    base, target = base.rpartition(".")[0], target[1:]
  return f"{base}.{target}"


def _resolves(target: str, namespaces, members) -> bool:
  """Whether the dotted ``target`` names something: its first part in one of
  ``namespaces`` (then attributes), or an importable module (then
  attributes); ``members`` maps a class to the names pdoc finds in it
  (attributes set in ``__init__`` too)."""
  first, *rest = target.split(".")
  for namespace in namespaces:
    if first in namespace:
      obj = namespace[first]
      if _attributes(obj, rest, members):
        return True
  parts = target.split(".")
  for cut in range(len(parts), 0, -1):
    try:
      module = importlib.import_module(".".join(parts[:cut]))
    except (ImportError, TypeError):  # not a module; an empty name
      continue
    return _attributes(module, parts[cut:], members)
  return False


def _attributes(obj, names, members) -> bool:
  for name in names:
    if not hasattr(obj, name):
      # A dataclass field without a default, an attribute set in __init__.
      return name in members.get(obj, ()) and name == names[-1]
    obj = getattr(obj, name)
  return True


def _class_namespace(cls: pdoc.doc.Class) -> dict:
  """A class's names for references: its attributes, those pdoc finds (set
  in ``__init__``, annotated fields) and its own name."""
  return {**{name: cls.obj for name in cls.members}, **vars(cls.obj),
          cls.obj.__name__: cls.obj}


def broken_references(modules) -> list:
  """``"<object>: :role:`target`"`` for each cross-reference in the
  docstrings of ``modules`` (pdoc Modules) that names nothing, looked up
  from the module (and classes) that write the docstring."""
  walked = [(doc, classes) for module in modules
            for doc, classes in _walk(module)]
  members = {doc.obj: set(doc.members) for doc, _ in walked
             if isinstance(doc, pdoc.doc.Class)}
  broken = []
  for doc, classes in walked:
    home = sys.modules[doc.taken_from[0]]
    scopes = classes + ((doc,) if isinstance(doc, pdoc.doc.Class) else ())
    namespaces = [_class_namespace(c) for c in reversed(scopes)] + [
        vars(home), vars(builtins)]
    for role, target in ROLE.findall(doc.docstring):
      target = re.sub(r"\s+", "", target)  # a name broken across lines
      if not _resolves(_absolute(target, home), namespaces, members):
        broken.append(f"{doc.fullname}: :{role}:`{target}`")
  return broken


def package_modules(package) -> list:
  """The package and every module below it, by name, sorted. Given to pdoc
  one by one, so that a package's ``__all__`` (its API, re-exported from its
  modules) does not hide the modules' own pages."""
  return [package.__name__] + sorted(
      info.name for info in pkgutil.walk_packages(package.__path__,
                                                   package.__name__ + "."))


def render(names, out: pathlib.Path) -> list:
  """Render the modules ``names`` (and no others) into ``out`` as
  ``pdoc.pdoc`` does, with the index and search; returns their pdoc
  Modules."""
  modules = {name: pdoc.doc.Module.from_name(name) for name in names}
  for module in modules.values():
    path = out / f"{module.fullname.replace('.', '/')}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pdoc.render.html_module(module, modules),
                    encoding="utf-8")
  (out / "index.html").write_text(pdoc.render.html_index(modules),
                                  encoding="utf-8")
  (out / "search.js").write_text(pdoc.render.search_index(modules),
                                 encoding="utf-8")
  return list(modules.values())


def build(out: str) -> list:
  """Render the reference into ``out``; returns the problems found (none:
  the build passed)."""
  problems = []
  with tempfile.TemporaryDirectory() as scratch:
    try:
      binaries = binaries_package(scratch)
    except RuntimeError as e:
      return [str(e)]
    sys.path.insert(0, scratch)
    pdoc.render.configure(docformat="google", show_source=False,
                          footer_text="tfmdl API reference")
    # The package imports its API on first use (a module __getattr__);
    # pdoc reads the package's namespace.
    tfmdl = importlib.import_module("tfmdl")
    for name in tfmdl.__all__:
      getattr(tfmdl, name)
    names = (package_modules(importlib.import_module("tfmdl"))
             + package_modules(importlib.import_module(binaries)))
    with warnings.catch_warnings(record=True) as caught:
      warnings.simplefilter("always")
      modules = render(names, pathlib.Path(out))
    sys.path.remove(scratch)
  pdoc_dir = os.path.dirname(pdoc.__file__)
  problems += [f"pdoc: {w.message}" for w in caught
               if os.path.abspath(w.filename).startswith(pdoc_dir)
               and not str(w.message).startswith(ENV_VALUE)]
  problems += [f"broken cross-reference in {ref}"
               for ref in broken_references(modules)]
  return problems


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", default=os.path.join(REPO, "build",
                                                    "reference"),
                      help="folder for the HTML (default: build/reference)")
  args = parser.parse_args()
  problems = build(args.out)
  for problem in problems:
    print(f"error: {problem}", file=sys.stderr)
  if problems:
    sys.exit(1)
  pages = sum(name.endswith(".html") and name != "search.js"
              for _, _, files in os.walk(args.out) for name in files)
  print(f"API reference: {pages} pages in {args.out} "
        f"(open {os.path.join(args.out, 'index.html')})")


if __name__ == "__main__":
  main()
