"""Per-image confusion matrices: what paired bootstrap tests resample.

Each validation image gets its own [C, C] confusion matrix
(`split_eval.evaluate_split(..., keep_per_image=True)`), so their sum is the
split's confusion matrix and Eq. 17-19 of the sum are the usual metrics.
Matrices are kept by image id, so two models' results can be paired image by
image.
"""
import dataclasses
from typing import Dict, List, Optional

import numpy as np

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


def metrics_of(result: PerImage, indices: Optional[np.ndarray] = None
               ) -> Dict[str, object]:
  """Eq. 17-19 of the summed matrices (of `indices` only, if given)."""
  matrices = result.matrices if indices is None else result.matrices[indices]
  return metrics.summary(matrices.sum(axis=0))
