"""Class names, colours and label-id maps of the five datasets, in one place.

Every dataset is trained on contiguous ids ``0 .. num_classes-1`` with
``IGNORE_LABEL`` (255) for void / unlabelled pixels.
"""
import dataclasses

import numpy as np
from cityscapesscripts.helpers import labels as cs_labels

from segwgan import errors

IGNORE_LABEL = 255


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What a model needs to know about a dataset's classes."""
  name: str
  class_names: tuple[str, ...]
  colours: tuple[tuple[int, int, int], ...]
  ignore_label: int = IGNORE_LABEL

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  def palette(self) -> np.ndarray:
    """A 256x3 uint8 palette: class colours, black for the rest (void)."""
    palette = np.zeros((256, 3), np.uint8)
    palette[:self.num_classes] = np.asarray(self.colours, np.uint8)
    return palette

  def colourise(self, label: np.ndarray) -> np.ndarray:
    """Maps an integer label map (H, W) to an RGB image (H, W, 3)."""
    return self.palette()[np.asarray(label).astype(np.int64) % 256]


def pascal_colormap(n: int) -> tuple[tuple[int, int, int], ...]:
  """The PASCAL VOC bit-interleaved colour map (also used for ADE20K)."""
  colours = []
  for i in range(n):
    r = g = b = 0
    c = i
    for j in range(8):
      r |= ((c >> 0) & 1) << (7 - j)
      g |= ((c >> 1) & 1) << (7 - j)
      b |= ((c >> 2) & 1) << (7 - j)
      c >>= 3
    colours.append((r, g, b))
  return tuple(colours)


CMP_FACADES = DatasetInfo(
    name="cmp_facades",
    # label_names.txt ids 1..12, trained as id - 1.
    class_names=("background", "facade", "window", "door", "cornice", "sill",
                 "balcony", "blind", "deco", "molding", "pillar", "shop"),
    # The palette stored in the CMP label PNGs (indices 1..12).
    colours=((0, 0, 170), (0, 0, 255), (0, 85, 255), (0, 170, 255),
             (0, 255, 255), (85, 255, 170), (170, 255, 85), (255, 255, 0),
             (255, 170, 0), (255, 85, 0), (255, 0, 0), (170, 0, 0)),
)

STANFORD_BACKGROUND = DatasetInfo(
    name="stanford_background",
    # regions.txt values 0..7 (-1 = unknown -> ignore).
    class_names=("sky", "tree", "road", "grass", "water", "building",
                 "mountain", "foreground object"),
    colours=((128, 128, 255), (0, 128, 0), (128, 64, 128), (0, 255, 0),
             (0, 0, 255), (128, 0, 0), (128, 128, 0), (255, 128, 0)),
)

PASCAL_VOC2012 = DatasetInfo(
    name="pascal_voc2012",
    class_names=("background", "aeroplane", "bicycle", "bird", "boat",
                 "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
                 "dog", "horse", "motorbike", "person", "pottedplant", "sheep",
                 "sofa", "train", "tvmonitor"),
    colours=pascal_colormap(21),
)

_ADE20K_NAMES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed",
    "windowpane", "grass", "cabinet", "sidewalk", "person", "earth", "door",
    "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field",
    "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp",
    "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace",
    "refrigerator", "grandstand", "path", "stairs", "runway", "case",
    "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill",
    "bench", "countertop", "stove", "palm", "kitchen island", "computer",
    "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel",
    "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth",
    "television", "airplane", "dirt track", "apparel", "pole", "land",
    "bannister", "escalator", "ottoman", "bottle", "buffet", "poster",
    "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer",
    "plaything", "swimming pool", "stool", "barrel", "basket", "waterfall",
    "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step",
    "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake",
    "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce", "vase",
    "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate",
    "monitor", "bulletin board", "shower", "radiator", "glass", "clock",
    "flag")

ADE20K = DatasetInfo(
    name="ade20k",
    # objectInfo150.txt order; annotation value v in 1..150 -> v - 1.
    class_names=_ADE20K_NAMES,
    colours=pascal_colormap(151)[1:],
)

_CS_TRAIN = sorted((l for l in cs_labels.labels
                    if 0 <= l.trainId < IGNORE_LABEL), key=lambda l: l.trainId)

CITYSCAPES = DatasetInfo(
    name="cityscapes",
    class_names=tuple(l.name for l in _CS_TRAIN),
    colours=tuple(tuple(l.color) for l in _CS_TRAIN),
)


def cityscapes_label_id_to_train_id() -> np.ndarray:
  """A 256-entry lookup table: official labelId (0..33) -> trainId or 255."""
  table = np.full(256, IGNORE_LABEL, np.uint8)
  for label in cs_labels.labels:
    if label.id >= 0 and 0 <= label.trainId < IGNORE_LABEL:
      table[label.id] = label.trainId
  return table


def cityscapes_train_id_to_label_id() -> np.ndarray:
  """A 256-entry lookup table: trainId -> official labelId (for evaluation)."""
  table = np.zeros(256, np.uint8)
  for label in _CS_TRAIN:
    table[label.trainId] = label.id
  return table


DATASETS = {info.name: info for info in (
    CMP_FACADES, STANFORD_BACKGROUND, PASCAL_VOC2012, ADE20K, CITYSCAPES)}


def get_info(name: str) -> DatasetInfo:
  """The DatasetInfo of ``name``; a UserError lists the known names."""
  try:
    return DATASETS[name]
  except KeyError:
    raise errors.UserError(f"unknown dataset {name!r}; known datasets: "
                           f"{', '.join(sorted(DATASETS))}") from None
