"""CMP Facade Database: the official ``base/`` and/or ``extended/`` folders.

Layout (either folder may be absent)::

  DATA_DIR/base/cmp_b0001.{jpg,png,xml} ...      # 378 images
  DATA_DIR/extended/cmp_x0001.{jpg,png,xml} ...  # 228 images

Labels are palette PNGs whose index is the class id 1..12
(`labels.CMP_FACADES`), trained as ``id - 1`` (0..11); index 0 (unlabelled,
absent from the official files) is ignored (255) and 13..255 are refused.

Parts: ``{base,extended}_{train,val,test}`` by the seeded rule of
`segwgan.data.splits` (group = the image id). Splits: ``base``,
``extended`` (the folders present), ``train``, ``val``, ``test`` (seeded,
over both folders) and ``all``.
"""
import pathlib

import numpy as np

from segwgan.data import builder
from segwgan.data import decode
from segwgan import labels
from segwgan.data import layout
from segwgan.data import splits
from segwgan.data import validate

NAME = "cmp_facades"
SEEDED = True
SETS = ("base", "extended")
URLS = {
    "base": "https://cmp.felk.cvut.cz/~tylecr1/facade/CMP_facade_DB_base.zip",
    "extended":
        "https://cmp.felk.cvut.cz/~tylecr1/facade/CMP_facade_DB_extended.zip",
}
SPLITS = {
    "base": ("base_train", "base_val", "base_test"),
    "extended": ("extended_train", "extended_val", "extended_test"),
    "train": ("base_train", "extended_train"),
    "val": ("base_val", "extended_val"),
    "test": ("base_test", "extended_test"),
    "all": None,
}
EXPECTED = "base/ and/or extended/ holding cmp_*.jpg images with .png labels"
MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
Download CMP_facade_DB_base.zip and/or CMP_facade_DB_extended.zip from
https://cmp.felk.cvut.cz/~tylecr1/facade/ and extract them into one
directory, which then holds {EXPECTED}.
"""

_LABEL_MAP = np.full(256, labels.IGNORE_LABEL, np.uint8)
_LABEL_MAP[1:13] = np.arange(12)
_ALLOWED = np.arange(13)


def read_label(path) -> np.ndarray:
  """Palette indices 1..12 -> train ids 0..11 (0 -> 255): uint8 [H, W]."""
  index = decode.read_index_png(path, "palette indices 1..12 (mode P)")
  validate.check_values(index, _ALLOWED, path, "1..12")
  return _LABEL_MAP[index]


def _set_examples(directory: pathlib.Path) -> list[layout.Example]:
  images = layout.sorted_files(directory, "*.jpg")
  if not images:
    raise validate.DataError(f"no .jpg images in {directory}; expected "
                             f"{EXPECTED}")
  examples = []
  for image in images:
    label = validate.require_file(image.with_suffix(".png"),
                                  f"label of {image.name}")
    examples.append(layout.Example(image.stem, str(image), str(label)))
  return examples


def find_sets(*roots) -> dict[str, pathlib.Path]:
  """{'base'|'extended': folder} found in any of `roots` or one level below
  (an extracted archive may add a top folder)."""
  found = {}
  for root in map(pathlib.Path, roots):
    for parent in [root] + sorted(p for p in root.iterdir() if p.is_dir()):
      for name in SETS:
        if name not in found and (parent / name).is_dir():
          found[name] = parent / name
  if not found:
    raise validate.DataError(
        f"expected {EXPECTED} under {', '.join(str(r) for r in roots)}")
  return found


def parts_of_sets(sets, *, split_seed: int, val_fraction: float,
                  test_fraction: float) -> dict[str, list[layout.Example]]:
  out = {}
  for name, directory in sorted(sets.items()):
    examples = {e.id: e for e in _set_examples(directory)}
    sides = splits.seeded_split(examples, split_seed, val_fraction,
                                test_fraction)
    for side, ids in sides.items():
      if ids:
        out[f"{name}_{side}"] = [examples[i] for i in ids]
  return out


def parts(source_dir, *, split_seed: int = 0, val_fraction: float = 0.2,
          test_fraction: float = 0.2) -> dict[str, list[layout.Example]]:
  """The non-empty parts of the copy in `source_dir` (layout checked)."""
  root = validate.source_dir(source_dir, NAME, EXPECTED)
  return parts_of_sets(find_sets(root), split_seed=split_seed,
                       val_fraction=val_fraction, test_fraction=test_fraction)


class CmpFacades(builder.SourceBuilder):
  """CMP Facade DB (base + extended), 12 classes."""
  name = "segwgan_cmp_facades"
  URLS = URLS
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
  read_label = staticmethod(read_label)

  def _info(self):
    return self.dataset_info(
        description="CMP Facade Database: rectified facades, 12 classes "
        "(base 378 + extended 228 images).",
        homepage="https://cmp.felk.cvut.cz/~tylecr1/facade/",
        citation="R. Tylecek and R. Sara, Spatial Pattern Templates for "
        "Recognition of Objects with Regular Structure, GCPR 2013.")

  def _split_generators(self, dl_manager):
    source = self.source(dl_manager)
    roots = source.values() if isinstance(source, dict) else [source]
    config = self.builder_config
    return self.generators(parts_of_sets(
        find_sets(*roots), split_seed=config.split_seed,
        val_fraction=config.val_fraction, test_fraction=config.test_fraction))
