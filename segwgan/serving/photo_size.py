"""At what size a photo is predicted, and which photos are too big.

Resize policy: a photo is resized so that its long side is the one the
model was evaluated at (`ModelInfo.resize_long_side`), or, for a model
evaluated on its dataset's images at their own size (resize_long_side 0,
e.g. a converted checkpoint), the long side of that dataset's images
(`DATASET_LONG_SIDE`): objects then have about the size the model was
trained on. The labels come back at the photo's size. A photo of a
4000x4000 phone camera at full size (8.5 GB, 33 s for the converted VOC
model) gave objects 8x the size it was trained on, and wrong masks.

Size guard: an image whose model input would exceed `max_pixels` is
refused (`check`) with a message saying what to do; inference takes about
`BYTES_PER_PIXEL` bytes of memory per input pixel. So is one whose class
scores at its own size (needed to return its labels at that size) would
take more memory than that.
"""
from typing import Sequence

from segwgan import errors
from segwgan.serving import checkpoints

# The long side of each dataset's images (their usual size; VOC's largest).
DATASET_LONG_SIDE = {
    "pascal_voc2012": 500,
    "cmp_facades": 1024,
    "ade20k": 683,
    "cityscapes": 2048,
    "stanford_background": 320,
}
# Peak memory of the converted VOC DeepLab on a 4000x4000 photo (8.5 GB)
# over its pixels.
BYTES_PER_PIXEL = 530
DEFAULT_MAX_PIXELS = 8_000_000


def long_side(info: checkpoints.ModelInfo, requested: int = -1) -> int:
  """The long side photos are predicted at: `requested` if >= 0 (0: their
  own size), else the policy above."""
  if requested >= 0:
    return requested
  if info.resize_long_side > 0:
    return info.resize_long_side
  return DATASET_LONG_SIDE.get(info.dataset, 0)


def model_size(shape: Sequence[int], side: int) -> tuple:
  """(height, width) an image of `shape` [H, W, ...] is resized to for a
  long side `side` (0: as it is), rounded as `pipeline.scaled_size`."""
  height, width = int(shape[0]), int(shape[1])
  if side <= 0:
    return height, width
  scale = side / max(height, width)
  return round(height * scale), round(width * scale)


def check(name: str, shape: Sequence[int], side: int,
          max_pixels: int = DEFAULT_MAX_PIXELS, num_classes: int = 0) -> None:
  """A UserError naming `name` if the model input of an image of `shape`
  at long side `side` has more than `max_pixels` pixels, or if the float32
  class scores at the image's own size (`num_classes` of them per pixel,
  held twice: resized logits and their softmax) need more memory than
  `max_pixels` model pixels would."""
  height, width = model_size(shape, side)
  if height * width > max_pixels:
    raise errors.UserError(
        f"{name}: a {shape[0]}x{shape[1]} image is predicted at "
        f"{height}x{width} ({height * width / 1e6:.1f} MP), above "
        f"--max_pixels={max_pixels} (about "
        f"{max_pixels * BYTES_PER_PIXEL / 1e9:.1f} GB of memory): predict it "
        "smaller with --resize_long_side=N (-1: the model's own scale), or "
        "raise --max_pixels if this machine has the memory")
  scores = int(shape[0]) * int(shape[1]) * num_classes * 4 * 2
  if scores > max_pixels * BYTES_PER_PIXEL:
    raise errors.UserError(
        f"{name}: the {num_classes} class scores of a {shape[0]}x{shape[1]} "
        f"image at its own size take about {scores / 1e9:.1f} GB, above the "
        f"{max_pixels * BYTES_PER_PIXEL / 1e9:.1f} GB of --max_pixels="
        f"{max_pixels}: resize the image before predicting it, or raise "
        "--max_pixels if this machine has the memory")
