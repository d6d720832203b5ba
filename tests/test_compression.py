"""Lossless label compression: exact round trip, size, refusals, in process
through the experiment (bin/compress and bin/decompress's work); one smoke
test runs the two binaries."""

import math
import os
import re
import struct

import numpy as np
import pytest
import tensorflow as tf

from tfmdl.data import labelled

from tfmdl.codes.prequential import label_file
from tfmdl.codes import prequential
from tfmdl.codes.prequential import code as prequential_code
from tfmdl.bits import label_coding
from tfmdl.experiments import common
from tfmdl.experiments import compress
from tfmdl.experiments import config as config_lib
from tfmdl.experiments import prequential as prequential_experiment

TINY = ["--config.model_options.hidden_sizes=(16,)",
        "--config.train.max_epochs=2", "--config.train.verbose=0"]


@pytest.fixture(scope="module")
def tiny_config(bin_config):
  """``() -> ConfigDict``: bin/compress's config with ``TINY`` overrides:
  configs/prequential_digits.py:mlp, 200 samples."""
  return lambda: bin_config("prequential", ["--config.num_train=200"] + TINY)


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_config):
  folder = tmp_path_factory.mktemp("compression")
  config = tiny_config()
  path = str(folder / "labels.tfmdl")
  result = compress.compress(config, path)
  out = str(folder / "labels.npy")
  decoded = compress.decompress(path, out)
  return config, result, decoded, path, out


def _rewrite(path, new_path, edit):
  labels_file = label_file.read_file(path)
  edit(labels_file.header)
  label_file.write_file(new_path, labels_file.header, labels_file.payload,
                         labels_file.labels_checksum)


def test_round_trip_is_bit_exact(run):
  config, result, decoded, _, out = run
  y = common.load_dataset(config).y_train
  labels = np.load(out)
  assert labels.dtype == y.dtype and labels.shape == (200,)
  np.testing.assert_array_equal(labels, y)
  assert (decoded.n, decoded.num_classes) == (200, 10)
  assert decoded.environment_diffs == ()
  assert result.n == 200 and result.num_classes == 10


@pytest.mark.slow
def test_payload_size_matches_the_prequential_codelength(run):
  config, result, _, path, _ = run
  dataset = common.load_dataset(config)
  reference = prequential.prequential_code(
      common.model_fn(config, dataset), dataset.x_train, dataset.y_train,
      dataset.num_classes,
      config=config_lib.instance(prequential.PrequentialConfig, config,
                                 "prequential"),
      learner=prequential_experiment.learner_config(config))
  assert reference.learner == "block"
  # The same training, replayed: the same float codelength.
  assert result.codelength_bits == pytest.approx(reference.codelength_bits,
                                                 rel=1e-9)
  # Quantised masses give q_y >= p_y (T - K) / T (tfmdl.bits.label_coding),
  # so quantising costs at most n log2(T / (T - K)) bits (0.0002 here); the
  # range coder adds its termination and rounds up to 32-bit words.
  quantization = 200 * math.log2(label_coding.TOTAL /
                                 (label_coding.TOTAL - 10))
  assert result.quantization_bits <= quantization + 1e-6
  assert result.coder_bits <= 64
  assert abs(result.payload_bits - reference.codelength_bits) <= (
      64 + quantization + 1e-6)
  assert result.payload_bits % 32 == 0
  assert result.file_bits == 8 * os.path.getsize(path)
  assert result.file_bits == (result.header_bits + result.payload_bits +
                              result.checks_bits)


def test_summary_states_the_file_parts_and_the_codelength(run):
  """What bin/compress prints."""
  _, result, _, path, _ = run
  labels_file = label_file.read_file(path)
  summary = compress.bits_summary(result)
  assert (f"header {labels_file.header_bits} (decoding settings, no labels) "
          f"+ payload {labels_file.payload_bits} (the code) + checks "
          f"{labels_file.checks_bits}") in summary
  assert (f"prequential codelength {result.codelength_bits:.1f} bits"
          in summary)


def test_header_records_what_bob_needs(run):
  config, result, _, path, _ = run
  dataset = common.load_dataset(config)
  with open(path, "rb") as f:
    assert f.read(8) == label_file.MAGIC
  labels_file = label_file.read_file(path)
  header = labels_file.header
  assert set(header) == {"code", "config", "inputs_fingerprint",
                         "environment", "replicas"}
  assert header["replicas"] == 1  # the default strategy's one replica
  assert header["config"] == compress.decoding_settings(config)
  # The block learner's sections, not the online learner's.
  assert {"prequential", "block", "train"} <= set(header["config"])
  assert "online" not in header["config"]
  assert header["inputs_fingerprint"] == labelled.inputs_fingerprint(
      dataset.x_train)
  assert labels_file.labels_checksum == label_file.labels_checksum(
      dataset.y_train)
  assert labels_file.payload_bits == result.payload_bits
  for key in ("tensorflow", "numpy", "constriction", "physical_devices",
              "cpu", "gpus"):
    assert key in header["environment"]


def test_corrupted_payload_is_refused_and_nothing_written(run, tmp_path):
  _, _, _, path, _ = run
  with open(path, "rb") as f:
    blob = bytearray(f.read())
  blob[-13] ^= 0x40  # the payload's last byte, before the 12 bytes of checks
  bad = tmp_path / "corrupt.tfmdl"
  bad.write_bytes(bytes(blob))
  out = tmp_path / "out.npy"
  with pytest.raises(ValueError, match="corrupt"):
    compress.decompress(str(bad), str(out))
  assert not out.exists()


@pytest.mark.parametrize("keep, message", [
    (-3, "truncated or corrupt: the payload's CRC-32"),
    (40, "truncated \\(inside the header\\)"),
    (5, "bad magic"),
])
def test_truncated_file_is_refused(run, tmp_path, keep, message):
  _, _, _, path, _ = run
  with open(path, "rb") as f:
    blob = f.read()
  bad = tmp_path / "short.tfmdl"
  bad.write_bytes(blob[:keep])
  out = tmp_path / "out.npy"
  with pytest.raises(ValueError, match=message):
    compress.decompress(str(bad), str(out))
  assert not out.exists()


def test_other_format_version_is_refused(run, tmp_path):
  _, _, _, path, _ = run
  with open(path, "rb") as f:
    blob = bytearray(f.read())
  struct.pack_into("<I", blob, 8, 99)
  bad = tmp_path / "v99.tfmdl"
  bad.write_bytes(bytes(blob))
  with pytest.raises(ValueError, match="format version 99"):
    label_file.read_file(str(bad))


def test_other_inputs_are_refused(run, tmp_path):
  _, _, _, path, _ = run
  bad = str(tmp_path / "seed1.tfmdl")
  _rewrite(path, bad, lambda h: h["config"].update(data_seed=1))
  out = tmp_path / "out.npy"
  with pytest.raises(ValueError, match="inputs differ"):
    compress.decompress(bad, str(out))
  assert not out.exists()


@pytest.mark.slow
def test_another_environment_is_refused_unless_forced(run, tmp_path):
  config, _, _, path, _ = run
  bad = str(tmp_path / "env.tfmdl")
  _rewrite(path, bad,
           lambda h: h["environment"].update(tensorflow="0.0.0"))
  out = tmp_path / "out.npy"
  with pytest.raises(ValueError, match="tensorflow: file '0.0.0'"):
    compress.decompress(bad, str(out))
  assert not out.exists()
  forced = compress.decompress(bad, str(out), force=True)
  assert len(forced.environment_diffs) == 1
  np.testing.assert_array_equal(np.load(out),
                                common.load_dataset(config).y_train)


@pytest.mark.slow
def test_a_replay_with_other_floats_fails_the_checksum(run, tmp_path):
  # Another learning rate stands for any difference in the replayed
  # training (library, device, non-deterministic kernel): other models,
  # other probabilities, wrong labels -- caught, and nothing is written.
  _, _, _, path, _ = run
  bad = str(tmp_path / "lr.tfmdl")
  _rewrite(path, bad, lambda h: h["config"]["train"].update(learning_rate=0.1))
  out = tmp_path / "out.npy"
  with pytest.raises(ValueError, match="checksum mismatch"):
    compress.decompress(bad, str(out))
  assert not out.exists()


def _one_line_refusal(call, out) -> str:
  """The message of the ``ValueError`` that ``call()`` raises; it is one
  line and ``out`` was not written."""
  with pytest.raises(ValueError) as refused:
    call()
  assert not out.exists()
  message = str(refused.value)
  assert "\n" not in message
  return message


# A header edited to a hidden layer of 10**8 units: 64 * 10**8 float32
# weights (25.6 GB) in the first layer alone, 5 copies while training.
HUGE = {"hidden_sizes": [10**8]}


def test_a_header_asking_for_more_memory_than_there_is_is_refused(
    run, tmp_path):
  _, _, _, path, _ = run
  bad = str(tmp_path / "huge.tfmdl")
  _rewrite(path, bad, lambda h: h["config"]["model_options"].update(HUGE))
  out = tmp_path / "out.npy"
  message = _one_line_refusal(lambda: compress.decompress(bad, str(out)),
                              out)
  assert re.fullmatch(
      r"model 'mlp' needs at least 119\.2 GiB for 5 copies of its weights "
      r"\(over 6,400,000,\d{3} parameters\); this machine has [\d.]+ \w+ "
      r"of memory: choose a smaller model", message), message


def test_a_bad_flag_asking_for_too_much_memory_is_refused(tmp_path,
                                                          tiny_config):
  config = tiny_config()
  config.model_options.update(HUGE)
  path = tmp_path / "x.tfmdl"
  assert "needs at least 119.2 GiB" in _one_line_refusal(
      lambda: compress.compress(config, str(path)), path)


def test_running_out_of_device_memory_is_one_line(run, tmp_path,
                                                  monkeypatch):
  """A GPU's memory is not checked before building: TensorFlow's
  ResourceExhaustedError, wherever it comes from, ends in one line."""
  _, _, _, path, _ = run

  def exhausted(*args, **kwargs):
    raise tf.errors.ResourceExhaustedError(
        None, None, "OOM when allocating tensor with shape[64,100000000]\n"
        "Hint: ...")

  monkeypatch.setattr(label_file, "decode_labels", exhausted)
  out = tmp_path / "out.npy"
  assert _one_line_refusal(lambda: compress.decompress(path, str(out)),
                           out) == (
      "out of memory: the model or its batches need more memory than this "
      "device has (OOM when allocating tensor with shape[64,100000000])")


@pytest.mark.parametrize("learner, copies", [
    (prequential.BlockConfig(), 5),
    (prequential.OnlineConfig(), 5),
    (prequential.OnlineConfig(ensemble=3), 15),
    (prequential.OnlineConfig(ensemble=2, ema_decay=0.0), 8),
])
def test_the_copies_of_the_weights_a_learner_holds(learner, copies):
  assert prequential_code.weight_copies(learner) == copies


@pytest.mark.slow
def test_bin_decompress_refuses_a_huge_header_with_exit_2(run, run_bin,
                                                          tmp_path):
  _, _, _, path, _ = run
  bad = str(tmp_path / "huge.tfmdl")
  _rewrite(path, bad, lambda h: h["config"]["model_options"].update(HUGE))
  proc = run_bin("decompress", [bad, f"--out={tmp_path / 'out.npy'}"],
                 cwd=tmp_path)
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error: ")]
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert len(errors) == 1 and "Traceback" not in proc.stderr
  assert errors[0].startswith("error: model 'mlp' needs at least 119.2 GiB")
  assert not (tmp_path / "out.npy").exists()


@pytest.mark.parametrize("field, value, message", [
    ("deterministic", False, "needs config.deterministic=True"),
    ("learner", "bogus", "unknown learner 'bogus'"),
])
def test_compress_refuses_what_bob_cannot_replay(tmp_path, tiny_config, field,
                                                 value, message):
  config = tiny_config()
  config[field] = value
  path = tmp_path / "x.tfmdl"
  with pytest.raises(ValueError, match=message):
    compress.compress(config, str(path))
  assert not path.exists()


@pytest.mark.slow
def test_binaries_smoke(tmp_path, run_bin, tiny_config):
  # Two processes: Bob's replay does not share anything with Alice's.
  packed = str(tmp_path / "labels.tfmdl")
  proc = run_bin("compress", [f"--out={packed}", "--config.num_train=80",
                              "--config.prequential.timesteps=(40,80)"] + TINY,
                 cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr[-2000:]
  labels_file = label_file.read_file(packed)
  assert (f"header {labels_file.header_bits} (decoding settings, no labels) "
          f"+ payload {labels_file.payload_bits} (the code) + checks "
          f"{labels_file.checks_bits}") in proc.stdout
  assert "prequential codelength" in proc.stdout
  out = str(tmp_path / "labels.npy")
  proc = run_bin("decompress", [packed, f"--out={out}"], cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "checksum ok" in proc.stdout
  y = common.load_dataset(tiny_config()).y_train[:80]
  np.testing.assert_array_equal(np.load(out), y)
