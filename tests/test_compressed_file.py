"""The compressed labels file is mostly payload, and its header no code.

On digits the header (what Bob needs to decode, zlib-compressed) stays under
8 kbits, the payload within 1% + 256 bits of the prequential codelength, and
the 96 bits of checks apart. Nothing in the header depends on the labels:
other labels of the same inputs give the same header; what does depend on
them (the labels' checksum, the payload's CRC) is counted as a check, and
the file still decodes bit for bit.
"""

import numpy as np
import pytest

from tfmdl.codes.prequential import label_file
from tfmdl.experiments import common
from tfmdl.experiments import compress
from tfmdl.experiments import defaults


def _config(random_labels: bool = False):
  config = defaults.base_config("digits", "mlp", hidden_sizes=(16,))
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


def test_the_file_is_the_code_plus_at_most_8_kbits(files):
  _, result, path = files[False]
  assert result.header_bits <= 8000
  assert result.checks_bits == 96
  assert result.payload_bits <= 1.01 * result.codelength_bits + 256
  assert result.file_bits <= 1.01 * result.codelength_bits + 256 + 8000
  with open(path, "rb") as f:
    assert 8 * len(f.read()) == result.file_bits
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
  assert common.train_config(rebuilt) == common.train_config(config)
