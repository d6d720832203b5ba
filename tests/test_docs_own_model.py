"""docs/own_model.md runs as written, on small data: its python blocks in
order in one namespace, with ``tfmdl.data.load`` cut to 200 training
examples (the stream's bits and fingerprint are asserted in the page's own
code)."""

import os
import re

import pytest

from tfmdl import data

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "docs", "own_model.md")


@pytest.mark.slow
def test_the_docs_code_runs(monkeypatch, capsys):
  load = data.load
  monkeypatch.setattr(data, "load", lambda name, **kwargs: load(
      name, **dict(kwargs, num_train=200, num_test=50)))
  with open(DOC, encoding="utf-8") as f:
    blocks = re.findall(r"```python\n(.*?)```", f.read(), re.DOTALL)
  namespace = {}
  for block in blocks:
    exec(compile(block, DOC, "exec"), namespace)  # pylint: disable=exec-used
  printed = capsys.readouterr().out
  assert re.search(r"^online code: [\d,]+ bits$", printed, re.MULTILINE)
  assert re.search(r"^variational: [\d,]+ bits \(KL [\d,]+\)$", printed,
                   re.MULTILINE)
  assert re.search(r"^zoo mlp: [\d,]+ bits, test accuracy 0\.\d{3}$",
                   printed, re.MULTILINE)
  assert namespace["streamed"].codelength_bits == (
      namespace["result"].codelength_bits)
