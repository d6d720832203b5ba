"""docs/keras3_models.md runs as written, on small data, and quotes the
refusal that the code gives.

Its fenced python blocks are executed in order in one namespace, with
``tfmdl.data.load`` cut to 200 training examples (as
tests/test_readme_user_models.py runs the README): the documented calls
cannot drift from the code.
"""

import os
import re

import numpy as np
import pytest

import tfmdl
from tfmdl import data
from tfmdl.keras_compat import keras3

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "docs", "keras3_models.md")


def _text() -> str:
  with open(DOC, encoding="utf-8") as f:
    return f.read()


def _blocks() -> list:
  return re.findall(r"```python\n(.*?)```", _text(), re.DOTALL)


def test_the_quoted_refusal_is_the_codes():
  namespace = {"keras": keras3}
  definition = _blocks()[-1].split("\nresult = ")[0]  # the class MyModel
  exec(compile(definition, DOC, "exec"), namespace)  # pylint: disable=exec-used
  model = namespace["MyModel"]()
  x = np.zeros((4, 8, 8, 1), np.float32)
  model(x)
  with pytest.raises(ValueError) as excinfo:
    tfmdl.description_length(model, x, np.arange(4))
  quoted = re.search(r"\n> (model 'my_model'.*?)\n\n", _text(), re.DOTALL)
  assert " ".join(quoted.group(1).split("\n> ")).replace(
      "'my_model'", repr(model.name)) == str(excinfo.value)


@pytest.mark.slow
def test_the_docs_code_runs(monkeypatch, capsys):
  load = data.load
  monkeypatch.setattr(data, "load", lambda name, **kwargs: load(
      name, **dict(kwargs, num_train=200)))
  namespace = {}
  for block in _blocks():
    exec(compile(block, DOC, "exec"), namespace)  # pylint: disable=exec-used
  printed = capsys.readouterr().out
  assert re.search(r"variational: [\d,]+ bits \(KL [\d,]+\), uniform 664",
                   printed)
  assert re.search(r"[\d,]+ bits, uniform 664", printed)
  assert namespace["twin"].count_params() == namespace["model"].count_params()
