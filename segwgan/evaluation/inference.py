"""Whole-image inference and evaluation over a pipeline's eval batches."""
from typing import Callable, Iterable, Optional

import numpy as np
import tensorflow as tf

from segwgan.evaluation import metrics


def restore_logits(logits, image_info):
  """Crops one image's logits to its picture and resizes to the original size.

  Args:
    logits: [H, W, C] float logits of the padded input.
    image_info: [4, 2] as written by `segwgan.data.pipeline`.
  """
  info = tf.cast(image_info, tf.int32)
  scaled_h, scaled_w = info[1, 0], info[1, 1]
  logits = logits[:scaled_h, :scaled_w]
  return tf.image.resize(logits, info[0], method="bilinear")


def make_predict_fn(segmenter) -> Callable:
  """A tf.function: (images, image_infos) -> list of label maps per image."""

  @tf.function(reduce_retracing=True)
  def predict(images, image_info):
    logits = tf.cast(segmenter(images, training=False), tf.float32)
    # Labels of different original sizes are padded to the largest.
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
             max_batches: Optional[int] = None,
             progress: Optional[Callable[[int], None]] = None
             ) -> metrics.ConfusionMatrix:
  """Streams eval batches through `segmenter`; returns the confusion matrix."""
  predict = make_predict_fn(segmenter)
  cm = metrics.ConfusionMatrix(num_classes)
  for step, (features, labels) in enumerate(dataset):
    if max_batches is not None and step >= max_batches:
      break
    predictions = predict(features["image"], labels["image_info"]).numpy()
    info = labels["image_info"].numpy().astype(np.int64)
    masks = labels["masks"].numpy()[..., 0]
    for k in range(predictions.shape[0]):
      h, w = info[k, 0]
      cm.update(masks[k, :h, :w], predictions[k, :h, :w])
    if progress:
      progress(step + 1)
  return cm
