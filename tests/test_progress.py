"""Progress reports (tfmdl/progress.py) and the loops that report through them.

In a log (a stream that is not a terminal) only the notes are written, one
line each, prefixed by the job's label; on a terminal a bar is drawn too.
Then real loops (prequential blocks, the online learner) on a few hundred
digits, and ``--verbose``, which only adds log lines.
"""

import io
import sys

from absl import flags
import ml_collections
import pytest

from tfmdl import models
from tfmdl import progress as progress_lib
from tfmdl import training
import tfmdl.data
from tfmdl.codes import prequential
from tfmdl.experiments import cli
from tfmdl.experiments.workdir import Workdir


def test_in_a_log_only_the_notes_are_written_one_line_each():
  stream = io.StringIO()
  with progress_lib.Progress("job", total=10, stream=stream) as progress:
    progress.status(block="block 1/2", epoch="epoch 3")
    progress.advance(4)
    progress.note("block 1/2: 12.0 bits")
    progress.advance(6)
    progress.note("block 2/2: 3.5 bits")
  assert stream.getvalue() == ("job: block 1/2: 12.0 bits\n"
                               "job: block 2/2: 3.5 bits\n")


def test_on_a_terminal_a_bar_shows_the_share_done_and_the_status():
  stream = io.StringIO()
  progress = progress_lib.Progress("job", total=8, stream=stream,
                                   interactive=True)
  progress.status(block="block 1/2", epoch="")
  assert "job:   0%" in stream.getvalue()
  assert stream.getvalue().endswith("], block 1/2")
  progress.advance(2)
  progress.note("block 1/2: 12.0 bits")
  assert "job: block 1/2: 12.0 bits\n" in stream.getvalue()
  progress.advance(6)  # the total: the report ends by itself
  last = stream.getvalue().split("\r")[-1]
  assert last.startswith("job: 100%") and last.endswith("], block 1/2\n")


def test_a_library_loop_reports_into_its_callers_report_or_its_own():
  mine = progress_lib.Progress("outer", total=3, stream=io.StringIO())
  assert progress_lib.reporting(mine, "inner", 1) is mine
  own = progress_lib.reporting(None, "inner", 1)
  assert isinstance(own, progress_lib.Progress) and own.label == "inner"
  own.close()
  quiet = progress_lib.NoProgress()
  quiet.status(block="x")
  quiet.advance(5)
  quiet.note("nothing")  # writes nothing, raises nothing


@pytest.fixture(scope="module")
def digits():
  return tfmdl.data.load("digits", num_train=200)


def _model_fn(ds):
  return lambda seed: models.build("mlp", ds.input_shape, ds.num_classes,
                                   seed=seed, hidden_sizes=(16,))


def test_prequential_blocks_report_one_plain_line_each(digits):
  stream = io.StringIO()
  learner = prequential.BlockConfig(
      train=training.TrainConfig(max_epochs=2, batch_size=32))
  result = prequential.prequential_code(
      _model_fn(digits), digits.x_train, digits.y_train, digits.num_classes,
      config=prequential.PrequentialConfig(timesteps=(50, 100, 200)),
      learner=learner, x_test=digits.x_test, y_test=digits.y_test,
      progress=progress_lib.Progress("prequential", total=150,
                                     stream=stream))
  lines = stream.getvalue().splitlines()
  assert [line.split(":")[1].strip() for line in lines] == [
      "block 0/2 [0, 50)", "block 1/2 [50, 100)", "block 2/2 [100, 200)"]
  assert f"{result.blocks[2].bits:.1f} bits" in lines[2]
  assert "epoch" not in stream.getvalue().replace("epochs", "")


def test_the_online_learner_reports_its_blocks(digits):
  stream = io.StringIO()
  result = prequential.prequential_code(
      _model_fn(digits), digits.x_train, digits.y_train, digits.num_classes,
      config=prequential.PrequentialConfig(timesteps=(50, 100, 200)),
      learner=prequential.OnlineConfig(batch_size=16, replay=1,
                                       steps_per_call=4),
      progress=progress_lib.Progress("online", total=200, stream=stream))
  lines = stream.getvalue().splitlines()
  assert [line.split(":")[1].strip() for line in lines] == [
      "block 0/2 [0, 50)", "block 1/2 [50, 100)", "block 2/2 [100, 200)"]
  assert f"{result.blocks[1].bits:.1f} bits" in lines[1]
  assert "\r" not in stream.getvalue()


def test_verbose_sets_train_verbose_and_a_workdir_resumes_with_it(
    tmp_path, monkeypatch):
  path = tmp_path / "toy_config.py"
  path.write_text(
      "from tfmdl.experiments import prequential\n\n\n"
      "def get_config():\n"
      "  return prequential.default_config('digits', 'mlp')\n")
  flag_values = flags.FlagValues()
  handles = cli.define_config_flags("toy", flag_values=flag_values)
  argv = ["prog", f"--config={path}", "--verbose"]
  monkeypatch.setattr(sys, "argv", argv)
  cli.parse_flags(argv, flag_values)
  config = cli.config_from_flags(handles)
  assert config.train.verbose == 1

  quiet = ml_collections.ConfigDict(config.to_dict())
  quiet.train.verbose = 0
  Workdir(str(tmp_path / "run"), quiet, "data")
  Workdir(str(tmp_path / "run"), config, "data")  # same run
  config.train.max_epochs = 7
  with pytest.raises(ValueError, match="holds another run"):
    Workdir(str(tmp_path / "run"), config, "data")
