"""Without a network, a data set that TFDS would download fails in seconds.

TFDS retries a download for minutes before giving up; :mod:`tfmdl.data`
tries one connection first and names the local alternatives at once. The
network is made unreachable by patching Python's sockets: nothing here
leaves the machine.
"""

import os
import socket
import time
import urllib.request

import pytest

import tfmdl.data
from tfmdl.data import sources
from tfmdl.experiments import prequential


@pytest.fixture
def offline(monkeypatch):
  """No name resolves and no connection opens; no local copy of any data."""
  def no_name(*args, **kwargs):
    del args, kwargs
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

  def no_route(*args, **kwargs):
    del args, kwargs
    raise OSError(101, "Network is unreachable")

  monkeypatch.setattr(socket, "getaddrinfo", no_name)
  monkeypatch.setattr(socket.socket, "connect", no_route)
  monkeypatch.setattr(sources, "LOCAL_SOURCES", {})


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_no_network_is_an_error_within_seconds(name, tmp_path, offline):
  del offline
  began = time.monotonic()
  with pytest.raises(ValueError) as excinfo:
    tfmdl.data.load(name, data_dir=str(tmp_path))
  assert time.monotonic() - began < 30
  message = str(excinfo.value)
  assert "\n" not in message
  assert "no network" in message and "digits" in message


def test_the_error_says_which_files_and_that_data_dir_takes_them(
    tmp_path, offline, monkeypatch):
  del offline
  monkeypatch.setitem(sources.LOCAL_SOURCES, "fashion_mnist",
                      ("/usr/share/datasets/fashion-mnist",))
  monkeypatch.setattr(sources, "read_local", lambda name, data_dir: None)
  with pytest.raises(ValueError) as excinfo:
    tfmdl.data.load("fashion_mnist", data_dir=str(tmp_path))
  message = str(excinfo.value)
  for part in sources.IDX_FILES + (f"--data_dir {tmp_path}",
                                   "dataset-fashion-mnist"):
    assert part in message


def test_a_run_refuses_before_its_workdir_exists(tmp_path, offline):
  del offline
  config = prequential.default_config("mnist", "mlp")
  config.data_dir = str(tmp_path / "data")
  workdir = tmp_path / "run"
  began = time.monotonic()
  with pytest.raises(ValueError, match="no network"):
    prequential.run(config, str(workdir))
  assert time.monotonic() - began < 30
  assert not os.path.exists(workdir)


def test_a_reachable_host_passes_the_probe(monkeypatch):
  monkeypatch.setattr(urllib.request, "getproxies", dict)  # no proxy
  with socket.create_server(("127.0.0.1", 0)) as server:
    port = server.getsockname()[1]
    assert sources.unreachable(f"http://127.0.0.1:{port}/mnist.gz") is None
  assert sources.unreachable("ftp://example.org/x") is None
