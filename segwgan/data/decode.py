"""Pixels of source files (PIL) and of prepared bytes (TF), bit-identical.

`read_image` is the reference decoding of a source photo. Prepared data keeps
each photo's original bytes when `decode_bytes` (TF, in the input pipeline)
reproduces that reference exactly, which for JPEG needs libjpeg's accurate
integer DCT (with TF's default DCT every shared JPEG decodes a few levels
off); otherwise it keeps a lossless PNG of the reference pixels
(`exact_bytes`).
"""
import io

import numpy as np
import tensorflow as tf
from PIL import Image

from segwgan.data import validate

_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


def read_image(path) -> np.ndarray:
  """The photo at `path` as uint8 [H, W, 3] RGB (validated; DataError)."""
  with validate.open_image(path) as image:
    return np.asarray(image.convert("RGB"))


def read_index_png(path, expected: str) -> np.ndarray:
  """The integer values of a palette (P) or grey (L) label PNG: uint8 [H, W].

  A palette PNG gives its indices, never its colours (`tf.io.decode_png`
  would expand them to RGB). An RGB label is refused with a DataError.
  """
  with validate.open_image(path) as label:
    validate.check_mode(label, ("P", "L"), path, expected)
    return np.asarray(label, np.uint8)


def decode_bytes(data: tf.Tensor) -> tf.Tensor:
  """JPEG or PNG bytes -> uint8 [H, W, 3], as PIL decodes them."""
  image = tf.cond(
      tf.io.is_jpeg(data),
      lambda: tf.io.decode_jpeg(data, channels=3,
                                dct_method="INTEGER_ACCURATE"),
      lambda: tf.io.decode_png(data, channels=3))
  image.set_shape([None, None, 3])
  return image


def decode_example(example: dict) -> dict:
  """A `registry.load_raw(..., decoded=False)` element, decoded: the same
  ``{'image': uint8 [H,W,3], 'label': uint8 [H,W,1], 'id'}`` as
  `load_raw(..., decoded=True)` gives."""
  label = tf.io.decode_png(example["label"], channels=1)
  label.set_shape([None, None, 1])
  return {"image": decode_bytes(example["image"]), "label": label,
          "id": example["id"]}


def is_encoded(element_spec: dict) -> bool:
  """Whether a raw dataset's elements still hold image bytes."""
  return element_spec["image"].dtype == tf.string


def png_bytes(pixels: np.ndarray) -> bytes:
  """Lossless PNG of uint8 [H, W, 3] (RGB) or [H, W] (grey) pixels."""
  buffer = io.BytesIO()
  Image.fromarray(np.ascontiguousarray(pixels, np.uint8)).save(
      buffer, format="PNG", compress_level=1)
  return buffer.getvalue()


def exact_bytes(path, pixels: np.ndarray) -> bytes:
  """Bytes for the photo at `path` that `decode_bytes` turns into `pixels`.

  The original file if TF decodes it to exactly `pixels` (its `read_image`
  result), else a lossless PNG of `pixels`.
  """
  with open(path, "rb") as f:
    data = f.read()
  if data.startswith(_SIGNATURES):
    try:
      decoded = decode_bytes(tf.constant(data)).numpy()
    except tf.errors.OpError:
      decoded = None
    if decoded is not None and np.array_equal(decoded, pixels):
      return data
  return png_bytes(pixels)
