"""An evaluation's results as a printed table, JSON and CSV.

Percentages are printed with two decimals; a class absent from both the
ground truth and the prediction has no IoU or accuracy (NaN, printed `-`,
`null` in JSON, empty in CSV) and is left out of the means (Eq. 17, 19).
"""
import csv
import io
import json
import math
from typing import Optional, Sequence

import numpy as np

from segwgan.evaluation import cityscapes


def _number(value) -> Optional[float]:
  """JSON-safe float (NaN -> None)."""
  value = float(value)
  return None if math.isnan(value) else value


def _percent(value) -> str:
  return "-" if value is None or math.isnan(value) else f"{100 * value:.2f}"


def metric_table(class_names: Sequence[str], summary: dict) -> str:
  """Per-class IoU and accuracy, then Eq. 17-19."""
  rows = [f"{'class':<20} {'IoU %':>7} {'acc %':>7}"]
  for name, iou, acc in zip(class_names, summary["per_class_iou"],
                            summary["per_class_accuracy"]):
    rows.append(f"{name:<20} {_percent(iou):>7} {_percent(acc):>7}")
  rows.append(f"{'mean (Eq. 17, 19)':<20} {_percent(summary['miou']):>7} "
              f"{_percent(summary['class_accuracy']):>7}")
  rows.append(f"{'pixel acc. (Eq. 18)':<20} {'':>7} "
              f"{_percent(summary['pixel_accuracy']):>7}")
  return "\n".join(rows)


def cityscapes_table(scores: cityscapes.Scores) -> str:
  """Official IoU / iIoU of classes and categories (Eq. 20-23)."""
  rows = [f"{'Cityscapes (official)':<22} {'IoU %':>7} {'iIoU %':>7}"]
  for name, iou in scores.class_iou.items():
    rows.append(f"{name:<22} {_percent(iou):>7} "
                f"{_percent(scores.class_iiou[name]):>7}")
  rows.append(f"{'classes (Eq. 20, 22)':<22} {_percent(scores.iou_classes):>7}"
              f" {_percent(scores.iiou_classes):>7}")
  for name, iou in scores.category_iou.items():
    rows.append(f"{'  ' + name:<22} {_percent(iou):>7} "
                f"{_percent(scores.category_iiou[name]):>7}")
  rows.append(f"{'categories (Eq. 21, 23)':<22} "
              f"{_percent(scores.iou_categories):>7} "
              f"{_percent(scores.iiou_categories):>7}")
  return "\n".join(rows)


def _csv(header, rows) -> str:
  text = io.StringIO()
  writer = csv.writer(text, lineterminator="\n")
  writer.writerow(header)
  writer.writerows([["" if v is None else v for v in row] for row in rows])
  return text.getvalue()


def metrics_files(class_names: Sequence[str], summary: dict, cm: np.ndarray,
                  header: dict) -> tuple:
  """(metrics.json text, metrics.csv text); `header` leads the JSON."""
  classes = [{"name": n, "iou": _number(i), "accuracy": _number(a)}
             for n, i, a in zip(class_names, summary["per_class_iou"],
                                summary["per_class_accuracy"])]
  result = dict(header, miou=_number(summary["miou"]),
                pixel_accuracy=_number(summary["pixel_accuracy"]),
                class_accuracy=_number(summary["class_accuracy"]),
                classes=classes, confusion_matrix=np.asarray(cm).tolist())
  rows = [[c["name"], c["iou"], c["accuracy"]] for c in classes]
  rows.append(["mean", result["miou"], result["class_accuracy"]])
  rows.append(["pixel_accuracy", None, result["pixel_accuracy"]])
  return (json.dumps(result, indent=2) + "\n",
          _csv(["class", "iou", "accuracy"], rows))


def cityscapes_files(scores: cityscapes.Scores) -> tuple:
  """(the 'cityscapes' JSON entry, cityscapes.csv text)."""
  entry = {"iou_classes": _number(scores.iou_classes),
           "iiou_classes": _number(scores.iiou_classes),
           "iou_categories": _number(scores.iou_categories),
           "iiou_categories": _number(scores.iiou_categories),
           "classes": {n: {"iou": _number(v),
                           "iiou": _number(scores.class_iiou[n])}
                       for n, v in scores.class_iou.items()},
           "categories": {n: {"iou": _number(v),
                              "iiou": _number(scores.category_iiou[n])}
                          for n, v in scores.category_iou.items()}}
  rows = [["class", n, v["iou"], v["iiou"]]
          for n, v in entry["classes"].items()]
  rows += [["category", n, v["iou"], v["iiou"]]
           for n, v in entry["categories"].items()]
  rows.append(["mean", "classes", entry["iou_classes"],
               entry["iiou_classes"]])
  rows.append(["mean", "categories", entry["iou_categories"],
               entry["iiou_categories"]])
  return entry, _csv(["kind", "name", "iou", "iiou"], rows)
