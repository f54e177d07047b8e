"""Per-image confusion matrices: what paired bootstrap tests resample.

Each validation image gets its own [C, C] confusion matrix, computed exactly
like `inference.evaluate` (whole image after the eval resize, logits resized
back to the original size), so their sum is the streaming confusion matrix
and Eq. 17-19 of the sum are the usual metrics. Matrices are kept by image
id, so two models' results can be paired image by image.
"""
import dataclasses
from typing import Collection, Dict, List, Optional

import numpy as np
import tensorflow as tf

from segwgan.configs import data as data_config
from segwgan.data import pipeline
from segwgan.evaluation import inference
from segwgan.evaluation import metrics


@dataclasses.dataclass
class PerImage:
  """Confusion matrices of a split, one per image.

  Attributes:
    ids: image ids, in the split's order.
    matrices: int64 [N, C, C]; matrices[k, i, j] counts pixels of image k
      with ground truth i predicted as j (ignore pixels not counted).
  """
  ids: List[str]
  matrices: np.ndarray

  def total(self) -> np.ndarray:
    """The split's confusion matrix (the sum over images)."""
    return self.matrices.sum(axis=0)

  def save(self, path) -> None:
    """Writes an .npz (ids, matrices) to an open binary file or a path."""
    np.savez_compressed(path, ids=np.asarray(self.ids, dtype=str),
                        matrices=self.matrices)

  @classmethod
  def load(cls, path) -> "PerImage":
    with np.load(path) as data:
      return cls([str(i) for i in data["ids"]],
                 data["matrices"].astype(np.int64))

  def aligned(self, ids: List[str]) -> np.ndarray:
    """The matrices in the order of `ids` (ValueError if the sets differ)."""
    index = {i: k for k, i in enumerate(self.ids)}
    if set(index) != set(ids) or len(ids) != len(self.ids):
      raise ValueError("the two results cover different images "
                       f"({len(self.ids)} vs {len(ids)} ids)")
    return self.matrices[[index[i] for i in ids]]


def _batches(raw: tf.data.Dataset, data: data_config.DataConfig):
  """(id, features, labels) per image, as the eval pipeline prepares it."""
  def transform(example):
    features, labels = pipeline.eval_transform(example, data)
    return example["id"], features, labels
  return raw.map(transform, num_parallel_calls=tf.data.AUTOTUNE).batch(
      1).prefetch(tf.data.AUTOTUNE)


def evaluate(segmenter, raw: tf.data.Dataset,
             data: data_config.DataConfig, num_classes: int, *,
             keep: Collection[str] = (), max_images: int = 0,
             progress=None):
  """Per-image confusion matrices of `segmenter` on `raw` examples.

  Args:
    segmenter: normalised images -> logits.
    raw: `registry.load_raw` examples of the split.
    data: the eval DataConfig (normalisation, `resize_long_side`).
    num_classes: C.
    keep: ids whose predicted label maps (original size) are returned.
    max_images: evaluate only the first N images (0: all).
    progress: called with the number of images done.

  Returns:
    (PerImage, {id: int32 [H, W] prediction} for the ids in `keep`).
  """
  if max_images:
    raw = raw.take(max_images)
  predict = inference.make_batch_predict_fn(segmenter)
  ids, matrices, kept = [], [], {}
  for n, (image_id, features, labels) in enumerate(_batches(raw, data), 1):
    image_id = image_id.numpy()[0].decode()
    info = labels["image_info"]
    h, w = (int(v) for v in info.numpy()[0, 0])
    prediction = predict(features["image"], info).numpy()[0, :h, :w]
    cm = metrics.ConfusionMatrix(num_classes)
    cm.update(labels["masks"].numpy()[0, :h, :w, 0], prediction)
    ids.append(image_id)
    matrices.append(cm.matrix)
    if image_id in keep:
      kept[image_id] = prediction.astype(np.int32)
    if progress:
      progress(n)
  if not ids:
    raise ValueError("no images to evaluate")
  return PerImage(ids, np.stack(matrices)), kept


def metrics_of(result: PerImage, indices: Optional[np.ndarray] = None
               ) -> Dict[str, object]:
  """Eq. 17-19 of the summed matrices (of `indices` only, if given)."""
  matrices = result.matrices if indices is None else result.matrices[indices]
  return metrics.summary(matrices.sum(axis=0))
