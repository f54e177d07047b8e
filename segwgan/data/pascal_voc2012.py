"""PASCAL VOC 2012 segmentation, in the official VOCdevkit layout.

Layout (DATA_DIR may be the folder holding ``VOCdevkit``, ``VOCdevkit``
itself or ``VOC2012``)::

  VOCdevkit/VOC2012/JPEGImages/<id>.jpg
  VOCdevkit/VOC2012/SegmentationClass/<id>.png
  VOCdevkit/VOC2012/ImageSets/Segmentation/{train,val,trainval}.txt

Labels are palette PNGs whose index is the class (0 background .. 20
tvmonitor, `labels.PASCAL_VOC2012`) or 255 void; they are used as they are,
other values and RGB colour renders are refused.

Parts: ``train`` and ``val`` (the official lists; ``trainval.txt``, if
present, must be their union) and ``other`` (labelled JPEGs in neither).
Splits: ``train``, ``val``, ``test`` (the official val again: no labelled
test split is public), ``trainval`` and ``all`` (every JPEG with a label).
"""
import pathlib

import numpy as np

from segwgan.data import builder
from segwgan.data import decode
from segwgan.data import layout
from segwgan.data import validate

NAME = "pascal_voc2012"
SEEDED = False
URLS = {"VOCtrainval": "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/"
                       "VOCtrainval_11-May-2012.tar"}
# No labelled test split is public: `test` is the official val (see
# docs/datasets.md, "train, val and test").
SPLITS = {"train": ("train",), "val": ("val",), "test": ("val",),
          "trainval": ("train", "val"), "all": None}
EXPECTED = "VOCdevkit/VOC2012/JPEGImages"
SPLIT_FILES = "ImageSets/Segmentation"
MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Download VOCtrainval_11-May-2012.tar from
http://host.robots.ox.ac.uk/pascal/VOC/voc2012/ and extract it: the directory
then holds VOCdevkit/VOC2012/{JPEGImages,SegmentationClass,ImageSets}.
"""
_ALLOWED = np.array(list(range(21)) + [255])


def read_label(path) -> np.ndarray:
  """Palette indices 0..20 and 255 (void), unchanged: uint8 [H, W]."""
  index = decode.read_index_png(path, "palette indices 0..20, 255 (mode P)")
  validate.check_values(index, _ALLOWED, path, "0..20 and 255")
  return index


def find_root(*roots) -> pathlib.Path:
  """The VOC2012 folder (holding JPEGImages/) in any of `roots`."""
  candidates = []
  for root in map(pathlib.Path, roots):
    candidates += [root / "VOCdevkit" / "VOC2012", root / "VOC2012", root]
  for candidate in candidates:
    if (candidate / "JPEGImages").is_dir():
      return candidate
  raise validate.DataError(f"expected {EXPECTED} under "
                           f"{', '.join(str(r) for r in roots)}")


def _read_ids(path: pathlib.Path) -> list[str]:
  validate.require_file(path, "split file")
  return path.read_text().split()


def _example(root: pathlib.Path, image_id: str) -> layout.Example:
  image = validate.require_file(root / "JPEGImages" / f"{image_id}.jpg",
                                "image")
  label = validate.require_file(
      root / "SegmentationClass" / f"{image_id}.png",
      f"label of {image_id}")
  return layout.Example(image_id, str(image), str(label))


def parts_of_root(root: pathlib.Path) -> dict[str, list[layout.Example]]:
  validate.require_dir(root / "SegmentationClass",
                       "SegmentationClass/ label PNGs beside JPEGImages/")
  split_dir = root / SPLIT_FILES
  lists = {side: _read_ids(split_dir / f"{side}.txt")
           for side in ("train", "val")}
  trainval = split_dir / "trainval.txt"
  if trainval.is_file() and set(_read_ids(trainval)) != set(
      lists["train"]) | set(lists["val"]):
    raise validate.DataError(f"split file {trainval} is not the union of "
                             "train.txt and val.txt")
  both = set(lists["train"]) & set(lists["val"])
  if both:
    raise validate.DataError(f"ids in both {split_dir}/train.txt and "
                             f"val.txt: {', '.join(sorted(both)[:5])}")
  out = {side: [_example(root, i) for i in sorted(set(ids))]
         for side, ids in lists.items()}
  listed = set(lists["train"]) | set(lists["val"])
  other = [p.stem for p in layout.sorted_files(root / "SegmentationClass",
                                               "*.png")
           if p.stem not in listed
           and (root / "JPEGImages" / f"{p.stem}.jpg").is_file()]
  out["other"] = [_example(root, i) for i in other]
  return {side: examples for side, examples in out.items() if examples}


def parts(source_dir, *, split_seed: int = 0, val_fraction: float = 0.2,
          test_fraction: float = 0.2) -> dict[str, list[layout.Example]]:
  """The non-empty parts of the copy in `source_dir` (layout checked)."""
  del split_seed, val_fraction, test_fraction  # Official splits.
  root = validate.source_dir(source_dir, NAME, EXPECTED)
  return parts_of_root(find_root(root))


class PascalVoc2012(builder.SourceBuilder):
  """PASCAL VOC 2012 segmentation, 21 classes."""
  name = "segwgan_pascal_voc2012"
  URLS = URLS
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
  read_label = staticmethod(read_label)

  def _info(self):
    return self.dataset_info(
        description="PASCAL VOC 2012 segmentation: 20 object classes and "
        "background, 255 void.",
        homepage="http://host.robots.ox.ac.uk/pascal/VOC/voc2012/",
        citation="M. Everingham et al., The PASCAL Visual Object Classes "
        "Challenge: A Retrospective, IJCV 2015.")

  def _split_generators(self, dl_manager):
    source = self.source(dl_manager)
    roots = source.values() if isinstance(source, dict) else [source]
    return self.generators(parts_of_root(find_root(*roots)))
