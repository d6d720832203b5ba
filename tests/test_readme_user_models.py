"""The README's "Your own Keras model" section runs as written, on small data.

Its fenced python blocks are read from README.md and executed in order in one
namespace, with ``tfmdl.data.load`` cut to a few hundred examples: the
documented calls, options and checks (a stream gives the bits and the
fingerprint of the same arrays) cannot drift from the code.
"""

import os
import re

import pytest

from tfmdl import data

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "README.md")
SECTION = "## Your own Keras model"


def _blocks() -> list:
  with open(README, encoding="utf-8") as f:
    text = f.read()
  start = text.index(SECTION)
  end = text.find("\n## ", start + len(SECTION))
  return re.findall(r"```python\n(.*?)```", text[start:end], re.DOTALL)


def test_the_section_has_the_three_line_example_first():
  first = _blocks()[0]
  assert "tfmdl.description_length(model, ds.x_train, ds.y_train)" in first
  assert 'activation="softmax"' in first


@pytest.mark.slow
def test_the_sections_code_runs(monkeypatch, capsys):
  load = data.load
  monkeypatch.setattr(data, "load", lambda name, **kwargs: load(
      name, **dict(kwargs, num_train=200, num_test=50)))
  namespace = {}
  for block in _blocks():
    exec(compile(block, README, "exec"), namespace)  # pylint: disable=exec-used
  printed = capsys.readouterr().out
  assert re.search(r"[\d,]+ bits, uniform 664, ratio 0\.\d+", printed)
  for what in ("online code:", "variational:", "linear probe"):
    assert what in printed
