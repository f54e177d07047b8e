"""The paper's metrics (Eq. 17-19) from a streaming confusion matrix.

The confusion matrix ``cm[i, j]`` counts pixels of ground-truth class ``i``
predicted as ``j``; ground-truth pixels equal to the ignore label (255) are
not counted. A class absent from both the ground truth and the predictions
(IoU = 0/0) and a class absent from the ground truth (accuracy = n/0) are left
out of the means: they are reported as NaN per class, and the means average
the classes that are defined. This is how TF DeepLab's `mean_iou` and the
Model Garden's `MeanIoU` treat them.
"""
import numpy as np
import tensorflow as tf

from segwgan import labels as labels_lib


class ConfusionMatrix:
  """Accumulates a [C, C] int64 confusion matrix over batches (numpy)."""

  def __init__(self, num_classes: int,
               ignore_label: int = labels_lib.IGNORE_LABEL):
    self.num_classes = num_classes
    self.ignore_label = ignore_label
    self.matrix = np.zeros((num_classes, num_classes), np.int64)

  def update(self, labels, predictions) -> None:
    """Adds integer label and prediction maps of the same shape."""
    labels = np.asarray(labels).ravel().astype(np.int64)
    predictions = np.asarray(predictions).ravel().astype(np.int64)
    if labels.shape != predictions.shape:
      raise ValueError(f"labels {labels.shape} and predictions "
                       f"{predictions.shape} differ in size")
    keep = labels != self.ignore_label
    labels, predictions = labels[keep], predictions[keep]
    bad = (labels < 0) | (labels >= self.num_classes)
    if bad.any():
      raise ValueError(f"label value {labels[bad][0]} outside 0.."
                       f"{self.num_classes - 1} (and not {self.ignore_label})")
    self.matrix += np.bincount(
        labels * self.num_classes + predictions,
        minlength=self.num_classes ** 2).reshape(self.matrix.shape)

  def merge(self, other: "ConfusionMatrix") -> None:
    self.matrix += other.matrix


def per_class_iou(cm: np.ndarray) -> np.ndarray:
  """n_ii / (sum_j n_ij + sum_j n_ji - n_ii) per class of a [C, C] (or each
  of a [..., C, C]) matrix; NaN when 0/0."""
  cm = np.asarray(cm, np.float64)
  tp = np.diagonal(cm, axis1=-2, axis2=-1)
  union = cm.sum(-1) + cm.sum(-2) - tp
  with np.errstate(divide="ignore", invalid="ignore"):
    return np.where(union > 0, tp / union, np.nan)


def mean_iou(cm: np.ndarray):
  """Eq. 17: the mean of the defined per-class IoUs (NaN if none is); a
  float for a [C, C] matrix, an array for [..., C, C]."""
  iou = per_class_iou(cm)
  defined = ~np.isnan(iou)
  count = defined.sum(-1)
  with np.errstate(divide="ignore", invalid="ignore"):
    value = np.where(count > 0, np.where(defined, iou, 0.0).sum(-1) / count,
                     np.nan)
  return float(value) if value.ndim == 0 else value


def pixel_accuracy(cm: np.ndarray) -> float:
  """Eq. 18: sum_i n_ii / sum_i t_i."""
  cm = np.asarray(cm, np.float64)
  total = cm.sum()
  return float(np.trace(cm) / total) if total else float("nan")


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
  """n_ii / t_i per class; NaN for classes absent from the ground truth."""
  cm = np.asarray(cm, np.float64)
  t = cm.sum(1)
  with np.errstate(divide="ignore", invalid="ignore"):
    return np.where(t > 0, np.diag(cm) / t, np.nan)


def class_accuracy(cm: np.ndarray) -> float:
  """Eq. 19: the mean of the defined per-class accuracies."""
  return float(np.nanmean(per_class_accuracy(cm)))


def summary(cm: np.ndarray) -> dict:
  """All metrics of a confusion matrix, as plain floats and lists."""
  return {"miou": mean_iou(cm), "pixel_accuracy": pixel_accuracy(cm),
          "class_accuracy": class_accuracy(cm),
          "per_class_iou": per_class_iou(cm).tolist(),
          "per_class_accuracy": per_class_accuracy(cm).tolist()}


def confusion_matrix_tf(labels, predictions, num_classes: int,
                        ignore_label: int = labels_lib.IGNORE_LABEL):
  """The same count inside a tf.function (int64 [C, C])."""
  labels = tf.reshape(tf.cast(labels, tf.int64), [-1])
  predictions = tf.reshape(tf.cast(predictions, tf.int64), [-1])
  keep = tf.not_equal(labels, ignore_label)
  return tf.math.confusion_matrix(
      tf.boolean_mask(labels, keep), tf.boolean_mask(predictions, keep),
      num_classes=num_classes, dtype=tf.int64)
