"""The notebook Predictor: same predictions as training's validation."""
import dataclasses

import numpy as np
import pytest
from PIL import Image

from segwgan.configs import data as data_config
from segwgan.evaluation import inference
from segwgan.evaluation import metrics
from segwgan.serving import checkpoints
from segwgan.serving import predictor

VOC = "pascal_voc2012/VOCdevkit/VOC2012"
VAL_IMAGES = ("2007_000033", "2007_000783", "2007_001594")
LONG_SIDE = 321


@pytest.fixture(scope="module")
def examples(shared_data):
  return [(np.asarray(Image.open(shared_data / VOC / "JPEGImages" /
                                 f"{i}.jpg").convert("RGB")),
           np.asarray(Image.open(shared_data / VOC / "SegmentationClass" /
                                 f"{i}.png")))
          for i in VAL_IMAGES]


@pytest.fixture(scope="module")
def loaded(converted_dm05):
  loaded = checkpoints.load(converted_dm05, dataset="pascal_voc2012")
  return checkpoints.Loaded(loaded.segmenter, dataclasses.replace(
      loaded.info, resize_long_side=LONG_SIDE))


def make_predictor(loaded, config=inference.InferenceConfig()):
  return predictor.Predictor.from_loaded(loaded, config)


def test_same_confusion_matrix_as_training_validation(loaded, examples):
  config = data_config.DataConfig(resize_long_side=LONG_SIDE)
  config.image_feature.mean = list(loaded.info.mean)
  config.image_feature.stddev = list(loaded.info.stddev)
  validation = inference.segmenter_labels(loaded.segmenter, config)
  expected = metrics.ConfusionMatrix(21)
  for image, label in examples:
    expected.update(label, validation(image))
  expected = expected.matrix

  model = make_predictor(loaded)
  cm = metrics.ConfusionMatrix(21)
  for image, label in examples:
    cm.update(label, model.predict(image))
  differing = np.abs(cm.matrix - expected).sum() / expected.sum()
  assert differing < 1e-4, differing
  assert abs(metrics.mean_iou(cm.matrix) - metrics.mean_iou(expected)) < 1e-3


def test_outputs_and_test_time_augmentation(loaded, examples):
  image = examples[0][0]
  plain = make_predictor(loaded)
  assert plain.class_names[15] == "person"
  probabilities = plain.probabilities(image)
  assert probabilities.shape == (*image.shape[:2], 21)
  np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
  labels = plain.predict(image)
  assert labels.dtype == np.int32
  np.testing.assert_array_equal(labels, probabilities.argmax(-1))

  tta = make_predictor(loaded, inference.InferenceConfig(
      scales=(0.75, 1.0), flip=True, window=(200, 200)))
  augmented = tta.predict(image)
  assert augmented.shape == labels.shape
  assert 0.8 < np.mean(augmented == labels) < 1.0


def test_rejects_what_is_not_a_uint8_rgb_image(loaded, examples):
  model = make_predictor(loaded)
  for bad in (examples[0][0].astype(np.float32), examples[0][1],
              np.zeros((8, 8, 4), np.uint8)):
    with pytest.raises(ValueError, match="expected a uint8 RGB image"):
      model.predict(bad)
