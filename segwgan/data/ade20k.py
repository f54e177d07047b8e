"""ADE20K / MIT Scene Parsing, in the official ADEChallengeData2016 layout.

Layout (DATA_DIR may also be ``ADEChallengeData2016`` itself)::

  DATA_DIR/ADEChallengeData2016/images/{training,validation}/*.jpg
  DATA_DIR/ADEChallengeData2016/annotations/{training,validation}/*.png

Labels are grey PNGs: 0 other/unlabelled -> 255, 1..150 (objectInfo150.txt)
-> 0..149 (`labels.ADE20K`); RGB renders are refused.

Parts: ``train`` (training/) and ``val`` (validation/), whichever exist.
Splits: ``train``, ``val``, ``test`` (the official val again: no labelled
test split is public) and ``all``.
"""
import pathlib

import numpy as np

from segwgan.data import builder
from segwgan.data import decode
from segwgan import labels
from segwgan.data import layout
from segwgan.data import validate

NAME = "ade20k"
SEEDED = False
URLS = {"ADEChallengeData2016": "http://data.csail.mit.edu/places/"
                                "ADEchallenge/ADEChallengeData2016.zip"}
FOLDERS = {"train": "training", "val": "validation"}
# No labelled test split is public: `test` is the official val (see
# docs/datasets.md, "train, val and test").
SPLITS = {"train": ("train",), "val": ("val",), "test": ("val",), "all": None}
EXPECTED = ("ADEChallengeData2016/images/{training,validation} and "
            "annotations/{training,validation}")
MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
Download ADEChallengeData2016.zip from http://sceneparsing.csail.mit.edu/
and extract it: the directory then holds {EXPECTED}.
"""
_LABEL_MAP = np.full(256, labels.IGNORE_LABEL, np.uint8)
_LABEL_MAP[1:151] = np.arange(150)
_ALLOWED = np.arange(151)


def read_label(path) -> np.ndarray:
  """Annotation values 0..150 -> train ids (0 -> 255, v -> v-1)."""
  value = decode.read_index_png(path, "class indices 0..150 (mode L)")
  validate.check_values(value, _ALLOWED, path, "0..150")
  return _LABEL_MAP[value]


def find_root(*roots) -> pathlib.Path:
  """The folder holding images/ and annotations/ in any of `roots`."""
  candidates = []
  for root in map(pathlib.Path, roots):
    candidates += [root / "ADEChallengeData2016", root]
  for candidate in candidates:
    if (candidate / "images").is_dir():
      return candidate
  raise validate.DataError(f"expected {EXPECTED} under "
                           f"{', '.join(str(r) for r in roots)}")


def parts_of_root(root: pathlib.Path) -> dict[str, list[layout.Example]]:
  out = {}
  for part, folder in FOLDERS.items():
    image_dir = root / "images" / folder
    if not image_dir.is_dir():
      continue
    label_dir = validate.require_dir(
        root / "annotations" / folder, f"annotation PNGs for {image_dir}")
    out[part] = [
        layout.Example(image.stem, str(image), str(validate.require_file(
            label_dir / f"{image.stem}.png", f"label of {image.name}")))
        for image in layout.sorted_files(image_dir, "*.jpg")]
  out = {part: examples for part, examples in out.items() if examples}
  if not out:
    raise validate.DataError(f"no .jpg images in {root / 'images'}/"
                             f"{{training,validation}}; expected {EXPECTED}")
  return out


def parts(source_dir, *, split_seed: int = 0, val_fraction: float = 0.2,
          test_fraction: float = 0.2) -> dict[str, list[layout.Example]]:
  """The non-empty parts of the copy in `source_dir` (layout checked)."""
  del split_seed, val_fraction, test_fraction  # Official splits.
  root = validate.source_dir(source_dir, NAME, EXPECTED)
  return parts_of_root(find_root(root))


class Ade20k(builder.SourceBuilder):
  """ADE20K SceneParsing (ADEChallengeData2016), 150 classes."""
  name = "segwgan_ade20k"
  URLS = URLS
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
  read_label = staticmethod(read_label)

  def _info(self):
    return self.dataset_info(
        description="ADE20K MIT Scene Parsing benchmark: 150 classes, "
        "0 = other (ignored).",
        homepage="http://sceneparsing.csail.mit.edu/",
        citation="B. Zhou et al., Scene Parsing through ADE20K Dataset, "
        "CVPR 2017.")

  def _split_generators(self, dl_manager):
    source = self.source(dl_manager)
    roots = source.values() if isinstance(source, dict) else [source]
    return self.generators(parts_of_root(find_root(*roots)))
