"""The resize policy and the size guard for photos, on the converted VOC
DeepLab and a real VOC photo enlarged as a phone camera would take it."""
import dataclasses

import numpy as np
import pytest
from PIL import Image

from segwgan import errors
from segwgan.serving import photo_size
from segwgan.serving import predictor

PHOTO = "pascal_voc2012/VOCdevkit/VOC2012/JPEGImages/2007_000033.jpg"


def test_the_scale_the_model_was_evaluated_at(loaded):
  assert loaded.info.resize_long_side == 0  # Evaluated on VOC's own sizes.
  assert photo_size.long_side(loaded.info) == 500  # VOC's long side.
  resized = dataclasses.replace(loaded.info, resize_long_side=512)
  assert photo_size.long_side(resized) == 512
  assert photo_size.long_side(resized, 0) == 0
  assert photo_size.long_side(loaded.info, 800) == 800


def test_a_large_photo_is_predicted_at_the_models_scale(loaded, shared_data):
  with Image.open(shared_data / PHOTO) as image:
    small = image.convert("RGB")
  large = small.resize((small.width * 4, small.height * 4), Image.BICUBIC)
  model = predictor.Predictor.from_loaded(loaded)
  photo = model.at_long_side(photo_size.long_side(loaded.info))
  labels = photo.predict(np.asarray(large))
  assert labels.shape == (large.height, large.width)  # The photo's size.
  reference = np.asarray(Image.fromarray(
      model.predict(np.asarray(small)).astype(np.uint8)).resize(
          large.size, Image.NEAREST))
  at_full_size = model.predict(np.asarray(large))  # Before the policy.
  agree = np.mean(labels == reference)
  assert agree >= 0.97
  assert agree > np.mean(at_full_size == reference) + 0.02


def test_the_size_guard_says_what_to_do():
  photo_size.check("a.jpg", (4000, 3000, 3), 500)  # 500x375 at the model.
  with pytest.raises(errors.UserError) as refused:
    photo_size.check("a.jpg", (4000, 3000, 3), 0)
  message = str(refused.value)
  for part in ("a.jpg", "4000x3000", "12.0 MP", "--resize_long_side",
               "--max_pixels"):
    assert part in message
  with pytest.raises(errors.UserError, match="1000x750"):
    photo_size.check("a.jpg", (4000, 3000, 3), 1000, max_pixels=500_000)


def test_the_size_guard_counts_the_class_scores_at_full_size():
  """A 12 MP photo for a 150-class (ADE20K) model: small at the model, but
  its scores at full size take 14.4 GB; 21 VOC classes take 2 GB."""
  photo_size.check("a.jpg", (4000, 3000, 3), 683, num_classes=21)
  with pytest.raises(errors.UserError, match="150 class scores") as refused:
    photo_size.check("a.jpg", (4000, 3000, 3), 683, num_classes=150)
  assert "14.4 GB" in str(refused.value) and "a.jpg" in str(refused.value)
