"""Tests of tfmdl.report and bin/report, on hand-made results.json files.

The files are built by the codes' own ``result_record`` functions from small
result objects whose numbers are chosen here, so every table cell can be
computed by hand. No training. The ``slow`` tests run bin/report itself.
"""

import csv
import glob
import json
import math
import os
from unittest import mock

import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from tfmdl import data
from tfmdl.codes import prequential
from tfmdl import ledger
from tfmdl import report
from tfmdl import results
from tfmdl.codes import switch
from tfmdl.codes import two_part
from tfmdl.codes import variational
from tfmdl.experiments import prequential as prequential_experiment
from tfmdl.experiments import switch as switch_experiment
from tfmdl.experiments import two_part as two_part_experiment
from tfmdl.experiments import common
from tfmdl.experiments import config as config_lib
from tfmdl.experiments import variational as variational_experiment
from tfmdl.report import figures
from tfmdl.report import formats
from tfmdl.report import pages
from tfmdl.report import paid
from tfmdl.report import loading
from tfmdl.report import tables

N, K = 100, 10
TIMESTEPS = (10, 50, 100)
LOG2K = math.log2(K)
UNIFORM = N * LOG2K
# Prequential runs: block 0 uniform, then the given bits per sample.
MLP_BITS = 10 * LOG2K + 40 * 2.0 + 50 * 1.0
LENET_BITS = 10 * LOG2K + 40 * 1.5 + 50 * 0.5
# toy: n = 50 labels of K = 2 classes, blocks (10, 50).
TOY_BITS = 10 * 1.0 + 40 * 0.5
PNG = b"\x89PNG\r\n\x1a\n"


def _dataset(name="digits", n=N, k=K, random_labels=False):
  return data.Dataset(
      name=name, x_train=np.zeros((n, 1, 1, 1), np.float32),
      y_train=np.zeros(n, np.int32), x_test=np.zeros((1, 1, 1, 1), np.float32),
      y_test=np.zeros(1, np.int32), num_classes=k, input_shape=(1, 1, 1),
      order_seed=0, random_labels=random_labels, source="synthetic")


def _config(code, model, dataset="digits", random_labels=False):
  """The paper's config of ``model`` with the sections of ``code``
  (``prequential``, ``online``, ``variational`` or ``two_part_float32``)."""
  if code in ("prequential", "online"):
    config = prequential_experiment.default_config("digits", model)
    config.learner = "block" if code == "prequential" else "online"
  elif code == "variational":
    config = variational_experiment.add_defaults(
        config_lib.paper_config("digits", model, {}))
  else:
    config = two_part_experiment.default_config("digits", model, "float32")
  config.dataset = dataset
  config.random_labels = random_labels
  return config


def _per_sample_bits(rates, timesteps=TIMESTEPS, k=K):
  sizes = np.diff((0,) + timesteps)
  return np.concatenate([np.full(sizes[0], math.log2(k))] + [
      np.full(size, rate) for size, rate in zip(sizes[1:], rates)])


def _prequential_record(model, rates, test_accuracy, dataset="digits",
                        n=N, k=K, timesteps=TIMESTEPS, learner="block"):
  bits = _per_sample_bits(rates, timesteps, k)
  starts = (0,) + timesteps[:-1]
  blocks = tuple(prequential.BlockResult(
      index=i, start=s, end=e, bits=float(bits[s:e].sum()),
      accuracy=0.1 + 0.3 * i, epochs_trained=2, best_epoch=2, train_size=s,
      val_size=0, seed=i, wall_s=0.5, per_sample_bits=bits[s:e])
                 for i, (s, e) in enumerate(zip(starts, timesteps)))
  result = prequential.PrequentialResult(
      n=n, num_classes=k, timesteps=timesteps, blocks=blocks,
      learner=learner, test_accuracy=test_accuracy, wall_s=1.5,
      final_model_wall_s=0.5)
  code = "prequential" if learner == "block" else "online"
  return prequential_experiment.result_record(
      result, _config(code, model, dataset), _dataset(dataset, n, k),
      wall_s=2.0)


def _variational_record(model, kl_bits, nll_bits, random_labels=False):
  history = tuple(variational.EpochPoint(
      epoch=e, kl_bits=kl_bits * (3 - e), nll_bits=nll_bits + 100 * (2 - e),
      deterministic_bits=0.0, train_accuracy=0.5) for e in range(3))
  point = variational.PointResult(
      index=0, prior_stddev=0.1, kl_bits=kl_bits, nll_bits=nll_bits,
      nll_bits_stderr=None, nll_bits_samples=(nll_bits,),
      deterministic_bits=0.0, num_posterior_scalars=10,
      num_deterministic_scalars=0, train_accuracy=0.5,
      test_accuracy_sampled=0.8, test_accuracy_mean=0.81, epochs_trained=2,
      seed=0, wall_s=1.0, history=history)
  result = variational.VariationalResult(n=N, num_classes=K, points=(point,),
                                         num_samples=1, wall_s=1.0)
  # What variational_experiment.run writes.
  return common.result_record(
      variational_experiment.CODE,
      _config("variational", model, random_labels=random_labels),
      _dataset(random_labels=random_labels), result.to_json(), wall_s=3.0)


def _twopart_record(model, model_bits, data_bits, test_accuracy):
  candidate = two_part.Candidate(
      option={}, model_bits=model_bits, data_bits=data_bits,
      selection_bits=0.0, train_accuracy=0.9, test_accuracy=test_accuracy)
  result = two_part.TwoPartResult(
      code="float32", n=N, num_classes=K, num_params=100,
      candidates=(candidate,), best_index=0,
      payload=bytes(int(model_bits) // 8))
  return two_part_experiment.result_record(
      result, _config("two_part_float32", model), _dataset(), wall_s=4.0)


def _run(model, rates, test_accuracy):
  """A saved prequential run as bin/switch reads it; epochs 0 (uniform) and
  1 (``rates``) of every trained block."""
  bits = _per_sample_bits(rates)
  starts = (0,) + TIMESTEPS[:-1]
  epoch_bits = tuple(
      bits[None, s:e] if i == 0 else
      np.stack([np.full(e - s, LOG2K), bits[s:e]])
      for i, (s, e) in enumerate(zip(starts, TIMESTEPS)))
  return switch.PrequentialRun(
      path=f"/runs/{model}", dataset="digits", model=model,
      random_labels=False, n=N, num_classes=K, timesteps=TIMESTEPS,
      data_fingerprint="f" * 64, codelength_bits=float(bits.sum()),
      test_accuracy=test_accuracy, per_sample_bits=bits,
      epoch_bits=epoch_bits, max_epochs=1, wall_s=2.0)


def _switch_record(runs, self_switch=False):
  result = (switch.self_switch_run(runs[0]) if self_switch
            else switch.switch_runs(runs))
  config = ml_collections.ConfigDict({"code": result.code, "settings": {}})
  return switch_experiment.result_record(result, runs, config, wall_s=0.5)


def _write(root, folder, record):
  results.write_json(os.path.join(root, folder, "results.json"), record)


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
  """A results folder: two data sets, every kind of code, one random-label
  run, a search with a trial below it."""
  root = str(tmp_path_factory.mktemp("results"))
  mlp, lenet = _run("mlp", (2.0, 1.0), 0.9), _run("lenet", (1.5, 0.5), 0.92)
  toy = _prequential_record("mlp", (0.5,), 0.75, "toy", 50, 2, (10, 50))
  tuned = dict(toy, code="tune/prequential", codelength_bits=31.0,
               compression_ratio=31.0 / 50)
  for folder, record in {
      "digits/prequential_mlp": _prequential_record("mlp", (2.0, 1.0), 0.9),
      "digits/prequential_lenet": _prequential_record("lenet", (1.5, 0.5),
                                                      0.92),
      "digits/variational_mlp": _variational_record("mlp", 100.0, 150.0),
      "digits/variational_mlp_random": _variational_record(
          "mlp", 5.0, 330.0, random_labels=True),
      "digits/two_part_float32_mlp": _twopart_record("mlp", 3200.0, 20.0,
                                                    0.95),
      "digits/switch": _switch_record([mlp, lenet]),
      "digits/self_switch_mlp": _switch_record([mlp], self_switch=True),
      "toy/prequential_mlp": toy,
      "toy/tune_mlp": tuned,
      "toy/tune_mlp/trials/trial_000": dict(toy, model="trialnet"),
  }.items():
    _write(root, folder, record)
  return root


@pytest.fixture(scope="module")
def made(results_dir, tmp_path_factory):
  """The report of ``results_dir`` in a separate folder: (out, written)."""
  out = str(tmp_path_factory.mktemp("report"))
  return out, report.write_report(report.load_runs(results_dir), out)


def _read(out, name):
  with open(os.path.join(out, name), encoding="utf-8") as f:
    return f.read()


def _rows(markdown):
  """``label -> line`` of a Markdown table (the header and rule left out)."""
  lines = [l for l in markdown.splitlines() if l.startswith("| ")][2:]
  return {l.split(" | ")[0][2:]: l for l in lines}


def _link(results_dir, out, folder):
  target = os.path.relpath(os.path.join(results_dir, folder, "results.json"),
                           out)
  return f"[{folder}]({target})"


def test_table1_rows_numbers_and_links(results_dir, made):
  out, written = made
  assert {"table1.md", "table1.csv", "table2.md", "table2.csv",
          "report.md"} <= set(written)
  rows = _rows(_read(out, "table1.md"))
  assert list(rows) == [
      "uniform", "two-part, float32 (mlp 2×256)", "network compression",
      "random subspace", "variational (mlp 2×256)", "prequential (lenet)",
      "prequential (mlp 2×256)", "prequential, tuned (mlp)"]
  empty = " | ".join(["—"] * 4)
  link = lambda folder: _link(results_dir, out, folder)  # noqa: E731
  assert rows["prequential (lenet)"] == (
      f"| prequential (lenet) | **{LENET_BITS / 1000:.3f}** | "
      f"{LENET_BITS / UNIFORM:.4f} | 92.00% | "
      f"{link('digits/prequential_lenet')} | {empty} |")
  assert rows["prequential (mlp 2×256)"] == (
      f"| prequential (mlp 2×256) | {MLP_BITS / 1000:.3f} | "
      f"{MLP_BITS / UNIFORM:.4f} | 90.00% | {link('digits/prequential_mlp')} "
      f"| **{TOY_BITS / 1000:.3f}** | {TOY_BITS / 50:.4f} | 75.00% | "
      f"{link('toy/prequential_mlp')} |")
  assert rows["two-part, float32 (mlp 2×256)"] == (
      f"| two-part, float32 (mlp 2×256) | 3.220 | {3220 / UNIFORM:.4f} | "
      f"95.00% | {link('digits/two_part_float32_mlp')} | {empty} |")
  assert rows["network compression"] == f"| network compression | {empty} " \
      f"| {empty} |"
  # A search is a prequential code too: on toy, 31 bits lose to 30.
  assert rows["prequential, tuned (mlp)"].startswith(
      f"| prequential, tuned (mlp) | {empty} | 0.031 | 0.6200 | 75.00% |")
  # One run of a code on a data set: nothing to choose, nothing in bold.
  assert "**" not in rows["two-part, float32 (mlp 2×256)"]
  assert "trialnet" not in _read(out, "report.md")  # a search's trial


def test_table2_rows_and_numbers(results_dir, made):
  out, _ = made
  rows = _rows(_read(out, "table2.md"))
  assert list(rows) == [
      "uniform", "variational (mlp 2×256)", "prequential (lenet)",
      "prequential (mlp 2×256)", "prequential, tuned (mlp)",
      "switch (mlp+lenet)", "self-switch (mlp)", "shortest"]
  saved = results.read_json(os.path.join(results_dir, "digits", "switch",
                                         "results.json"))
  bits = saved["codelength_bits"]
  assert rows["switch (mlp+lenet)"].startswith(
      f"| switch (mlp+lenet) | {bits / 1000:.3f} | {bits / UNIFORM:.4f} | "
      f"92.00% | {_link(results_dir, out, 'digits/switch')} |")
  assert rows["variational (mlp 2×256)"].startswith(
      f"| variational (mlp 2×256) | 0.250 | {250 / UNIFORM:.4f} | 80.00% | "
      f"{_link(results_dir, out, 'digits/variational_mlp')} |")


def test_uniform_row_is_n_log2_k(made):
  out, _ = made
  rows = _rows(_read(out, "table1.md"))
  assert rows["uniform"] == (
      f"| uniform | {UNIFORM / 1000:.3f} | 1.0000 | — | — | 0.050 | 1.0000 "
      "| — | — |")
  with open(os.path.join(out, "table1.csv"), encoding="utf-8") as f:
    uniform = [r for r in csv.DictReader(f) if r["code"] == "uniform"]
  assert [(r["dataset"], float(r["codelength_bits"]), r["test_accuracy"],
           r["results_json"]) for r in uniform] == [
               ("digits", pytest.approx(N * math.log2(10)), "", ""),
               ("toy", pytest.approx(50.0), "", "")]


def test_csv_has_full_precision_and_links(results_dir, made):
  out, _ = made
  with open(os.path.join(out, "table1.csv"), encoding="utf-8") as f:
    rows = {(r["row"], r["dataset"]): r for r in csv.DictReader(f)}
  lenet = rows[("prequential (lenet)", "digits")]
  assert float(lenet["codelength_bits"]) == pytest.approx(LENET_BITS,
                                                          rel=1e-12)
  assert float(lenet["compression_ratio"]) == pytest.approx(
      LENET_BITS / UNIFORM, rel=1e-12)
  assert (lenet["best_of_code"], rows[("prequential (mlp 2×256)", "digits")][
      "best_of_code"]) == ("True", "False")
  assert os.path.normpath(os.path.join(out, lenet["results_json"])) == (
      os.path.join(results_dir, "digits", "prequential_lenet",
                   "results.json"))


def test_random_labels_only_in_figure1_and_inventory(made):
  out, _ = made
  for name in ("table1.md", "table2.md", "table1.csv", "table2.csv"):
    assert "variational_mlp_random" not in _read(out, name), name
  text = _read(out, "report.md")
  inventory = text[text.index("## Runs"):]
  assert "variational_mlp_random" in inventory
  assert "| random |" in inventory


@pytest.mark.slow  # two whole reports, figures included: 11 CPU-seconds
def test_links_relative_to_the_results_folder_by_default(tmp_path):
  root = str(tmp_path)
  _write(root, "digits/prequential_mlp",
         _prequential_record("mlp", (2.0, 1.0), 0.9))
  for _ in range(2):  # a second report replaces the first
    report.write_report(report.load_runs(root), root)
  rows = _rows(_read(root, "table1.md"))
  assert "[digits/prequential_mlp](digits/prequential_mlp/results.json)" in (
      rows["prequential (mlp 2×256)"])
  assert len(glob.glob(os.path.join(root, "tb", "report", "events.*"))) == 1


def test_runs_on_another_n_get_their_own_column(tmp_path):
  root = str(tmp_path)
  _write(root, "full", _prequential_record("mlp", (2.0, 1.0), 0.9))
  _write(root, "small", _prequential_record("mlp", (0.5,), 0.8, n=50,
                                            timesteps=(10, 50)))
  table = tables.build_table(report.load_runs(root), tables.TABLE1)
  assert [c.label for c in table.columns] == ["digits (n=50)",
                                              "digits (n=100)"]
  mlp = table.rows[-1]
  assert mlp.label == "prequential (mlp 2×256)"
  assert {c.label: (cell.codelength_bits, cell.best)
          for c, cell in mlp.cells.items()} == {
              "digits (n=50)": (pytest.approx(10 * LOG2K + 40 * 0.5), False),
              "digits (n=100)": (pytest.approx(MLP_BITS), False)}


def test_online_runs_are_prequential_rows_of_their_own(tmp_path):
  """An online run's results.json has the code "online": a row "prequential,
  online" in both tables, beside the block learner's, and in Figure 2."""
  root = str(tmp_path)
  online = _prequential_record("mlp", (1.0, 0.5), 0.93, learner="online")
  assert (online["code"], online["learner"]) == ("online", "online")
  block = _prequential_record("mlp", (2.0, 1.0), 0.9)
  assert (block["code"], block["learner"]) == ("prequential", "block")
  _write(root, "digits/online_mlp", online)
  _write(root, "digits/prequential_mlp", block)
  online_bits = 10 * LOG2K + 40 * 1.0 + 50 * 0.5
  runs = report.load_runs(root)
  for spec in (tables.TABLE1, tables.TABLE2):
    table = tables.build_table(runs, spec)
    cells = {row.label: next(iter(row.cells.values()))
             for row in table.rows if row.code != "uniform" and row.cells}
    assert {label: (cell.codelength_bits, cell.test_accuracy, cell.best)
            for label, cell in cells.items()} == {
                "prequential, online (mlp 2×256)": (
                    pytest.approx(online_bits), 0.93, True),
                "prequential (mlp 2×256)": (pytest.approx(MLP_BITS), 0.9,
                                            False)}
  assert figures.figure2([r for r in runs if r.code == "online"],
                         "digits") is not None


def test_figures_are_pngs_and_tensorboard_images(made):
  out, written = made
  pngs = ["figure1.png", "figure2_digits_block.png", "figure2_toy_block.png",
          "figure3_digits.png"]
  assert sorted(w for w in written if w.endswith(".png")) == pngs
  for name in pngs:
    with open(os.path.join(out, name), "rb") as f:
      content = f.read()
    assert content.startswith(PNG) and len(content) > 10_000, name
    assert f"]({name})" in _read(out, "report.md")
  tags = set()
  for path in glob.glob(os.path.join(out, "tb", "report",
                                     "events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags |= {value.tag for value in event.summary.value}
  assert tags == {f"report/{name[:-4]}" for name in pngs}


def test_figure2_skipped_without_prequential_run(tmp_path):
  root = str(tmp_path)
  _write(root, "digits/two_part_float32_mlp",
         _twopart_record("mlp", 3200.0, 20.0, 0.95))
  written = report.write_report(report.load_runs(root), root)
  assert not [w for w in written if w.endswith(".png")]
  assert not glob.glob(os.path.join(root, "figure*.png"))
  assert "_No figure" in _read(root, "report.md")


def test_switch_runs_without_curves_are_left_out_of_figure3(results_dir):
  runs = report.load_runs(results_dir)
  old = [loading.Run(r.file, r.name, {k: v for k, v in r.record.items()
                                      if k != "curves"}) for r in runs]
  assert figures.figure3(runs, "digits") is not None
  assert figures.figure3(old, "digits") is None


def test_figure3_panel_does_not_depend_on_the_order_of_the_curves():
  # bin/switch draws the curves in run order, results.json sorts them.
  record = _switch_record([_run("mlp", (2.0, 1.0), 0.9),
                           _run("lenet", (1.5, 0.5), 0.92)])
  reordered = dict(record, curves=dict(reversed(record["curves"].items())))
  assert list(reordered["curves"]) != list(record["curves"])
  assert figures.png_bytes(figures.switch_figure([record], "digits")) == (
      figures.png_bytes(figures.switch_figure([reordered], "digits")))


def _bad_version(tmp_path, version):
  record = _twopart_record("mlp", 3200.0, 20.0, 0.95)
  if version is None:
    del record["format_version"]
  else:
    record["format_version"] = version
  _write(str(tmp_path), "run", record)
  return os.path.join(str(tmp_path), "run", "results.json")


def test_another_format_version_is_refused(tmp_path):
  path = _bad_version(tmp_path, 99)
  with pytest.raises(ValueError) as err:
    report.load_runs(str(tmp_path))
  message = str(err.value)
  assert path in message and "version 99" in message
  assert f"version {results.FORMAT_VERSION} only" in message
  assert "\n" not in message
  os.remove(path)
  _bad_version(tmp_path, None)
  with pytest.raises(ValueError, match="has no format_version"):
    report.load_runs(str(tmp_path))


def test_unreadable_files_are_refused(tmp_path):
  with pytest.raises(ValueError, match="no results.json"):
    report.load_runs(str(tmp_path))
  path = tmp_path / "run" / "results.json"
  path.parent.mkdir()
  path.write_text("{")
  with pytest.raises(ValueError, match="is not JSON"):
    report.load_runs(str(tmp_path))
  record = _twopart_record("mlp", 3200.0, 20.0, 0.95)
  del record["wall_s"]
  path.write_text(json.dumps(record))
  with pytest.raises(ValueError, match="lacks the field.s. wall_s"):
    report.load_runs(str(tmp_path))
  path.write_text(json.dumps(dict(record, code="fourpart", wall_s=1.0)))
  with pytest.raises(ValueError, match="unknown code 'fourpart'"):
    report.load_runs(str(tmp_path))


@pytest.mark.slow
def test_bin_report_smoke(results_dir, tmp_path, run_bin):
  out = tmp_path / "out"
  proc = run_bin("report", [f"--results={results_dir}", f"--out={out}"],
                 timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  runs = report.load_runs(results_dir)
  assert proc.stdout.startswith(
      f"report of {len(runs)} runs (1 on random labels) and 0 loss-data "
      f"curves from {results_dir}")
  assert {"table1.md", "table2.md", "report.md"} <= set(os.listdir(out))


@pytest.mark.slow
def test_bin_report_refuses_another_version_in_one_line(tmp_path, run_bin):
  path = _bad_version(tmp_path / "results", 2)
  out = tmp_path / "out"
  proc = run_bin("report", [f"--results={tmp_path / 'results'}",
                            f"--out={out}"], timeout=120)
  assert proc.returncode == 2, proc.stderr
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1 and errors == proc.stderr.strip().splitlines()[-1:]
  assert path in errors[0] and "format version 2" in errors[0]
  assert not out.exists()


def test_rows_of_one_model_name_show_their_layer_sizes(tmp_path):
  """Figure 1's variational mlp (3×200) is not the 2×256 of the other rows."""
  root = str(tmp_path)
  figure1 = _variational_record("mlp", 100.0, 150.0)
  figure1["config"]["model_options"]["hidden_sizes"] = [200, 200, 200]
  _write(root, "digits/variational_mlp", figure1)
  _write(root, "digits/prequential_mlp",
         _prequential_record("mlp", (2.0, 1.0), 0.9))
  _write(root, "digits/prequential_lenet",
         _prequential_record("lenet", (1.5, 0.5), 0.92))
  table = tables.build_table(report.load_runs(root), tables.TABLE2)
  assert [row.label for row in table.rows] == [
      "uniform", "variational (mlp 3×200)", "prequential (lenet)",
      "prequential (mlp 2×256)", "switch", "self-switch", "shortest"]


def test_definitions_say_variational_rows_are_monte_carlo_estimates(made):
  out, _ = made
  text = _read(out, "report.md")
  definitions = text[:text.index("## Table 1")]
  assert "variational: a Monte Carlo estimate of a bits-back code" in (
      " ".join(definitions.split()))
  table1 = text[text.index("## Table 1"):text.index("## Table 2")]
  assert "Monte Carlo estimate" in table1


def test_switch_wall_time_includes_the_runs_it_mixes(results_dir, made):
  out, _ = made
  saved = results.read_json(os.path.join(results_dir, "digits", "switch",
                                         "results.json"))
  # Each of the two runs took 2.0 s; the switch code itself 0.5 s.
  assert (saved["wall_s"], saved["own_wall_s"], saved["runs_wall_s"]) == (
      4.5, 0.5, 4.0)
  inventory = _read(out, "report.md").split("## Runs")[1]
  line = next(l for l in inventory.splitlines() if "[digits/switch]" in l)
  assert "| 4.5 (own 0.5) |" in line


def test_runs_of_different_code_versions_are_flagged(results_dir, tmp_path):
  """One version: a line says so; two: report.md and the log warn."""
  runs = report.load_runs(results_dir)
  versions = {r.code_version for r in runs}
  assert versions == {results.code_version()["source_sha256"]}
  same = formats.versions_markdown(runs)
  assert "all runs come from the same code" in same
  assert "Warning" not in same
  root = str(tmp_path)
  old = _prequential_record("lenet", (1.5, 0.5), 0.92)
  old["code_version"] = dict(old["code_version"], source_sha256="0" * 64)
  _write(root, "digits/prequential_lenet", old)
  _write(root, "digits/prequential_mlp",
         _prequential_record("mlp", (2.0, 1.0), 0.9))
  with mock.patch.object(loading.logging, "warning") as warning:
    mixed = report.load_runs(root)
  assert "2 versions of the code" in (warning.call_args[0][0] %
                                      warning.call_args[0][1:])
  text = report.write_report(mixed, root) and _read(root, "report.md")
  assert "Warning: the runs come from different" in text
  assert "`000000000000`" in text


def test_one_code_version_written_from_several_commits_names_them_all(
    tmp_path):
  """The same sources committed twice: the line names both commits."""
  root = str(tmp_path)
  for model, commit in (("mlp", "a" * 40), ("lenet", "b" * 40)):
    record = _prequential_record(model, (1.0, 0.5), 0.9)
    record["code_version"] = dict(record["code_version"], git_commit=commit,
                                  git_dirty=model == "lenet")
    _write(root, f"digits/prequential_{model}", record)
  line = formats.versions_markdown(report.load_runs(root))
  assert "all runs come from the same code" in line
  assert ("commits aaaaaaaaaa, bbbbbbbbbb with uncommitted changes" in line)


def test_rows_of_a_shortest_code_recipe_name_the_recipe(tmp_path):
  """A run of configs/shortest_fashion_mnist.py (config.recipe set) is told
  apart from the paper's run of the same model by its recipe's name."""
  root = str(tmp_path)
  recipe = _prequential_record("mlp", (1.0, 0.5), 0.91)
  recipe["config"]["recipe"] = "mlp_fast"
  _write(root, "digits/shortest_mlp_fast", recipe)
  _write(root, "digits/prequential_mlp",
         _prequential_record("mlp", (2.0, 1.0), 0.9))
  table = tables.build_table(report.load_runs(root), tables.TABLE1)
  labels = [row.label for row in table.rows]
  assert "prequential (mlp 2×256)" in labels
  assert "prequential (mlp 2×256, recipe mlp_fast)" in labels


def test_a_run_that_paid_less_than_the_ledger_counts_is_flagged(tmp_path):
  """The run paid 0 setting bits; the ledger now holds 3 settings of its
  labels, code and model (two tried after it): it owes log2 3 and is
  flagged. A run of another model, alone in the ledger, owes nothing."""
  root = str(tmp_path)
  record = _prequential_record("mlp", (2.0, 1.0), 0.9)
  _write(root, "digits/prequential_mlp", record)
  lenet = _prequential_record("lenet", (2.0, 1.0), 0.9)
  _write(root, "digits/prequential_lenet", lenet)
  book = ledger.Ledger(os.path.join(root, "ledger.jsonl"))
  for model, rate in (("mlp", 1e-3), ("mlp", 3e-3), ("mlp", 1e-2),
                      ("lenet", 1e-3)):
    book.record(ledger.Entry(labels=record["labels_fingerprint"],
                             code="prequential", model=model,
                             settings={"lr": rate}, codelength_bits=1.0))
  rows = {row.run.name: row for row in paid.audit(report.load_runs(root),
                                                  book)}
  mlp, other = (rows["digits/prequential_mlp/results.json"],
                rows["digits/prequential_lenet/results.json"])
  assert (mlp.paid, mlp.settings, mlp.short) == (0.0, 3, True)
  assert mlp.owed == pytest.approx(math.log2(3))
  assert (other.settings, other.owed, other.short) == (1, 0.0, False)
  report.write_report(report.load_runs(root), root, book)
  text = _read(root, "report.md")
  assert "1 of 2 runs pay less than the ledger's count." in text
  assert "| 0.000 | 3 | 1.585 | **pays less** |" in text


def _curves(ax) -> list:
  """The legend labels of a panel's runs (reference lines left out)."""
  return [line.get_label() for line in ax.get_lines()
          if not line.get_label().startswith("_")
          and line.get_gid() != figures.REFERENCE]


def _check_readable(figs: dict) -> None:
  """No panel of any figure carries more than MAX_CURVES runs or two legend
  entries alike."""
  for name, fig in figs.items():
    for ax in fig.axes:
      legend = ax.get_legend()
      entries = [t.get_text() for t in legend.get_texts()] if legend else []
      assert len(entries) == len(set(entries)), (name, entries)
      assert len(_curves(ax)) <= figures.MAX_CURVES, (name, _curves(ax))


def test_figure2_splits_runs_into_readable_figures(tmp_path):
  """Seven online runs of one model (two of them recipes), three block
  runs: a figure per kind, at most five runs each, every label distinct
  (the same model and learner twice: told apart by the run's folder)."""
  root = str(tmp_path)
  for i in range(5):
    _write(root, f"digits/online_{i}", _prequential_record(
        "mlp", (1.0 + i / 10, 0.5), 0.9, learner="online"))
  for recipe in ("fast", "short"):
    record = _prequential_record("mlp", (1.0, 0.4), 0.9, learner="online")
    record["config"]["recipe"] = recipe
    _write(root, f"digits/shortest_{recipe}", record)
  for model in ("mlp", "lenet", "tinycnn"):
    _write(root, f"digits/prequential_{model}",
           _prequential_record(model, (2.0, 1.0), 0.9))
  runs = report.load_runs(root)
  groups = figures.figure2_groups(runs, "digits")
  assert {name: len(mine) for name, mine in groups.items()} == {
      "block": 3, "online": 5, "recipes": 2}
  assert figures.curve_labels(groups["recipes"]) == [
      "mlp 2×256, recipe fast", "mlp 2×256, recipe short"]
  assert figures.curve_labels(groups["online"]) == [
      f"mlp 2×256 [digits/online_{i}]" for i in range(5)]
  assert figures.curve_labels(groups["block"]) == [
      "lenet", "mlp 2×256", "tinycnn"]
  for i in range(5, 7):
    _write(root, f"digits/online_{i}", _prequential_record(
        "mlp", (1.0, 0.5), 0.9, learner="online"))
  groups = figures.figure2_groups(report.load_runs(root), "digits")
  assert {name: len(mine) for name, mine in groups.items()} == {
      "block": 3, "online_1": 5, "online_2": 2, "recipes": 2}
  made = figures.all_figures(report.load_runs(root))
  assert sorted(made) == ["figure2_digits_block", "figure2_digits_online_1",
                          "figure2_digits_online_2",
                          "figure2_digits_recipes"]
  _check_readable(made)


def test_labels_of_mixed_learners_name_the_learner(results_dir):
  runs = [r for r in report.load_runs(results_dir)
          if r.name.startswith("digits/prequential")]
  online = loading.Run("x/online/results.json", "x/online/results.json",
                       _prequential_record("mlp", (1.0, 0.5), 0.9,
                                           learner="online"))
  assert figures.curve_labels(runs + [online]) == [
      "lenet, block learner", "mlp 2×256, block learner",
      "mlp 2×256, online learner"]


def test_figure2_gap_panel_is_the_gap_to_the_shortest_run(results_dir):
  """The cumulative panel: each run's cumulative bits minus the shortest
  run's at the shared block ends (lenet is the shortest here); a run
  alone is compared with the uniform code."""
  runs = [r for r in report.load_runs(results_dir)
          if r.name.startswith("digits/prequential")]
  fig = figures.figure2(runs, "digits")
  gap = fig.axes[1]
  lines = {line.get_label(): line.get_ydata() for line in gap.get_lines()}
  np.testing.assert_allclose(lines["mlp 2×256"],
                             [0.0, 40 * 0.5, 40 * 0.5 + 50 * 0.5])
  np.testing.assert_allclose(lines["lenet"], [0.0, 0.0, 0.0])
  assert "lenet" in gap.get_title()
  alone = figures.figure2(runs[:1], "digits")
  np.testing.assert_allclose(alone.axes[1].get_lines()[0].get_ydata(),
                             [0.0, 40 * (1.5 - LOG2K),
                              40 * (1.5 - LOG2K) + 50 * (0.5 - LOG2K)])


def test_saved_results_figures_are_readable(repo):
  """The figures bin/report draws from saved_results/: no two legend
  entries alike, no panel with more than five runs."""
  _check_readable(figures.all_figures(report.load_runs(
      os.path.join(repo, "saved_results"))))


def test_former_code_names_are_read_as_todays(tmp_path):
  """A results.json written before the code registry (``twopart_*``, the
  online learner as code ``prequential``) is read under today's names."""
  root = str(tmp_path)
  old_online = _prequential_record("mlp", (1.0, 0.5), 0.9, learner="online")
  old_online["code"] = "prequential"
  _write(root, "digits/online", old_online)
  _write(root, "digits/twopart", dict(
      _twopart_record("mlp", 3200.0, 20.0, 0.95), code="twopart_float32"))
  assert [r.code for r in report.load_runs(root)] == [
      "online", "two_part_float32"]


PAGE = """# My results

Prose stays.

<!-- report:headline digits -->
stale
<!-- /report -->

More prose.

<!-- report:table2 digits -->
<!-- /report -->
"""


def test_pages_fill_the_marked_sections_from_the_runs(results_dir, tmp_path):
  """The headline: per code its shortest run, linked relative to the page,
  the shortest of all in bold, after the uniform row; the prose around the
  sections as written; filling twice changes nothing."""
  runs = report.load_runs(results_dir)
  docs = tmp_path / "docs"
  where = pages.Where(str(docs), str(tmp_path / "figures"))
  text = pages.fill(PAGE, runs, where)
  assert text.startswith("# My results\n\nProse stays.\n\n")
  assert "\nMore prose.\n" in text and "stale" not in text
  assert pages.fill(text, runs, where) == text
  headline = text[text.index("headline digits"):text.index("More prose")]
  rows = _rows(headline)
  link = os.path.relpath(os.path.join(results_dir, "digits"), docs)
  shown = {"two-part, float32 (mlp 2×256)": "two_part_float32_mlp",
           "variational (mlp 2×256)": "variational_mlp",
           "prequential (lenet)": "prequential_lenet",
           "switch (mlp+lenet)": "switch",
           "self-switch (mlp)": "self_switch_mlp"}
  bits = {label: results.read_json(os.path.join(
      results_dir, "digits", folder, "results.json"))["codelength_bits"]
          for label, folder in shown.items()}
  shortest = min(bits, key=bits.get)
  assert list(rows) == ["uniform"] + [
      f"**[{label}]({link}/{folder}/results.json)**" if label == shortest
      else f"[{label}]({link}/{folder}/results.json)"
      for label, folder in shown.items()]
  assert rows["uniform"] == f"| uniform | {UNIFORM / 1000:.3f} | 1.0000 | — |"
  assert shortest == "prequential (lenet)"
  assert (f"| **{LENET_BITS / 1000:.3f}** | **{LENET_BITS / UNIFORM:.4f}** | "
          "**92.00%** |" in headline)


def test_pages_refuse_unknown_and_unclosed_sections(results_dir):
  runs = report.load_runs(results_dir)
  where = pages.Where("/docs", "/figures")
  with pytest.raises(ValueError, match="^README.md: unknown report section "
                     "'tabel1'; known: headline, table1"):
    pages.fill("<!-- report:tabel1 digits -->\n<!-- /report -->\n", runs,
               where, "README.md")
  with pytest.raises(ValueError, match="has no '<!-- /report -->' after it"):
    pages.fill("<!-- report:table1 digits -->\nno end\n", runs, where)
  with pytest.raises(ValueError, match="no run on cifar10's true labels"):
    pages.fill("<!-- report:headline cifar10 -->\n<!-- /report -->\n", runs,
               where)


def test_recipes_section_sets_each_recipe_beside_its_random_labels(tmp_path):
  root = str(tmp_path)
  for recipe, rates, random in (("fast", (1.0, 0.5), False),
                                ("short", (0.5, 0.25), False),
                                ("short", (LOG2K, LOG2K), True)):
    record = _prequential_record("mlp", rates, 0.9, learner="online")
    record["config"]["recipe"] = recipe
    record["random_labels"] = random
    _write(root, f"digits/{recipe}{'_random' * random}", record)
  text = pages.recipes(report.load_runs(root), "digits",
                       pages.Where(root, root))
  rows = _rows(text)
  assert list(rows) == ["[`fast`](digits/fast/results.json)",
                        "[`short`](digits/short/results.json)"]
  assert rows["[`fast`](digits/fast/results.json)"].endswith(" | — |")
  assert rows["[`short`](digits/short/results.json)"].endswith(
      f" | [{UNIFORM / 1000:.3f}](digits/short_random/results.json) |")
  assert "minibatches of 32, 8 replay steps" in text


def test_recipe_settings_name_the_switch_and_test_time_shifts():
  switch = {"learner": "switch", "config": {"switch": {
      "mixture": "fixed_share", "average": True}}}
  assert pages._settings(switch) == (
      "online switch (fixed share, with the learners' average), each "
      "learner with its online settings")
  online = {"learner": "online", "config": {"online": {
      "batch_size": 32, "replay": 12, "schedule": "cosine", "ensemble": 2,
      "augment": True, "shift_pixels": 1, "tta_shifts": 1}}}
  assert pages._settings(online) == (
      "minibatches of 32, 12 replay steps, cosine decay, ensemble of 2, "
      "shifts of 1 px, test-time shifts of 1 px")
  mlp = {"learner": "online", "config": {
      "model_options": {"activation": "gelu"},
      "online": {"batch_size": 32, "replay": 8, "schedule": "cosine",
                 "jit_compile": True}}}
  assert pages._settings(mlp) == (
      "GELU, minibatches of 32, 8 replay steps, cosine decay, XLA")
  mlp["config"]["model_options"]["activation"] = "relu"
  assert pages._settings(mlp).startswith("minibatches of 32")


def test_figures_section_links_the_planned_figures(results_dir, tmp_path):
  runs = report.load_runs(results_dir)
  text = pages.figures_section(runs, "digits", pages.Where(
      str(tmp_path / "docs"), str(tmp_path / "out")))
  assert [line for line in text.splitlines() if line.startswith("![")] == [
      f"![{name}](../out/{name}.png)" for name in (
          "figure1", "figure2_digits_block", "figure3_digits")]
  assert "Figure 3, digits: self-switch saves" in text


@pytest.mark.slow
def test_bin_report_fills_pages(results_dir, tmp_path, run_bin):
  page = tmp_path / "page.md"
  page.write_text(PAGE)
  bad = tmp_path / "bad.md"
  bad.write_text("<!-- report:nope digits -->\n<!-- /report -->\n")
  proc = run_bin("report", [f"--results={results_dir}",
                            f"--out={tmp_path / 'out'}",
                            f"--pages={page},{bad}"], timeout=120)
  assert proc.returncode == 2 and "unknown report section 'nope'" in (
      proc.stderr)
  assert page.read_text() == PAGE and not (tmp_path / "out").exists()
  proc = run_bin("report", [f"--results={results_dir}",
                            f"--out={tmp_path / 'out'}",
                            f"--pages={page}"], timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert f"pages: {page} changed" in proc.stdout
  assert page.read_text() == pages.fill(
      PAGE, report.load_runs(results_dir),
      pages.Where(str(tmp_path), str(tmp_path / "out")))


CURVE = dict(sizes=[10, 100, 1000], loss_bits=[3.0, 1.2, 0.4], num_classes=10,
             accuracy=[0.2, 0.7, 0.9])


def test_loss_data_curves_are_drawn_labelled_by_folder(tmp_path):
  """A folder with loss-data curves only: each drawn, labelled by its
  folder, in figures of at most five curves; report.md shows them."""
  root = tmp_path / "curves"
  for i in range(6):
    results.write_json(str(root / f"encoder_{i}" / "tb" /
                           results.LOSS_DATA_CURVE), CURVE)
  runs, curves = report.load(str(root))
  assert runs == [] and list(curves) == [
      f"encoder_{i}/tb" for i in range(6)]
  assert curves["encoder_0/tb"].loss_bits == (3.0, 1.2, 0.4)
  made = figures.loss_data_figures(curves)
  assert sorted(made) == ["loss_data_1", "loss_data_2"]
  _check_readable(made)
  labels = [line.get_label() for fig in made.values()
            for line in fig.axes[0].get_lines()
            if line.get_label().startswith("encoder")]
  assert labels == list(curves)
  out = str(tmp_path / "out")
  written = report.write_report(runs, out, curves=curves)
  assert {"loss_data_1.png", "loss_data_2.png"} <= set(written)
  assert "](loss_data_1.png)" in _read(out, "report.md")


def test_a_bad_curve_or_an_empty_folder_is_refused(tmp_path):
  with pytest.raises(ValueError, match="no results.json or loss_data.json"):
    report.load(str(tmp_path))
  path = tmp_path / "a" / results.LOSS_DATA_CURVE
  results.write_json(str(path), dict(CURVE, sizes=[100, 10, 1000]))
  with pytest.raises(ValueError, match=f"^{path}: sizes must be strictly "):
    report.load(str(tmp_path))
  results.write_json(str(path), dict(CURVE, extra=1))
  with pytest.raises(ValueError, match=f"^{path} is not a loss-data curve"):
    report.load(str(tmp_path))
