"""Tests of the switch and self-switch codes over saved runs, their
experiment (bin/switch's run) in process, and bin/switch's smoke test."""

import glob
import json
import math
import os
import shutil

import numpy as np
import pytest

from tfmdl.bits.mixtures import BayesMixture
from tfmdl.bits.mixtures import BlockSwitch
from tfmdl.bits.mixtures import FixedShare
from tfmdl.bits.mixtures import SwitchDistribution
from tfmdl.codes import switch
from tfmdl.experiments import cli
from tfmdl.experiments import prequential as prequential_experiment
from tfmdl.experiments import switch as switch_experiment
from tfmdl.experiments import workdir as workdir_lib
from tfmdl.experiments.switch import load_run
from tfmdl.experiments.switch import load_runs
from tfmdl.report import figures

N = 200
LOG2K = math.log2(10)
TOL = 1e-9


def _config(**changes):
  config = prequential_experiment.default_config("digits", "mlp")
  config.num_train = N
  config.num_test = 100
  config.model_options.hidden_sizes = (16,)
  config.train.update(dict(batch_size=32, max_epochs=3, verbose=0))
  config.block.final_model = False
  config.prequential.timesteps = (50, 100, N)  # two trained blocks
  for key, value in changes.items():
    target = config
    *parents, leaf = key.split(".")
    for parent in parents:
      target = target[parent]
    target[leaf] = value
  return config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """Workdirs of small prequential runs on digits, made once."""
  root = tmp_path_factory.mktemp("runs")
  variants = {
      "mlp": {"block.final_model": True},
      # The same run as "mlp", its setting paid for (3 bits before the
      # first label).
      "paid": {"block.final_model": True, "prequential.setting_bits": 3.0},
      "wide": {"model_options.hidden_sizes": (32,), "seed": 1},
      "order1": {"data_seed": 1},
      "steps": {"prequential.timesteps": (100, N)},
      "no_epochs": {"block.record_epoch_bits": False},
      "random": {"random_labels": True, "random_labels_seed": 3},
  }
  paths = {}
  for name, changes in variants.items():
    paths[name] = str(root / name)
    with pytest.MonkeyPatch.context() as patch:
      # Each run the first of its ledger: it pays no ledger bits.
      patch.setenv("TFMDL_LEDGER", str(root / f"{name}.ledger.jsonl"))
      prequential_experiment.run(_config(**changes), paths[name])
  return paths


def _saved_record(path):
  with open(os.path.join(path, "results.json")) as f:
    return json.load(f)


def test_load_run_reads_the_blocks(runs):
  run = load_run(runs["mlp"])
  record = _saved_record(runs["mlp"])
  assert (run.n, run.num_classes) == (N, 10)
  assert run.timesteps == tuple(record["timesteps"])
  assert run.per_sample_bits.shape == (N,)
  assert run.setting_bits == record["setting_bits"] == 0.0
  assert run.per_sample_bits.sum() == pytest.approx(record["codelength_bits"])
  assert len(run.epoch_bits) == len(run.timesteps)
  np.testing.assert_array_equal(run.epoch_bits[0],
                                np.full((1, run.timesteps[0]), LOG2K))
  assert load_run(runs["no_epochs"]).epoch_bits is None
  # Setting bits come before the first label: not in the per-sample bits.
  paid = load_run(runs["paid"])
  assert paid.setting_bits == _saved_record(runs["paid"])["setting_bits"] == 3
  np.testing.assert_array_equal(paid.per_sample_bits, run.per_sample_bits)
  assert paid.codelength_bits == pytest.approx(run.codelength_bits + 3.0)


def test_switch_over_run_and_uniform_within_overhead(runs):
  run = load_run(runs["mlp"])
  result = switch.switch_runs([run])
  assert result.strategy_names == ("mlp", "uniform")
  totals = result.strategy_totals
  assert totals["mlp"] == pytest.approx(run.codelength_bits, rel=1e-12)
  assert totals["uniform"] == pytest.approx(N * LOG2K, rel=1e-12)
  best = min(run.codelength_bits, N * LOG2K)
  assert result.methods["switch_distribution"].overhead_bits == (
      pytest.approx(1.0 - math.log2(0.5 + 0.5 / N)))
  for name in switch.METHODS:
    method = result.methods[name]
    assert method.bits <= best + method.overhead_bits + TOL, name
  assert result.methods["bayes_mixture"].bits >= best - TOL
  # The headline mixes every switching code with weights 1/4: within
  # log2 4 bits of the best of them, never below it.
  mixed = [result.methods[name].bits for name in switch.MIXED]
  assert result.codelength_bits == result.methods["mixture"].bits
  assert min(mixed) - TOL <= result.codelength_bits <= min(mixed) + 2 + TOL
  assert result.methods["mixture"].overhead_bits == pytest.approx(
      min(result.methods[name].overhead_bits for name in switch.MIXED) + 2)
  assert result.compression_ratio == pytest.approx(
      result.codelength_bits / (N * LOG2K))
  # Each mixed method's number is its own function's, and the curve is the
  # code of each prefix: the mixture of the four codes on samples 1..t.
  bits, s = result.strategy_bits, switch.SwitchSettings()
  assert result.methods["switch_distribution"].bits == pytest.approx(
      SwitchDistribution(s.stop_prob).bits(bits))
  assert result.methods["fixed_share_grid"].bits == pytest.approx(
      FixedShare(s.fixed_share_alphas).bits(bits))
  assert result.methods["bayes_mixture"].bits == pytest.approx(
      BayesMixture().bits(bits))
  # Block switching depends on the block sums only.
  blocks = result.block_bits()
  assert result.methods["block_switch"].bits == pytest.approx(
      BlockSwitch(s.block_switch_rate).bits(
          blocks, tuple(range(1, blocks.shape[1] + 1))))
  for t in (1, 37, N):
    prefix = bits[:, :t]
    ends = [e for e in run.timesteps if e < t] + [t]
    parts = [SwitchDistribution(s.stop_prob).bits(prefix),
             BayesMixture().bits(prefix),
             FixedShare(s.fixed_share_alphas).bits(prefix),
             BlockSwitch(s.block_switch_rate).bits(prefix, ends)]
    assert result.cumulative_bits[t - 1] == pytest.approx(
        -np.logaddexp2.reduce(-np.asarray(parts)) + 2, abs=1e-9)


def test_switch_over_two_runs_within_overhead(runs):
  a, b = load_run(runs["mlp"]), load_run(runs["wide"])
  result = switch.switch_runs([a, b])
  assert len(result.strategy_names) == 3
  best = min(a.codelength_bits, b.codelength_bits, N * LOG2K)
  assert min(result.strategy_totals.values()) == pytest.approx(best)
  for method in result.methods.values():
    assert method.bits <= best + method.overhead_bits + TOL
  assert result.methods["switch_distribution"].overhead_bits == (
      pytest.approx(math.log2(3) - math.log2(0.5 + 0.5 / N)))
  blocks = result.block_bits()
  assert blocks.shape == (3, len(a.timesteps))
  np.testing.assert_allclose(blocks.sum(axis=1),
                             result.strategy_bits.sum(axis=1))
  assert result.hindsight_bound_bits == pytest.approx(sum(
      min(row[s:e].sum() for row in result.strategy_bits)
      for s, e in zip((0,) + a.timesteps[:-1], a.timesteps)), rel=1e-12)
  assert result.block_sequence_bits >= (
      result.methods["block_switch"].bits - TOL)


def test_self_switch_strategies_and_overhead(runs):
  run = load_run(runs["mlp"])
  names, bits = switch.self_switch_matrix(run)
  record = _saved_record(runs["mlp"])
  max_epochs = record["config"]["train"]["max_epochs"]
  assert run.max_epochs == max_epochs
  assert names == tuple(f"epoch_{e}" for e in range(max_epochs + 1)) + (
      "prequential", "uniform")
  first = run.timesteps[0]
  np.testing.assert_array_equal(bits[:, :first], LOG2K)  # sent uniformly
  np.testing.assert_array_equal(bits[-2], run.per_sample_bits)
  for block in record["blocks"][1:]:
    epoch_bits = workdir_lib.read_block(runs["mlp"], block["index"]).epoch_bits
    assert epoch_bits.shape[0] == block["epochs_trained"] + 1
    for e in range(max_epochs + 1):
      np.testing.assert_array_equal(
          bits[e, block["start"]:block["end"]],
          epoch_bits[min(e, len(epoch_bits) - 1)])
  result = switch.self_switch_run(run)
  assert result.code == "self_switch"
  overhead = result.methods["switch_distribution"].overhead_bits
  assert overhead == pytest.approx(
      math.log2(len(names)) - math.log2(0.5 + 0.5 / N))
  assert result.codelength_bits <= (
      run.codelength_bits + result.methods["mixture"].overhead_bits + TOL)
  for method in result.methods.values():
    assert method.bits <= min(result.strategy_totals.values()) + (
        method.overhead_bits) + TOL


def _stopped_earlier(path, out):
  """A copy of the run at ``path`` whose trained blocks all stopped one
  epoch earlier (their last epoch's row of epoch_bits dropped): the same
  config, another early-stopping outcome."""
  shutil.copytree(path, out)
  for npz in sorted(glob.glob(os.path.join(out, workdir_lib.BLOCKS,
                                          "block_*.npz")))[1:]:
    with np.load(npz) as saved:
      arrays = dict(saved)
    arrays["epoch_bits"] = arrays["epoch_bits"][:-1]
    np.savez(npz, **arrays)
  return load_run(str(out))


def test_self_switch_prior_is_fixed_by_the_config(runs, tmp_path):
  """Bob needs the strategies (their number sets every prior) before he
  decodes block 1, so they depend on the config only: two runs of one
  config with other early-stopping outcomes switch between the same
  strategies, train.max_epochs + 1 stopping times."""
  run = load_run(runs["mlp"])
  other = _stopped_earlier(runs["mlp"], tmp_path / "earlier")
  assert [len(e) for e in other.epoch_bits] != [len(e) for e in run.epoch_bits]
  names = switch.self_switch_matrix(run)[0]
  assert switch.self_switch_matrix(other)[0] == names
  max_epochs = _config().train.max_epochs
  assert len(names) == max_epochs + 3
  assert names == switch.self_switch_names(max_epochs)
  a, b = switch.self_switch_run(run), switch.self_switch_run(other)
  for name in switch.METHODS:
    assert a.methods[name].overhead_bits == b.methods[name].overhead_bits


def test_the_headline_mixes_every_switching_method():
  """The headline is -log2 of the uniform mixture of every switching code
  computed, not a subset picked after seeing which came out shortest. The
  strategies here alternate block by block, where block switching wins by
  far: a mixture without it would cost much more than 2 bits above it."""
  timesteps = tuple(range(40, 401, 40))
  good, bad = np.full(40, 0.1), np.full(40, 3.0)
  bits = np.stack([np.concatenate([good, bad] * 5),
                   np.concatenate([bad, good] * 5)])
  result = switch.switch_code(("a", "b"), bits, timesteps, 10)
  assert set(switch.MIXED) == set(switch.METHODS) - {"mixture"}
  assert tuple(c.name for c in switch.SwitchSettings().codes()) == (
      switch.MIXED)
  parts = np.array([result.methods[name].bits for name in switch.MIXED])
  assert result.codelength_bits == pytest.approx(
      -np.logaddexp2.reduce(-parts) + math.log2(len(parts)), abs=1e-9)
  block = result.methods["block_switch"].bits
  assert block < parts.min() + 1e-9
  assert result.codelength_bits <= block + 2 + TOL
  assert result.methods["mixture"].overhead_bits == pytest.approx(
      min(result.methods[name].overhead_bits for name in switch.MIXED) + 2)
  assert result.cumulative_bits[-1] == pytest.approx(result.codelength_bits)


def test_switch_codes_pay_the_runs_setting_bits(runs, tmp_path):
  """A run that paid 3 bits for its setting (before its first label) makes
  every switch code over it 3 bits longer: the code may follow that run from
  the first label on. The mixtures themselves, over the same per-sample
  bits, do not change."""
  mlp, paid, wide = (load_run(runs[name]) for name in ("mlp", "paid", "wide"))
  for free, charged in ((switch.switch_runs([mlp]),
                         switch.switch_runs([paid])),
                        (switch.switch_runs([mlp, wide]),
                         switch.switch_runs([paid, wide])),
                        (switch.self_switch_run(mlp),
                         switch.self_switch_run(paid))):
    assert (free.runs_setting_bits, charged.runs_setting_bits) == (0.0, 3.0)
    assert charged.codelength_bits == pytest.approx(
        free.codelength_bits + 3.0, abs=1e-9)
    assert charged.codelength_bits == pytest.approx(
        charged.methods["mixture"].bits + 3.0, abs=1e-12)
    for name in switch.METHODS:
      assert charged.methods[name] == free.methods[name], name
    np.testing.assert_array_equal(charged.cumulative_bits,
                                  free.cumulative_bits)
  # switch_code takes them as an argument.
  names, bits = switch.switch_matrix([mlp])
  assert switch.switch_code(names, bits, mlp.timesteps, 10,
                            runs_setting_bits=2.5).codelength_bits == (
                                pytest.approx(switch.switch_code(
                                    names, bits, mlp.timesteps,
                                    10).codelength_bits + 2.5, abs=1e-9))
  out = str(tmp_path / "paid")
  result = switch_experiment.run([paid], out)
  record = _saved_record(out)
  # The runs' 3 bits, and the switch code's own choice of runs: the first
  # switch run on these labels, it pays nothing.
  assert (record["runs_setting_bits"], record["setting_bits"]) == (3.0, 0.0)
  assert record["codelength_bits"] == pytest.approx(result.codelength_bits)
  assert record["codelength_bits"] == pytest.approx(
      record["parts"]["mixture_bits"] + 3.0)
  assert record["runs"][0]["setting_bits"] == 3.0


def test_random_labels_are_not_compressed(runs):
  # Kraft: no code beats uniform by k bits with probability above 2**-k.
  run = load_run(runs["random"])
  assert run.random_labels
  for result in (switch.switch_runs([run]), switch.self_switch_run(run)):
    for method in result.methods.values():
      assert method.bits >= N * LOG2K - 10


def test_incompatible_runs_are_refused(runs):
  mlp = load_run(runs["mlp"])
  with pytest.raises(ValueError, match="data_fingerprint") as err:
    switch.switch_runs([mlp, load_run(runs["order1"])])
  assert "\n" not in str(err.value)
  with pytest.raises(ValueError, match="differ in timesteps"):
    switch.switch_runs([mlp, load_run(runs["steps"])])
  with pytest.raises(ValueError, match="twice"):
    switch.check_compatible([mlp, load_run(runs["mlp"] + "/")])


def test_self_switch_needs_epoch_bits(runs):
  with pytest.raises(ValueError, match="without epoch_bits"):
    switch.self_switch_run(load_run(runs["no_epochs"]))


def test_bad_workdirs_are_refused(runs, tmp_path):
  with pytest.raises(ValueError, match="no results.json"):
    load_run(str(tmp_path))
  broken = tmp_path / "broken"
  shutil.copytree(runs["mlp"], broken)
  os.remove(broken / "blocks" / "block_002.npz")
  with pytest.raises(ValueError, match="block 2's files are missing"):
    load_run(str(broken))
  with pytest.raises(ValueError, match="one run"):
    load_runs([runs["mlp"], runs["wide"]], self_switch=True)
  with pytest.raises(ValueError, match="no runs"):
    load_runs([])
  with pytest.raises(ValueError, match="without epoch_bits"):
    load_runs([runs["no_epochs"]], self_switch=True)
  with pytest.raises(ValueError, match="differ in timesteps"):
    load_runs([runs["mlp"], runs["steps"]])
  mlp = load_runs([runs["mlp"]])
  out = str(tmp_path / "out")
  with pytest.raises(ValueError, match="one run"):
    switch_experiment.run(mlp * 2, out, self_switch=True)
  with pytest.raises(ValueError, match="is the run"):
    switch_experiment.run(mlp, runs["mlp"])
  assert not os.path.exists(out)


def _scalars(tb_events, logdir):
  """tag -> {step: value} of the scalar summaries in ``logdir``."""
  scalars = {}
  for event in tb_events(logdir):
    if event.plugin == "scalars":
      scalars.setdefault(event.tag, {})[event.step] = event.value
  return scalars


def test_switch_experiment_end_to_end(runs, tmp_path, tb_events):
  """What bin/switch --runs=<mlp>,<wide> runs, in process."""
  out = str(tmp_path / "switch")
  switch_experiment.run(load_runs([runs["mlp"], runs["wide"]]), out)
  record = _saved_record(out)
  expected = switch.switch_runs([load_run(runs["mlp"]),
                                 load_run(runs["wide"])])
  assert record["code"] == "switch"
  assert record["format_version"] == 1
  assert (record["dataset"], record["model"]) == ("digits", "mlp+mlp")
  assert (record["n"], record["num_classes"]) == (N, 10)
  assert record["codelength_bits"] == pytest.approx(expected.codelength_bits)
  assert record["codelength_kbits"] == pytest.approx(
      expected.codelength_bits / 1000)
  assert record["uniform_bits"] == pytest.approx(N * LOG2K)
  assert record["compression_ratio"] == pytest.approx(
      expected.compression_ratio)
  # Both runs have a test accuracy ("mlp" of a model trained on all N
  # labels, "wide" of its last block's model): the record takes the best.
  accuracies = {name: _saved_record(runs[name])["test_accuracy"]
                for name in ("mlp", "wide")}
  assert None not in accuracies.values()
  assert _saved_record(runs["wide"])["test_accuracy_model"].startswith(
      "the last block's model")
  best = max(accuracies, key=accuracies.get)
  assert record["test_accuracy"] == accuracies[best]
  assert runs[best] in record["test_accuracy_source"]
  for name in switch.METHODS:
    assert record["parts"][f"{name}_bits"] == pytest.approx(
        expected.methods[name].bits)
    assert record["parts"][f"{name}_overhead_bits"] == pytest.approx(
        expected.methods[name].overhead_bits)
  assert [r["path"] for r in record["runs"]] == [runs["mlp"], runs["wide"]]
  assert [r["codelength_bits"] for r in record["runs"]] == [
      _saved_record(p)["codelength_bits"] for p in (runs["mlp"], runs["wide"])]
  assert record["data_fingerprint"] == _saved_record(runs["mlp"])[
      "data_fingerprint"]
  assert record["saved_vs_best_prequential_bits"] == pytest.approx(
      min(r["codelength_bits"] for r in record["runs"])
      - record["codelength_bits"])
  assert {"versions", "wall_s", "settings", "strategies",
          "hindsight_bound_bits"} <= set(record)
  scalars = _scalars(tb_events, os.path.join(out, "tb"))
  assert scalars["switch/codelength_kbits"][N] == pytest.approx(
      record["codelength_kbits"], rel=1e-6)
  curve = scalars["switch/cumulative_kbits"]
  assert min(curve) == 1 and max(curve) == N
  assert set(expected.timesteps) <= set(curve)
  assert curve[N] == pytest.approx(record["codelength_kbits"], rel=1e-6)
  uniform = scalars["switch_strategies/uniform_cumulative_kbits"]
  assert uniform[50] == pytest.approx(50 * LOG2K / 1000, rel=1e-6)
  assert "switch/bayes_mixture_overhead_bits" in scalars
  with open(os.path.join(out, switch_experiment.FIGURE), "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  # The figure is bin/report's Figure 3 panel of the saved results.json.
  with open(os.path.join(out, switch_experiment.FIGURE), "rb") as f:
    assert f.read() == figures.png_bytes(figures.switch_figure([record],
                                                               "digits"))


def test_another_data_order_is_refused_in_one_line(runs, tmp_path, capsys):
  """bin/switch's refusal, in process: its run_or_exit around load_runs."""
  out = tmp_path / "refused"
  with pytest.raises(SystemExit) as exit_info:
    cli.run_or_exit(lambda: load_runs([runs["mlp"], runs["order1"]]))
  assert exit_info.value.code == 2
  last = capsys.readouterr().err.strip().splitlines()[-1]
  assert last.startswith("error: runs differ in data_fingerprint")
  assert not (out / "results.json").exists()


@pytest.mark.slow
def test_bin_switch_smoke(runs, tmp_path, run_bin):
  out = str(tmp_path / "switch")
  proc = run_bin("switch", [f"--runs={runs['mlp']},{runs['wide']}",
                            f"--workdir={out}"], timeout=120)
  assert proc.returncode == 0, proc.stderr
  assert "switch code over 3 strategies" in proc.stdout
  record = _saved_record(out)
  assert record["code"] == "switch"
  assert record["codelength_bits"] == pytest.approx(switch.switch_runs(
      load_runs([runs["mlp"], runs["wide"]])).codelength_bits)


@pytest.mark.slow
def test_bin_switch_refuses_another_data_order(runs, tmp_path, run_bin):
  out = tmp_path / "refused"
  proc = run_bin("switch", [f"--runs={runs['mlp']},{runs['order1']}",
                            f"--workdir={out}"], timeout=120)
  assert proc.returncode == 2
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith("error: runs differ in data_fingerprint")
  assert not (out / "results.json").exists()


def test_self_switch_experiment(runs, tmp_path, tb_events):
  out = str(tmp_path / "self_switch")
  result = switch_experiment.run(load_runs([runs["mlp"]]), out,
                                 self_switch=True)
  record = _saved_record(out)
  assert record["code"] == "self_switch"
  assert record["codelength_bits"] == pytest.approx(result.codelength_bits)
  assert record["strategies"]["prequential"] == pytest.approx(
      _saved_record(runs["mlp"])["codelength_bits"])
  curves = record["curves"]
  assert (curves["steps"][-1], curves[record["headline_curve"]][-1]) == (
      N, pytest.approx(record["codelength_bits"]))
  assert os.path.getsize(os.path.join(out, switch_experiment.FIGURE)) > 1000
  scalars = _scalars(tb_events, os.path.join(out, "tb"))
  assert "self_switch/gap_to_uniform_kbits" in scalars
  assert "self_switch_strategies/epoch_0_cumulative_kbits" in scalars
  # The workdir now belongs to this self-switch; another run set is refused.
  with pytest.raises(ValueError, match="holds another run"):
    switch_experiment.run(load_runs([runs["wide"]]), out,
                          self_switch=True)
