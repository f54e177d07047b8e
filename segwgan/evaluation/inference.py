"""The one inference path: class logits of single images at their own size.

`ImageInference` resizes an image to the model's evaluation size
(`pipeline.scaled_size` of `resize_long_side`), runs the model (whole image
or sliding windows, at several scales, with a flipped view: test-time
augmentation), averages the logits and resizes them back to the image's
size. Training's validation (`segmenter_labels`), `serving.Predictor`, and
through it `tools/evaluate.py` and the report, all predict with it.
"""
import dataclasses
import math
from typing import Callable, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from segwgan.configs import data as data_config
from segwgan.data import pipeline
from segwgan.modeling import folded

# float32 pixels [B, H, W, 3] on the [0, 255] scale -> logits [B, H, W, C].
PixelLogits = Callable[[tf.Tensor], tf.Tensor]


@dataclasses.dataclass(frozen=True)
class InferenceConfig:
  """How an image is predicted.

  Attributes:
    scales: image scales whose softmax outputs are averaged (1.0 = as given).
    flip: also average the horizontally flipped prediction.
    window: (h, w) of a sliding window, or None for the whole image at once.
    overlap: fraction of the window shared by neighbouring windows.
  """
  scales: Sequence[float] = (1.0,)
  flip: bool = False
  window: Optional[Tuple[int, int]] = None
  overlap: float = 1.0 / 3.0


def segmenter_logits(segmenter, mean: Sequence[float],
                     stddev: Sequence[float]) -> PixelLogits:
  """`PixelLogits` of a segmenter taking images normalised by mean/stddev,
  run as its folded copy (`folded.FoldedSegmenter`, as the export runs it):
  the weights as of this call, later training does not show. On oneDNN CPUs
  the Keras model called on images of varying size was about 4x slower.
  """
  model = folded.FoldedSegmenter(segmenter)
  mean = tf.constant(mean, tf.float32)
  stddev = tf.constant(stddev, tf.float32)
  return tf.function(
      lambda pixels: tf.cast(model((pixels - mean) / stddev), tf.float32),
      input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])


def window_starts(size: int, window: int, overlap: float) -> list:
  """Start offsets of windows covering [0, size) (last one flush right)."""
  if size <= window:
    return [0]
  stride = max(1, int(window * (1.0 - overlap)))
  count = math.ceil((size - window) / stride) + 1
  return sorted({min(i * stride, size - window) for i in range(count)})


class ImageInference:
  """Class logits of single images: views are averaged in logit space."""

  def __init__(self, pixel_logits: PixelLogits, resize_long_side: int = 0,
               config: InferenceConfig = InferenceConfig()):
    """`pixel_logits`: see `PixelLogits`; `resize_long_side`: the model's
    evaluation size (0: each image at its own size)."""
    self.resize_long_side = resize_long_side
    self.config = config
    self._pixel_logits = pixel_logits

  def _whole_or_windows(self, pixels):
    """Logits [H, W, C] of one image [H, W, 3] (float, [0, 255])."""
    window = self.config.window
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    if window is None or (height <= window[0] and width <= window[1]):
      return self._pixel_logits(pixels[None])[0]
    win_h, win_w = min(window[0], height), min(window[1], width)
    total, counts = None, np.zeros((height, width, 1), np.float32)
    for y in window_starts(height, win_h, self.config.overlap):
      for x in window_starts(width, win_w, self.config.overlap):
        logits = self._pixel_logits(pixels[None, y:y + win_h, x:x + win_w])[0]
        if total is None:
          total = np.zeros((height, width, logits.shape[-1]), np.float32)
        total[y:y + win_h, x:x + win_w] += logits.numpy()
        counts[y:y + win_h, x:x + win_w] += 1.0
    return tf.constant(total / counts)

  def _augmented(self, pixels):
    """Logits at `pixels`' size, averaged over scales and flips."""
    size = tf.shape(pixels)[:2]
    total = 0.0
    for scale in self.config.scales:
      scaled = pixels
      if scale != 1.0:
        new_size = tf.cast(tf.round(tf.cast(size, tf.float32) * scale),
                           tf.int32)
        scaled = tf.image.resize(pixels, new_size, method="bilinear")
      views = [(scaled, False)] + ([(scaled[:, ::-1], True)]
                                   if self.config.flip else [])
      for view, flipped in views:
        logits = self._whole_or_windows(view)
        if flipped:
          logits = logits[:, ::-1]
        if scale != 1.0:
          logits = tf.image.resize(logits, size, method="bilinear")
        total += logits
    return total / (len(self.config.scales) * (2 if self.config.flip else 1))

  def logits(self, image) -> tf.Tensor:
    """float32 logits [H, W, C] of one RGB image [H, W, 3] on [0, 255]."""
    pixels = tf.cast(tf.convert_to_tensor(image), tf.float32)
    size = tf.shape(pixels)[:2]
    if self.resize_long_side > 0:
      pixels = tf.image.resize(
          pixels, pipeline.scaled_size(size, self.resize_long_side),
          method="bilinear")
    logits = self._augmented(pixels)
    if self.resize_long_side > 0:
      logits = tf.image.resize(logits, size, method="bilinear")
    return logits

  def labels(self, image) -> np.ndarray:
    """The argmax label map [H, W] (int32) of one image."""
    return tf.argmax(self.logits(image), axis=-1,
                     output_type=tf.int32).numpy()


def segmenter_labels(segmenter, data: data_config.DataConfig,
                     config: InferenceConfig = InferenceConfig()
                     ) -> Callable[[np.ndarray], np.ndarray]:
  """uint8 image -> label map of `segmenter` (its weights as of this call)
  with `data`'s normalisation and evaluation size (what training's
  validation scores)."""
  return ImageInference(
      segmenter_logits(segmenter, data.image_feature.mean,
                       data.image_feature.stddev),
      data.resize_long_side, config).labels
