"""The README's "Your own Keras model" section runs as written, on small data.

Its fenced python blocks (the three-line example, a Keras 3 model's
variational code, the code of a ``model.fit``, a loss-data curve, a probe)
are read from README.md and executed in order in one namespace, in a
temporary folder (the curve's TensorBoard folder lands there), with
``tfmdl.data.load`` cut to a few hundred examples: the documented calls and
options cannot drift from the code, and what each prints is checked.
"""

import os
import re

import pytest

from tfmdl import data
from tfmdl import report

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


def test_each_example_is_a_few_lines():
  assert [len(block.strip().splitlines()) <= 10 for block in _blocks()] == [
      True] * 5


@pytest.mark.slow
def test_the_sections_code_runs(monkeypatch, tmp_path, capsys):
  load = data.load
  monkeypatch.setattr(data, "load", lambda name, **kwargs: load(
      name, **dict(kwargs, num_train=200, num_test=50)))
  monkeypatch.chdir(tmp_path)
  namespace = {}
  for block in _blocks():
    exec(compile(block, README, "exec"), namespace)  # pylint: disable=exec-used
  printed = capsys.readouterr().out
  assert re.search(r"^[\d,]+ bits, uniform 664, ratio 0\.\d+$", printed,
                   re.MULTILINE)
  assert re.search(r"^variational: [\d,]+ bits \(KL [\d,]+\)$", printed,
                   re.MULTILINE)
  assert re.search(r"^fit code \(epoch 1\): [\d,.]+ bits, .* for n=200, "
                   r"K=10; ratio", printed, re.MULTILINE)
  assert re.search(r"^SDL\(0\.5\) [\d,]+ bits, online estimate [\d,]+ bits$",
                   printed, re.MULTILINE)
  assert re.search(r"^linear probe on an untrained layer: [\d,]+ bits$",
                   printed, re.MULTILINE)
  # What the README says bin/report then draws.
  runs, curves = report.load("runs")
  assert runs == [] and list(curves) == ["curve_mlp"]
  assert curves["curve_mlp"] == namespace["curve"]
  written = report.write_report(runs, "runs/report", curves=curves)
  assert "loss_data.png" in written
