"""Recomputes a report's confidence intervals from its committed matrices.

  python -m segwgan.reporting.recompute experiments/results/cmp_facades_cpu

Reads REPORT_DIR/per_image.npz (each run's per-image confusion matrices)
and the bootstrap settings in REPORT_DIR/results.json, recomputes every
difference and interval of results.json's "differences", prints them, and
exits with 1 if any differs from results.json (0 if all agree).
"""
import json
import pathlib
import sys

from segwgan.evaluation import bootstrap
from segwgan.reporting import results


def recompute(report_dir) -> dict:
  """The "differences" of results.json, computed from per_image.npz."""
  report_dir = pathlib.Path(report_dir)
  stored = json.loads((report_dir / "results.json").read_text())
  settings = stored["bootstrap"]
  runs = results.load(report_dir / "per_image.npz")
  comparisons = results.compare(
      runs.get(stored["headline_split"], {}),
      [r["name"] for r in stored["rows"]], settings["baseline"],
      samples=settings["samples"], confidence=settings["confidence"],
      seed=settings["seed"])
  return results.comparisons_json(comparisons)


def main(argv) -> int:
  if len(argv) != 2:
    print(__doc__, file=sys.stderr)
    return 2
  stored = json.loads((pathlib.Path(argv[1]) / "results.json").read_text())
  computed = recompute(argv[1])
  for row, c in computed.items():
    pooled = c["pooled"]
    print(f"{row} - {stored['bootstrap']['baseline']}: "
          f"{bootstrap.format_points(pooled['estimate'])} mIoU points, "
          f"CI [{bootstrap.format_points(pooled['low'])}, "
          f"{bootstrap.format_points(pooled['high'])}]")
  same = computed == stored["differences"]
  print("equal to results.json" if same else "DIFFERENT from results.json")
  return 0 if same else 1


if __name__ == "__main__":
  sys.exit(main(sys.argv))
