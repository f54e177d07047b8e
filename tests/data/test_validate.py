"""Bad input: each case is one DataError naming the offending file or flag.

The broken files are made in tmp dirs from real ones.
"""
import pathlib
import shutil

import numpy as np
import pytest
from PIL import Image

import datacopies
from segwgan.data import registry
from segwgan.data import validate

VOC_IDS = (["2007_000032", "2007_000042"], ["2007_000033"])


@pytest.fixture
def cmp(shared_data, tmp_path):
  return datacopies.cmp_copy(shared_data, tmp_path / "cmp", base=(1, 2, 3))


@pytest.fixture
def voc(shared_data, tmp_path):
  return datacopies.voc_copy(shared_data, tmp_path / "voc", *VOC_IDS)


def voc_file(root, folder, image_id, ext) -> pathlib.Path:
  return root / "VOCdevkit" / "VOC2012" / folder / f"{image_id}.{ext}"


def raises(match, fn, *args, **kwargs) -> str:
  with pytest.raises(validate.DataError, match=match) as info:
    fn(*args, **kwargs)
  message = str(info.value)
  assert "\n" not in message
  return message


def nothing_prepared(tfds_dir: pathlib.Path) -> bool:
  return not [p for p in tfds_dir.rglob("*") if p.name == "1.0.0"
              or "incomplete" in p.name]


def prepare_fails(name, root, tmp_path, match) -> str:
  """load_raw refuses the copy at preparation and leaves nothing behind."""
  tfds_dir = tmp_path / "tfds"
  message = raises(match, registry.load_raw, name, "all", source_dir=root,
                   tfds_dir=str(tfds_dir))
  assert nothing_prepared(tfds_dir)
  return message


# Names, splits and settings.

def test_unknown_dataset_lists_the_known_ones(tmp_path):
  for fn, args in ((registry.list_examples, ("facades", tmp_path, "all")),
                   (registry.read_label, ("facades", tmp_path / "x.png"))):
    message = raises("unknown dataset 'facades'", fn, *args)
    assert ("ade20k, cityscapes, cmp_facades, pascal_voc2012, "
            "stanford_background") in message
  raises("unknown dataset", registry.load_raw, "facades", "all",
         source_dir=tmp_path, tfds_dir=str(tmp_path / "tfds"))


def test_unknown_split_lists_the_known_ones(cmp, tmp_path):
  raises(r"unknown split 'testing' of cmp_facades \(--split\); known "
         "splits: base, extended, train, val, test, all",
         registry.list_examples, "cmp_facades", cmp, "testing")
  raises("unknown split 'testing'", registry.load_raw, "cmp_facades",
         "testing", source_dir=cmp, tfds_dir=str(tmp_path / "tfds"))
  assert nothing_prepared(tmp_path / "tfds")


@pytest.mark.parametrize("kwargs,match", [
    (dict(val_fraction=1.5), "val_fraction must be in"),
    (dict(val_fraction=0.0), "val_fraction must be in"),
    (dict(split_seed="a"), "split_seed must be an integer"),
    (dict(test_fraction=-0.1), "test_fraction must be in"),
    (dict(val_fraction=0.5, test_fraction=0.5), "test_fraction must be in")])
def test_bad_split_settings_name_the_flag(cmp, kwargs, match):
  raises(match, registry.list_examples, "cmp_facades", cmp, "val", **kwargs)


# Directories and layouts.

def test_missing_data_dir(tmp_path):
  raises(f"{tmp_path / 'nowhere'} does not exist", registry.list_examples,
         "ade20k", tmp_path / "nowhere", "all")


def test_empty_data_dir(tmp_path):
  (tmp_path / "empty").mkdir()
  raises(f"data_dir {tmp_path / 'empty'} is empty; expected "
         "VOCdevkit/VOC2012/JPEGImages", registry.list_examples,
         "pascal_voc2012", tmp_path / "empty", "all")


@pytest.mark.parametrize("name,expected", [
    ("pascal_voc2012", "expected VOCdevkit/VOC2012/JPEGImages under"),
    ("cmp_facades", "expected base/ and/or extended/"),
    ("ade20k", "expected ADEChallengeData2016/images"),
    ("stanford_background", "expected iccv09Data/images"),
    ("cityscapes", "leftImg8bit does not exist; expected leftImg8bit/")])
def test_wrong_layout_says_what_was_expected(tmp_path, name, expected):
  (tmp_path / "photos").mkdir()
  (tmp_path / "photos" / "a.jpg").write_bytes(b"x")
  message = raises(expected, registry.list_examples, name, tmp_path, "all")
  assert str(tmp_path) in message


def test_empty_image_folder(tmp_path):
  (tmp_path / "base").mkdir()
  raises(f"no .jpg images in {tmp_path / 'base'}", registry.list_examples,
         "cmp_facades", tmp_path, "all")


def test_missing_split_file(voc):
  path = voc / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation" / \
      "val.txt"
  path.unlink()
  raises(f"missing split file: {path}", registry.list_examples,
         "pascal_voc2012", voc, "train")


def test_inconsistent_trainval_file(voc):
  path = voc / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation" / \
      "trainval.txt"
  path.write_text("2007_000032\n")
  raises(f"split file {path} is not the union", registry.list_examples,
         "pascal_voc2012", voc, "all")


def test_missing_labels(cmp, voc, shared_data, tmp_path):
  (cmp / "base" / "cmp_b0002.png").unlink()
  raises(f"missing label of cmp_b0002.jpg: {cmp / 'base' / 'cmp_b0002.png'}",
         registry.list_examples, "cmp_facades", cmp, "all")
  label = voc_file(voc, "SegmentationClass", "2007_000033", "png")
  label.unlink()
  raises(f"missing label of 2007_000033: {label}", registry.list_examples,
         "pascal_voc2012", voc, "val")
  sbg = datacopies.stanford_copy(shared_data, tmp_path / "sbg",
                                 ["0000047", "0000072"])
  regions = sbg / "iccv09Data" / "labels" / "0000072.regions.txt"
  regions.unlink()
  raises(f"missing label of 0000072.jpg: {regions}", registry.list_examples,
         "stanford_background", sbg, "all")
  city = datacopies.tree_copy(shared_data / "cityscapes_mmseg_sample",
                              tmp_path / "city")
  gt = city / "gtFine" / "val" / "frankfurt" / "frankfurt_000000_000294"
  for suffix in ("labelIds", "labelTrainIds"):
    pathlib.Path(f"{gt}_gtFine_{suffix}.png").unlink()
  raises(f"expected {gt}_gtFine_labelIds.png", registry.list_examples,
         "cityscapes", city, "val")


def test_missing_image_listed_in_a_split_file(voc):
  image = voc_file(voc, "JPEGImages", "2007_000042", "jpg")
  image.unlink()
  raises(f"missing image: {image}", registry.list_examples, "pascal_voc2012",
         voc, "train")


# File contents, checked when read and at preparation.

def test_truncated_jpeg(cmp, tmp_path):
  image = cmp / "base" / "cmp_b0002.jpg"
  data = image.read_bytes()
  image.write_bytes(data[:len(data) // 2])
  raises(f"{image} is not a readable image", registry.read_image, image)
  prepare_fails("cmp_facades", cmp, tmp_path, f"{image} is not a readable")


def test_truncated_png_label(voc, tmp_path):
  label = voc_file(voc, "SegmentationClass", "2007_000033", "png")
  data = label.read_bytes()
  label.write_bytes(data[:len(data) * 2 // 3])
  raises(f"{label} is not a readable image", registry.read_label,
         "pascal_voc2012", label)
  prepare_fails("pascal_voc2012", voc, tmp_path, f"{label} is not a readable")


def test_text_file_named_jpg(cmp, tmp_path):
  image = cmp / "base" / "cmp_b0003.jpg"
  image.write_text("not a photo\n")
  raises(f"{image} is not a readable image", registry.read_image, image)
  prepare_fails("cmp_facades", cmp, tmp_path, f"{image} is not a readable")


def test_missing_image_file(tmp_path):
  raises(f"missing image file: {tmp_path / 'a.jpg'}", registry.read_image,
         tmp_path / "a.jpg")


def test_label_size_differs_from_image(cmp, tmp_path):
  label = cmp / "base" / "cmp_b0001.png"
  shutil.copyfile(cmp / "base" / "cmp_b0002.png", label)
  message = prepare_fails("cmp_facades", cmp, tmp_path,
                          f"label {label} is 398x1024 but image")
  assert str(cmp / "base" / "cmp_b0001.jpg") in message


@pytest.mark.parametrize("value", [13, 200])
def test_cmp_label_out_of_range(cmp, tmp_path, value):
  label = cmp / "base" / "cmp_b0003.png"
  values = np.asarray(Image.open(label)).copy()
  values[0, :4] = value
  datacopies.save_index_png(values, label, like=cmp / "base" /
                            "cmp_b0001.png")
  raises(f"label {label} has values outside 1..12: {value}",
         registry.read_label, "cmp_facades", label)
  prepare_fails("cmp_facades", cmp, tmp_path, f"label {label} has values")


def test_cmp_rgb_label(cmp, tmp_path):
  label = cmp / "base" / "cmp_b0002.png"
  Image.open(label).convert("RGB").save(label)
  raises(f"label {label} is an RGB colour image", registry.read_label,
         "cmp_facades", label)
  prepare_fails("cmp_facades", cmp, tmp_path, f"label {label} is an RGB")


def test_voc_label_out_of_range_and_rgb(voc, tmp_path):
  label = voc_file(voc, "SegmentationClass", "2007_000032", "png")
  original = label.read_bytes()
  values = np.asarray(Image.open(label)).copy()
  values[:2, :2] = 21
  datacopies.save_index_png(values, label, like=voc_file(
      voc, "SegmentationClass", "2007_000033", "png"))
  raises(f"label {label} has values outside 0..20 and 255: 21",
         registry.read_label, "pascal_voc2012", label)
  label.write_bytes(original)
  Image.open(label).convert("RGB").save(label)
  raises(f"label {label} is an RGB colour image; expected palette indices",
         registry.read_label, "pascal_voc2012", label)
  prepare_fails("pascal_voc2012", voc, tmp_path, f"label {label} is an RGB")


def test_ade_label_out_of_range(shared_data, tmp_path):
  root = datacopies.ade_copy(shared_data, tmp_path / "ade",
                             ["ADE_val_00000001"])
  label = (root / "ADEChallengeData2016" / "annotations" / "validation" /
           "ADE_val_00000001.png")
  values = np.asarray(Image.open(label)).copy()
  values[0, 0] = 151
  datacopies.save_index_png(values, label)
  raises(f"label {label} has values outside 0..150: 151",
         registry.read_label, "ade20k", label)


def test_stanford_label_out_of_range_or_not_numbers(shared_data, tmp_path):
  root = datacopies.stanford_copy(shared_data, tmp_path / "sbg", ["0000047"])
  regions = root / "iccv09Data" / "labels" / "0000047.regions.txt"
  rows = regions.read_text().splitlines()
  regions.write_text("\n".join(["8" + rows[0][1:]] + rows[1:]) + "\n")
  raises(f"label {regions} has values outside -1..7: 8",
         registry.read_label, "stanford_background", regions)
  regions.write_text("\n".join(["x" + rows[0][1:]] + rows[1:]) + "\n")
  raises(f"label {regions} is not an integer matrix",
         registry.read_label, "stanford_background", regions)
  regions.write_text("\n".join(rows[:-1]) + "\n")
  prepare_fails("stanford_background", root, tmp_path,
                f"label {regions} is 320x239 but image")


def test_cityscapes_labels_out_of_range(shared_data, tmp_path):
  gt = shared_data / "cityscapes_mmseg_sample" / "gtFine" / "val" / \
      "frankfurt" / "frankfurt_000000_000294_gtFine_"
  for suffix, bad, expected in (("labelIds", 34, "label ids 0..33"),
                                ("labelTrainIds", 19,
                                 "train ids 0..18 and 255")):
    values = np.asarray(Image.open(f"{gt}{suffix}.png")).copy()
    values[0, 0] = bad
    path = tmp_path / f"frankfurt_000000_000294_gtFine_{suffix}.png"
    datacopies.save_index_png(values, path)
    raises(f"label {path} has values outside {expected}: {bad}",
           registry.read_label, "cityscapes", path)
