"""The binaries' shared plumbing (tfmdl/experiments/cli.py).

In process, on flags of their own (a fresh ``FlagValues``) and a small config
file: which flags ``define_config_flags`` defines and for whom, what
``config_from_flags`` applies, how the default ``--config`` is picked. The
``slow`` test runs the binaries themselves: those that came to
``cli.run_main`` refuse a bad flag in one line with exit status 2, before any
work.
"""

import os
import sys

from absl import flags
import pytest

from tfmdl.experiments import cli

CONFIG = '''
import ml_collections


def get_config(model="mlp"):
  return ml_collections.ConfigDict(dict(
      dataset="digits", model=model, data_dir=None, random_labels=False,
      model_options=ml_collections.ConfigDict(dict(width=7))))
'''


@pytest.fixture
def parse(tmp_path, monkeypatch):
  """``(argv, **define_kwargs) -> (handles, flag_values)``: flags defined on
  a fresh ``FlagValues`` and parsed from ``prog --config=<file> *argv``."""
  path = tmp_path / "toy_config.py"
  path.write_text(CONFIG)

  def parse_argv(argv, **define_kwargs):
    flag_values = flags.FlagValues()
    handles = cli.define_config_flags("toy", flag_values=flag_values,
                                      **define_kwargs)
    full = ["prog", f"--config={path}"] + list(argv)
    # ml_collections reads --config.<field> overrides from sys.argv.
    monkeypatch.setattr(sys, "argv", full)
    cli.parse_flags(full, flag_values)
    return handles, flag_values

  return parse_argv


def test_the_common_flags_belong_to_the_calling_binary(parse):
  handles, flag_values = parse([], default_workdir="/tmp/toy")
  own = {f.name for f in flag_values.get_key_flags_for_module(__name__)}
  # absl's --help lists a binary's key flags only.
  assert own == {"config", "dataset", "data_dir", "model", "random_labels",
                 "verbose", "workdir"}
  assert handles.workdir.value == "/tmp/toy"


def test_without_workdir_or_model_those_flags_do_not_exist(parse):
  handles, flag_values = parse([], config_argument="code")
  assert handles.workdir is None and handles.model is None
  assert "workdir" not in flag_values and "model" not in flag_values


def test_config_from_flags_applies_the_common_flags(parse):
  handles, _ = parse(["--random_labels", "--data_dir=/data",
                      "--config.model_options.width=9"])
  config = cli.config_from_flags(handles)
  assert config.random_labels and config.data_dir == "/data"
  assert config.model_options.width == 9


def test_config_from_flags_keeps_the_config_when_no_flag_says_otherwise(parse):
  handles, _ = parse(["--config.model_options.width=9"])
  config = cli.config_from_flags(handles)
  assert (config.dataset, config.model) == ("digits", "mlp")
  assert not config.random_labels and config.data_dir is None
  assert config.model_options.width == 9


def test_an_unknown_config_field_is_one_line_and_exit_2(parse, capsys):
  with pytest.raises(SystemExit) as exit_info:
    parse(["--config.nosuchfield=1"])
  assert exit_info.value.code == 2
  assert capsys.readouterr().err == (
      "error: unknown config field 'nosuchfield' in a --config.<field> "
      "override: not a field of this binary's config (bin/<binary> "
      "--helpfull, or the config file, lists them)\n")


@pytest.mark.parametrize("argv, expected", [
    (["b"], "prequential_digits.py"),
    (["b", "--dataset=mnist", "--model=lenet"], "prequential_mnist.py:lenet"),
    (["b", "--model", "lenet", "--model=vgg"], "prequential_digits.py:vgg"),
])
def test_the_default_config_comes_from_dataset_and_model(argv, expected):
  full = cli.with_default_config(argv, "prequential")
  assert full == ["b", "--config=" + os.path.join(cli.CONFIG_DIR, expected)
                  ] + argv[1:]


@pytest.mark.parametrize("argv, expected", [
    (["b", "--code=variational"], "tune_digits.py:variational"),
    (["b", "--code=variational", "--code", "prequential"],
     "tune_digits.py:prequential"),
    (["b", "--model=lenet"], "tune_digits.py"),
])
def test_bin_tune_takes_the_config_argument_from_code(argv, expected):
  full = cli.with_default_config(argv, "tune", config_argument="code")
  assert full[1] == "--config=" + os.path.join(cli.CONFIG_DIR, expected)


def test_an_explicit_config_is_kept():
  argv = ["b", "--config=mine.py:x", "--config.model=lenet"]
  assert cli.with_default_config(argv, "prequential") == argv


@pytest.mark.parametrize("flag", ["--model=lenet", "--dataset=mnist"])
def test_model_and_dataset_only_pick_the_file_not_beside_config(flag, capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.with_default_config(["b", "--config=mine.py:x", flag], "prequential")
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith("error: ") and err.count("\n") == 1
  assert "--config=configs/prequential_<dataset>.py:<model>" in err


# name -> (binary and arguments, expected error line): the binaries that did
# not parse their flags with cli.parse_flags before run_main (bin/prequential
# and bin/report did; tests/test_hostile_input.py runs the former).
REFUSALS = {
    "twopart": (["twopart", "--config.nosuchfield=1"],
                "error: unknown config field 'nosuchfield'"),
    "variational": (["variational", "--config.nosuchfield=1"],
                    "error: unknown config field 'nosuchfield'"),
    "tune": (["tune", "--config.nosuchfield=1"],
             "error: unknown config field 'nosuchfield'"),
    "compress": (["compress", "--out=x.tfmdl", "--config.train.nosuch=1"],
                 "error: unknown config field 'nosuch'"),
    "decompress": (["decompress", "x.tfmdl"],
                   "error: flag --out=None: Flag --out must have a value"),
    "switch": (["switch", "--self_switch=maybe"],
               "error: flag --self_switch=maybe: ('Non-boolean argument"),
}


@pytest.fixture(scope="module")
def refused(tmp_path_factory, start_bin):
  """``(name -> (exit status, stdout, stderr), their working folder)``, all
  binaries started at once."""
  cwd = tmp_path_factory.mktemp("cli")
  procs = {name: start_bin(args[0], args[1:], cwd=cwd)
           for name, (args, _) in REFUSALS.items()}
  done = {}
  for name, proc in procs.items():
    out, err = proc.communicate(timeout=300)
    done[name] = (proc.returncode, out, err)
  return done, cwd


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_every_binary_refuses_bad_flags_in_one_line_with_exit_2(refused,
                                                                 name):
  done, cwd = refused
  returncode, out, err = done[name]
  _, expected = REFUSALS[name]
  ours = [line for line in err.splitlines() if line.startswith("error: ")]
  assert returncode == 2, err[-3000:]
  assert len(ours) == 1 and "Traceback" not in err, err[-3000:]
  assert ours[0].startswith(expected), ours[0]
  assert not out and not os.listdir(cwd)
