"""One example on disk, and the helpers the dataset modules read layouts with.

A dataset module lists its source as *parts*: disjoint, named groups of
examples (e.g. ``base_train``, ``base_val``). Every split a user can ask for
is a union of parts (``all`` is all of them), so each image is stored once
when the dataset is prepared and a split is read as ``part1+part2`` in TFDS.
"""
import dataclasses
import pathlib
from typing import Mapping, Optional, Sequence

from segwgan.data import validate

Parts = Mapping[str, Sequence["Example"]]


@dataclasses.dataclass(frozen=True)
class Example:
  """The files of one image.

  Attributes:
    id: unique within the dataset (the file stem, e.g. ``cmp_b0001``).
    image_path: the RGB photo.
    label_path: its label file in the dataset's own encoding.
    instance_path: Cityscapes ``*_gtFine_instanceIds.png`` if present.
  """
  id: str
  image_path: str
  label_path: str
  instance_path: Optional[str] = None


def sorted_files(directory: pathlib.Path, pattern: str) -> list[pathlib.Path]:
  """Files in `directory` matching `pattern`, sorted by name."""
  return sorted(p for p in directory.glob(pattern) if p.is_file())


def select(name: str, split: str, splits: Mapping[str, Optional[tuple]],
           available: Sequence[str], where) -> list[str]:
  """The available parts making up `split` (a name of `splits`).

  Args:
    name: the dataset, for messages.
    split: the requested split.
    splits: split name -> the part names it unites (None: every part).
    available: the non-empty parts of this copy of the dataset.
    where: the source directory (or URL), for messages.

  Raises:
    DataError: the split is unknown, or this copy has no image in it.
  """
  if split not in splits:
    raise validate.DataError(
        f"unknown split {split!r} of {name} (--split); known splits: "
        f"{', '.join(splits)}")
  wanted = splits[split]
  parts = [p for p in sorted(available) if wanted is None or p in wanted]
  if not parts:
    present = [s for s, w in splits.items()
               if w is None or set(w) & set(available)]
    raise validate.DataError(
        f"split {split!r} of {name} has no images in {where} (splits "
        f"with images: {', '.join(present) or 'none'})")
  return parts


def examples_of(parts: Parts, names: Sequence[str]) -> list[Example]:
  """The examples of the named parts, sorted by id."""
  return sorted((e for n in names for e in parts[n]), key=lambda e: e.id)
