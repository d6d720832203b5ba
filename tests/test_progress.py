"""Progress reports (tfmdl/progress.py) and the loops that report through them.

A fake stream and a fake clock: plain lines when the stream is not a
terminal, a bar redrawn in place when it is, an ETA fitted on the units that
finished. Then real loops (prequential blocks, the online learner) on a few
hundred digits, and ``--verbose``, which only adds log lines.
"""

import io
import sys

from absl import flags
import ml_collections
import pytest

from tfmdl import models
from tfmdl.codes.prequential import online
from tfmdl.codes import prequential
from tfmdl import progress as progress_lib
from tfmdl import training
import tfmdl.data
from tfmdl.experiments import cli
from tfmdl.experiments import common
from tfmdl.progress import Progress


class FakeClock:
  """Seconds that pass only when a test says so."""

  def __init__(self):
    self.now = 100.0

  def __call__(self):
    return self.now


@pytest.fixture(autouse=True)
def no_leftover_reports():
  yield
  progress_lib.interrupt()


def _report(interactive=None, **kwargs):
  stream, clock = io.StringIO(), FakeClock()
  return (Progress("job", stream=stream, clock=clock, interactive=interactive,
                   **kwargs), stream, clock)


def test_on_a_non_terminal_the_report_is_plain_lines():
  report, stream, clock = _report(interval_s=30)
  report.start(70, units=3)
  for i, weight in enumerate((10, 20, 40)):
    report.update(block=f"block {i + 1}/3", epoch="")
    for epoch in range(1, 4):
      clock.now += 1
      report.update(epoch=f"epoch {epoch}")
    report.advance(weight, note=f"block {i + 1}/3: {weight} bits",
                   bits=f"{weight} bits so far")
  text = stream.getvalue()
  assert "\r" not in text and "\x1b" not in text
  lines = text.splitlines()
  # One line per block, nothing per epoch (30 s never passed).
  assert lines == [
      "job  14% | 3s elapsed, ETA 18s | block 1/3: 10 bits",
      "job  43% | 6s elapsed, ETA 8s | block 2/3: 20 bits",
      "job 100% | done in 9s | block 3/3: 40 bits"]


def test_between_kept_lines_a_status_line_every_interval():
  report, stream, clock = _report(interval_s=30)
  report.start(10)
  for epoch in range(1, 101):
    clock.now += 1
    report.update(block="block 1/1", epoch=f"epoch {epoch}")
  lines = stream.getvalue().splitlines()
  assert len(lines) == 3
  assert lines[0] == "job   0% | 30s elapsed, ETA ? | block 1/1 | epoch 30"
  report.advance(10)
  assert stream.getvalue().splitlines()[-1] == (
      "job 100% | done in 1m40s | block 1/1 | epoch 100")


def test_on_a_terminal_one_bar_is_redrawn_and_kept_lines_scroll_above():
  report, stream, clock = _report(interactive=True, columns=60)
  report.start(30, units=2)
  clock.now += 2
  report.update(block="block 1/2", epoch="epoch 1")
  clock.now += 2
  report.advance(10, note="block 1/2: 12.5 bits")
  clock.now += 1
  report.update(block="block 2/2 with a status too long for the terminal")
  text = stream.getvalue()
  frames = text.split("\r\x1b[K")
  status = "block 2/2 with a status too long for the terminal | epoch 1"
  # Cut to the terminal's width less one: a full line would wrap.
  assert frames[-1] == (
      f"job [#######-------------]  33% | 5s elapsed, ETA 7s | {status}"[:59])
  assert "block 1/2: 12.5 bits\n" in frames
  assert all(len(f.rstrip("\n")) < 60 for f in frames)
  report.advance(20)
  assert stream.getvalue().endswith(
      f"job [####################] 100% | done in 5s | {status}"[:59] + "\n")


def test_the_eta_learns_a_per_unit_cost_and_a_cost_per_weight():
  report, _, clock = _report()
  report.start(10 + 20 + 40 + 80 + 160, units=5)
  for weight in (10, 20, 40):
    clock.now += 2 + 0.05 * weight  # 2 s to build a model, then 0.05 s/unit
    report.advance(weight)
  assert report.eta_s() == pytest.approx(2 * 2 + 0.05 * (80 + 160))
  clock.now += 3  # into the next unit
  assert report.eta_s() == pytest.approx(2 * 2 + 0.05 * (80 + 160) - 3)


def test_without_a_unit_count_the_eta_is_proportional_to_weight():
  report, _, clock = _report()
  report.start(100)
  assert report.eta_s() is None
  clock.now += 10
  report.advance(25)
  assert report.eta_s() == pytest.approx(30)


def test_a_report_started_inside_another_is_prefixed_by_it():
  outer, stream, clock = _report()
  outer.start(2)
  outer.update(trial="trial 1/2")
  inner = Progress("prequential", stream=stream, clock=clock,
                   interactive=False)
  inner.start(5)
  inner.advance(5, note="block 1/1: 3 bits")
  assert stream.getvalue().splitlines()[-1] == (
      "job: trial 1/2 > prequential 100% | done in 0s | block 1/1: 3 bits")
  outer.advance(1, note="trial 1/2: 3 bits")
  assert stream.getvalue().splitlines()[-1].startswith("job  50% |")


def test_an_interrupted_bar_leaves_the_screen_and_stays_off():
  report, stream, clock = _report(interactive=True, columns=80)
  report.start(10)
  progress_lib.interrupt()
  assert stream.getvalue().endswith("\r\x1b[K")
  clock.now += 60
  report.update(epoch="epoch 1")
  report.advance(5, note="block 1/2: 3 bits")
  assert stream.getvalue().endswith("\r\x1b[K")


def test_no_work_left_writes_nothing():
  report, stream, _ = _report()
  report.start(0)
  report.advance(0, note="block 0/3: uniform")
  assert stream.getvalue() == ""


@pytest.fixture(scope="module")
def digits():
  return tfmdl.data.load("digits", num_train=200)


def _model_fn(ds):
  return lambda seed: models.build("mlp", ds.input_shape, ds.num_classes,
                                   seed=seed, hidden_sizes=(16,))


def test_prequential_blocks_report_one_plain_line_each(digits):
  stream = io.StringIO()
  config = prequential.PrequentialConfig(
      timesteps=(50, 100, 200),
      train=training.TrainConfig(max_epochs=2, batch_size=32))
  result = prequential.prequential_code(
      _model_fn(digits), digits.x_train, digits.y_train, digits.num_classes,
      config=config, x_test=digits.x_test, y_test=digits.y_test,
      progress=Progress("prequential", stream=stream))
  lines = stream.getvalue().splitlines()
  assert [line.split(" | ")[2].split(":")[0] for line in lines] == [
      "block 0/2 [0, 50)", "block 1/2 [50, 100)", "block 2/2 [100, 200)",
      "final model"]
  assert lines[-1].startswith("prequential 100% | done in ")
  assert f"{result.blocks[2].bits:.1f} bits" in lines[2]
  assert "| epoch" not in stream.getvalue()  # epochs only on a terminal


def test_the_online_learner_reports_its_blocks(digits):
  stream = io.StringIO()
  result = online.online_code(
      _model_fn(digits), digits.x_train, digits.y_train, digits.num_classes,
      config=online.OnlineConfig(timesteps=(50, 100, 200), batch_size=16,
                                 replay=1, steps_per_call=4),
      progress=Progress("online", stream=stream))
  lines = stream.getvalue().splitlines()
  assert [line.split(" | ")[2].split(":")[0] for line in lines[:3]] == [
      "online block 1/3 [0, 50)", "online block 2/3 [50, 100)",
      "online block 3/3 [100, 200)"]
  assert f"{result.blocks[1].bits:.1f} bits" in lines[1]
  # The last iteration only learns: the end, after the last block.
  assert lines[3].startswith("online 100% | done in ")
  assert lines[3].endswith(
      f"minibatch 13/13 | {result.codelength_bits / 1000:.3f} kbits so far")
  assert "\r" not in stream.getvalue()


def test_verbose_sets_train_verbose_and_a_workdir_resumes_with_it(
    tmp_path, monkeypatch):
  path = tmp_path / "toy_config.py"
  path.write_text(
      "from tfmdl.experiments import defaults\n\n\n"
      "def get_config():\n  return defaults.base_config('digits', 'mlp')\n")
  flag_values = flags.FlagValues()
  handles = cli.define_config_flags("toy", flag_values=flag_values)
  argv = ["prog", f"--config={path}", "--verbose"]
  monkeypatch.setattr(sys, "argv", argv)
  cli.parse_flags(argv, flag_values)
  config = cli.config_from_flags(handles)
  assert config.train.verbose == 1

  quiet = ml_collections.ConfigDict(config.to_dict())
  quiet.train.verbose = 0
  common.Workdir(str(tmp_path / "run"), quiet, "data")
  common.Workdir(str(tmp_path / "run"), config, "data")  # same run
  config.train.max_epochs = 7
  with pytest.raises(ValueError, match="holds another run"):
    common.Workdir(str(tmp_path / "run"), config, "data")
