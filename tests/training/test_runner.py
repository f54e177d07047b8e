"""Resume picks the newest readable checkpoint, warning about a bad one."""
import pathlib

import tensorflow as tf

from segwgan.training import runner


def _saved(tmp_path, values):
  variable = tf.Variable(0.0)
  checkpoint = tf.train.Checkpoint(v=variable)
  manager = tf.train.CheckpointManager(checkpoint, str(tmp_path),
                                       max_to_keep=5)
  for step, value in enumerate(values, 1):
    variable.assign(value)
    manager.save(checkpoint_number=step)
  return variable, checkpoint, manager


def test_newest_checkpoint_is_restored(tmp_path):
  variable, checkpoint, manager = _saved(tmp_path, [1.0, 2.0])
  variable.assign(0.0)
  assert runner.restore_latest(checkpoint, manager).endswith("ckpt-2")
  assert variable.numpy() == 2.0


def test_truncated_latest_checkpoint_falls_back_with_a_warning(tmp_path,
                                                                caplog):
  variable, checkpoint, manager = _saved(tmp_path, [1.0, 2.0])
  data = next(pathlib.Path(tmp_path).glob("ckpt-2.data-*"))
  data.write_bytes(data.read_bytes()[:3])
  variable.assign(0.0)
  with caplog.at_level("WARNING"):
    assert runner.restore_latest(checkpoint, manager).endswith("ckpt-1")
  assert variable.numpy() == 1.0
  assert "ckpt-2" in caplog.text and "unreadable" in caplog.text


def test_garbage_index_falls_back_too(tmp_path):
  variable, checkpoint, manager = _saved(tmp_path, [1.0, 2.0, 3.0])
  (pathlib.Path(tmp_path) / "ckpt-3.index").write_bytes(b"\0garbage")
  variable.assign(0.0)
  assert runner.restore_latest(checkpoint, manager).endswith("ckpt-2")
  assert variable.numpy() == 2.0


def test_no_readable_checkpoint_means_a_fresh_start(tmp_path):
  variable, checkpoint, manager = _saved(tmp_path, [1.0])
  (pathlib.Path(tmp_path) / "ckpt-1.index").write_bytes(b"")
  variable.assign(5.0)
  assert runner.restore_latest(checkpoint, manager) is None
  assert variable.numpy() == 5.0
