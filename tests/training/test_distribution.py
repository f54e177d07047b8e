"""tf.distribute: two mirrored replicas equal one device; two workers train."""
from concurrent import futures
import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).with_name("distributed_run.py")


def run(mode, shared_data, env=None):
  return subprocess.Popen(
      [sys.executable, str(SCRIPT), mode, str(shared_data)],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env={**os.environ, **(env or {})})


def result(process, timeout=300):
  out, err = process.communicate(timeout=timeout)
  assert process.returncode == 0, err[-3000:]
  line = [l for l in out.splitlines() if l.startswith("RESULT ")][-1]
  return json.loads(line[len("RESULT "):])


def free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def test_mirrored_two_replicas_equal_one_device(shared_data):
  out = result(run("mirrored", shared_data))
  assert out["replicas"] == 2
  assert out["two"] == pytest.approx(out["one"], rel=1e-5)
  assert out["max_weight_diff"] < 1e-5


def two_workers(shared_data):
  """The results of two workers on free loopback ports. A port taken by
  another process between `free_ports` and the worker's bind fails that
  worker's server (and its peer waits): then once more on new ports. No
  worker outlives this."""
  for attempt in (1, 2):
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    processes = [
        run("worker", shared_data, env={"TF_CONFIG": json.dumps({
            "cluster": {"worker": workers},
            "task": {"type": "worker", "index": i}})})
        for i in range(2)]
    with futures.ThreadPoolExecutor(len(processes)) as pool:
      outs = [pool.submit(result, p) for p in processes]
      try:
        for out in futures.as_completed(outs):  # The first failure raises.
          out.result()
        return [out.result() for out in outs]
      except AssertionError as e:
        if attempt == 2 or "Could not start gRPC server" not in str(e):
          raise
      finally:
        for p in processes:
          if p.poll() is None:
            p.kill()


def test_two_workers_on_loopback_complete_steps(shared_data):
  outs = two_workers(shared_data)
  for out in outs:
    assert out["replicas"] == 2
    assert out["steps"] == 3
  assert outs[0]["gloss"] == pytest.approx(outs[1]["gloss"], rel=1e-5)
