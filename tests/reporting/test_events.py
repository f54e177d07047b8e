"""Scalars read back from real TensorBoard event files."""
import time

import numpy as np
import pytest
import tensorflow as tf

from segwgan.reporting import events


def write(log_dir, scalars, image_step=None):
  writer = tf.summary.create_file_writer(str(log_dir))
  with writer.as_default():
    for step, values in scalars:
      for name, value in values.items():
        tf.summary.scalar(name, value, step=step)
    if image_step is not None:
      tf.summary.image("panel", np.zeros((1, 4, 4, 3), np.uint8),
                       step=image_step)
  writer.flush()
  writer.close()


def test_reads_the_trainers_scalars(tmp_path):
  write(tmp_path / "train", [(s, {"gloss": 100.0 - s, "segloss": 2.0 / s})
                             for s in (20, 40, 60)], image_step=40)
  scalars = events.read_scalars(tmp_path / "train")
  assert events.read_scalars(tmp_path) == {}  # not below the directory
  assert set(scalars) == {"gloss", "segloss"}
  assert scalars["gloss"] == [(20, 80.0), (40, 60.0), (60, 40.0)]
  assert [s for s, _ in scalars["segloss"]] == [20, 40, 60]
  assert scalars["segloss"][2][1] == pytest.approx(2.0 / 60)


def test_a_resumed_run_replaces_replayed_steps(tmp_path):
  """A run killed after step 40 and resumed from its step-20 checkpoint
  logs steps 40.. again in a new file: the later values win."""
  write(tmp_path, [(20, {"segloss": 1.0}), (40, {"segloss": 0.9})])
  time.sleep(1.1)  # Event file names hold the time in seconds.
  write(tmp_path, [(40, {"segloss": 0.5}), (60, {"segloss": 0.4})])
  assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 2
  assert events.read_scalars(tmp_path)["segloss"] == [
      (20, 1.0), (40, 0.5), (60, pytest.approx(0.4))]


def test_a_truncated_file_keeps_its_complete_records(tmp_path):
  write(tmp_path, [(s, {"closs": float(s)}) for s in (1, 2, 3)])
  path = next(tmp_path.glob("events.out.tfevents.*"))
  data = path.read_bytes()
  path.write_bytes(data[:-7])  # the last record cut mid-way
  assert events.read_scalars(tmp_path)["closs"] == [(1, 1.0), (2, 2.0)]


def test_no_events(tmp_path):
  assert events.read_scalars(tmp_path / "missing") == {}
