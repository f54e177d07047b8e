"""The Predictor's TFLite backend on the converted VOC export and real
VOC images: the SavedModel's labels."""
import dataclasses
import shutil

import numpy as np
import pytest
from PIL import Image

from segwgan import errors
from segwgan.evaluation import inference
from segwgan.serving import export
from segwgan.serving import predictor

VOC = "pascal_voc2012/VOCdevkit/VOC2012/JPEGImages"
IMAGES = ("2007_000033", "2007_000042", "2007_000123")


@pytest.fixture(scope="module")
def images(shared_data):
  return [np.asarray(Image.open(shared_data / VOC / f"{i}.jpg").convert("RGB"))
          for i in IMAGES]


def test_same_labels_as_the_saved_model(exported, images):
  saved = predictor.Predictor.from_saved_model(exported)
  lite = predictor.Predictor.from_saved_model(exported, backend="tflite")
  assert lite.class_names == saved.class_names
  assert len({image.shape for image in images}) > 1  # Resized in between.
  for image in images + [images[0]]:
    labels = lite.predict(image)
    assert labels.dtype == np.int32 and labels.shape == image.shape[:2]
    assert np.mean(labels == saved.predict(image)) >= 0.999
    np.testing.assert_allclose(lite.probabilities(image),
                               saved.probabilities(image), atol=1e-4)


def test_what_the_tflite_backend_cannot_do_is_refused(exported, images):
  with pytest.raises(errors.FlagError, match="--backend=tflite"):
    predictor.Predictor.from_saved_model(
        exported, inference.InferenceConfig(flip=True), backend="tflite")
  with pytest.raises(errors.FlagError, match="--backend must be"):
    predictor.Predictor.from_saved_model(exported, backend="tpu")
  lite = predictor.Predictor.from_saved_model(exported, backend="tflite")
  with pytest.raises(errors.FlagError, match="not logits"):
    lite.logits(images[0])
  with pytest.raises(ValueError, match="uint8 RGB"):
    lite.predict(images[0][..., 0])
  # A model.tflite that resizes to its long side itself predicts only there.
  resizing = predictor.Predictor(
      lite.module, dataclasses.replace(lite.info, resize_long_side=300))
  assert resizing.at_long_side(300).long_side == 300
  for other in (0, 500):
    with pytest.raises(errors.FlagError, match="long side 300 itself"):
      resizing.at_long_side(other)


def test_an_export_without_model_tflite_names_it(loaded, tmp_path):
  plain = export.export(loaded, tmp_path / "plain")
  with pytest.raises(errors.ModelError, match="model.tflite not found"):
    predictor.Predictor.from_saved_model(plain, backend="tflite")


def test_a_corrupt_model_tflite_is_a_model_error(exported, tmp_path):
  broken = tmp_path / "broken"
  shutil.copytree(exported, broken)
  (broken / export.TFLITE_FILE).write_bytes(b"\0" * 64)
  with pytest.raises(errors.ModelError, match="model.tflite of a segwgan"):
    predictor.Predictor.from_saved_model(broken, backend="tflite")


def test_one_size_labels_only_model(loaded, images, tmp_path):
  image = images[0][:257, :257]
  fixed = export.export(loaded, tmp_path / "fixed", tflite=True,
                        tflite_size=257, tflite_outputs=["labels"])
  lite = predictor.Predictor.from_saved_model(fixed, backend="tflite")
  saved = predictor.Predictor.from_saved_model(fixed)
  assert np.mean(lite.predict(image) == saved.predict(image)) >= 0.999
  with pytest.raises(errors.ModelError, match="not probabilities"):
    lite.probabilities(image)
  with pytest.raises(errors.UserError, match="257x257 images only"):
    lite.predict(images[1])
