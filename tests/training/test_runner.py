"""Resume picks the newest readable checkpoint, warning about a bad one."""
import pathlib

import pytest
import tensorflow as tf
from tensorflow.python.data.ops import multi_device_iterator_ops  # pylint: disable=g-direct-tensorflow-import
import tf_keras

from segwgan import errors
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


class _Recording(tf_keras.Model):
  """Records the batch it is fed at each step (the trainers' `step` idiom)."""

  def __init__(self, steps: int):
    super().__init__()
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
    self.seen = tf.Variable(tf.fill([steps], -1.0), trainable=False)

  def train_step(self, batch):
    self.seen.assign(tf.tensor_scatter_nd_update(
        self.seen, [[self.step]], [tf.reduce_sum(batch)]))
    self.step.assign_add(1)
    return {}


def _fed_batches(model_dir, strategy, steps=6):
  with strategy.scope():
    model = _Recording(steps)
    model.compile()

  def dataset_fn(unused_context, start):
    return tf.data.Dataset.range(100).skip(2 * start).map(
        lambda i: tf.cast(i, tf.float32)).batch(2).prefetch(tf.data.AUTOTUNE)

  runner.fit(model, dataset_fn, model_dir=str(model_dir), train_steps=steps,
             checkpoint_interval=3, callbacks=[])
  return model.seen.numpy().tolist()


def test_one_cpu_replica_reads_the_pipeline_directly():
  options = runner.input_options(tf.distribute.MirroredStrategy(["CPU:0"]))
  assert not options.experimental_fetch_to_device
  assert (options.experimental_replication_mode
          == tf.distribute.InputReplicationMode.PER_REPLICA)
  assert runner.input_options(tf.distribute.get_strategy()) is None


def test_one_cpu_replica_is_fed_the_same_batches(tmp_path, monkeypatch):
  strategy = tf.distribute.MirroredStrategy(["CPU:0"])
  per_device = multi_device_iterator_ops.OwnedMultiDeviceIterator
  made = []
  original_init = per_device.__init__

  def counting_init(self, *args, **kwargs):
    made.append(1)
    original_init(self, *args, **kwargs)

  monkeypatch.setattr(per_device, "__init__", counting_init)
  direct = _fed_batches(tmp_path / "direct", strategy)
  assert not made  # `fit` read the pipeline directly.
  monkeypatch.setattr(runner, "input_options", lambda unused_strategy: None)
  prefetched = _fed_batches(tmp_path / "prefetched", strategy)
  assert made  # tf.distribute's default: a per-device prefetch.
  assert direct == prefetched == [4.0 * k + 1 for k in range(6)]


def test_bad_strategy_names_and_tf_config_are_flag_errors(monkeypatch):
  with pytest.raises(errors.FlagError, match="--strategy must be one of"):
    runner.get_strategy("tpu")
  monkeypatch.setenv("TF_CONFIG", "{not json")
  with pytest.raises(errors.FlagError, match="valid TF_CONFIG"):
    runner.get_strategy("multi_worker")
