"""Paired bootstrap over seeds and images of an mIoU difference.

mIoU is not a mean over images: it is computed from the confusion matrix
summed over the split. So a bootstrap sample draws N images with replacement
(the same draw for both models: the comparison is paired), sums each model's
per-image matrices over the draw and takes the difference of the two mIoUs
(Eq. 17). With several seeds, a sample first draws S seeds with replacement
(training randomness), then the images (the same draw for every seed: they
are one test set), and averages the drawn seeds' differences. The 95%
interval is the 2.5th and 97.5th percentiles of those averages (percentile
bootstrap). With one seed it covers image sampling only.
"""
import dataclasses
import math
from typing import List, Sequence

import numpy as np

from segwgan.evaluation import metrics

DEFAULT_SAMPLES = 10000
DEFAULT_CONFIDENCE = 0.95


@dataclasses.dataclass(frozen=True)
class Interval:
  """A point estimate and its bootstrap confidence interval.

  Attributes:
    estimate: the statistic on the original (not resampled) images.
    low, high: the interval's bounds.
    confidence: e.g. 0.95.
    samples: bootstrap resamples drawn.
    images: images resampled.
  """
  estimate: float
  low: float
  high: float
  confidence: float
  samples: int
  images: int

  @property
  def excludes_zero(self) -> bool:
    return self.low > 0 or self.high < 0


@dataclasses.dataclass(frozen=True)
class Spread:
  """A statistic over seeds: mean, sample std (0 for one seed), values."""
  mean: float
  std: float
  values: tuple

  @classmethod
  def of(cls, values: Sequence[float]) -> "Spread":
    values = tuple(float(v) for v in values)
    if not values:
      raise ValueError("no values")
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return cls(float(np.mean(values)), std, values)


def resample_counts(images: int, samples: int, seed: int) -> np.ndarray:
  """[samples, images] counts: how often each image is in each resample."""
  rng = np.random.default_rng(seed)
  return rng.multinomial(images, np.full(images, 1.0 / images),
                         size=samples).astype(np.float64)


def _resampled_miou(matrices: np.ndarray, counts: np.ndarray) -> np.ndarray:
  n, c, _ = matrices.shape
  summed = counts @ matrices.reshape(n, c * c).astype(np.float64)
  return metrics.mean_iou(summed.reshape(-1, c, c))


def _interval(estimate: float, draws: np.ndarray, confidence: float,
              images: int) -> Interval:
  tail = 100.0 * (1.0 - confidence) / 2.0
  draws = draws[np.isfinite(draws)]
  low, high = np.percentile(draws, [tail, 100.0 - tail])
  # Round-off must not open an interval around an exactly constant value.
  if np.all(draws == draws[0]):
    low = high = float(draws[0])
  return Interval(float(estimate), float(low), float(high), confidence,
                  int(draws.size), images)


def paired_difference(variant: Sequence[np.ndarray],
                      baseline: Sequence[np.ndarray], *,
                      samples: int = DEFAULT_SAMPLES,
                      confidence: float = DEFAULT_CONFIDENCE,
                      seed: int = 0) -> Interval:
  """mIoU(variant) - mIoU(baseline), averaged over seeds, with its interval
  (resampling seeds, then images).

  Args:
    variant, baseline: per seed, the [N, C, C] per-image confusion matrices
      of the two models, images in the same order (one list entry per seed;
      a single array means one seed).
    samples: bootstrap resamples.
    confidence: interval coverage.
    seed: seed of the resampling.
  """
  variant = [np.asarray(m) for m in _as_list(variant)]
  baseline = [np.asarray(m) for m in _as_list(baseline)]
  if len(variant) != len(baseline) or not variant:
    raise ValueError(f"{len(variant)} variant runs but {len(baseline)} "
                     "baseline runs")
  shapes = {m.shape for m in variant + baseline}
  if len(shapes) != 1 or len(next(iter(shapes))) != 3:
    raise ValueError(f"per-image matrices must all be [N, C, C], got {shapes}")
  images = variant[0].shape[0]
  counts = resample_counts(images, samples, seed)
  ones = np.ones((1, images))
  estimate = np.mean([_resampled_miou(v, ones)[0] - _resampled_miou(b, ones)[0]
                      for v, b in zip(variant, baseline)])
  differences = np.stack([_resampled_miou(v, counts) -
                          _resampled_miou(b, counts)
                          for v, b in zip(variant, baseline)])  # [S, samples]
  seeds = np.random.default_rng((seed, 1)).integers(
      0, len(variant), size=(samples, len(variant)))
  draws = differences[seeds, np.arange(samples)[:, None]].mean(axis=1)
  return _interval(estimate, draws, confidence, images)


def _as_list(runs) -> List[np.ndarray]:
  if isinstance(runs, np.ndarray) and runs.ndim == 3:
    return [runs]
  return list(runs)


def difference_spread(variant: Sequence[np.ndarray],
                      baseline: Sequence[np.ndarray]) -> Spread:
  """The per-seed mIoU differences (no resampling) and their mean ± std."""
  values = [metrics.mean_iou(v.sum(0)) - metrics.mean_iou(b.sum(0))
            for v, b in zip(_as_list(variant), _as_list(baseline))]
  return Spread.of(values)


def format_points(value: float, signed: bool = True) -> str:
  """A fraction as percentage points, e.g. +1.23."""
  if value is None or not math.isfinite(value):
    return "n/a"
  text = f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"
  return "0.00" if text in ("+0.00", "-0.00") else text
