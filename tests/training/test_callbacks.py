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


@pytest.mark.parametrize("curve,patience,stops", [
    ([1.0, 0.9, 0.8], 2, False),
    ([1.0, 0.9, 0.895, 0.893], 2, True),  # < 1 % better than 0.9 twice.
    ([1.0, 0.9, 0.895, 0.85], 2, False),
    ([1.0, 1.0, 1.0], 2, True),
    ([1.0, 1.0], 2, False),  # Not enough evaluations yet.
    ([1.0, 1.0, 1.0, 1.0], 0, False)])  # Disabled.
def test_plateau_rule(curve, patience, stops):
  assert callbacks.plateau_reached(curve, patience, 0.01) == stops


def _fit_gan_validation(tmp_path, l1_values, epochs, resumed_at=0):
  model = _Counting()
  model(np.zeros((1, 1), np.float32))
  model.compile()
  model.step.assign(resumed_at)
  seen = []

  def evaluate():
    seen.append(int(model.step.numpy()))
    return {"l1": l1_values[int(model.step.numpy())], "critic_rank": 0.5,
            "separation": 0.0, "images": 3}

  validation = callbacks.GanValidation(
      evaluate, every=1, path=str(tmp_path / "stage1_validation.json"),
      log_dir=str(tmp_path / "validation"), patience=2, min_delta=0.01)
  data = tf.data.Dataset.from_tensors(np.zeros((1, 1), np.float32)).repeat()
  model.fit(data, steps_per_epoch=1, epochs=epochs, initial_epoch=resumed_at,
            verbose=0, callbacks=[validation])
  return seen, json.loads((tmp_path / "stage1_validation.json").read_text())


def test_gan_validation_stops_at_the_plateau_and_resumes_the_curve(tmp_path):
  l1 = {1: 1.0, 2: 0.9, 3: 0.95, 4: 0.899, 5: 0.5, 6: 0.4}
  seen, result = _fit_gan_validation(tmp_path, l1, epochs=3)
  assert seen == [1, 2, 3] and result["stop"]["stop_rule"] == (
      "train_steps reached")
  # Resumed from step 2 (a run killed after validating step 3 but before
  # its checkpoint): step 3 is measured again, then the rule fires at 4.
  seen, result = _fit_gan_validation(tmp_path, l1, epochs=6, resumed_at=2)
  assert seen == [3, 4]
  assert [e["step"] for e in result["curve"]] == [1, 2, 3, 4]
  assert result["stop"] == {"stopped_at": 4, "stop_rule": (
      "validation L1 not below (1 - 0.01) x its best for 2 evaluations")}
  assert set(result["curve"][0]) == {"step", "l1", "critic_rank",
                                     "separation"}
