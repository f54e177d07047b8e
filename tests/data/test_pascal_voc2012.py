"""PASCAL VOC 2012 on the real 60-image subset: lists, labels, TFDS."""
import numpy as np
import pytest
from PIL import Image

import datacopies
from segwgan.data import registry

NAME = "pascal_voc2012"


@pytest.fixture(scope="module")
def source(shared_data):
  return shared_data / NAME


def ids(examples):
  return [e.id for e in examples]


def listed(source, split):
  path = source / datacopies.VOC.relative_to(NAME) / "ImageSets" / \
      "Segmentation" / f"{split}.txt"
  return sorted(path.read_text().split())


@pytest.mark.parametrize("split,count", [("train", 29), ("val", 31),
                                         ("trainval", 60), ("all", 60)])
def test_counts_follow_the_official_lists(source, split, count):
  examples = registry.list_examples(NAME, source, split)
  assert len(examples) == count
  if split != "all":
    assert ids(examples) == listed(source, split)


def test_test_is_the_official_val(source):
  """No labelled VOC test split is public (docs/datasets.md)."""
  assert registry.list_examples(NAME, source, "test") == (
      registry.list_examples(NAME, source, "val"))


@pytest.mark.parametrize("sub", ["VOCdevkit", "VOCdevkit/VOC2012"])
def test_data_dir_may_be_vocdevkit_or_voc2012(source, sub):
  assert registry.list_examples(NAME, source / sub, "val") == (
      registry.list_examples(NAME, source, "val"))


def test_labels_are_palette_indices_with_void(source):
  classes = set()
  for example in registry.list_examples(NAME, source, "all"):
    assert Image.open(example.label_path).mode == "P"
    label = registry.read_label(NAME, example.label_path)
    np.testing.assert_array_equal(label, np.asarray(
        Image.open(example.label_path)))
    classes.update(np.unique(label).tolist())
  assert classes == set(range(21)) | {255}  # All 21 classes occur.


def test_all_includes_labelled_images_in_no_list(shared_data, tmp_path):
  root = datacopies.voc_copy(shared_data, tmp_path, ["2007_000032"],
                             ["2007_000033"], extra=["2007_000042"])
  assert ids(registry.list_examples(NAME, root, "trainval")) == [
      "2007_000032", "2007_000033"]
  assert ids(registry.list_examples(NAME, root, "all")) == [
      "2007_000032", "2007_000033", "2007_000042"]


def test_prepared_pixels_equal_the_files(source, tfds_dir):
  ds = registry.load_raw(NAME, "all", source_dir=source, tfds_dir=tfds_dir)
  assert int(ds.cardinality()) == 60
  got = datacopies.decoded(ds)
  for example in registry.list_examples(NAME, source, "all"):
    image, label = got.pop(example.id)
    np.testing.assert_array_equal(image, np.asarray(
        Image.open(example.image_path).convert("RGB")))
    np.testing.assert_array_equal(label, np.asarray(
        Image.open(example.label_path)))
  assert not got
  for split, count in (("train", 29), ("val", 31), ("trainval", 60)):
    ds = registry.load_raw(NAME, split, source_dir=source, tfds_dir=tfds_dir)
    assert int(ds.cardinality()) == count
    assert sorted(ex["id"].decode() for ex in ds.as_numpy_iterator()) == (
        listed(source, split))
