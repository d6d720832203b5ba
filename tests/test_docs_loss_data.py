"""docs/loss_data.md runs as written: its python blocks, in order, in one
namespace, in a temporary folder (its TensorBoard folder and PNG land
there). The documented output's claims are checked on what it printed."""

import os
import re

import pytest

from tfmdl import report

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "docs", "loss_data.md")


def _blocks() -> list:
  with open(DOC, encoding="utf-8") as f:
    return re.findall(r"```python\n(.*?)```", f.read(), re.DOTALL)


@pytest.mark.slow
def test_the_docs_code_runs(monkeypatch, tmp_path, capsys, event_tags):
  monkeypatch.chdir(tmp_path)
  namespace = {}
  for block in _blocks():
    exec(compile(block, DOC, "exec"), namespace)  # pylint: disable=exec-used
  printed = capsys.readouterr().out
  assert re.search(r"n=1437: 0\.\d{3} bits per example, accuracy 0\.9",
                   printed)
  for eps in ("1", "0.5"):
    assert re.search(rf"random: SDL\({eps}\) > \d+ bits, eSC\({eps}\) > 1000",
                     printed)
    assert re.search(rf"trained: SDL\({eps}\) = \d+ bits, eSC\({eps}\) = \d+",
                     printed)
  results = namespace["results"]
  trained, random = results["trained"], results["random"]
  assert trained.sdl_bits[0] < random.sdl_bits[0] / 2
  assert trained.sample_complexity[0] is not None
  assert random.sample_complexity == (None, None)
  with open(tmp_path / "loss_data.png", "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert event_tags(str(tmp_path / "tb" / "loss_data")) == {
      "loss_data/test_loss_bits_per_sample", "loss_data/test_accuracy"}
  # What bin/report --results=tb draws (the page says so).
  assert report.load(str(tmp_path / "tb")) == (
      [], {"loss_data": namespace["curve"]})
