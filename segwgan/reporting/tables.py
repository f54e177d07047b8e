"""Markdown tables of the report: paper vs measured, per class, differences.

Values are fractions in, percent (points) out, with two decimals; a value
measured over several seeds is shown as mean ± std.
"""
import math
from typing import Dict, List, Optional, Sequence

import numpy as np

from segwgan.reporting import bootstrap
from segwgan.reporting import paper

NOT_REPORTED = "not reported"


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]],
             align: Optional[str] = None) -> str:
  """A Markdown table; `align` has one of 'l'/'r' per column."""
  align = align or "l" + "r" * (len(header) - 1)
  rule = ["---:" if a == "r" else "---" for a in align]
  lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
  lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
  return "\n".join(lines)


def percent(value: Optional[float]) -> str:
  if value is None or not math.isfinite(value):
    return "n/a"
  return f"{100 * value:.2f}"


def spread(value: bootstrap.Spread) -> str:
  """mean ± std in percent (just the value for one seed)."""
  if len(value.values) == 1:
    return percent(value.mean)
  return f"{percent(value.mean)} ± {100 * value.std:.2f}"


def paper_value(value: Optional[float]) -> str:
  return "-" if value is None else f"{value:.1f}"


def paper_vs_measured(table: Optional[paper.PaperTable], summaries: Dict
                      ) -> str:
  """Per variant: each metric as the paper's and the measured value."""
  header = ["method"]
  for metric in ("class_accuracy", "pixel_accuracy", "miou"):
    name = paper.METRIC_NAMES[metric]
    header += [f"{name} paper", f"{name} measured"]
  rows = []
  for variant in paper.VARIANTS:
    row = [paper.VARIANT_NAMES[variant]]
    summary = summaries.get(variant)
    for metric in ("class_accuracy", "pixel_accuracy", "miou"):
      row.append(paper_value(table.value(variant, metric) if table else None))
      row.append(spread(summary.metrics[metric]) if summary else "not run")
    rows.append(row)
  return markdown(header, rows)


def per_class(class_names: Sequence[str], summaries: Dict) -> str:
  """Per-class IoU of each variant (mean ± std over seeds)."""
  variants = [v for v in paper.VARIANTS if v in summaries]
  header = ["class", "paper"] + [f"{paper.VARIANT_NAMES[v]} IoU"
                                 for v in variants]
  rows = []
  for k, name in enumerate(class_names):
    row = [name, NOT_REPORTED]
    for v in variants:
      s = summaries[v]
      mean, std = s.per_class_iou[k], s.per_class_iou_std[k]
      cell = percent(mean)
      if len(s.seeds) > 1 and np.isfinite(mean):
        cell += f" ± {100 * std:.2f}"
      row.append(cell)
    rows.append(row)
  return markdown(header, rows)


def differences(comparisons: Dict, table: Optional[paper.PaperTable]
                ) -> str:
  """Variant - DeepLabv3 in mIoU: paper, pooled interval, seed spread."""
  header = ["difference (mIoU points)", "paper", "measured (mean over seeds)",
            "95% CI, paired bootstrap", "CI excludes 0",
            "per seed (mean ± std)"]
  rows = []
  for variant, c in comparisons.items():
    expected = None
    if table and table.value(variant, "miou") is not None:
      expected = (table.value(variant, "miou") -
                  table.value("deeplabv3", "miou"))
    interval = c.pooled
    per_seed = ", ".join(bootstrap.format_points(v) for v in c.spread.values)
    if len(c.spread.values) > 1:
      per_seed += (f" ({bootstrap.format_points(c.spread.mean)} ± "
                   f"{100 * c.spread.std:.2f})")
    rows.append([
        f"{paper.VARIANT_NAMES[variant]} - DeepLabv3",
        "-" if expected is None else f"{expected:+.1f}",
        bootstrap.format_points(interval.estimate),
        f"[{bootstrap.format_points(interval.low)}, "
        f"{bootstrap.format_points(interval.high)}]",
        "yes" if interval.excludes_zero else "no", per_seed])
  return markdown(header, rows)


def per_seed_intervals(comparisons: Dict) -> str:
  """Each seed's paired bootstrap interval."""
  header = ["difference", "seed", "mIoU points", "95% CI", "CI excludes 0"]
  rows: List[List[str]] = []
  for variant, c in comparisons.items():
    for seed, interval in sorted(c.per_seed.items()):
      rows.append([f"{paper.VARIANT_NAMES[variant]} - DeepLabv3", str(seed),
                   bootstrap.format_points(interval.estimate),
                   f"[{bootstrap.format_points(interval.low)}, "
                   f"{bootstrap.format_points(interval.high)}]",
                   "yes" if interval.excludes_zero else "no"])
  return markdown(header, rows, align="lrrrl")
