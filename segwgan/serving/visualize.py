"""Pictures of predictions: palette PNGs, overlays, side-by-side figures.

The figures follow the paper's Figures 5 and 7: image | prediction | ground
truth, each panel titled, ignored ground-truth pixels (255) in white.
`with_legend` adds the names and colours of the classes a picture shows.
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
_SWATCH = 12  # A legend entry: a square of the class colour, then its name.
_LEGEND_ROW = 18


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


def present_classes(label_maps, info: labels_lib.DatasetInfo) -> list:
  """The sorted class ids that occur in `label_maps` (no ignore label)."""
  ids = set()
  for label_map in label_maps:
    ids |= set(np.unique(np.asarray(label_map)).tolist())
  return sorted(i for i in ids if i < info.num_classes)


def legend(class_ids, info: labels_lib.DatasetInfo,
           width: int) -> np.ndarray:
  """RGB rows on white, `width` wide: for each class id its colour swatch
  (outlined in black) and its name, wrapped into as many rows as needed."""
  font = ImageFont.load_default()
  measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
  entries, x, y = [], _GAP, 0
  for class_id in class_ids:
    name = info.class_names[class_id]
    entry = _SWATCH + 4 + int(measure.textlength(name, font=font)) + 2 * _GAP
    if x > _GAP and x + entry > width:
      x, y = _GAP, y + _LEGEND_ROW
    entries.append((x, y, class_id, name))
    x += entry
  canvas = Image.new("RGB", (width, y + _LEGEND_ROW + 2), (255, 255, 255))
  draw = ImageDraw.Draw(canvas)
  for x, y, class_id, name in entries:
    top = y + (_LEGEND_ROW - _SWATCH) // 2 + 1
    draw.rectangle([x - 1, top - 1, x + _SWATCH, top + _SWATCH],
                   outline=(0, 0, 0), fill=tuple(info.colours[class_id]))
    draw.text((x + _SWATCH + 4, top), name, fill=(0, 0, 0), font=font)
  return np.asarray(canvas)


def with_legend(picture: np.ndarray, label_maps,
                info: labels_lib.DatasetInfo) -> np.ndarray:
  """`picture` (RGB) above a `legend` of the classes in `label_maps`."""
  key = legend(present_classes(label_maps, info), info, picture.shape[1])
  return np.concatenate([picture, key], axis=0)


def save_png(image, path) -> pathlib.Path:
  """Saves a PIL image or uint8 array as PNG, atomically."""
  if not isinstance(image, Image.Image):
    image = Image.fromarray(np.asarray(image))
  io_utils.atomic_write_bytes(path, io_utils.png_bytes(image))
  return pathlib.Path(path)
