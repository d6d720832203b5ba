"""The compressed labels file is mostly payload, and its header no code.

On digits the header (what Bob needs to decode, zlib-compressed) stays under
8 kbits, the payload within the range coder's guarantees of the prequential
codelength (:func:`_within_the_coders_bounds`), and the 96 bits of checks
apart. Nothing in the header depends on the labels: other labels of the same
inputs give the same header; what does depend on them (the labels' checksum,
the payload's CRC) is counted as a check, and the file still decodes bit for
bit. The online learner's file decodes too, Bob predicting one minibatch at
a time from the labels decoded before it, with every lever of the online
code on (replay streams, shifted images, a cosine schedule, an ensemble, a
seed other than 0, read from the header).
"""

import ml_collections
import numpy as np
import pytest

from tfmdl import training
from tfmdl.codes import prequential
from tfmdl.codes.prequential import label_file
from tfmdl.codes.prequential.online import OnlineEnsemble
from tfmdl.bits import label_coding
from tfmdl.experiments import common
from tfmdl.experiments import compress
from tfmdl.experiments import config as config_lib
from tfmdl.experiments import prequential as prequential_experiment


# The learner's float32 log-softmax rows sum to 1 within about 1e-7; the
# quantiser normalises them, the codelength does not: each label's bounds
# are widened by this many bits (generous).
ROW_SUM_BITS = 1e-5


def _within_the_coders_bounds(result: compress.CompressResult) -> None:
  """The payload is the codelength, quantised and range-coded, within the
  exact bounds of tfmdl.bits.label_coding: each label's quantised bits lie
  between -log2(p + (K/T)(1 - p)) and -log2 p - log2(1 - K/T) (T = 2**24),
  and the payload between the quantised bits and 64 bits plus
  -log2(1 - 2**-8) a label more."""
  n, k = result.n, result.num_classes
  assert result.per_sample_bits.shape == (n,)
  assert result.per_sample_bits.sum() == pytest.approx(
      result.codelength_bits, rel=1e-12)
  low, high = label_coding.quantized_bits_bounds(
      result.per_sample_bits, k, row_sum_bits=ROW_SUM_BITS)
  assert low <= result.quantized_bits <= high
  # Both sides are tight: within a thousandth of a bit a label here.
  assert high - low <= 1e-3 * n
  low, high = label_coding.payload_bits_bounds(result.quantized_bits, n)
  assert low <= result.payload_bits <= high
  assert high - low == pytest.approx(64 + n * -np.log2(1 - 2.0**-8))
  assert result.payload_bits % 32 == 0


def _config(random_labels: bool = False):
  config = prequential_experiment.default_config("digits", "mlp")
  config.model_options = ml_collections.ConfigDict({"hidden_sizes": (16,)})
  config.num_train = 300
  config.train.batch_size = 32
  config.train.max_epochs = 3
  config.random_labels = random_labels
  return config


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  """``{random_labels: (config, CompressResult, path)}``."""
  folder = tmp_path_factory.mktemp("compressed_file")
  runs = {}
  for random_labels in (False, True):
    config = _config(random_labels)
    path = str(folder / f"random_{random_labels}.tfmdl")
    runs[random_labels] = (config, compress.compress(config, path), path)
  return runs


def test_the_file_is_the_code_within_the_coders_bounds_and_8_kbits(files):
  for _, result, path in files.values():
    _within_the_coders_bounds(result)
    assert result.header_bits <= 8000
    assert result.checks_bits == 96
    with open(path, "rb") as f:
      assert 8 * len(f.read()) == result.file_bits
  _, result, _ = files[False]
  summary = compress.bits_summary(result)
  assert ("checks 96 (labels checksum and payload CRC: a check, not part of "
          "the code)") in summary


def test_the_header_does_not_depend_on_the_labels(files):
  true_file = label_file.read_file(files[False][2])
  random_file = label_file.read_file(files[True][2])
  assert true_file.header == random_file.header
  assert true_file.header_bits == random_file.header_bits
  assert true_file.labels_checksum != random_file.labels_checksum


@pytest.mark.slow
def test_it_still_decodes_bit_for_bit(files, tmp_path):
  for random_labels, (config, _, path) in files.items():
    out = tmp_path / f"labels_{random_labels}.npy"
    compress.decompress(path, str(out))
    y = common.load_dataset(config).y_train
    decoded = np.load(out)
    assert decoded.dtype == y.dtype
    np.testing.assert_array_equal(decoded, y)


def test_a_header_rebuilds_the_config_that_bob_replays(files):
  config, _, path = files[False]
  header = label_file.read_file(path).header
  rebuilt = compress.decoding_config(header["config"])
  assert compress.decoding_settings(rebuilt) == header["config"]
  assert rebuilt.model_options.to_dict() == {"hidden_sizes": [16]}
  for cls, name in ((training.TrainConfig, "train"),
                    (prequential.BlockConfig, "block"),
                    (prequential.PrequentialConfig, "prequential")):
    assert (config_lib.instance(cls, rebuilt, name) ==
            config_lib.instance(cls, config, name))


def test_an_online_learner_file_decodes_bit_for_bit(tmp_path, monkeypatch):
  """Digits, 300 labels, minibatches of 16, replay 2: Alice runs many
  minibatches per call; Bob decodes minibatch by minibatch, each predicted
  before any of its labels (or a later one) is decoded."""
  config = _config()
  config.learner = "online"
  config.online.update(dict(batch_size=16, replay=2, learning_rate=1e-2,
                            steps_per_call=8))
  calls = []
  predict = OnlineEnsemble.predict

  def spy(self, first, labels, count):
    unit_start = self.units[first][0]
    predictions = predict(self, first, labels, count)
    calls.append((first, len(predictions),
                  bool(np.all(labels[unit_start:] == 0))))
    return predictions

  monkeypatch.setattr(OnlineEnsemble, "predict", spy)
  path = str(tmp_path / "online.tfmdl")
  result = compress.compress(config, path)
  alice, calls[:] = list(calls), []
  out = tmp_path / "labels.npy"
  decoded = compress.decompress(path, str(out))
  bob = list(calls)

  y = common.load_dataset(config).y_train
  labels = np.load(out)
  assert labels.dtype == y.dtype and labels.shape == (300,)
  np.testing.assert_array_equal(labels, y)
  assert (decoded.n, decoded.num_classes) == (300, 10)
  # 19 minibatches (the last of 12): Alice 8 per call, Bob one per call.
  assert [(first, count) for first, count, _ in alice] == [
      (0, 8), (8, 8), (16, 3)]
  assert [(first, count) for first, count, _ in bob] == [
      (t, 1) for t in range(19)]
  assert all(undecoded for _, _, undecoded in bob)
  # The header names the online learner and its section, not the block's.
  header = label_file.read_file(path).header["config"]
  assert header["learner"] == "online"
  assert header["online"]["batch_size"] == 16
  assert header["online"]["replay"] == 2
  assert "steps_per_call" not in header["online"]  # the bits do not need it
  assert not {"block", "train"} & set(header)
  # The payload is the online code's bits, quantised and range-coded.
  assert result.codelength_bits < 0.8 * 300 * np.log2(10)
  _within_the_coders_bounds(result)


# Every lever of the online code that Bob must replay from the header: replay
# streams (their positions are state), images shifted at random (seeded),
# a cosine schedule after a warm-up, dropout, an ensemble of two members,
# and seed 1 (members seeded 1 and 2).
LEVERS = dict(batch_size=16, replay=3, replay_kind="streams",
              augment=True, shift_pixels=1, schedule="cosine", warmup=3,
              ensemble=2, learning_rate=1e-2, steps_per_call=8)


@pytest.fixture(scope="module")
def online_file(tmp_path_factory):
  """``(config, CompressResult, path)``: 400 digits coded online with
  :data:`LEVERS`, seed 1, an MLP of 32 hidden units and dropout 0.25."""
  config = _config()
  config.num_train = 400
  config.seed = 1
  config.model_options.update(dict(hidden_sizes=(32,), dropout=0.25))
  config.learner = "online"
  config.online.update(LEVERS)
  path = str(tmp_path_factory.mktemp("online_file") / "levers.tfmdl")
  return config, compress.compress(config, path), path


def test_bob_decodes_every_lever_of_the_online_code_bit_for_bit(
    online_file, tmp_path):
  config, result, path = online_file
  header = label_file.read_file(path).header
  assert header["code"] == "online"
  assert header["config"]["seed"] == 1
  assert header["config"]["model_options"] == {"hidden_sizes": [32],
                                               "dropout": 0.25}
  saved = {k: v for k, v in LEVERS.items() if k != "steps_per_call"}
  assert {k: header["config"]["online"][k] for k in saved} == saved
  out = tmp_path / "labels.npy"
  decoded = compress.decompress(path, str(out))
  y = common.load_dataset(config).y_train
  labels = np.load(out)
  assert labels.dtype == y.dtype and decoded.n == 400
  np.testing.assert_array_equal(labels, y)
  assert result.codelength_bits < 0.9 * 400 * np.log2(10)  # it learns
  _within_the_coders_bounds(result)


def test_bob_takes_the_seed_from_the_header(online_file, tmp_path):
  """The same file with seed 0 in its header: other members, other draws,
  other probabilities: the labels' checksum refuses them."""
  _, _, path = online_file
  rebuilt = compress.decoding_config(label_file.read_file(path).header[
      "config"])
  assert rebuilt.seed == 1
  other = str(tmp_path / "seed0.tfmdl")
  labels_file = label_file.read_file(path)
  labels_file.header["config"]["seed"] = 0
  label_file.write_file(other, labels_file.header, labels_file.payload,
                        labels_file.labels_checksum)
  out = tmp_path / "labels.npy"
  with pytest.raises(ValueError, match="checksum mismatch"):
    compress.decompress(other, str(out))
  assert not out.exists()
