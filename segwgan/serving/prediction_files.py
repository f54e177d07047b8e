"""Which images `tools/predict.py` reads and what it writes for each.

Per image ``<stem>``: ``<stem>_labels.png`` (palette PNG whose pixel values
are the class ids), ``<stem>_overlay.png`` (image blended with the class
colours) and ``<stem>_figure.png`` (image | prediction | ground truth when
it is known, as in the paper's Figures 5 and 7), these two above a legend
naming the classes they show. Every file is written atomically.
"""
import collections
import glob
import pathlib
import re
from typing import List, Optional

import numpy as np
from PIL import Image
from PIL import ImageOps
from PIL import UnidentifiedImageError

from segwgan import errors
from segwgan import labels as labels_lib
from segwgan.data import decode
from segwgan.serving import visualize

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def find_images(spec: str) -> List[pathlib.Path]:
  """The images of an --input: a file, a folder (not recursive) or a glob.

  Raises:
    FileNotFoundError: nothing matches `spec`.
  """
  path = pathlib.Path(spec)
  if path.is_file():
    return [path]
  if path.is_dir():
    found = sorted(p for p in path.iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
  else:
    found = sorted(pathlib.Path(p) for p in glob.glob(spec)
                   if pathlib.Path(p).is_file())
  if not found:
    raise FileNotFoundError(
        f"--input={spec}: no image files ({', '.join(IMAGE_SUFFIXES)}) found")
  return found


def output_stems(paths: List[pathlib.Path]) -> List[str]:
  """The names the outputs of `paths` are written under: each file's stem,
  or, where stems clash (a.jpg and a.png, or a glob over two folders), its
  whole path with separators and dots as '_' (numbered _2, _3, ... where
  even those coincide), so no output overwrites another."""
  counts = collections.Counter(p.stem for p in paths)
  names = [p.stem if counts[p.stem] == 1 else
           re.sub(r"[\\/.:]+", "_", str(p)).strip("_") for p in paths]
  seen = collections.Counter()
  for i, name in enumerate(names):  # a.b/x.jpg and a_b/x.jpg map alike.
    seen[name] += 1
    if seen[name] > 1:
      names[i] = f"{name}_{seen[name]}"
  return names


def read_rgb(path) -> np.ndarray:
  """uint8 [H, W, 3] of an image file as a viewer shows it: turned upright
  by its EXIF orientation, any mode converted (`decode.rgb_pixels`); a
  UserError names a bad file."""
  try:
    with Image.open(path) as image:
      image.load()
      return decode.rgb_pixels(ImageOps.exif_transpose(image), path)
  except errors.UserError:
    raise
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
          Image.DecompressionBombError) as e:  # ValueError: e.g. bad EXIF.
    raise errors.UserError(f"{path}: not a readable image ({e})") from None


def write_outputs(output_dir, stem: str, image: np.ndarray,
                  prediction: np.ndarray, info: labels_lib.DatasetInfo,
                  ground_truth: Optional[np.ndarray] = None) -> list:
  """Writes the three files of one image; returns their paths."""
  panels = [("image", image), ("prediction",
                               visualize.colourise(prediction, info))]
  shown = [prediction]
  if ground_truth is not None:
    panels.append(("ground truth", visualize.colourise(ground_truth, info)))
    shown.append(ground_truth)
  pictures = {
      "labels": visualize.palette_image(prediction, info),
      "overlay": visualize.with_legend(
          visualize.overlay(image, prediction, info), [prediction], info),
      "figure": visualize.with_legend(visualize.side_by_side(panels), shown,
                                      info)}
  return [visualize.save_png(picture,
                             pathlib.Path(output_dir) / f"{stem}_{kind}.png")
          for kind, picture in pictures.items()]
