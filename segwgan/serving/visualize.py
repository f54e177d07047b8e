"""Pictures of predictions: palette PNGs, overlays, side-by-side figures.

The figures follow the paper's Figures 5 and 7: image | prediction | ground
truth, each panel titled, ignored ground-truth pixels (255) in white.
"""
import pathlib
from typing import Sequence, Tuple

import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

from segwgan import io_utils
from segwgan import labels as labels_lib

_TITLE_HEIGHT = 20
_GAP = 6
_IGNORE_COLOUR = (255, 255, 255)


def palette_image(label_map: np.ndarray,
                  info: labels_lib.DatasetInfo) -> Image.Image:
  """A palette ('P') PNG image: pixel values are the class ids."""
  image = Image.fromarray(np.asarray(label_map).astype(np.uint8))
  palette = info.palette()
  palette[info.ignore_label] = _IGNORE_COLOUR
  image.putpalette(palette.ravel().tolist())
  return image


def colourise(label_map: np.ndarray,
              info: labels_lib.DatasetInfo) -> np.ndarray:
  """RGB uint8 [H, W, 3] of a label map (ignore label in white)."""
  rgb = info.colourise(label_map)
  rgb[np.asarray(label_map) == info.ignore_label] = _IGNORE_COLOUR
  return rgb


def overlay(image: np.ndarray, label_map: np.ndarray,
            info: labels_lib.DatasetInfo, alpha: float = 0.5) -> np.ndarray:
  """The image blended with the class colours (weight `alpha`)."""
  blend = ((1.0 - alpha) * image.astype(np.float32) +
           alpha * info.colourise(label_map).astype(np.float32))
  return np.clip(np.round(blend), 0, 255).astype(np.uint8)


def side_by_side(panels: Sequence[Tuple[str, np.ndarray]]) -> np.ndarray:
  """Titled RGB panels of the same height in a row, on white."""
  height = max(p.shape[0] for _, p in panels)
  width = sum(p.shape[1] for _, p in panels) + _GAP * (len(panels) - 1)
  canvas = Image.new("RGB", (width, height + _TITLE_HEIGHT), (255, 255, 255))
  draw = ImageDraw.Draw(canvas)
  font = ImageFont.load_default()
  x = 0
  for title, panel in panels:
    canvas.paste(Image.fromarray(panel), (x, _TITLE_HEIGHT))
    draw.text((x + 4, 4), title, fill=(0, 0, 0), font=font)
    x += panel.shape[1] + _GAP
  return np.asarray(canvas)


def save_png(image, path) -> pathlib.Path:
  """Saves a PIL image or uint8 array as PNG, atomically."""
  if not isinstance(image, Image.Image):
    image = Image.fromarray(np.asarray(image))
  io_utils.atomic_write_bytes(path, io_utils.png_bytes(image))
  return pathlib.Path(path)
