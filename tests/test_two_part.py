"""Tests of the two-part codes (float32, compressed, subspace), their
experiment (bin/twopart's run) in process, and bin/twopart's smoke test."""

import itertools
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from tfmdl import data
from tfmdl import models
from tfmdl import results
from tfmdl.codes.two_part import subspace as subspace_lib
from tfmdl import training
from tfmdl.codes import two_part
from tfmdl.bits import parameter_coding
from tfmdl.experiments import cli
from tfmdl.experiments import two_part as two_part_experiment
from tfmdl.keras_compat import keras3

TRAIN = training.TrainConfig(max_epochs=2, batch_size=32, verbose=0)
CONFIG = two_part.TwoPartConfig(train=TRAIN)
# mlp with one hidden layer of 16 on 8x8 digits: 64*16 + 16 + 16*10 + 10.
NUM_PARAMS = 1210


def model_fn(seed):
  return models.build("mlp", (8, 8, 1), 10, seed=seed, hidden_sizes=(16,))


def predictions(model, x):
  return training.predict_log_probs(model, x)


def test_float32_model_part_is_32_bits_per_parameter(digits):
  result = two_part.float32_code(model_fn, digits.x_train, digits.y_train, 10,
                                 config=CONFIG, x_test=digits.x_test,
                                 y_test=digits.y_test)
  assert result.num_params == NUM_PARAMS == model_fn(0).count_params()
  assert result.best.model_bits == 32 * NUM_PARAMS
  assert len(result.payload) * 8 == 32 * NUM_PARAMS
  # Bob decodes the payload into the agreed architecture: same data bits.
  bob = model_fn(0)
  bob.set_weights(two_part.decode_float32_payload(
      result.payload, [w.shape for w in bob.weights]))
  bits, accuracy = two_part.evaluate(bob, digits.x_train, digits.y_train)
  assert bits == pytest.approx(result.best.data_bits, rel=1e-9)
  assert accuracy == result.best.train_accuracy
  assert result.codelength_bits == 32 * NUM_PARAMS + result.best.data_bits
  assert result.compression_ratio == pytest.approx(
      result.codelength_bits / (200 * math.log2(10)))
  # Test accuracy is the sent model's, the one Bob decodes.
  assert result.test_accuracy == two_part.evaluate(bob, digits.x_test,
                                                   digits.y_test)[1]


def test_quantised_model_survives_the_bitstream(digits):
  model = model_fn(3)
  training.train(model, digits.x_train, digits.y_train,
                 val_x=digits.x_train[:0], val_y=digits.y_train[:0],
                 config=TRAIN)
  for bits in (2, 5):
    quantized = [parameter_coding.quantize_tensor(w, bits)
                 for w in model.get_weights()]
    alice = model_fn(0)
    alice.set_weights([q.values() for q in quantized])
    bob = model_fn(1)
    bob.set_weights(parameter_coding.decode_tensors(
        two_part.compress_weights(model.get_weights(), bits)))
    for a, b in zip(alice.get_weights(), bob.get_weights()):
      assert a.tobytes() == b.tobytes()
    np.testing.assert_array_equal(predictions(alice, digits.x_test),
                                  predictions(bob, digits.x_test))


def test_compressed_code_pays_its_bytes_and_its_grid(digits):
  compression = two_part.CompressionConfig(bits_grid=(1, 2, 4))
  result = two_part.compressed_code(
      model_fn, digits.x_train, digits.y_train, 10, config=CONFIG,
      compression=compression, x_test=digits.x_test, y_test=digits.y_test)
  assert [c.option["bits"] for c in result.candidates] == [1, 2, 4]
  for c in result.candidates:
    assert c.model_bits == 8 * c.details["bitstream_bytes"]
    assert c.selection_bits == math.log2(3)
    assert c.codelength_bits == c.model_bits + c.data_bits + math.log2(3)
    assert c.details["max_levels"] <= 2**c.option["bits"]
  assert result.best.model_bits == 8 * len(result.payload)
  assert result.codelength_bits == min(c.codelength_bits
                                       for c in result.candidates)
  bob = model_fn(5)
  bob.set_weights(parameter_coding.decode_tensors(result.payload))
  bits, _ = two_part.evaluate(bob, digits.x_train, digits.y_train)
  assert bits == pytest.approx(result.best.data_bits, rel=1e-9)
  with pytest.raises(ValueError, match="corrupted"):
    parameter_coding.decode_tensors(result.payload[:-5] + b"\0" * 5)


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_subspace_at_zero_is_the_initial_model(digits, kind):
  model, reference = model_fn(7), model_fn(7)
  projection = subspace_lib.make_projection(NUM_PARAMS, 9, seed=0, kind=kind,
                                            nonzeros_per_row=3)
  space = subspace_lib.AffineSubspace(model, projection)
  space.assign(np.ones(9, np.float32))
  assert not np.array_equal(predictions(model, digits.x_test),
                            predictions(reference, digits.x_test))
  space.assign(np.zeros(9, np.float32))
  for a, b in zip(model.get_weights(), reference.get_weights()):
    assert a.tobytes() == b.tobytes()
  np.testing.assert_array_equal(predictions(model, digits.x_test),
                                predictions(reference, digits.x_test))


def test_agreed_model_rebuilds_an_unseeded_user_model():
  def unseeded(seed):
    del seed  # a user model that ignores it
    return keras3.Sequential([keras3.Input((8, 8, 1)),
                              keras3.layers.Flatten(),
                              keras3.layers.Dense(4)])
  alice = two_part.agreed_model(unseeded, 3).get_weights()
  bob = two_part.agreed_model(unseeded, 3).get_weights()
  other = two_part.agreed_model(unseeded, 4).get_weights()
  assert all(np.array_equal(a, b) for a, b in zip(alice, bob))
  assert not np.array_equal(alice[0], other[0])


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_projection_is_unit_columns_and_transpose_is_adjoint(kind):
  projection = subspace_lib.make_projection(500, 6, seed=1, kind=kind,
                                            nonzeros_per_row=2)
  columns = np.stack([projection(tf.one_hot(j, 6)).numpy() for j in range(6)])
  np.testing.assert_allclose(np.linalg.norm(columns, axis=1), 1.0, rtol=1e-5)
  rng = np.random.default_rng(0)
  z = rng.normal(size=6).astype(np.float32)
  g = rng.normal(size=500).astype(np.float32)
  np.testing.assert_allclose(
      np.dot(projection.transpose(tf.constant(g)).numpy(), z),
      np.dot(g, projection(tf.constant(z)).numpy()), rtol=1e-4)
  np.testing.assert_allclose(columns.T @ z, projection(tf.constant(z)).numpy(),
                             rtol=1e-5, atol=1e-6)


def test_sparse_projection_with_columns_no_row_drew():
  projection = subspace_lib.SparseProjection(3, 50, seed=0,
                                             nonzeros_per_row=1)
  columns = np.stack([projection(tf.one_hot(j, 50)).numpy()
                      for j in range(50)])
  drawn = np.linalg.norm(columns, axis=1) > 0
  assert 1 <= drawn.sum() <= 3
  np.testing.assert_allclose(np.linalg.norm(columns[drawn], axis=1), 1.0)
  g = np.float32([1.0, -2.0, 0.5])
  np.testing.assert_allclose(projection.transpose(tf.constant(g)).numpy(),
                             columns @ g, atol=1e-6)


def test_subspace_code_totals_by_hand(digits):
  subspace = two_part.SubspaceConfig(
      dims=(3, 7), precisions=(4, 32), learning_rate=TRAIN.learning_rate,
      max_epochs=TRAIN.max_epochs)
  result = two_part.subspace_code(
      model_fn, digits.x_train, digits.y_train, 10, config=CONFIG,
      subspace=subspace, x_test=digits.x_test, y_test=digits.y_test)
  # p = 4: float32 min and max (64 bits) + 4 bits each, padded to bytes;
  # p = 32: raw float32. No BatchNorm, so no side weights.
  expected = {(3, 4): 8 * (8 + 2), (3, 32): 96, (7, 4): 8 * (8 + 4),
              (7, 32): 224}
  assert {(c.option["dim"], c.option["precision"]): c.model_bits
          for c in result.candidates} == expected
  for c in result.candidates:
    assert c.selection_bits == 2.0  # log2 |d grid| + log2 |p grid|
    assert c.codelength_bits == c.model_bits + c.data_bits + 2.0
  best = result.best
  assert best.model_bits == 8 * len(result.payload)
  assert result.num_params == NUM_PARAMS
  # Bob: the agreed theta0 and P, then z decoded from the payload.
  bob = model_fn(CONFIG.seed)
  space = subspace_lib.AffineSubspace(bob, subspace_lib.make_projection(
      NUM_PARAMS, best.option["dim"], seed=subspace.projection_seed))
  space.assign(parameter_coding.decode_vector(
      result.payload, best.option["dim"], best.option["precision"]))
  bits, _ = two_part.evaluate(bob, digits.x_train, digits.y_train)
  assert bits == pytest.approx(best.data_bits, rel=1e-9)
  assert best.test_accuracy is not None


@pytest.mark.slow  # 5 CPU-seconds
def test_random_labels_cost_at_least_uniform_with_subspace():
  ds = data.load("digits", num_train=300, random_labels=True,
                 random_labels_seed=0)
  subspace = two_part.SubspaceConfig(dims=(5, 60), precisions=(4, 8, 32),
                                     learning_rate=0.05, max_epochs=5)
  result = two_part.subspace_code(
      model_fn, ds.x_train, ds.y_train, 10,
      config=two_part.TwoPartConfig(
          val_fraction=0.0, train=training.TrainConfig(batch_size=32)),
      subspace=subspace)
  assert result.codelength_bits >= result.uniform_bits - 10


@pytest.mark.parametrize("make", [
    lambda: two_part.CompressionConfig(bits_grid=(0, 2)),
    lambda: two_part.CompressionConfig(bits_grid=(4, 17)),
    lambda: two_part.CompressionConfig(bits_grid=()),
    lambda: two_part.CompressionConfig(bits_grid=(2, 2)),
    lambda: two_part.CompressionConfig(quantizer="lloyd"),
    lambda: two_part.CompressionConfig(quantizer="uniform",
                                       prune_fraction=0.5),
    lambda: two_part.SubspaceConfig(dims=(0, 10)),
    lambda: two_part.SubspaceConfig(precisions=(0, 8)),
    lambda: two_part.SubspaceConfig(precisions=(8, 33)),
    lambda: two_part.SubspaceConfig(projection="fastfood"),
    lambda: two_part.SubspaceConfig(learning_rate=0.0),
    lambda: two_part.SubspaceConfig(max_epochs=0),
    lambda: two_part.TwoPartConfig(val_fraction=1.0),
    lambda: two_part.check_code("float16"),
    lambda: subspace_lib.make_projection(100, 101, seed=0),
])
def test_bad_options(make):
  with pytest.raises(ValueError):
    make()


def test_dimension_above_parameter_count(digits):
  with pytest.raises(ValueError, match="exceeds"):
    two_part.subspace_code(model_fn, digits.x_train, digits.y_train, 10,
                           subspace=two_part.SubspaceConfig(
                               dims=(10, NUM_PARAMS + 1)))


# --- the experiment (bin/twopart's run) -------------------------------------

TINY_ARGS = ["--config.num_train=120", "--config.num_test=50",
             "--config.train.max_epochs=1", "--config.subspace.max_epochs=1",
             "--config.model_options.dropout=0.0",
             "--config.model_options.hidden_sizes=(8,)",
             "--config.compression.bits_grid=(1,3)",
             "--config.subspace.dims=(4,9)",
             "--config.subspace.precisions=(8,32)"]


def _tiny_config(bin_config, code):
  """``bin/twopart --code=<code> *TINY_ARGS``'s config."""
  config = bin_config("twopart", TINY_ARGS)
  config.code = code  # what --code sets
  return config


@pytest.mark.parametrize("code,steps", [
    ("float32", {0}), ("compressed", {1, 3}),
    pytest.param("subspace", {4, 9}, marks=pytest.mark.slow)])
def test_experiment_end_to_end(tmp_path, bin_config, tb_events, code, steps):
  workdir = str(tmp_path / code)
  result = two_part_experiment.run(_tiny_config(bin_config, code), workdir)
  assert result.code == code
  with open(os.path.join(workdir, "results.json")) as f:
    record = json.load(f)
  assert record["code"] == f"two_part_{code}"
  assert record["n"] == 120 and record["num_classes"] == 10
  parts = record["parts"]
  assert record["codelength_bits"] == pytest.approx(
      parts["model_bits"] + parts["data_bits"] + parts["selection_bits"])
  assert parts["model_bits"] == 8 * record["payload_bytes"]
  payload = np.load(os.path.join(workdir, "payload.npz"))["payload"]
  assert payload.size == record["payload_bytes"]
  tags = {}
  for event in tb_events(os.path.join(workdir, "tb")):
    tags.setdefault(event.tag, set()).add(event.step)
  for tag in ("model_kbits", "data_kbits", "codelength_kbits"):
    assert tags[f"two_part/{tag}"] == steps
  settings, where = two_part_experiment.chosen_settings("digits")
  assert record["settings_chosen_on"] == {
      name: {"value": value, "chosen_on": where}
      for name, value in settings.items()}
  assert record["code_version"] == results.code_version()


@pytest.mark.parametrize("dataset", ["digits", "fashion_mnist"])
def test_settings_are_chosen_on_labels_no_code_sends(dataset, repo):
  """The configs' dropout and subspace learning rate are the committed
  choice of selection/two_part_settings.py on the data set's test split
  (labels no two-part code sends), and every two-part results.json says
  so."""
  selection = results.read_json(os.path.join(
      repo, "selection", f"two_part_settings_{dataset}.json"))
  assert (selection["dataset"], selection["split"]) == (dataset, "test")
  assert selection["config"]["dataset"] == dataset
  grid = selection["grid"]
  assert sorted((t["model_options.dropout"], t["subspace.learning_rate"])
                for t in selection["trials"]) == sorted(itertools.product(
                    grid["model_options.dropout"],
                    grid["subspace.learning_rate"]))
  best = min(selection["trials"], key=lambda t: t["codelength_bits"])
  assert selection["chosen"] == {k: best[k] for k in selection["chosen"]}
  chosen, where = two_part_experiment.chosen_settings(dataset)
  assert selection["chosen"] == chosen
  assert f"the test split of {dataset} (this data set" in where
  for model in ("mlp", "tinycnn"):
    config = two_part_experiment.default_config(dataset, model)
    assert config.model_options.dropout == chosen["model_options.dropout"]
    assert config.subspace.learning_rate == chosen["subspace.learning_rate"]
    assert {w["chosen_on"] for w in two_part_experiment.settings_chosen_on(
        config).values()} == {where}


def test_settings_of_other_data_sets_and_overrides_say_where_they_come_from():
  mnist = two_part_experiment.default_config("mnist", "mlp")
  chosen, where = two_part_experiment.chosen_settings("mnist")
  assert chosen == two_part_experiment.CHOSEN_SETTINGS[
      two_part_experiment.FALLBACK_DATASET]
  assert "(another data set" in where
  assert mnist.subspace.learning_rate == chosen["subspace.learning_rate"]
  lenet = two_part_experiment.default_config("digits", "lenet")
  lenet.subspace.learning_rate = 0.3
  where = two_part_experiment.settings_chosen_on(lenet)
  assert where["model_options.dropout"] == {
      "value": None, "chosen_on": "not in the run's config"}
  assert where["subspace.learning_rate"]["chosen_on"].startswith(
      "set in the run's config")


def test_usage_error_is_one_line_and_exit_2(tmp_path, bin_config, capsys):
  config = _tiny_config(bin_config, "float16")
  with pytest.raises(SystemExit) as exit_info:
    cli.run_or_exit(lambda: two_part_experiment.run(config,
                                                    str(tmp_path / "bad")))
  assert exit_info.value.code == 2
  assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
      "error: unknown two-part code 'float16'")
  assert not os.path.exists(tmp_path / "bad" / "results.json")


@pytest.mark.slow
def test_bin_twopart_smoke(tmp_path, run_bin, repo):
  workdir = str(tmp_path / "subspace")
  proc = run_bin("twopart", [f"--workdir={workdir}", "--code=subspace",
                             *TINY_ARGS], cwd=repo, timeout=180)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "two-part code subspace" in proc.stdout
  with open(os.path.join(workdir, "results.json")) as f:
    record = json.load(f)
  assert record["code"] == "two_part_subspace" and record["n"] == 120
  payload = np.load(os.path.join(workdir, "payload.npz"))["payload"]
  assert payload.size == record["payload_bytes"]


@pytest.mark.slow
def test_bin_twopart_usage_error(tmp_path, run_bin, repo):
  proc = run_bin("twopart", [f"--workdir={tmp_path / 'bad'}",
                             "--code=float16", *TINY_ARGS], cwd=repo,
                 timeout=180)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1].startswith(
      "error: unknown two-part code 'float16'")
  assert not os.path.exists(tmp_path / "bad" / "results.json")
