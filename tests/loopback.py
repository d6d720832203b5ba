"""Local multi-worker clusters for tests: free loopback ports and the
``TF_CONFIG`` of one worker among them."""

import json
import socket


def free_ports(count):
  """``count`` distinct ports free on localhost (bound together, then
  released)."""
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("localhost", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def tf_config(ports, index):
  """The ``TF_CONFIG`` of worker ``index`` of a cluster on ``ports``."""
  return json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                     "task": {"type": "worker", "index": index}})
