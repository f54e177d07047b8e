"""Cityscapes fine annotations, in the official layout (manual download only).

Layout::

  DATA_DIR/leftImg8bit/<split>/<city>/<frame>_leftImg8bit.png
  DATA_DIR/gtFine/<split>/<city>/<frame>_gtFine_labelIds.png
  DATA_DIR/gtFine/<split>/<city>/<frame>_gtFine_labelTrainIds.png
  DATA_DIR/gtFine/<split>/<city>/<frame>_gtFine_instanceIds.png

with <split> in train, val, test. The label of a frame is its ``labelIds``
file (official ids 0..33 -> the 19 train ids of `labels.CITYSCAPES`, every
other id 255) or, without it, its ``labelTrainIds`` file (0..18 and 255, as
cityscapesScripts' createTrainIdLabelImgs writes them). The ``instanceIds``
file, when present, is kept as `Example.instance_path` for the official
evaluation.

Parts and splits: whichever of ``train``, ``val``, ``test`` exist, plus
``all``.
"""
import pathlib

import numpy as np

from segwgan.data import builder
from segwgan.data import decode
from segwgan import labels
from segwgan.data import layout
from segwgan.data import validate

NAME = "cityscapes"
SEEDED = False
URLS = {}  # Registration required: no public archive URL.
PARTS = ("train", "val", "test")
SPLITS = {"train": ("train",), "val": ("val",), "test": ("test",),
          "all": None}
IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_IDS_SUFFIX = "_gtFine_labelIds.png"
TRAIN_IDS_SUFFIX = "_gtFine_labelTrainIds.png"
INSTANCE_IDS_SUFFIX = "_gtFine_instanceIds.png"
EXPECTED = (f"leftImg8bit/{{train,val,test}}/<city>/*{IMAGE_SUFFIX} and "
            f"gtFine/<split>/<city>/*{LABEL_IDS_SUFFIX} (or "
            f"*{TRAIN_IDS_SUFFIX})")
MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
Cityscapes needs registration: log in at
https://www.cityscapes-dataset.com/downloads/, download
leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip, extract both into
one directory and pass it as the data_dir. It then holds {EXPECTED}.
"""
_LABEL_ID_TO_TRAIN_ID = labels.cityscapes_label_id_to_train_id()
_LABEL_IDS = np.arange(34)
_TRAIN_IDS = np.array(list(range(19)) + [labels.IGNORE_LABEL])


def read_label(path) -> np.ndarray:
  """A labelIds (mapped) or labelTrainIds (as is) PNG -> uint8 [H, W]."""
  path = str(path)
  value = decode.read_index_png(path, "official ids (mode L)")
  if path.endswith(TRAIN_IDS_SUFFIX):
    validate.check_values(value, _TRAIN_IDS, path, "train ids 0..18 and 255")
    return value
  validate.check_values(value, _LABEL_IDS, path, "label ids 0..33")
  return _LABEL_ID_TO_TRAIN_ID[value]


def _example(image: pathlib.Path, gt_dir: pathlib.Path) -> layout.Example:
  frame = image.name[:-len(IMAGE_SUFFIX)]
  label = gt_dir / f"{frame}{LABEL_IDS_SUFFIX}"
  if not label.is_file():
    label = gt_dir / f"{frame}{TRAIN_IDS_SUFFIX}"
  if not label.is_file():
    raise validate.DataError(
        f"missing label of {image.name}: expected {gt_dir / frame}"
        f"{LABEL_IDS_SUFFIX} (or {TRAIN_IDS_SUFFIX})")
  instance = gt_dir / f"{frame}{INSTANCE_IDS_SUFFIX}"
  return layout.Example(frame, str(image), str(label),
                        str(instance) if instance.is_file() else None)


def parts_of_root(root: pathlib.Path) -> dict[str, list[layout.Example]]:
  images_root = validate.require_dir(root / "leftImg8bit", EXPECTED)
  out = {}
  for part in PARTS:
    if not (images_root / part).is_dir():
      continue
    gt_root = validate.require_dir(root / "gtFine" / part,
                                   f"gtFine labels for leftImg8bit/{part}")
    out[part] = [_example(image, gt_root / image.parent.name)
                 for image in layout.sorted_files(images_root / part,
                                                  f"*/*{IMAGE_SUFFIX}")]
  out = {part: examples for part, examples in out.items() if examples}
  if not out:
    raise validate.DataError(f"no *{IMAGE_SUFFIX} images in {images_root}; "
                             f"expected {EXPECTED}")
  return out


def parts(source_dir, *, split_seed: int = 0, val_fraction: float = 0.2,
          test_fraction: float = 0.2) -> dict[str, list[layout.Example]]:
  """The non-empty parts of the copy in `source_dir` (layout checked)."""
  del split_seed, val_fraction, test_fraction  # Official splits.
  return parts_of_root(validate.source_dir(source_dir, NAME, EXPECTED))


class Cityscapes(builder.SourceBuilder):
  """Cityscapes gtFine, 19 evaluation classes (manual download)."""
  name = "segwgan_cityscapes"
  URLS = URLS
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
  read_label = staticmethod(read_label)

  def _info(self):
    return self.dataset_info(
        description="Cityscapes fine annotations: 19 evaluation classes "
        "(train ids), 255 ignore.",
        homepage="https://www.cityscapes-dataset.com/",
        citation="M. Cordts et al., The Cityscapes Dataset for Semantic "
        "Urban Scene Understanding, CVPR 2016.")

  def _split_generators(self, dl_manager):
    return self.generators(parts_of_root(dl_manager.manual_dir))
