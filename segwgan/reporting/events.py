"""Scalars from a TensorBoard log directory, read by TensorBoard's loader.

A resumed run replays the steps after its last checkpoint and writes them
again in a newer file (the loader reads files in name order, i.e. by
creation time): the value read last wins. The file of a killed run may end
mid-record: its complete records are read.
"""
import pathlib
from typing import Dict, List, Tuple

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

Curve = List[Tuple[int, float]]


def read_scalars(log_dir) -> Dict[str, Curve]:
  """{tag: [(step, value), ...]} of the scalars in `log_dir`'s event files
  (that directory only, not below it; {} if it does not exist)."""
  if not pathlib.Path(log_dir).is_dir():
    return {}
  events = event_accumulator.EventAccumulator(
      str(log_dir), size_guidance={event_accumulator.TENSORS: 0,
                                   event_accumulator.SCALARS: 0})
  events.Reload()
  curves = {tag: {e.step: e.value for e in events.Scalars(tag)}
            for tag in events.Tags()[event_accumulator.SCALARS]}
  for tag in events.Tags()[event_accumulator.TENSORS]:
    if events.SummaryMetadata(tag).plugin_data.plugin_name == "scalars":
      curves[tag] = {e.step: float(tensor_util.make_ndarray(e.tensor_proto))
                     for e in events.Tensors(tag)}
  return {tag: sorted(steps.items()) for tag, steps in curves.items()}
