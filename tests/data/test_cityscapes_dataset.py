"""Cityscapes on the real val images (labelTrainIds) and the mmseg sample
(labelIds, instanceIds, labelTrainIds)."""
import numpy as np
import pytest
from PIL import Image

import datacopies
from segwgan.data import cityscapes
from segwgan import labels
from segwgan.data import registry
from segwgan.data import validate

NAME = "cityscapes"
FRAME = "frankfurt_000000_000294"
# README: labelId -> trainId; every other id -> 255.
TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8,
             22: 9, 23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16,
             32: 17, 33: 18}


@pytest.fixture(scope="module")
def source(shared_data):
  return shared_data / NAME


@pytest.fixture(scope="module")
def sample(shared_data):
  return shared_data / "cityscapes_mmseg_sample"


def test_counts(source):
  val = registry.list_examples(NAME, source, "val")
  assert len(val) == 8
  assert [e.id.split("_")[0] for e in val] == ["frankfurt"] * 4 + [
      "lindau"] + ["munster"] * 3
  assert registry.list_examples(NAME, source, "all") == val
  assert all(e.label_path.endswith("_gtFine_labelTrainIds.png") and
             e.instance_path is None for e in val)
  with pytest.raises(validate.DataError, match="split 'train'"):
    registry.list_examples(NAME, source, "train")


def test_train_ids_are_read_as_they_are(source):
  for example in registry.list_examples(NAME, source, "val"):
    label = registry.read_label(NAME, example.label_path)
    np.testing.assert_array_equal(label, np.asarray(
        Image.open(example.label_path)))
    assert set(np.unique(label)) <= set(range(19)) | {255}


def test_label_ids_are_preferred_and_instances_kept(sample):
  (example,) = registry.list_examples(NAME, sample, "val")
  gt = sample / "gtFine" / "val" / "frankfurt" / FRAME
  assert example.id == FRAME
  assert example.label_path == f"{gt}_gtFine_labelIds.png"
  assert example.instance_path == f"{gt}_gtFine_instanceIds.png"


def test_label_id_table_is_the_official_one():
  table = labels.cityscapes_label_id_to_train_id()
  for label_id in range(256):
    assert table[label_id] == TRAIN_IDS.get(label_id, 255)


def test_mapped_label_ids_match_the_train_ids_file(sample):
  gt = sample / "gtFine" / "val" / "frankfurt" / FRAME
  label_ids = np.asarray(Image.open(f"{gt}_gtFine_labelIds.png"))
  mapped = registry.read_label(NAME, f"{gt}_gtFine_labelIds.png")
  train_ids = registry.read_label(NAME, f"{gt}_gtFine_labelTrainIds.png")
  # mmseg reduced each file to 1/8 on its own: 77 of 32768 pixels, on class
  # boundaries, differ. Every labelId's pixels are mostly its trainId.
  assert np.mean(mapped == train_ids) > 0.997
  for label_id in np.unique(label_ids):
    values, counts = np.unique(train_ids[label_ids == label_id],
                               return_counts=True)
    assert values[counts.argmax()] == TRAIN_IDS.get(int(label_id), 255)
  np.testing.assert_array_equal(
      mapped, labels.cityscapes_label_id_to_train_id()[label_ids])


def test_prepared_pixels_equal_the_files(source, tfds_dir):
  ds = registry.load_raw(NAME, "val", source_dir=source, tfds_dir=tfds_dir)
  assert int(ds.cardinality()) == 8
  got = datacopies.decoded(ds)
  for example in registry.list_examples(NAME, source, "val"):
    image, label = got.pop(example.id)
    assert image.shape == (1024, 2048, 3)
    np.testing.assert_array_equal(image, np.asarray(
        Image.open(example.image_path).convert("RGB")))
    np.testing.assert_array_equal(label, np.asarray(
        Image.open(example.label_path)))
  assert not got


def test_prepared_sample_holds_mapped_label_ids(sample, tfds_dir):
  ds = registry.load_raw(NAME, "val", source_dir=sample, tfds_dir=tfds_dir)
  (image, label), = datacopies.decoded(ds).values()
  (example,) = registry.list_examples(NAME, sample, "val")
  assert image.shape == (128, 256, 3)
  np.testing.assert_array_equal(label,
                                registry.read_label(NAME, example.label_path))


def test_no_download_without_registration(tfds_dir):
  assert not cityscapes.Cityscapes.URLS
  with pytest.raises(validate.DataError,
                     match="cityscapes cannot be downloaded automatically.*"
                     "cityscapes-dataset.com"):
    registry.load_raw(NAME, "val", source_dir=None, tfds_dir=tfds_dir)
