"""The variational code: exact KL, units, grid cost, honesty, API; its
experiment (bin/variational's run) in process; bin/variational's smoke test."""

import glob
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfmdl import data
from tfmdl import models
from tfmdl.models import adapter
from tfmdl.models import flipout
from tfmdl import training
from tfmdl.codes import variational
from tfmdl.experiments import cli
from tfmdl.experiments import variational as experiment
from tfmdl.keras_compat import keras3
from tfmdl.keras_compat import tf_keras
from tfmdl.models.layers import LayerFactory

EPS32 = float(np.finfo(np.float32).eps)  # TFP's scale = eps + softplus(rho)


@pytest.fixture(autouse=True)
def _fresh_session():
  tf_keras.backend.clear_session()
  yield
  tf_keras.backend.clear_session()


def _softplus(x):
  return np.log1p(np.exp(np.asarray(x, np.float64)))


def _softplus_inverse(y):
  return np.log(np.expm1(np.asarray(y, np.float64)))


def _normal_kl(loc, rho, prior_stddev):
  """sum KL(N(loc, s^2) || N(0, p^2)) with s = eps + softplus(rho), float64."""
  scale = EPS32 + _softplus(rho)
  loc = np.asarray(loc, np.float64)
  return float(np.sum(np.log(prior_stddev / scale) +
                      (scale**2 + loc**2) / (2 * prior_stddev**2) - 0.5))


def _one_layer_model(prior_stddev=0.1, units=5, inputs=6):
  """A seeded DenseFlipout with Normal posteriors on kernel and bias."""
  factory = LayerFactory(variational=True, seed=3, prior_stddev=prior_stddev)
  model = tf_keras.Sequential([tf_keras.Input((inputs,)),
                               factory.dense(units)])
  return model, model.layers[0]


def _built(build):
  """A builder of Flipout models, ``build(seed, prior)``, as the variational
  code takes it (the zoo's way: the transform the model builds itself)."""
  return adapter.as_model_fn(build, transform=flipout.BUILT)


def _zoo_fn(ds, hidden=(), scale_init=-4.0, **options):
  return _built(lambda seed, prior: models.build(
      "mlp", ds.input_shape, ds.num_classes, variational=True,
      prior_stddev=prior, seed=seed, posterior_scale_init=scale_init,
      hidden_sizes=hidden, dropout=0.0, **options))


def _config(**kwargs):
  train = kwargs.pop("train", {})
  return variational.VariationalConfig(
      train=training.TrainConfig(**dict(dict(batch_size=32, max_epochs=2,
                                             learning_rate=1e-2, verbose=0),
                                        **train)), **kwargs)


# --- KL -------------------------------------------------------------------


def test_kl_is_zero_when_the_posterior_is_the_prior():
  sigma0 = 0.1
  model, layer = _one_layer_model(sigma0)
  for posterior in (layer.kernel_posterior, layer.bias_posterior):
    loc = posterior.distribution.loc
    rho = posterior.distribution.scale.pretransformed_input
    loc.assign(tf.zeros_like(loc))
    rho.assign(tf.fill(rho.shape, float(_softplus_inverse(sigma0))))
  assert abs(variational.kl_nats(model)) < 1e-6
  # The same posterior under a wider prior costs, as the closed form says.
  wider, wider_layer = _one_layer_model(2 * sigma0)
  wider.set_weights(model.get_weights())
  assert variational.kl_nats(wider) == pytest.approx(
      (6 * 5 + 5) * (math.log(2) + 1 / 8 - 0.5), rel=1e-5)


def test_kl_of_a_layer_is_the_closed_form_gaussian_kl():
  model, layer = _one_layer_model(0.3)
  rng = np.random.default_rng(0)
  values = [rng.normal(0, 0.2, w.shape) for w in layer.weights]
  values[1] = rng.normal(-2.0, 0.5, values[1].shape)
  values[3] = rng.normal(-2.0, 0.5, values[3].shape)
  layer.set_weights(values)
  kernel_loc, kernel_rho, bias_loc, bias_rho = layer.get_weights()
  expected = (_normal_kl(kernel_loc, kernel_rho, 0.3) +
              _normal_kl(bias_loc, bias_rho, 0.3))
  assert variational.kl_nats(model) == pytest.approx(expected, rel=1e-5)
  # ... and it is what the layer puts, unscaled, into model.losses.
  model(np.zeros((2, 6), np.float32))
  assert float(tf.add_n(model.losses)) == pytest.approx(expected, rel=1e-5)
  assert variational.num_posterior_scalars(model) == 6 * 5 + 5


def test_weights_outside_a_posterior_cost_32_bits_each():
  factory = LayerFactory(variational=True, seed=1)
  model = tf_keras.Sequential([
      tf_keras.Input((4,)), factory.dense(8),
      tf_keras.layers.BatchNormalization(),
      # TFP's stock layer: a point-mass (Deterministic) bias, sent as float32.
      tfp.layers.DenseFlipout(3)])
  # BatchNorm: gamma, beta, moving mean and variance (8 each); bias: 3.
  assert variational.deterministic_bits(model) == 32 * (4 * 8 + 3)
  assert variational.num_posterior_scalars(model) == (4 * 8 + 8) + 8 * 3
  assert models.variational_layers(model)


# --- the code: units, grid, MC -----------------------------------------------


def test_codelength_is_kl_plus_nll_in_nats_over_ln2_plus_grid_bits():
  # A single Flipout layer with a posterior scale of ~1e-7: sampling is
  # the posterior mean up to float noise, so the NLL can be computed by hand.
  ds = data.load("digits", num_train=64)
  built = {}

  def model_fn(seed, prior):
    built[prior] = _zoo_fn(ds, scale_init=-30.0)(seed, prior)
    return built[prior]

  grid = (0.1, 1.0)
  result = variational.variational_code(
      _built(model_fn), ds.x_train, ds.y_train, ds.num_classes,
      config=_config(prior_stddevs=grid, num_samples=2, epoch_num_samples=0,
                     train=dict(max_epochs=1)))
  x = ds.x_train.reshape(len(ds.x_train), -1).astype(np.float64)
  for point, prior in zip(result.points, grid):
    kernel_loc, kernel_rho, bias_loc, bias_rho = built[prior].get_weights()
    kl = (_normal_kl(kernel_loc, kernel_rho, prior) +
          _normal_kl(bias_loc, bias_rho, prior))
    logits = x @ kernel_loc + bias_loc
    log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    nll = -log_probs[np.arange(len(x)), ds.y_train].sum()
    assert point.codelength_bits == pytest.approx((kl + nll) / math.log(2),
                                                  rel=1e-5)
    assert point.kl_bits == pytest.approx(kl / math.log(2), rel=1e-5)
    assert point.deterministic_bits == 0.0
  best = min(result.points, key=lambda p: p.codelength_bits)
  assert result.best is best
  assert result.grid_bits == 1.0
  assert result.codelength_bits == best.codelength_bits + 1.0
  assert result.codelength_bits == pytest.approx(sum(result.parts().values()))
  assert result.parts()["grid_choice_bits"] == 1.0
  assert result.compression_ratio == pytest.approx(
      result.codelength_bits / (64 * math.log2(10)))


@pytest.mark.slow
def test_monte_carlo_estimate_and_standard_error():
  ds = data.load("digits", num_train=96)
  result = variational.variational_code(
      _zoo_fn(ds, hidden=(16,)), ds.x_train, ds.y_train, ds.num_classes,
      config=_config(prior_stddevs=(0.1,), num_samples=5,
                     epoch_num_samples=0),
      x_test=ds.x_test[:50], y_test=ds.y_test[:50])
  point = result.points[0]
  samples = np.asarray(point.nll_bits_samples)
  assert len(samples) == 5 and len(set(samples)) == 5  # independent passes
  assert point.nll_bits == pytest.approx(samples.mean())
  assert point.nll_bits_stderr == pytest.approx(
      samples.std(ddof=1) / math.sqrt(5))
  assert result.grid_bits == 0.0
  # Accuracies on the 50 test samples: at the posterior means a count of
  # them, sampled a mean of 5 passes' counts.
  assert (50 * point.test_accuracy_mean) == pytest.approx(
      round(50 * point.test_accuracy_mean), abs=1e-9)
  assert (250 * point.test_accuracy_sampled) == pytest.approx(
      round(250 * point.test_accuracy_sampled), abs=1e-9)
  assert variational.standard_error(np.array([3.0])) is None


@pytest.mark.slow
def test_random_labels_cost_at_least_uniform():
  ds = data.load("digits", num_train=300, random_labels=True)
  result = variational.variational_code(
      _zoo_fn(ds, hidden=(32,)), ds.x_train, ds.y_train, ds.num_classes,
      config=_config(prior_stddevs=(0.1, 1.0), num_samples=2,
                     epoch_num_samples=0, train=dict(max_epochs=10)))
  assert result.codelength_bits >= result.uniform_bits - 10
  for point in result.points:
    assert point.codelength_bits >= result.uniform_bits - 10


@pytest.mark.slow
def test_recording_training_curves_does_not_change_the_code():
  ds = data.load("digits", num_train=96)
  seen = []
  runs = [variational.variational_code(
      _zoo_fn(ds, hidden=(16,)), ds.x_train, ds.y_train, ds.num_classes,
      config=_config(prior_stddevs=(0.5,), num_samples=2,
                     epoch_num_samples=k),
      epoch_callback=lambda i, e: seen.append((i, e.epoch)))
          for k in (0, 2)]
  # The same code to the bit: KL, every Monte Carlo pass, the codelength.
  assert runs[0].points[0].kl_bits == runs[1].points[0].kl_bits
  assert (runs[0].points[0].nll_bits_samples ==
          runs[1].points[0].nll_bits_samples)
  assert runs[0].codelength_bits == runs[1].codelength_bits
  assert seen == [(0, 0), (0, 1), (0, 2)]
  history = runs[1].points[0].history
  assert [e.epoch for e in history] == [0, 1, 2]
  assert history[-1].kl_bits == runs[1].points[0].kl_bits
  assert runs[0].points[0].history == ()


# --- test accuracy at the posterior mean -------------------------------------


@pytest.mark.slow  # 6 CPU-seconds
def test_posterior_means_equal_the_deterministic_twin():
  shape = (8, 8, 1)
  model = models.build("lenet", shape, 10, variational=True, seed=2)
  twin = models.build("lenet", shape, 10, variational=False, seed=5)
  flipout = models.variational_layers(model)
  plain = [l for l in twin.layers if l.weights]
  assert len(flipout) == len(plain)
  for f, p in zip(flipout, plain):
    p.set_weights([f.kernel_posterior.distribution.loc.numpy(),
                   f.bias_posterior.distribution.loc.numpy()])
  x = np.random.default_rng(0).random((20,) + shape, dtype=np.float32)
  y = np.arange(20) % 10
  expected = training.predict_log_probs(twin, x)
  with variational.posterior_means(model):
    got = training.predict_log_probs(model, x)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
  assert variational.posterior_mean_accuracy(model, x, y) == np.mean(
      expected.argmax(1) == y)
  # Outside the block the layers sample again.
  sampled = training.predict_log_probs(model, x)
  assert np.abs(sampled - expected).max() > 1e-4


# --- refusals --------------------------------------------------------------


def test_unseeded_tfp_layers_are_refused_and_seeded_ones_accepted():
  def stock(seed, prior):
    del seed, prior
    return tf_keras.Sequential([tf_keras.Input((4,)),
                                tfp.layers.DenseFlipout(3)])

  with pytest.raises(ValueError, match="ignore the seed"):
    variational.check_model_fn(stock, 0, 1.0)

  def seeded(seed, prior):
    return tf_keras.Sequential([tf_keras.Input((4,)), LayerFactory(
        variational=True, seed=seed, prior_stddev=prior).dense(3)])

  variational.check_model_fn(seeded, 0, 1.0)


def test_a_kl_already_divided_by_n_is_refused():
  scaled = tfp.layers.DenseFlipout(
      3, kernel_divergence_fn=lambda q, p, _: tfp.distributions.kl_divergence(
          q, p) / 100.0)
  model = tf_keras.Sequential([tf_keras.Input((4,)), scaled])
  with pytest.raises(ValueError, match="full, unscaled KL"):
    variational.check_model(model, np.zeros((2, 4), np.float32))


def test_models_without_flipout_layers_are_refused():
  x = np.zeros((2, 4), np.float32)
  plain = tf_keras.Sequential([tf_keras.Input((4,)),
                               tf_keras.layers.Dense(3)])
  with pytest.raises(ValueError, match="no DenseFlipout"):
    variational.check_model(plain, x)
  k3 = keras3.Sequential([keras3.Input((4,)), keras3.layers.Dense(3)])
  with pytest.raises(ValueError, match="needs a tf_keras model"):
    variational.check_model(k3, x)


@pytest.mark.parametrize("kwargs, message", [
    (dict(prior_stddevs=()), "must not be empty"),
    (dict(prior_stddevs=(0.1, 0.0)), "> 0"),
    (dict(prior_stddevs=(0.1, 0.1)), "repeats"),
    (dict(num_samples=0), "num_samples"),
    (dict(epoch_num_samples=-1), "epoch_num_samples"),
])
def test_bad_configs_are_refused(kwargs, message):
  with pytest.raises(ValueError, match=message):
    variational.VariationalConfig(**kwargs)


def test_bad_data_is_refused_before_training():
  ds = data.load("digits", num_train=40)
  y = np.array(ds.y_train)
  y[0] = 10
  with pytest.raises(ValueError, match="label"):
    variational.variational_code(_zoo_fn(ds), ds.x_train, y, 10)


# --- the experiment (bin/variational's run) ---------------------------------

TINY_ARGS = ["--config.num_train=100",
             "--config.model_options.hidden_sizes=(16,)",
             "--config.variational.prior_stddevs=(0.1,1.0)",
             "--config.variational.num_samples=2",
             "--config.train.max_epochs=1", "--config.train.verbose=0"]


@pytest.mark.slow
def test_experiment_writes_results_and_tensorboard(tmp_path, bin_config,
                                                    event_tags):
  workdir = str(tmp_path / "run")
  experiment.run(bin_config("variational", TINY_ARGS), workdir)
  with open(os.path.join(workdir, "results.json")) as f:
    record = json.load(f)
  for key in ("format_version", "code", "dataset", "model", "random_labels",
              "n", "num_classes", "codelength_bits", "codelength_kbits",
              "uniform_bits", "compression_ratio", "test_accuracy",
              "test_accuracy_sampled", "test_accuracy_posterior_mean",
              "parts", "nll_bits_stderr", "num_samples", "grid", "seed",
              "data_fingerprint", "config", "versions", "wall_s"):
    assert key in record, key
  assert record["code"] == "variational" and record["n"] == 100
  assert set(record["parts"]) == {"kl_bits", "nll_bits",
                                  "deterministic_weights_bits",
                                  "grid_choice_bits", "setting_bits"}
  assert sum(record["parts"].values()) == pytest.approx(
      record["codelength_bits"])
  # The test's ledger is empty: this first setting on the labels pays 0.
  assert record["parts"]["setting_bits"] == 0.0
  assert record["parts"]["grid_choice_bits"] == 1.0
  assert record["codelength_bits"] == pytest.approx(
      sum(record["parts"].values()))
  assert record["codelength_bits"] == pytest.approx(
      min(p["codelength_bits"] for p in record["grid"]) + 1.0)
  assert [p["prior_stddev"] for p in record["grid"]] == [0.1, 1.0]
  assert record["num_samples"] == 2
  assert len(glob.glob(os.path.join(workdir, "grid", "point_*.json"))) == 2
  for run in ("prior_stddev_0.1", "prior_stddev_1"):
    tags = event_tags(os.path.join(workdir, "tb", run))
    for tag in ("codelength_kbits", "kl_kbits", "nll_kbits",
                "train_accuracy"):
      assert f"variational/{tag}" in tags
  # Rerunning resumes every grid point and gives the same number.
  experiment.run(bin_config("variational", TINY_ARGS), workdir)
  with open(os.path.join(workdir, "results.json")) as f:
    assert json.load(f)["codelength_bits"] == record["codelength_bits"]


def _refusal(capsys, run):
  """``(exit status, stderr)`` of ``run`` under ``cli.run_or_exit``."""
  with pytest.raises(SystemExit) as exit_info:
    cli.run_or_exit(run)
  return exit_info.value.code, capsys.readouterr().err


def test_usage_errors_exit_2_without_results(tmp_path, bin_config, capsys):
  workdir = str(tmp_path / "bad")
  config = bin_config("variational", ["--model=nosuchnet"])
  code, err = _refusal(capsys, lambda: experiment.run(config, workdir))
  assert code == 2
  errors = [l for l in err.splitlines() if l.startswith("error:")]
  assert len(errors) == 1 and "unknown model" in errors[0]
  assert err.strip().splitlines()[-1] == errors[0]
  assert not os.path.exists(os.path.join(workdir, "results.json"))
  config = bin_config("variational",
                      ["--config.variational.prior_stddevs=(0.1,-1.0)"])
  code, err = _refusal(capsys, lambda: experiment.run(config, workdir))
  assert code == 2 and "> 0" in err
  assert not os.path.exists(os.path.join(workdir, "results.json"))


@pytest.mark.slow
def test_bin_variational_smoke(tmp_path, run_bin):
  workdir = str(tmp_path / "run")
  proc = run_bin("variational", [f"--workdir={workdir}"] + TINY_ARGS,
                 cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr[-2000:]
  for words in ("kbits", "KL", "compression ratio", "sampled",
                "posterior mean"):
    assert words in proc.stdout
  with open(os.path.join(workdir, "results.json")) as f:
    assert json.load(f)["code"] == "variational"


@pytest.mark.slow
def test_binary_usage_errors_exit_2_without_results(tmp_path, run_bin):
  workdir = str(tmp_path / "bad")
  proc = run_bin("variational", [f"--workdir={workdir}", "--model=nosuchnet"],
                 cwd=tmp_path)
  assert proc.returncode == 2
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1 and "unknown model" in errors[0]
  assert proc.stderr.strip().splitlines()[-1] == errors[0]
  assert not os.path.exists(os.path.join(workdir, "results.json"))
