"""Cityscapes' official metrics (Eq. 20-23) from cityscapesscripts.

Predictions (trainIds) are written as ``labelIds`` PNGs in the official
results layout (``RESULTS/<city>/<city>_<seq>_<frame>_pred_labelIds.png``,
the names `evalPixelLevelSemanticLabeling.getPrediction` finds) and scored by
the official `evaluateImgLists` against gtFine ``*_gtFine_labelIds.png``, with
the ``*_gtFine_instanceIds.png`` beside them for the instance-weighted iIoU.

The official averages leave out NaN scores: a class that is neither in the
ground truth nor predicted, and for iIoU also an instance class without
ground-truth instances and without false positives.
"""
import contextlib
import dataclasses
import io
import pathlib
import re
import types
from typing import Iterable, Tuple

import numpy as np
from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as official
from cityscapesscripts.helpers import labels as cs_labels
from PIL import Image

from segwgan import errors
from segwgan import labels as labels_lib

LABEL_IDS_SUFFIX = "_gtFine_labelIds.png"
INSTANCE_IDS_SUFFIX = "_gtFine_instanceIds.png"
PREDICTION_SUFFIX = "_pred_labelIds.png"
_FRAME = re.compile(r"^([^_/]+)_(\d+)_(\d+)")
_TRAIN_TO_LABEL = labels_lib.cityscapes_train_id_to_label_id()


@dataclasses.dataclass(frozen=True)
class Scores:
  """The official figures.

  Attributes:
    class_iou, class_iiou: the 19 evaluated classes (trainId order) -> IoU /
      iIoU (iIoU is NaN for classes without instances).
    category_iou, category_iiou: the 7 evaluated categories -> IoU / iIoU.
    iou_classes, iiou_classes, iou_categories, iiou_categories: Eq. 20, 22,
      21 and 23 (the official averages).
  """
  class_iou: dict
  class_iiou: dict
  category_iou: dict
  category_iiou: dict
  iou_classes: float
  iiou_classes: float
  iou_categories: float
  iiou_categories: float


def frame_id(name: str) -> str:
  """'<city>_<seq>_<frame>' of a Cityscapes file name or example id."""
  match = _FRAME.match(pathlib.Path(name).name)
  if not match:
    raise errors.UserError(f"{name!r} is not a Cityscapes name "
                           "(<city>_<seq>_<frame>...)")
  return match.group(0)


def ground_truth_files(source_dir, split: str, frame: str
                       ) -> Tuple[pathlib.Path, pathlib.Path]:
  """(labelIds, instanceIds) paths of `frame` in the official gtFine layout."""
  base = (pathlib.Path(source_dir) / "gtFine" / split / frame.split("_")[0] /
          frame)
  return (base.with_name(base.name + LABEL_IDS_SUFFIX),
          base.with_name(base.name + INSTANCE_IDS_SUFFIX))


def to_label_ids(train_ids: np.ndarray) -> np.ndarray:
  """trainIds (255 = none) -> official labelIds (uint8; 255 -> unlabeled)."""
  return _TRAIN_TO_LABEL[np.asarray(train_ids).astype(np.int64) % 256]


def write_prediction(results_dir, frame: str,
                     train_ids: np.ndarray) -> pathlib.Path:
  """Writes one trainId prediction as `results_dir/<city>/<frame>` labelIds."""
  path = pathlib.Path(results_dir) / frame.split("_")[0] / (
      frame + PREDICTION_SUFFIX)
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(to_label_ids(train_ids)).save(path)
  return path


class _NumpyWithIn1d(types.ModuleType):
  """numpy plus `in1d` (removed in numpy 2.4, still called by the evaluator)."""

  def __getattr__(self, name):
    return getattr(np, name)

  @staticmethod
  def in1d(values, test_values, invert=False):
    return np.isin(np.ravel(values), test_values, invert=invert)


@contextlib.contextmanager
def _evaluator_numpy():
  saved = official.np
  if not hasattr(np, "in1d"):
    official.np = _NumpyWithIn1d("numpy")
  try:
    yield
  finally:
    official.np = saved


def _check_pair(prediction, ground_truth) -> None:
  instances = str(ground_truth).replace("labelIds", "instanceIds")
  for path in (prediction, ground_truth, instances):
    if not pathlib.Path(path).is_file():
      raise FileNotFoundError(f"Cityscapes evaluation: no file {path}")
  sizes = []
  for path in (prediction, ground_truth):
    try:
      with Image.open(path) as image:
        sizes.append(image.size)
    except OSError as e:
      raise errors.UserError(f"Cityscapes evaluation: {path} is not a "
                             f"readable image ({e})") from None
  if sizes[0] != sizes[1]:
    raise errors.UserError(
        f"prediction {prediction} is {sizes[0][0]}x{sizes[0][1]}, ground "
        f"truth {ground_truth} {sizes[1][0]}x{sizes[1][1]}")


def _evaluated(scores: dict, names: Iterable[str]) -> dict:
  return {name: float(scores[name]) for name in names}


def evaluate(pairs: Iterable[Tuple[str, str]]) -> Scores:
  """Runs the official evaluator on (prediction, gt labelIds) file pairs.

  Raises:
    FileNotFoundError: a prediction, labelIds or instanceIds file is missing.
    UserError: sizes differ, or the evaluator refused or could not read the
      files.
  """
  pairs = [(str(p), str(g)) for p, g in pairs]
  if not pairs:
    raise errors.UserError("Cityscapes evaluation needs at least one image")
  for prediction, ground_truth in pairs:
    _check_pair(prediction, ground_truth)
  args = official.CArgs()
  args.__dict__.update(vars(official.args))
  args.evalInstLevelScore = True
  args.evalPixelAccuracy = False
  args.JSONOutput = False
  args.quiet = True
  output = io.StringIO()
  try:
    with _evaluator_numpy(), contextlib.redirect_stdout(output):
      result = official.evaluateImgLists([p for p, _ in pairs],
                                         [g for _, g in pairs], args)
  except SystemExit:
    raise errors.UserError("cityscapesscripts: " + output.getvalue().strip()
                           ) from None
  except OSError as e:  # e.g. an instanceIds PNG PIL cannot read
    raise errors.UserError(f"cityscapesscripts could not read a file: {e}"
                           ) from None
  classes = labels_lib.CITYSCAPES.class_names
  categories = [c for c, members in cs_labels.category2labels.items()
                if not all(label.ignoreInEval for label in members)]
  return Scores(
      class_iou=_evaluated(result["classScores"], classes),
      class_iiou=_evaluated(result["classInstScores"], classes),
      category_iou=_evaluated(result["categoryScores"], categories),
      category_iiou=_evaluated(result["categoryInstScores"], categories),
      iou_classes=float(result["averageScoreClasses"]),
      iiou_classes=float(result["averageScoreInstClasses"]),
      iou_categories=float(result["averageScoreCategories"]),
      iiou_categories=float(result["averageScoreInstCategories"]))
