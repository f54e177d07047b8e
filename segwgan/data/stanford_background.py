"""Stanford Background (iccv09Data): 715 outdoor scenes, 8 classes.

Layout (the official ``iccv09Data.tar.gz``; DATA_DIR may also be
``iccv09Data`` itself)::

  DATA_DIR/iccv09Data/images/<id>.jpg
  DATA_DIR/iccv09Data/labels/<id>.regions.txt   # one text row per pixel row

Labels are integer text matrices (`np.loadtxt`): -1 unknown -> 255, 0..7 the
classes of `labels.STANFORD_BACKGROUND`; other values are refused.

Parts and splits: ``train`` and ``val`` by the seeded rule of
`segwgan.data.splits`, grouping ids by their last six digits (the first digit
names the source collection, and ``1000875``/``9000875`` and
``1001184``/``9001184`` are the same photo), plus ``all``.
"""
import pathlib
import warnings

import numpy as np

from segwgan.data import builder
from segwgan import labels
from segwgan.data import layout
from segwgan.data import splits
from segwgan.data import validate

NAME = "stanford_background"
SEEDED = True
URLS = {"iccv09Data": "http://dags.stanford.edu/data/iccv09Data.tar.gz"}
SPLITS = {"train": ("train",), "val": ("val",), "test": ("test",),
          "all": None}
EXPECTED = "iccv09Data/images/*.jpg and iccv09Data/labels/*.regions.txt"
MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
Download iccv09Data.tar.gz from
http://dags.stanford.edu/projects/scenedataset.html and extract it: the
directory then holds {EXPECTED}.
"""
LABEL_SUFFIX = ".regions.txt"
_ALLOWED = np.arange(-1, 8)


def group(image_id: str) -> str:
  """The id without its source-collection digit: near-duplicates share it."""
  return image_id[1:]


def read_label(path) -> np.ndarray:
  """regions.txt values -1..7 -> train ids (-1 -> 255): uint8 [H, W]."""
  validate.require_file(path, "label file")
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")  # "Empty input file" -> size check.
      values = np.loadtxt(path, dtype=np.int64, ndmin=2)
  except ValueError as e:
    raise validate.DataError(f"label {path} is not an integer matrix "
                             f"({e})") from None
  validate.check_values(values, _ALLOWED, path, "-1..7")
  return np.where(values < 0, labels.IGNORE_LABEL, values).astype(np.uint8)


def find_root(*roots) -> pathlib.Path:
  """The folder holding images/ and labels/ (iccv09Data) in `roots`."""
  candidates = []
  for root in map(pathlib.Path, roots):
    candidates += [root / "iccv09Data", root]
  for candidate in candidates:
    if (candidate / "images").is_dir():
      validate.require_dir(candidate / "labels",
                           f"{LABEL_SUFFIX} label files beside images/")
      return candidate
  raise validate.DataError(f"expected {EXPECTED} under "
                           f"{', '.join(str(r) for r in roots)}")


def parts_of_root(root: pathlib.Path, *, split_seed: int, val_fraction: float,
                  test_fraction: float) -> dict[str, list[layout.Example]]:
  images = layout.sorted_files(root / "images", "*.jpg")
  if not images:
    raise validate.DataError(f"no .jpg images in {root / 'images'}; "
                             f"expected {EXPECTED}")
  examples = {}
  for image in images:
    label = validate.require_file(
        root / "labels" / f"{image.stem}{LABEL_SUFFIX}",
        f"label of {image.name}")
    examples[image.stem] = layout.Example(image.stem, str(image), str(label))
  sides = splits.seeded_split(examples, split_seed, val_fraction,
                              test_fraction, group)
  return {side: [examples[i] for i in ids] for side, ids in sides.items()
          if ids}


def parts(source_dir, *, split_seed: int = 0, val_fraction: float = 0.2,
          test_fraction: float = 0.2) -> dict[str, list[layout.Example]]:
  """The non-empty parts of the copy in `source_dir` (layout checked)."""
  root = validate.source_dir(source_dir, NAME, EXPECTED)
  return parts_of_root(find_root(root), split_seed=split_seed,
                       val_fraction=val_fraction, test_fraction=test_fraction)


class StanfordBackground(builder.SourceBuilder):
  """Stanford Background Dataset, 8 classes."""
  name = "segwgan_stanford_background"
  URLS = URLS
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
  read_label = staticmethod(read_label)

  def _info(self):
    return self.dataset_info(
        description="Stanford Background Dataset: 715 outdoor scenes, "
        "8 semantic classes (regions.txt).",
        homepage="http://dags.stanford.edu/projects/scenedataset.html",
        citation="S. Gould, R. Fulton, D. Koller, Decomposing a Scene into "
        "Geometric and Semantically Consistent Regions, ICCV 2009.")

  def _split_generators(self, dl_manager):
    source = self.source(dl_manager)
    roots = source.values() if isinstance(source, dict) else [source]
    config = self.builder_config
    return self.generators(parts_of_root(
        find_root(*roots), split_seed=config.split_seed,
        val_fraction=config.val_fraction, test_fraction=config.test_fraction))
