"""The evaluated runs of a reproduction, their summaries and comparisons.

Each row's evaluation (tools/evaluate.py) leaves per_image.npz (per-image
confusion matrices). Here they are gathered per (seed, row), saved together
beside the report (`save`, `load`: what `recompute.py` reads), summarised
over seeds, and each row is compared with the baseline row (`bootstrap.py`).
"""
import dataclasses
import json
import pathlib
from typing import Dict, List, Sequence, Tuple

import numpy as np

from segwgan.evaluation import per_image
from segwgan.evaluation import bootstrap

METRICS = ("miou", "pixel_accuracy", "class_accuracy")
Runs = Dict[Tuple[int, str], per_image.PerImage]  # (seed, row) -> result


def load_runs(layout, seeds: Sequence[int], row_names: Sequence[str],
              split: str) -> Runs:
  """{(seed, row): PerImage} of the evaluations of `split` that exist."""
  runs = {}
  for seed in seeds:
    for row in row_names:
      path = layout.evaluation(seed, row, split) / "per_image.npz"
      if path.exists():
        runs[(seed, row)] = per_image.PerImage.load(path)
  return runs


def save(path, runs_by_split: Dict[str, Runs]) -> None:
  """All runs' ids and matrices in one compressed .npz."""
  arrays = {}
  for split, runs in runs_by_split.items():
    for (seed, row), result in runs.items():
      arrays[f"{split}.{seed}.{row}.ids"] = np.asarray(result.ids, dtype=str)
      # Pixel counts of one image fit int32 (half the size of int64).
      arrays[f"{split}.{seed}.{row}.matrices"] = result.matrices.astype(
          np.int32)
  with open(path, "wb") as f:
    np.savez_compressed(f, **arrays)


def load(path) -> Dict[str, Runs]:
  """What `save` wrote: {split: {(seed, row): PerImage}}."""
  runs_by_split = {}
  with np.load(pathlib.Path(path)) as data:
    for key in data.files:
      split, seed, row, kind = key.split(".")
      if kind == "ids":
        runs_by_split.setdefault(split, {})[(int(seed), row)] = (
            per_image.PerImage([str(i) for i in data[key]], data[
                f"{split}.{seed}.{row}.matrices"].astype(np.int64)))
  return runs_by_split


def value(result: per_image.PerImage, metric: str):
  return per_image.metrics_of(result)[metric]


def summarise(runs: Runs, row_names: Sequence[str]
              ) -> Dict[str, Dict[str, bootstrap.Spread]]:
  """{row: {metric: its spread over seeds}} of the rows that ran."""
  summaries = {}
  for row in row_names:
    chosen = [r for (_, name), r in sorted(runs.items()) if name == row]
    if chosen:
      summaries[row] = {m: bootstrap.Spread.of([value(r, m) for r in chosen])
                        for m in METRICS}
  return summaries


@dataclasses.dataclass
class Comparison:
  """A row minus the baseline, in mIoU (fractions, not points).

  Attributes:
    seeds: the seeds with both runs.
    per_seed: {seed: Interval}, images resampled.
    pooled: the seed-averaged difference, seeds and images resampled.
    spread: the per-seed differences, mean ± std.
  """
  seeds: List[int]
  per_seed: Dict[int, bootstrap.Interval]
  pooled: bootstrap.Interval
  spread: bootstrap.Spread


def compare(runs: Runs, row_names: Sequence[str], baseline: str, *,
            samples: int, confidence: float, seed: int
            ) -> Dict[str, Comparison]:
  """Each row other than `baseline` against it, on the same seeds."""
  options = dict(samples=samples, confidence=confidence, seed=seed)
  comparisons = {}
  for row in row_names:
    seeds = sorted(s for (s, r) in runs if r == row and (s, baseline) in runs)
    if row == baseline or not seeds:
      continue
    ids = runs[(seeds[0], baseline)].ids
    pairs = [(runs[(s, row)].aligned(ids), runs[(s, baseline)].aligned(ids))
             for s in seeds]
    rows, bases = [v for v, _ in pairs], [b for _, b in pairs]
    comparisons[row] = Comparison(
        seeds, {s: bootstrap.paired_difference([v], [b], **options)
                for s, (v, b) in zip(seeds, pairs)},
        bootstrap.paired_difference(rows, bases, **options),
        bootstrap.difference_spread(rows, bases))
  return comparisons


def comparisons_json(comparisons: Dict[str, Comparison]) -> dict:
  """The comparisons as results.json stores them (and reads them back)."""
  return json.loads(json.dumps({row: dataclasses.asdict(c)
                                for row, c in comparisons.items()}))
