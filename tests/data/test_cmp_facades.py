"""CMP Facades on the real base set: layout, labels, seeded split, TFDS."""
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

import datacopies
from segwgan.data import cmp_facades
from segwgan.data import registry
from segwgan.data import splits
from segwgan.data import validate

NAME = "cmp_facades"


@pytest.fixture(scope="module")
def source(shared_data):
  return shared_data / NAME


@pytest.fixture(scope="module")
def small(shared_data, tmp_path_factory):
  """12 base images and 3 renamed into extended/."""
  return datacopies.cmp_copy(shared_data, tmp_path_factory.mktemp("cmp"),
                             base=range(1, 13), extended_from=(20, 21, 22))


def ids(examples):
  return [e.id for e in examples]


def test_counts(source):
  base = registry.list_examples(NAME, source, "base")
  assert len(base) == 378
  assert ids(base) == [f"cmp_b{k:04d}" for k in range(1, 379)]
  assert ids(registry.list_examples(NAME, source, "all")) == ids(base)
  assert base[0].image_path == str(source / "base" / "cmp_b0001.jpg")
  assert base[0].label_path == str(source / "base" / "cmp_b0001.png")
  with pytest.raises(validate.DataError, match="split 'extended' of "
                     "cmp_facades has no images"):
    registry.list_examples(NAME, source, "extended")


def test_labels_are_palette_ids_minus_one(source):
  seen = set()
  for example in registry.list_examples(NAME, source, "all"):
    label = registry.read_label(NAME, example.label_path)
    raw = np.asarray(Image.open(example.label_path))
    np.testing.assert_array_equal(label, raw - 1)
    seen.update(np.unique(label).tolist())
  assert seen == set(range(12))  # Every class, no void in the base set.


def test_unlabelled_index_zero_is_ignored(source, tmp_path):
  label = np.asarray(Image.open(source / "base" / "cmp_b0001.png")).copy()
  label[:5] = 0
  path = tmp_path / "cmp_b0001.png"
  datacopies.save_index_png(label, path, like=source / "base" /
                            "cmp_b0001.png")
  mapped = registry.read_label(NAME, path)
  assert (mapped[:5] == 255).all() and mapped[5:].max() <= 11


def test_seeded_split_is_deterministic_disjoint_and_covering(source):
  train = ids(registry.list_examples(NAME, source, "train"))
  val = ids(registry.list_examples(NAME, source, "val"))
  test = ids(registry.list_examples(NAME, source, "test"))
  assert train == ids(registry.list_examples(NAME, source, "train"))
  assert not (set(train) & set(val) or set(train) & set(test) or
              set(val) & set(test))
  assert sorted(train + val + test) == [f"cmp_b{k:04d}"
                                        for k in range(1, 379)]
  # The counts docs/datasets.md gives for ../shared/data (seed 0).
  assert (len(train), len(val), len(test)) == (221, 85, 72)
  assert val == [i for i in sorted(train + val + test)
                 if splits.side(i, 0, 0.2, 0.2) == "val"]
  no_test = registry.list_examples(NAME, source, "val", test_fraction=0.0)
  assert ids(no_test) == val  # test_fraction leaves val as it was
  assert ids(registry.list_examples(NAME, source, "train",
                                    test_fraction=0.0)) == sorted(train + test)
  other = ids(registry.list_examples(NAME, source, "val", split_seed=1))
  assert other != val
  half = ids(registry.list_examples(NAME, source, "val", val_fraction=0.5))
  assert set(val) <= set(half)  # A larger fraction only adds images.


def test_an_images_side_does_not_depend_on_other_files(source, small):
  full_val = set(ids(registry.list_examples(NAME, source, "val")))
  base = registry.list_examples(NAME, small, "base")
  small_val = ids(registry.list_examples(NAME, small, "val"))
  assert [i for i in ids(base) if i in full_val] == [
      i for i in small_val if i.startswith("cmp_b")]


def test_base_and_extended_splits(small):
  assert len(registry.list_examples(NAME, small, "base")) == 12
  extended = registry.list_examples(NAME, small, "extended")
  assert ids(extended) == ["cmp_x0001", "cmp_x0002", "cmp_x0003"]
  assert extended[0].label_path.endswith("extended/cmp_x0001.png")
  every = ids(registry.list_examples(NAME, small, "all"))
  sides = sum((ids(registry.list_examples(NAME, small, split))
               for split in ("train", "val", "test")), [])
  assert len(every) == 15 and sorted(sides) == every


def test_only_extended(shared_data, tmp_path):
  root = datacopies.cmp_copy(shared_data, tmp_path / "cmp",
                             extended_from=(5, 6))
  assert ids(registry.list_examples(NAME, root, "all")) == [
      "cmp_x0001", "cmp_x0002"]
  with pytest.raises(validate.DataError, match="split 'base'"):
    registry.list_examples(NAME, root, "base")


def test_prepared_pixels_equal_the_files(small, tfds_dir):
  ds = registry.load_raw(NAME, "all", source_dir=small, tfds_dir=tfds_dir)
  assert int(ds.cardinality()) == 15
  got = datacopies.decoded(ds)
  for example in registry.list_examples(NAME, small, "all"):
    image, label = got.pop(example.id)
    np.testing.assert_array_equal(image,
                                  registry.read_image(example.image_path))
    np.testing.assert_array_equal(label,
                                  registry.read_label(NAME, example.label_path))
  assert not got
  val = registry.load_raw(NAME, "val", source_dir=small, tfds_dir=tfds_dir)
  assert sorted(datacopies.decoded(val)) == ids(
      registry.list_examples(NAME, small, "val"))


def test_prepared_images_are_the_original_jpeg_bytes(small, tfds_dir):
  registry.load_raw(NAME, "all", source_dir=small, tfds_dir=tfds_dir)
  prepared, _ = registry.prepare(NAME, source_dir=small, tfds_dir=tfds_dir)
  ds = prepared.as_dataset(split="base_train+base_val",
                           decoders={"image": tfds.decode.SkipDecoding()})
  for ex in ds.take(3).as_numpy_iterator():
    original = (small / "base" / f"{ex['id'].decode()}.jpg").read_bytes()
    assert ex["image"] == original


def test_builder_urls_are_the_official_archives():
  assert cmp_facades.CmpFacades.URLS == {
      "base": "https://cmp.felk.cvut.cz/~tylecr1/facade/CMP_facade_DB_base.zip",
      "extended": "https://cmp.felk.cvut.cz/~tylecr1/facade/"
                  "CMP_facade_DB_extended.zip"}
  assert "CMP_facade_DB_base.zip" in (
      cmp_facades.CmpFacades.MANUAL_DOWNLOAD_INSTRUCTIONS)
