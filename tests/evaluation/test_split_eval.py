"""`evaluate_split` with a checkpoint's predictor: per-image matrices, kept
predictions, and agreement with training's validation."""
import io

import numpy as np
import pytest
import tf_keras

from conftest import cmp_raw_dataset
from segwgan.configs import data as data_config
from segwgan.evaluation import inference
from segwgan.evaluation import metrics
from segwgan.evaluation import per_image
from segwgan.evaluation import split_eval
from segwgan.serving import checkpoints
from segwgan.serving import export
from segwgan.serving import predictor

NUM_CLASSES = 12
LONG_SIDE = 96


def context_model(seed=0):
  tf_keras.utils.set_random_seed(seed)
  inputs = tf_keras.Input((None, None, 3))
  hidden = tf_keras.layers.Conv2D(8, 5, padding="same", activation="relu")(
      inputs)
  return tf_keras.Model(inputs, tf_keras.layers.Conv2D(NUM_CLASSES, 1)(hidden))


@pytest.fixture(scope="module")
def evaluated(shared_data):
  """(training's validation of a model, the serving Predictor's result of
  the same model, the images) on 4 real CMP images."""
  model = context_model()
  config = data_config.DataConfig(resize_long_side=LONG_SIDE)
  raw = cmp_raw_dataset(shared_data, 4)
  validation = split_eval.evaluate_split(
      inference.segmenter_labels(model, config), raw.as_numpy_iterator(),
      NUM_CLASSES)
  info = checkpoints.ModelInfo(
      dataset="cmp_facades", mean=tuple(config.image_feature.mean),
      stddev=tuple(config.image_feature.stddev), resize_long_side=LONG_SIDE)
  model_predict = predictor.Predictor(export.ServingModule(model, info),
                                      info).predict
  result = split_eval.evaluate_split(
      model_predict, raw.as_numpy_iterator(), NUM_CLASSES,
      keep_per_image=True, keep={"cmp_b0002"})
  return validation, result, raw


def test_equals_training_validation(evaluated):
  validation, result, _ = evaluated
  assert result.ids == ["cmp_b0001", "cmp_b0002", "cmp_b0003", "cmp_b0004"]
  np.testing.assert_array_equal(result.matrix, validation.matrix)
  assert result.summary["miou"] == pytest.approx(validation.summary["miou"])


def test_per_image_matrices_add_up(evaluated):
  _, result, raw = evaluated
  matrices = result.per_image
  assert matrices.ids == result.ids
  assert matrices.matrices.shape == (4, NUM_CLASSES, NUM_CLASSES)
  np.testing.assert_array_equal(matrices.total(), result.matrix)
  examples = {e["id"].decode(): e for e in raw.as_numpy_iterator()}
  for image_id, matrix in zip(matrices.ids, matrices.matrices):
    assert matrix.sum() == examples[image_id]["label"].size  # no ignore
  assert list(result.kept) == ["cmp_b0002"]
  prediction = result.kept["cmp_b0002"]
  label = examples["cmp_b0002"]["label"][..., 0]
  assert prediction.shape == label.shape and prediction.dtype == np.int32
  cm = metrics.ConfusionMatrix(NUM_CLASSES)
  cm.update(label, prediction)
  np.testing.assert_array_equal(cm.matrix, matrices.matrices[1])


def test_kept_predictions_without_per_image_matrices(shared_data):
  raw = cmp_raw_dataset(shared_data, 2)
  result = split_eval.evaluate_split(
      lambda image: np.zeros(image.shape[:2], np.int64),
      raw.as_numpy_iterator(), NUM_CLASSES, keep={"cmp_b0002", "absent"})
  assert result.per_image is None
  assert list(result.kept) == ["cmp_b0002"]
  assert result.kept["cmp_b0002"].dtype == np.int32
  assert not result.kept["cmp_b0002"].any()
  assert result.summary["pixel_accuracy"] == pytest.approx(
      result.matrix[0].sum() / result.matrix.sum())
  with pytest.raises(ValueError, match="no images"):
    split_eval.evaluate_split(lambda image: image, iter(()), NUM_CLASSES)


def test_save_load_align_and_subset(evaluated):
  _, result, _ = evaluated
  matrices = result.per_image
  buffer = io.BytesIO()
  matrices.save(buffer)
  buffer.seek(0)
  loaded = per_image.PerImage.load(buffer)
  assert loaded.ids == matrices.ids
  np.testing.assert_array_equal(loaded.matrices, matrices.matrices)
  order = list(reversed(matrices.ids))
  np.testing.assert_array_equal(loaded.aligned(order),
                                matrices.matrices[::-1])
  with pytest.raises(ValueError, match="different images"):
    loaded.aligned(order[:2])
  first_two = per_image.metrics_of(matrices, np.array([0, 1]))
  assert first_two["miou"] == pytest.approx(
      metrics.mean_iou(matrices.matrices[:2].sum(0)))
