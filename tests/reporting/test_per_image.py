"""Per-image confusion matrices add up to the streaming evaluation."""
import io

import numpy as np
import pytest
import tf_keras

from conftest import cmp_raw_dataset
from segwgan.configs import data as data_config
from segwgan.data import pipeline
from segwgan.evaluation import inference
from segwgan.evaluation import metrics
from segwgan.evaluation import per_image

NUM_CLASSES = 12


def context_model(seed=0):
  tf_keras.utils.set_random_seed(seed)
  inputs = tf_keras.Input((None, None, 3))
  hidden = tf_keras.layers.Conv2D(8, 5, padding="same", activation="relu")(
      inputs)
  return tf_keras.Model(inputs, tf_keras.layers.Conv2D(NUM_CLASSES, 1)(hidden))


@pytest.fixture(scope="module")
def evaluated(shared_data):
  model = context_model()
  config = data_config.DataConfig(is_training=False, global_batch_size=2,
                                  resize_long_side=96)
  raw = cmp_raw_dataset(shared_data, 4)
  streaming = inference.evaluate(model, pipeline.build(raw, config),
                                 NUM_CLASSES)
  result, kept = per_image.evaluate(model, raw, config, NUM_CLASSES,
                                    keep={"cmp_b0002"})
  return streaming, result, kept, raw


def test_sum_is_the_streaming_matrix(evaluated):
  streaming, result, _, _ = evaluated
  assert result.ids == ["cmp_b0001", "cmp_b0002", "cmp_b0003", "cmp_b0004"]
  assert result.matrices.shape == (4, NUM_CLASSES, NUM_CLASSES)
  np.testing.assert_array_equal(result.total(), streaming.matrix)
  assert per_image.metrics_of(result)["miou"] == pytest.approx(
      metrics.mean_iou(streaming.matrix))


def test_each_matrix_counts_its_image(evaluated):
  _, result, kept, raw = evaluated
  examples = {e["id"].decode(): e for e in raw.as_numpy_iterator()}
  for image_id, matrix in zip(result.ids, result.matrices):
    assert matrix.sum() == examples[image_id]["label"].size  # no ignore
  prediction = kept["cmp_b0002"]
  label = examples["cmp_b0002"]["label"][..., 0]
  assert prediction.shape == label.shape
  cm = metrics.ConfusionMatrix(NUM_CLASSES)
  cm.update(label, prediction)
  np.testing.assert_array_equal(cm.matrix, result.matrices[1])


def test_save_load_align_and_subset(evaluated, shared_data):
  _, result, _, _ = evaluated
  buffer = io.BytesIO()
  result.save(buffer)
  buffer.seek(0)
  loaded = per_image.PerImage.load(buffer)
  assert loaded.ids == result.ids
  np.testing.assert_array_equal(loaded.matrices, result.matrices)
  order = list(reversed(result.ids))
  np.testing.assert_array_equal(loaded.aligned(order),
                                result.matrices[::-1])
  with pytest.raises(ValueError, match="different images"):
    loaded.aligned(order[:2])
  first_two = per_image.metrics_of(result, np.array([0, 1]))
  assert first_two["miou"] == pytest.approx(
      metrics.mean_iou(result.matrices[:2].sum(0)))
  config = data_config.DataConfig(is_training=False, resize_long_side=96)
  short, _ = per_image.evaluate(context_model(), cmp_raw_dataset(
      shared_data, 4), config, NUM_CLASSES, max_images=2)
  assert short.ids == result.ids[:2]
