"""The evaluated stage-2 runs of a reproduction and their comparisons.

Each run's evaluation (`worker.py --job=stage2`) leaves `per_image.npz`
(per-image confusion matrices) and `metrics.json`. Here they are gathered
per (seed, variant), summarised over seeds, and each GAN variant is compared
with the DeepLabv3 baseline of the same seed by paired bootstrap.
"""
import dataclasses
from typing import Dict, List, Sequence, Tuple

import numpy as np

from segwgan.evaluation import per_image
from segwgan.reporting import bootstrap
from segwgan.reporting import files
from segwgan.reporting import paper
from segwgan.reporting import settings as settings_lib

BASELINE = "deeplabv3"


@dataclasses.dataclass
class Run:
  """One evaluated stage-2 run."""
  seed: int
  variant: str
  result: per_image.PerImage
  metrics: dict

  def value(self, metric: str) -> float:
    return float(per_image.metrics_of(self.result)[metric])


def load_runs(layout, seeds: Sequence[int]) -> Dict[Tuple[int, str], Run]:
  """{(seed, variant): Run} of the runs whose evaluation is complete."""
  runs = {}
  for seed in seeds:
    for variant in paper.VARIANTS:
      folder = layout.evaluation(seed, variant)
      metrics = files.read_json(folder / "metrics.json")
      if metrics is None or not (folder / "per_image.npz").exists():
        continue
      runs[(seed, variant)] = Run(seed, variant, per_image.PerImage.load(
          folder / "per_image.npz"), metrics)
  return runs


@dataclasses.dataclass
class Summary:
  """A variant's metrics over seeds: {metric: Spread}, per-class IoU."""
  variant: str
  seeds: List[int]
  metrics: Dict[str, bootstrap.Spread]
  per_class_iou: np.ndarray  # mean over seeds, NaN where undefined
  per_class_iou_std: np.ndarray


def summarise(runs: Dict[Tuple[int, str], Run]) -> Dict[str, Summary]:
  summaries = {}
  for variant in paper.VARIANTS:
    chosen = sorted((s, r) for (s, v), r in runs.items() if v == variant)
    if not chosen:
      continue
    metrics = {m: bootstrap.Spread.of([r.value(m) for _, r in chosen])
               for m in paper.METRICS}
    ious = np.asarray([per_image.metrics_of(r.result)["per_class_iou"]
                       for _, r in chosen], np.float64)
    with np.errstate(invalid="ignore"):
      mean = np.nanmean(ious, axis=0) if len(ious) else ious
      std = (np.nanstd(ious, axis=0, ddof=1) if len(ious) > 1
             else np.zeros(ious.shape[1]))
    summaries[variant] = Summary(variant, [s for s, _ in chosen], metrics,
                                 mean, std)
  return summaries


@dataclasses.dataclass
class Comparison:
  """A variant minus the baseline, in mIoU (fractions, not points).

  Attributes:
    variant: seggan | segwgan.
    seeds: the seeds with both runs.
    per_seed: {seed: Interval} paired bootstrap of that seed's two runs.
    pooled: the seed-averaged difference and its interval (the same image
      resamples for every seed).
    spread: the per-seed differences, mean ± std.
  """
  variant: str
  seeds: List[int]
  per_seed: Dict[int, bootstrap.Interval]
  pooled: bootstrap.Interval
  spread: bootstrap.Spread


def compare(runs: Dict[Tuple[int, str], Run],
            report: settings_lib.ReportSettings) -> Dict[str, Comparison]:
  """Each GAN variant against the baseline of the same seeds."""
  comparisons = {}
  for variant in paper.VARIANTS:
    if variant == BASELINE:
      continue
    seeds = sorted(s for (s, v) in runs if v == variant
                   and (s, BASELINE) in runs)
    if not seeds:
      continue
    ids = runs[(seeds[0], BASELINE)].result.ids
    pairs = [(runs[(s, variant)].result.aligned(ids),
              runs[(s, BASELINE)].result.aligned(ids)) for s in seeds]
    options = dict(samples=report.bootstrap_samples,
                   confidence=report.confidence, seed=report.bootstrap_seed)
    per_seed = {s: bootstrap.paired_difference([v], [b], **options)
                for s, (v, b) in zip(seeds, pairs)}
    pooled = bootstrap.paired_difference([v for v, _ in pairs],
                                         [b for _, b in pairs], **options)
    spread = bootstrap.difference_spread([v for v, _ in pairs],
                                         [b for _, b in pairs])
    comparisons[variant] = Comparison(variant, seeds, per_seed, pooled, spread)
  return comparisons
