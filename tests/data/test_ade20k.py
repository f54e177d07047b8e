"""ADE20K on the real subset (1 training + 62 validation images)."""
import numpy as np
import pytest
from PIL import Image

import datacopies
from segwgan.data import registry

NAME = "ade20k"


@pytest.fixture(scope="module")
def source(shared_data):
  return shared_data / NAME


def ids(examples):
  return [e.id for e in examples]


def test_counts(source):
  assert ids(registry.list_examples(NAME, source, "train")) == [
      "ADE_train_00000001"]
  val = registry.list_examples(NAME, source, "val")
  assert len(val) == 62
  assert ids(val)[:3] == ["ADE_val_00000001", "ADE_val_00000002",
                          "ADE_val_00000018"]
  assert len(registry.list_examples(NAME, source, "all")) == 63
  # No labelled test split is public: test is the official val.
  assert registry.list_examples(NAME, source, "test") == val
  assert registry.list_examples(NAME, source / "ADEChallengeData2016",
                                "val") == val


def test_zero_is_ignored_and_classes_shift_down(source):
  raw_values = set()
  for example in registry.list_examples(NAME, source, "val"):
    raw = np.asarray(Image.open(example.label_path))
    label = registry.read_label(NAME, example.label_path)
    np.testing.assert_array_equal(label[raw == 0], 255)
    np.testing.assert_array_equal(label[raw > 0], raw[raw > 0] - 1)
    raw_values.update(np.unique(raw).tolist())
  assert len(raw_values) == 104 and max(raw_values) <= 150  # README.


def test_prepared_pixels_equal_the_files(source, tfds_dir):
  ds = registry.load_raw(NAME, "all", source_dir=source, tfds_dir=tfds_dir)
  assert int(ds.cardinality()) == 63
  got = datacopies.decoded(ds)
  for example in registry.list_examples(NAME, source, "all"):
    image, label = got.pop(example.id)
    np.testing.assert_array_equal(image, np.asarray(
        Image.open(example.image_path).convert("RGB")))
    np.testing.assert_array_equal(label,
                                  registry.read_label(NAME, example.label_path))
  assert not got
  train = registry.load_raw(NAME, "train", source_dir=source,
                            tfds_dir=tfds_dir)
  assert list(datacopies.decoded(train)) == ["ADE_train_00000001"]
