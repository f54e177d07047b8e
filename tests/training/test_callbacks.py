"""callbacks.Validation: which epochs it evaluates."""
import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from segwgan.training import callbacks


class _Counting(tf_keras.Model):
  """A one-weight model whose `step` counts train steps, as the trainers'."""

  def __init__(self):
    super().__init__()
    self.dense = tf_keras.layers.Dense(1)
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False)

  def call(self, x):
    return self.dense(x)

  def train_step(self, data):
    del data
    self.step.assign_add(1)
    return {}


@pytest.mark.parametrize("epochs,resumed_at,last,validated_steps", [
    (5, 0, True, [2, 4, 5]), (5, 0, False, [2, 4]),
    (4, 0, True, [2, 4]), (4, 0, False, [2]),  # the last epoch on the interval
    (5, 3, True, [4, 5]), (5, 3, False, [4])])  # resumed after epoch 3
def test_validation_epochs(tmp_path, epochs, resumed_at, last,
                           validated_steps):
  model = _Counting()
  model(np.zeros((1, 1), np.float32))
  model.compile()
  model.step.assign(resumed_at)  # One step per epoch, as restored.
  seen = []

  def evaluate():
    seen.append(int(model.step.numpy()))
    return {"miou": 0.1 * len(seen), "pixel_accuracy": 0.5,
            "class_accuracy": 0.5}

  manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model),
                                       str(tmp_path / "best"), max_to_keep=1)
  validation = callbacks.Validation(
      evaluate, every=2, best_manager=manager,
      best_json=str(tmp_path / "best.json"), last=last)
  data = tf.data.Dataset.from_tensors(np.zeros((1, 1), np.float32)).repeat()
  model.fit(data, steps_per_epoch=1, epochs=epochs, initial_epoch=resumed_at,
            verbose=0, callbacks=[validation])
  assert seen == validated_steps
  assert json.loads((tmp_path / "best.json").read_text())["step"] == seen[-1]
