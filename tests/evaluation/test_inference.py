"""The one inference path: evaluation resize, whole image, sliding window,
multi-scale + flip test-time augmentation, on real CMP images."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from conftest import cmp_raw_dataset
from segwgan.configs import data as data_config
from segwgan.evaluation import inference

NUM_CLASSES = 12
MEAN, STDDEV = (127.5,) * 3, (127.5,) * 3


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


def image_inference(model, config=inference.InferenceConfig(), long_side=0):
  return inference.ImageInference(
      inference.segmenter_logits(model, MEAN, STDDEV), long_side, config)


@pytest.fixture(scope="module")
def image(shared_data):
  """A real CMP photo (uint8), 96 pixels on its long side."""
  photo = next(cmp_raw_dataset(shared_data, 1).as_numpy_iterator())["image"]
  size = np.array(photo.shape[:2]) * 96 // max(photo.shape[:2])
  return tf.cast(tf.round(tf.image.resize(photo, size)), tf.uint8).numpy()


def test_window_starts_cover_and_end_flush():
  starts = inference.window_starts(100, 32, 1 / 3)
  assert starts[0] == 0 and starts[-1] == 100 - 32
  assert all(b - a <= 32 for a, b in zip(starts, starts[1:]))
  assert inference.window_starts(20, 32, 0.5) == [0]


def test_windows_and_flip_leave_a_pixelwise_model_unchanged(image):
  model = pixelwise_model()
  whole = image_inference(model).logits(image)
  tta = image_inference(model, inference.InferenceConfig(
      flip=True, window=(40, 56), overlap=0.5)).logits(image)
  np.testing.assert_allclose(tta.numpy(), whole.numpy(), atol=1e-5)


def test_sliding_window_differs_only_near_window_borders(image):
  model = context_model()
  image = tf.image.resize(image, (96, 64)).numpy()
  whole = image_inference(model).logits(image).numpy()
  windows = image_inference(model, inference.InferenceConfig(
      window=(48, 32), overlap=0.0)).logits(image).numpy()
  assert windows.shape == whole.shape
  # Four windows without overlap; pixels at least 3 px (the 7x7 kernel's
  # reach) from every window edge see the same context.
  for y in (0, 48):
    for x in (0, 32):
      np.testing.assert_allclose(windows[y + 3:y + 45, x + 3:x + 29],
                                 whole[y + 3:y + 45, x + 3:x + 29], atol=1e-5)
  assert not np.allclose(windows, whole, atol=1e-5)


def test_multi_scale_averages_the_scaled_predictions(image):
  model = context_model()
  one = {s: image_inference(model, inference.InferenceConfig(
      scales=(s,))).logits(image).numpy() for s in (0.5, 1.5)}
  both = image_inference(model, inference.InferenceConfig(
      scales=(0.5, 1.5))).logits(image).numpy()
  np.testing.assert_allclose(both, (one[0.5] + one[1.5]) / 2, atol=1e-5)
  assert both.shape[:2] == image.shape[:2]


def test_evaluation_resize_runs_the_model_at_the_long_side(shared_data):
  """Logits come back at the photo's size, computed at long side 64."""
  photo = next(cmp_raw_dataset(shared_data, 1).as_numpy_iterator())["image"]
  model = context_model()
  logits = image_inference(model, long_side=64).logits(photo).numpy()
  assert logits.shape == (*photo.shape[:2], NUM_CLASSES)
  height, width = photo.shape[:2]
  small = (round(height * 64 / max(height, width)),
           round(width * 64 / max(height, width)))
  assert max(small) == 64
  pixels = tf.image.resize(tf.cast(photo, tf.float32), small)
  expected = tf.image.resize(model((pixels[None] - 127.5) / 127.5)[0],
                             photo.shape[:2]).numpy()
  np.testing.assert_allclose(logits, expected, atol=1e-4)


def test_segmenter_labels_use_the_data_config(shared_data):
  photo = next(cmp_raw_dataset(shared_data, 1).as_numpy_iterator())["image"]
  model = context_model()
  data = data_config.DataConfig(resize_long_side=64)
  data.image_feature.mean, data.image_feature.stddev = list(MEAN), list(STDDEV)
  labels = inference.segmenter_labels(model, data)(photo)
  assert labels.shape == photo.shape[:2] and labels.dtype == np.int32
  np.testing.assert_array_equal(
      labels, image_inference(model, long_side=64).labels(photo))
