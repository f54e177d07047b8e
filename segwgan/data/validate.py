"""Checks on source files: bad input becomes one `DataError` naming the file.

Layout checks (missing or empty directories, missing split or label files,
unknown names) run whenever a dataset is listed; content checks (unreadable
or truncated images, label size, label values, colour labels) run when each
file is read, which preparation (`registry.load_raw`) and `inspect_data` do
for every example before any training starts.
"""
import os
import pathlib
from typing import Iterable

import numpy as np
from PIL import Image

from segwgan import errors


class DataError(errors.UserError):
  """A dataset file, directory or setting that cannot be used as given."""


def require_dir(path, expected: str) -> pathlib.Path:
  """`path` as a Path; a DataError says what was `expected` if it is no dir."""
  path = pathlib.Path(path)
  if not path.is_dir():
    state = "is not a directory" if path.exists() else "does not exist"
    raise DataError(f"{path} {state}; expected {expected}")
  return path


def require_file(path, what: str) -> pathlib.Path:
  """`path` as a Path; a DataError names it if it is not a file."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise DataError(f"missing {what}: {path}")
  return path


def source_dir(path, name: str, expected: str) -> pathlib.Path:
  """The `--data_dir` of dataset `name`: an existing, non-empty directory."""
  if not path:
    raise DataError(f"no data_dir given for {name}; expected {expected}")
  path = require_dir(path, f"the {name} data_dir holding {expected}")
  if not any(path.iterdir()):
    raise DataError(f"data_dir {path} is empty; expected {expected}")
  return path


def open_image(path) -> Image.Image:
  """The fully decoded PIL image at `path`.

  Raises:
    DataError: naming `path` if it is missing, not an image or truncated.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise DataError(f"missing image file: {path}")
  try:
    with Image.open(path) as image:
      image.verify()  # Structure and checksums (PNG CRCs).
    image = Image.open(path)
    image.load()  # Every pixel: truncated data fails here.
  except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
    raise DataError(f"{path} is not a readable image ({e})") from None
  return image


def check_mode(image: Image.Image, modes: Iterable[str], path,
               expected: str) -> None:
  """Refuses a label whose PIL mode is not one of `modes`."""
  if image.mode not in tuple(modes):
    kind = "an RGB colour image" if image.mode in ("RGB", "RGBA") else (
        f"mode {image.mode}")
    raise DataError(f"label {path} is {kind}; expected {expected}")


def check_values(values: np.ndarray, allowed: np.ndarray, path,
                 expected: str) -> None:
  """Refuses a label holding values outside the sorted `allowed` set."""
  values = np.asarray(values)
  if values.dtype == np.uint8:  # 10x faster than np.unique on big labels.
    present = np.flatnonzero(np.bincount(values.ravel(), minlength=256))
  else:
    present = np.unique(values)
  bad = present[~np.isin(present, allowed)]
  if bad.size:
    shown = ", ".join(str(v) for v in bad[:8]) + (", ..." if bad.size > 8
                                                  else "")
    raise DataError(f"label {path} has values outside {expected}: {shown}")


def check_same_size(image_shape, label_shape, image_path,
                    label_path) -> None:
  """Refuses a label whose height x width differs from its image's."""
  if tuple(image_shape[:2]) != tuple(label_shape[:2]):
    raise DataError(
        f"label {label_path} is {label_shape[1]}x{label_shape[0]} but image "
        f"{image_path} is {image_shape[1]}x{image_shape[0]} (width x height)")


def check_split_setting(split_seed, val_fraction, test_fraction) -> None:
  """Refuses a seeded-split setting that cannot give a train/val/test
  split."""
  if isinstance(split_seed, bool) or not isinstance(
      split_seed, (int, np.integer)):
    raise DataError(f"split_seed must be an integer, got {split_seed!r}")
  if not 0.0 < float(val_fraction) < 1.0:
    raise DataError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
  if not 0.0 <= float(test_fraction) < 1.0 - float(val_fraction):
    raise DataError(f"test_fraction must be in [0, 1 - val_fraction), got "
                    f"{test_fraction!r} (val_fraction {val_fraction!r})")
