"""Whole image, sliding window and multi-scale + flip inference."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from conftest import cmp_raw_dataset
from segwgan.configs import data as data_config
from segwgan.data import pipeline
from segwgan.evaluation import inference

NUM_CLASSES = 12


def pixelwise_model(seed=0):
  """A per-pixel classifier: windows, flips and scale 1 cannot change it."""
  tf_keras.utils.set_random_seed(seed)
  inputs = tf_keras.Input((None, None, 3))
  hidden = tf_keras.layers.Conv2D(16, 1, activation="relu")(inputs)
  return tf_keras.Model(inputs, tf_keras.layers.Conv2D(NUM_CLASSES, 1)(hidden))


def context_model(seed=0):
  """A model with a 7x7 receptive field (windows do change its borders)."""
  tf_keras.utils.set_random_seed(seed)
  inputs = tf_keras.Input((None, None, 3))
  hidden = tf_keras.layers.Conv2D(8, 7, padding="same")(inputs)
  return tf_keras.Model(inputs, tf_keras.layers.Conv2D(NUM_CLASSES, 1)(hidden))


@pytest.fixture(scope="module")
def eval_batches(shared_data):
  config = data_config.DataConfig(is_training=False, global_batch_size=2,
                                  resize_long_side=96)
  return list(pipeline.build(cmp_raw_dataset(shared_data, 4), config))


def test_window_starts_cover_and_end_flush():
  starts = inference.window_starts(100, 32, 1 / 3)
  assert starts[0] == 0 and starts[-1] == 100 - 32
  assert all(b - a <= 32 for a, b in zip(starts, starts[1:]))
  assert inference.window_starts(20, 32, 0.5) == [0]


def test_windows_and_flip_leave_a_pixelwise_model_unchanged(eval_batches):
  model = pixelwise_model()
  image = eval_batches[0][0]["image"][0]
  whole = inference.Predictor(model).logits(image)
  tta = inference.Predictor(model, inference.InferenceConfig(
      flip=True, window=(40, 56), overlap=0.5)).logits(image)
  np.testing.assert_allclose(tta.numpy(), whole.numpy(), atol=1e-5)


def test_sliding_window_differs_only_near_window_borders(eval_batches):
  model = context_model()
  image = tf.image.resize(eval_batches[0][0]["image"][0], (96, 64))
  whole = inference.Predictor(model).logits(image).numpy()
  windows = inference.Predictor(model, inference.InferenceConfig(
      window=(48, 32), overlap=0.0)).logits(image).numpy()
  assert windows.shape == whole.shape
  # Four windows without overlap; pixels at least 3 px (the 7x7 kernel's
  # reach) from every window edge see the same context.
  for y in (0, 48):
    for x in (0, 32):
      np.testing.assert_allclose(windows[y + 3:y + 45, x + 3:x + 29],
                                 whole[y + 3:y + 45, x + 3:x + 29], atol=1e-5)
  assert not np.allclose(windows, whole, atol=1e-5)


def test_multi_scale_averages_the_scaled_predictions(eval_batches):
  model = context_model()
  image = eval_batches[0][0]["image"][0]
  size = tf.shape(image)[:2]
  one = {s: inference.Predictor(model, inference.InferenceConfig(
      scales=(s,))).logits(image).numpy() for s in (0.5, 1.5)}
  both = inference.Predictor(model, inference.InferenceConfig(
      scales=(0.5, 1.5))).logits(image).numpy()
  np.testing.assert_allclose(both, (one[0.5] + one[1.5]) / 2, atol=1e-5)
  assert both.shape[:2] == tuple(size.numpy())


def test_batched_and_per_image_evaluation_agree(eval_batches):
  model = pixelwise_model()
  batched = inference.evaluate(model, eval_batches, NUM_CLASSES)
  per_image = inference.evaluate(model, eval_batches, NUM_CLASSES,
                                 inference.InferenceConfig(flip=True))
  np.testing.assert_array_equal(batched.matrix, per_image.matrix)
  # Every labelled pixel of the original-size labels was counted.
  total = sum(int((b[1]["masks"].numpy() != 255).sum()) for b in eval_batches)
  assert batched.matrix.sum() == total


def test_restore_logits_returns_original_size():
  logits = tf.random.normal([64, 64, 3])
  info = tf.constant([[90.0, 120.0], [48.0, 64.0], [0.53, 0.53], [0.0, 0.0]])
  restored = inference.restore_logits(logits, info)
  assert restored.shape == (90, 120, 3)
