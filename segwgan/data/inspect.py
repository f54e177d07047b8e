"""What a copy of a dataset holds: counts, sizes, class pixels and a picture.

`summarise` reads (and so validates) every image and label of a split;
`format_summary` prints it and `write_grid` draws a few images beside their
colourised labels, for a person to look at the data.
"""
import dataclasses
import pathlib

import numpy as np
from PIL import Image
from PIL import ImageDraw

from segwgan import io_utils
from segwgan import labels
from segwgan.data import registry
from segwgan.data import validate

CELL = 192  # Pixels per side of one grid picture.


@dataclasses.dataclass
class Summary:
  """A split's statistics.

  Attributes:
    dataset, split, source_dir: what was read.
    count: number of images.
    widths, heights: (min, max) image width and height.
    pixels: int64 [256]: pixels per train id (255 = ignore).
    samples: a few (id, image, train-id label) for the grid.
  """
  dataset: str
  split: str
  source_dir: str
  count: int
  widths: tuple[int, int]
  heights: tuple[int, int]
  pixels: np.ndarray
  samples: list


def summarise(name: str, source_dir, split: str = "all", *,
              split_seed: int = 0, val_fraction: float = 0.2,
              test_fraction: float = 0.2,
              num_samples: int = 8) -> Summary:
  """Reads every example of `split` (DataError names a bad file)."""
  examples = registry.list_examples(name, source_dir, split,
                                    split_seed=split_seed,
                                    val_fraction=val_fraction,
                                    test_fraction=test_fraction)
  picked = set(np.linspace(0, len(examples) - 1, min(num_samples,
                                                     len(examples)))
               .round().astype(int).tolist())
  pixels = np.zeros(256, np.int64)
  sizes, samples = [], []
  for k, example in enumerate(examples):
    image = registry.read_image(example.image_path)
    label = registry.read_label(name, example.label_path)
    validate.check_same_size(image.shape, label.shape, example.image_path,
                             example.label_path)
    pixels += np.bincount(label.ravel(), minlength=256)
    sizes.append(image.shape[:2])
    if k in picked:
      samples.append((example.id, image, label))
  heights, widths = np.array(sizes).T
  return Summary(name, split, str(source_dir), len(examples),
                 (int(widths.min()), int(widths.max())),
                 (int(heights.min()), int(heights.max())), pixels, samples)


def format_summary(summary: Summary) -> str:
  """The count, size range and per-class pixel table as text."""
  info = labels.get_info(summary.dataset)
  total = max(int(summary.pixels.sum()), 1)
  lines = [
      f"{summary.dataset} split {summary.split}: {summary.count} images in "
      f"{summary.source_dir}",
      f"image size: width {summary.widths[0]}..{summary.widths[1]}, "
      f"height {summary.heights[0]}..{summary.heights[1]}",
      f"{'id':>4}  {'class':<20} {'pixels':>13} {'share':>8}",
  ]
  rows = [(i, name) for i, name in enumerate(info.class_names)]
  rows.append((info.ignore_label, "(ignore)"))
  for i, name in rows:
    count = int(summary.pixels[i])
    lines.append(f"{i:>4}  {name:<20} {count:>13,d} "
                 f"{100.0 * count / total:>7.2f}%")
  return "\n".join(lines)


def _fit(pixels: np.ndarray, resample) -> Image.Image:
  """`pixels` scaled to fit a CELL x CELL square, centred on grey."""
  image = Image.fromarray(pixels)
  scale = CELL / max(image.size)
  size = (max(1, round(image.width * scale)),
          max(1, round(image.height * scale)))
  cell = Image.new("RGB", (CELL, CELL), (128, 128, 128))
  cell.paste(image.resize(size, resample),
             ((CELL - size[0]) // 2, (CELL - size[1]) // 2))
  return cell


def render_grid(summary: Summary, columns: int = 2) -> Image.Image:
  """Each sample's image beside its colourised label (void black)."""
  info = labels.get_info(summary.dataset)
  rows = max(1, -(-len(summary.samples) // columns))
  grid = Image.new("RGB", (columns * 2 * CELL, rows * CELL), (255, 255, 255))
  draw = ImageDraw.Draw(grid)
  for k, (image_id, image, label) in enumerate(summary.samples):
    x, y = (k % columns) * 2 * CELL, (k // columns) * CELL
    grid.paste(_fit(image, Image.BILINEAR), (x, y))
    grid.paste(_fit(info.colourise(label), Image.NEAREST), (x + CELL, y))
    draw.text((x + 3, y + 2), image_id, fill=(255, 255, 0))
  return grid


def write_grid(summary: Summary, output_dir) -> pathlib.Path:
  """Writes OUTPUT_DIR/<dataset>_<split>.png atomically; returns its path."""
  path = pathlib.Path(output_dir) / f"{summary.dataset}_{summary.split}.png"
  io_utils.atomic_write_bytes(path, io_utils.png_bytes(render_grid(summary)))
  return path
