"""Inference at the original size: whole image, sliding window, multi-scale
+ flip test-time augmentation, and evaluation over a pipeline's eval batches.
"""
import dataclasses
import functools
import math
from typing import Callable, Iterable, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from segwgan.evaluation import metrics
from segwgan.modeling import fused_inference


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

  @property
  def is_plain(self) -> bool:
    return tuple(self.scales) == (1.0,) and not self.flip and not self.window


def inference_logits(segmenter, images):
  """float32 logits of `segmenter` (training=False), traced with
  `fused_inference.inference_kernels`: the same outputs, faster."""
  with fused_inference.inference_kernels(segmenter):
    return tf.cast(segmenter(images, training=False), tf.float32)


def restore_logits(logits, image_info):
  """Crops one image's logits to its picture and resizes to the original size.

  Args:
    logits: [H, W, C] float logits of the padded input.
    image_info: [4, 2] as written by `segwgan.data.pipeline`.
  """
  info = tf.cast(image_info, tf.int32)
  logits = logits[:info[1, 0], :info[1, 1]]
  return tf.image.resize(logits, info[0], method="bilinear")


def window_starts(size: int, window: int, overlap: float) -> list:
  """Start offsets of windows covering [0, size) (last one flush right)."""
  if size <= window:
    return [0]
  stride = max(1, int(window * (1.0 - overlap)))
  count = math.ceil((size - window) / stride) + 1
  return sorted({min(i * stride, size - window) for i in range(count)})


class Predictor:
  """Class logits of single images: views are averaged in logit space, as
  the batched path resizes logits, so both give the same labels."""

  def __init__(self, segmenter, config: InferenceConfig = InferenceConfig()):
    self.config = config
    self._logits = tf.function(functools.partial(inference_logits, segmenter),
                               reduce_retracing=True)

  def _whole_or_windows(self, image):
    """Logits [H, W, C] of one normalised image [H, W, 3]."""
    window = self.config.window
    height, width = int(image.shape[0]), int(image.shape[1])
    if window is None or (height <= window[0] and width <= window[1]):
      return self._logits(image[None])[0]
    win_h, win_w = min(window[0], height), min(window[1], width)
    total, counts = None, np.zeros((height, width, 1), np.float32)
    for y in window_starts(height, win_h, self.config.overlap):
      for x in window_starts(width, win_w, self.config.overlap):
        logits = self._logits(image[None, y:y + win_h, x:x + win_w])[0]
        if total is None:
          total = np.zeros((height, width, logits.shape[-1]), np.float32)
        total[y:y + win_h, x:x + win_w] += logits.numpy()
        counts[y:y + win_h, x:x + win_w] += 1.0
    return tf.constant(total / counts)

  def logits(self, image) -> tf.Tensor:
    """Averaged class logits [H, W, C] of one image [H, W, 3]."""
    image = tf.convert_to_tensor(image, tf.float32)
    size = tf.shape(image)[:2]
    total = 0.0
    for scale in self.config.scales:
      scaled = image
      if scale != 1.0:
        new_size = tf.cast(tf.round(tf.cast(size, tf.float32) * scale),
                           tf.int32)
        scaled = tf.image.resize(image, new_size, method="bilinear")
      views = [(scaled, False)] + ([(scaled[:, ::-1], True)]
                                   if self.config.flip else [])
      for view, flipped in views:
        logits = self._whole_or_windows(view)
        if flipped:
          logits = logits[:, ::-1]
        total += tf.image.resize(logits, size, method="bilinear")
    return total / (len(self.config.scales) * (2 if self.config.flip else 1))

  def labels(self, image) -> np.ndarray:
    """The argmax label map [H, W] (int32) of one image."""
    return tf.argmax(self.logits(image), axis=-1,
                     output_type=tf.int32).numpy()


def make_batch_predict_fn(segmenter) -> Callable:
  """A tf.function: (images, image_infos) -> [B, H, W] labels at original
  size (padded to the batch's largest original size)."""

  @tf.function(reduce_retracing=True)
  def predict(images, image_info):
    logits = inference_logits(segmenter, images)
    max_size = tf.cast(tf.reduce_max(image_info[:, 0], axis=0), tf.int32)

    def one_image(args):
      restored = restore_logits(*args)
      pad = max_size - tf.shape(restored)[:2]
      restored = tf.pad(restored, [[0, pad[0]], [0, pad[1]], [0, 0]])
      return tf.argmax(restored, axis=-1, output_type=tf.int32)

    return tf.map_fn(one_image, (logits, image_info),
                     fn_output_signature=tf.int32)

  return predict


def evaluate(segmenter, dataset: Iterable, num_classes: int,
             config: InferenceConfig = InferenceConfig(),
             max_batches: Optional[int] = None,
             progress: Optional[Callable[[int], None]] = None
             ) -> metrics.ConfusionMatrix:
  """Streams eval batches through `segmenter`; returns the confusion matrix.

  Plain whole-image inference runs batched; test-time augmentation and
  sliding windows run image by image on the unpadded picture.
  """
  batch_predict = make_batch_predict_fn(segmenter) if config.is_plain else None
  predictor = None if config.is_plain else Predictor(segmenter, config)
  cm = metrics.ConfusionMatrix(num_classes)
  for step, (features, labels) in enumerate(dataset):
    if max_batches is not None and step >= max_batches:
      break
    info = labels["image_info"].numpy()
    masks = labels["masks"].numpy()[..., 0]
    if batch_predict is not None:
      predictions = batch_predict(features["image"], labels["image_info"]
                                  ).numpy()
    for k in range(masks.shape[0]):
      (h, w), (sh, sw) = info[k, 0].astype(int), info[k, 1].astype(int)
      if predictor is not None:
        logits = predictor.logits(features["image"][k, :sh, :sw])
        prediction = tf.argmax(tf.image.resize(logits, (h, w)),
                               axis=-1).numpy()
      else:
        prediction = predictions[k, :h, :w]
      cm.update(masks[k, :h, :w], prediction)
    if progress:
      progress(step + 1)
  return cm
