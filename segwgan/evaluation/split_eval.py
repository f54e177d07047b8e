"""The one evaluation function: a model over a dataset split, image by image.

`evaluate_split` feeds every example's image to `predict` (uint8 [H, W, 3]
-> int labels [H, W] at the image's size: `inference.ImageInference.labels`
in training's validation, `serving.predictor.Predictor.predict` in
tools/evaluate.py), accumulates the confusion matrix (Eq. 17-19), optionally
keeps each image's own matrix (for paired bootstrap over images) and chosen
images' predictions, and, for Cityscapes, writes the predictions as official
labelIds PNGs and scores them with cityscapesscripts (Eq. 20-23) when the
ground truth files are there.
"""
import dataclasses
import pathlib
from typing import Callable, Collection, Dict, Iterable, List, Optional

import numpy as np

from segwgan.evaluation import cityscapes
from segwgan.evaluation import metrics
from segwgan.evaluation import per_image as per_image_lib


@dataclasses.dataclass
class SplitResult:
  """What `evaluate_split` measured.

  Attributes:
    matrix: the summed confusion matrix [C, C] (rows ground truth).
    ids: the example ids in evaluation order.
    per_image: each image's confusion matrix (None unless asked for).
    kept: the predictions [H, W] (int32) of the images asked for, by id.
    cityscapes_scores: the official scores (None if not Cityscapes, or if
      some images lack gtFine labelIds + instanceIds files).
    cityscapes_missing: Cityscapes images without those files.
  """
  matrix: np.ndarray
  ids: List[str]
  per_image: Optional[per_image_lib.PerImage]
  kept: Dict[str, np.ndarray]
  cityscapes_scores: Optional[cityscapes.Scores] = None
  cityscapes_missing: int = 0

  @property
  def summary(self) -> dict:
    return metrics.summary(self.matrix)


def evaluate_split(predict: Callable[[np.ndarray], np.ndarray],
                   examples: Iterable[dict], num_classes: int, *,
                   keep_per_image: bool = False,
                   keep: Collection[str] = (),
                   cityscapes_results_dir=None,
                   cityscapes_source_dir=None, split: str = "val",
                   on_image: Optional[Callable[[int], None]] = None
                   ) -> SplitResult:
  """Evaluates `predict` on `examples` (`registry.load_raw` numpy dicts).

  Args:
    predict: uint8 image [H, W, 3] -> label map [H, W] of train ids.
    examples: dicts with 'image', 'label' ([H, W, 1], 255 ignored) and 'id'.
    num_classes: C.
    keep_per_image: also return each image's confusion matrix.
    keep: ids whose predictions are returned.
    cityscapes_results_dir: if set, predictions are written there as
      official labelIds PNGs and scored against the gtFine files of
      `cityscapes_source_dir` / `split`.
    on_image: called with the number of images done (progress).

  Raises:
    ValueError: `examples` is empty.
  """
  total = metrics.ConfusionMatrix(num_classes)
  ids, matrices, kept, pairs, missing = [], [], {}, [], 0
  for example in examples:
    prediction = predict(example["image"])
    label = example["label"][..., 0]
    image_cm = metrics.ConfusionMatrix(num_classes)
    image_cm.update(label, prediction)
    total.merge(image_cm)
    if keep_per_image:
      matrices.append(image_cm.matrix)
    name = example["id"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    ids.append(name)
    if name in keep:
      kept[name] = np.asarray(prediction, np.int32)
    if cityscapes_results_dir is not None:
      frame = cityscapes.frame_id(name)
      path = cityscapes.write_prediction(cityscapes_results_dir, frame,
                                         prediction)
      gt = (cityscapes.ground_truth_files(cityscapes_source_dir, split, frame)
            if cityscapes_source_dir else ())
      if gt and all(pathlib.Path(p).is_file() for p in gt):
        pairs.append((path, gt[0]))
      else:
        missing += 1
    if on_image:
      on_image(len(ids))
  if not ids:
    raise ValueError("no images to evaluate")
  scores = None
  if cityscapes_results_dir is not None and not missing:
    scores = cityscapes.evaluate(pairs)
  per_image = (per_image_lib.PerImage(ids, np.stack(matrices))
               if keep_per_image else None)
  return SplitResult(total.matrix, ids, per_image, kept, scores, missing)
