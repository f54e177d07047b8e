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


# PIL modes of 16-bit grey pixels (PNG, TIFF); "I" holds 32-bit integers.
_GREY_16 = ("I;16", "I;16L", "I;16B", "I;16N")


def read_image(path) -> np.ndarray:
  """The photo at `path` as uint8 [H, W, 3] RGB (validated; DataError)."""
  with validate.open_image(path) as image:
    return rgb_pixels(image, path)


def rgb_pixels(image: Image.Image, path) -> np.ndarray:
  """uint8 [H, W, 3] RGB of a PIL image of any mode a photo comes in.

  1-bit, grey, palette, CMYK, YCbCr and the modes with alpha convert as PIL
  converts them (alpha is dropped, as `tf.io.decode_png(channels=3)`
  drops it; 16-bit RGB PNGs PIL reads as 8-bit). 16-bit grey ("I;16") is
  scaled to 8 bits (PIL's conversion would clip it to white), and so is
  mode "I" whose values fit 16 bits (how PIL may read a 16-bit PNG), unless
  they all fit 8 bits (an 8-bit image stored as 32-bit integers, as some
  TIFFs are: kept as they are); other modes (floats, wider integers) are
  refused with a DataError naming `path`.
  """
  if image.mode in _GREY_16 or image.mode == "I":
    values = np.asarray(image).astype(np.int64)
    if values.size and (values.min() < 0 or values.max() > 65535):
      raise validate.DataError(
          f"{path}: {image.mode} pixels outside 0..65535 (not a 16-bit "
          "image); save it as an 8- or 16-bit PNG or a JPEG")
    eight_bit = image.mode == "I" and (not values.size or values.max() <= 255)
    grey = (values if eight_bit else np.round(values / 257.0)).astype(
        np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)
  if image.mode not in ("1", "L", "P", "PA", "LA", "La", "RGB", "RGBA",
                        "RGBa", "RGBX", "CMYK", "YCbCr"):
    raise validate.DataError(
        f"{path}: PIL mode {image.mode} images are not photos this reads "
        "(1-bit, 8/16-bit grey, palette, RGB(A), CMYK); save it as a PNG "
        "or a JPEG")
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
