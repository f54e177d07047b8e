"""Small copies of the real datasets in official layouts, built in tmp dirs.

Tests that are not about the full data prepare these few-file copies
instead, and break files of them to test the errors.
"""
import pathlib
import shutil

import numpy as np
from PIL import Image

VOC = pathlib.Path("pascal_voc2012/VOCdevkit/VOC2012")
ADE = pathlib.Path("ade20k/ADEChallengeData2016")
STANFORD = pathlib.Path("stanford_background/iccv09Data")


def copy(src: pathlib.Path, dst: pathlib.Path) -> pathlib.Path:
  dst.parent.mkdir(parents=True, exist_ok=True)
  shutil.copyfile(src, dst)
  return dst


def cmp_copy(shared_data, root, base=(), extended_from=()) -> pathlib.Path:
  """CMP with base/cmp_bNNNN for NNNN in `base`, and extended/cmp_x0001..
  made of the base files numbered `extended_from` (renamed)."""
  root = pathlib.Path(root)
  src = shared_data / "cmp_facades" / "base"
  for k in base:
    for ext in ("jpg", "png", "xml"):
      copy(src / f"cmp_b{k:04d}.{ext}", root / "base" / f"cmp_b{k:04d}.{ext}")
  for n, k in enumerate(extended_from, start=1):
    for ext in ("jpg", "png", "xml"):
      copy(src / f"cmp_b{k:04d}.{ext}",
           root / "extended" / f"cmp_x{n:04d}.{ext}")
  return root


def voc_copy(shared_data, root, train, val, extra=()) -> pathlib.Path:
  """VOCdevkit/VOC2012 with the given ids (and `extra` labelled ids in no
  list), and train/val/trainval lists."""
  root = pathlib.Path(root)
  dst = root / "VOCdevkit" / "VOC2012"
  for i in (*train, *val, *extra):
    copy(shared_data / VOC / "JPEGImages" / f"{i}.jpg",
         dst / "JPEGImages" / f"{i}.jpg")
    copy(shared_data / VOC / "SegmentationClass" / f"{i}.png",
         dst / "SegmentationClass" / f"{i}.png")
  lists = dst / "ImageSets" / "Segmentation"
  lists.mkdir(parents=True)
  for name, ids in (("train", train), ("val", val),
                    ("trainval", sorted((*train, *val)))):
    (lists / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))
  return root


def stanford_copy(shared_data, root, ids) -> pathlib.Path:
  root = pathlib.Path(root)
  for i in ids:
    copy(shared_data / STANFORD / "images" / f"{i}.jpg",
         root / "iccv09Data" / "images" / f"{i}.jpg")
    copy(shared_data / STANFORD / "labels" / f"{i}.regions.txt",
         root / "iccv09Data" / "labels" / f"{i}.regions.txt")
  return root


def ade_copy(shared_data, root, ids) -> pathlib.Path:
  root = pathlib.Path(root)
  for i in ids:
    folder = "training" if "_train_" in i else "validation"
    copy(shared_data / ADE / "images" / folder / f"{i}.jpg",
         root / "ADEChallengeData2016" / "images" / folder / f"{i}.jpg")
    copy(shared_data / ADE / "annotations" / folder / f"{i}.png",
         root / "ADEChallengeData2016" / "annotations" / folder / f"{i}.png")
  return root


def tree_copy(src, root) -> pathlib.Path:
  shutil.copytree(src, root)
  return pathlib.Path(root)


def save_index_png(values: np.ndarray, path, like=None) -> None:
  """Writes integer `values` as a palette PNG with the palette of `like` (a
  label PNG), or as a grey PNG if `like` is None."""
  values = np.ascontiguousarray(values, np.uint8)
  if like is None:
    Image.fromarray(values).save(path)
    return
  image = Image.new("P", values.shape[::-1])
  image.frombytes(values.tobytes())
  with Image.open(like) as reference:
    palette = reference.getpalette()
  # A full palette, or PIL packs a 13-colour one in 4 bits and drops 200.
  image.putpalette(palette + [0] * (768 - len(palette)))
  image.save(path)


def decoded(ds) -> dict:
  """{id: (image, label [H, W])} of a `load_raw` dataset."""
  return {ex["id"].decode(): (ex["image"], ex["label"][..., 0])
          for ex in ds.as_numpy_iterator()}
