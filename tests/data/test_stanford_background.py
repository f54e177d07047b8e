"""Stanford Background on the real 453-image subset: labels, split, TFDS."""
import collections

import numpy as np
import pytest
from PIL import Image

import datacopies
from segwgan.data import registry
from segwgan.data import splits
from segwgan.data import stanford_background

NAME = "stanford_background"
PAIRS = (("1000875", "9000875"), ("1001184", "9001184"))


@pytest.fixture(scope="module")
def source(shared_data):
  return shared_data / NAME


def ids(examples):
  return [e.id for e in examples]


def test_counts_and_prefixes(source):
  examples = registry.list_examples(NAME, source, "all")
  assert len(examples) == 453
  assert ids(examples) == sorted(ids(examples))
  prefixes = collections.Counter(i[0] for i in ids(examples))
  assert prefixes == {"0": 60, "1": 29, "2": 15, "3": 32, "4": 3, "5": 37,
                      "6": 225, "8": 10, "9": 42}
  assert examples[0].label_path == str(
      source / "iccv09Data" / "labels" / f"{examples[0].id}.regions.txt")


def test_labels_map_minus_one_to_ignore(source):
  classes = set()
  for example in registry.list_examples(NAME, source, "all"):
    raw = np.loadtxt(example.label_path, dtype=int)
    label = registry.read_label(NAME, example.label_path)
    assert label.shape == Image.open(example.image_path).size[::-1]
    np.testing.assert_array_equal(label, np.where(raw < 0, 255, raw))
    classes.update(np.unique(label).tolist())
  assert classes == set(range(8)) | {255}


def test_near_duplicates_share_a_side_for_every_seed(source):
  for seed in range(25):
    for split in ("val", "test"):
      side = set(ids(registry.list_examples(NAME, source, split,
                                            split_seed=seed)))
      for a, b in PAIRS:
        assert (a in side) == (b in side), (seed, split, a, b)


def test_seeded_split_is_deterministic_disjoint_and_covering(source):
  train = ids(registry.list_examples(NAME, source, "train"))
  val = ids(registry.list_examples(NAME, source, "val"))
  test = ids(registry.list_examples(NAME, source, "test"))
  assert train == ids(registry.list_examples(NAME, source, "train"))
  assert not (set(train) & set(val) or set(train) & set(test) or
              set(val) & set(test))
  assert sorted(train + val + test) == ids(registry.list_examples(
      NAME, source, "all"))
  # The counts docs/datasets.md gives for ../shared/data (seed 0).
  assert (len(train), len(val), len(test)) == (268, 96, 89)
  everything = sorted(train + val + test)
  assert val == [i for i in everything if splits.side(
      stanford_background.group(i), 0, 0.2, 0.2) == "val"]
  assert ids(registry.list_examples(NAME, source, "val", split_seed=3)) != val


def test_test_fraction_takes_from_train_only(source):
  val = ids(registry.list_examples(NAME, source, "val"))
  for fraction in (0.0, 0.4):
    assert ids(registry.list_examples(NAME, source, "val",
                                      test_fraction=fraction)) == val
  train, test = (ids(registry.list_examples(NAME, source, s))
                 for s in ("train", "test"))
  assert ids(registry.list_examples(NAME, source, "train",
                                    test_fraction=0.0)) == sorted(train + test)


def test_side_does_not_depend_on_other_files(source, shared_data, tmp_path):
  full_val = set(ids(registry.list_examples(NAME, source, "val")))
  subset = ids(registry.list_examples(NAME, source, "all"))[::9]
  copy = datacopies.stanford_copy(shared_data, tmp_path / "sbg", subset)
  assert ids(registry.list_examples(NAME, copy, "val")) == [
      i for i in subset if i in full_val]


def test_prepared_pixels_equal_the_files(source, tfds_dir):
  ds = registry.load_raw(NAME, "all", source_dir=source, tfds_dir=tfds_dir)
  assert int(ds.cardinality()) == 453
  got = datacopies.decoded(ds)
  for example in registry.list_examples(NAME, source, "all"):
    image, label = got.pop(example.id)
    np.testing.assert_array_equal(image,
                                  registry.read_image(example.image_path))
    np.testing.assert_array_equal(label,
                                  registry.read_label(NAME, example.label_path))
  assert not got
  for split in ("train", "val"):
    ds = registry.load_raw(NAME, split, source_dir=source, tfds_dir=tfds_dir)
    assert sorted(ex["id"].decode() for ex in ds.as_numpy_iterator()) == ids(
        registry.list_examples(NAME, source, split))
