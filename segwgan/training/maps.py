"""The class maps G and D see, and the image panels shown in TensorBoard.

G's input is a class distribution per pixel: the one-hot ground truth in
stage 1, the segmenter's softmax in stage 2. At ignore pixels (void labels
and crop padding, label 255) it is the zero vector in both stages, so stage 2
feeds G the same kind of map it was trained on, and nothing at those pixels
depends on the segmenter.
"""
import numpy as np
import tensorflow as tf

from segwgan import labels as labels_lib


def ground_truth_map(masks, num_classes: int, dtype=tf.float32):
  """One-hot [B,H,W,C] of int masks [B,H,W,1]; 255 -> all zeros (Eq. 10)."""
  return tf.one_hot(masks[..., 0], num_classes, dtype=dtype)


def prediction_map(logits, valid_masks):
  """Softmax of the segmenter's logits, zeroed at ignore pixels (p_seg)."""
  return tf.nn.softmax(logits) * tf.cast(valid_masks, logits.dtype)


def panel(palette: np.ndarray, image_gan, *label_maps_and_images):
  """Side-by-side uint8 panel: the input, then each [B,H,W] label map
  (colourised with `palette`) or [B,H,W,3] image in [-1, 1]."""
  def to_uint8(image):
    return tf.cast(tf.clip_by_value((tf.cast(image, tf.float32) + 1.0) * 127.5,
                                    0, 255), tf.uint8)
  palette = tf.constant(palette, tf.uint8)
  columns = [to_uint8(image_gan)]
  for item in label_maps_and_images:
    if item.shape.rank == 3:
      columns.append(tf.gather(palette, tf.cast(item, tf.int32) %
                               (labels_lib.IGNORE_LABEL + 1)))
    else:
      columns.append(to_uint8(item))
  return tf.concat(columns, axis=2)
