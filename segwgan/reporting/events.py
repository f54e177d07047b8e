"""Scalars from TensorBoard event files, read without TensorFlow.

An event file is a TFRecord file (8-byte little-endian length, 4-byte CRC,
the record, 4-byte CRC) of `Event` protos; TF2 `tf.summary.scalar` stores
each value as a scalar tensor. A resumed run replays the steps after its last
checkpoint and writes them again (often in a new file): the value written
last (by wall time) wins.
"""
import pathlib
import struct
from typing import Dict, Iterator, List, Tuple

import numpy as np
from tensorboard.compat.proto import event_pb2
from tensorboard.util import tensor_util

Curve = List[Tuple[int, float]]


def records(path) -> Iterator[bytes]:
  """The records of one TFRecord file (a truncated last record is skipped:
  the file of a killed run may end mid-write)."""
  with open(path, "rb") as f:
    while True:
      header = f.read(12)
      if len(header) < 12:
        return
      (length,) = struct.unpack("<Q", header[:8])
      data = f.read(length)
      if len(data) < length or len(f.read(4)) < 4:
        return
      yield data


def _value(value) -> float:
  if value.HasField("tensor"):
    return float(np.asarray(tensor_util.make_ndarray(value.tensor)).ravel()[0])
  return float(value.simple_value)


def read_scalars(log_dir) -> Dict[str, Curve]:
  """{tag: [(step, value), ...] sorted by step} of all event files under
  `log_dir` (searched recursively)."""
  latest: Dict[str, Dict[int, Tuple[float, float]]] = {}
  for path in sorted(pathlib.Path(log_dir).rglob("events.out.tfevents.*")):
    for record in records(path):
      event = event_pb2.Event.FromString(record)
      if not event.HasField("summary"):
        continue
      for value in event.summary.value:
        metadata = value.metadata.plugin_data.plugin_name
        if value.HasField("tensor") and metadata not in ("", "scalars"):
          continue  # images, histograms
        if not value.HasField("tensor") and not value.HasField("simple_value"):
          continue
        steps = latest.setdefault(value.tag, {})
        old = steps.get(event.step)
        if old is None or event.wall_time >= old[0]:
          steps[event.step] = (event.wall_time, _value(value))
  return {tag: sorted((step, v) for step, (_, v) in steps.items())
          for tag, steps in latest.items()}
