"""Markdown tables of the report.

Values are fractions in, percent (points) out, with two decimals; a value
measured over several seeds is shown as mean ± std. Rows are named by their
titles ({row name: title}, `plan.Row.title`).
"""
import math
from typing import Dict, Optional, Sequence

from segwgan import variants
from segwgan.evaluation import bootstrap
from segwgan.reporting import paper
from segwgan.reporting import results

METRIC_NAMES = {"class_accuracy": "Class Acc", "pixel_accuracy": "Pix Acc",
                "miou": "mIoU"}


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


def interval(value: bootstrap.Interval) -> str:
  return (f"[{bootstrap.format_points(value.low)}, "
          f"{bootstrap.format_points(value.high)}]")


def paper_difference(table: Optional[paper.PaperTable], row
                     ) -> Optional[float]:
  """The paper's mIoU difference to DeepLabv3 of a paper-setting row."""
  if not (table and row.paper_setting):
    return None
  ours, base = (table.value(row.variant.name, "miou"),
                table.value(variants.BASELINE.name, "miou"))
  return None if ours is None or base is None else ours - base


def paper_vs_measured(table: Optional[paper.PaperTable], rows,
                      summaries: Dict) -> str:
  """Per row: each metric as the paper's and the measured value."""
  header = ["method"]
  for name in METRIC_NAMES.values():
    header += [f"{name} paper", f"{name} measured"]
  lines = []
  for row in rows:
    line = [row.title]
    for metric in METRIC_NAMES:
      known = table.value(row.variant.name, metric) if (
          table and row.paper_setting) else None
      line.append("-" if known is None else f"{known:.1f}")
      summary = summaries.get(row.name)
      line.append(spread(summary[metric]) if summary else "not run")
    lines.append(line)
  return markdown(header, lines)


def per_seed(runs_by_split: Dict[str, results.Runs],
             titles: Dict[str, str]) -> str:
  """mIoU of each seed and row, per split."""
  splits = list(runs_by_split)
  keys = sorted({k for runs in runs_by_split.values() for k in runs},
                key=lambda k: (k[0], list(titles).index(k[1])))
  lines = [[str(seed), titles[row]] + [
      percent(results.value(runs_by_split[s][(seed, row)], "miou"))
      if (seed, row) in runs_by_split[s] else "-" for s in splits]
           for seed, row in keys]
  return markdown(["seed", "method"] + [f"{s} mIoU" for s in splits], lines,
                  align="ll" + "r" * len(splits))


def differences(comparisons: Dict, titles: Dict[str, str],
                confidence: float) -> str:
  """Each row - DeepLabv3 in mIoU: pooled interval, per-seed values."""
  lines = []
  for row, c in comparisons.items():
    seeds = ", ".join(f"{s}: {bootstrap.format_points(i.estimate)} "
                      f"{interval(i)}" for s, i in sorted(c.per_seed.items()))
    lines.append([f"{titles[row]} - {variants.BASELINE.display_name}",
                  bootstrap.format_points(c.pooled.estimate),
                  interval(c.pooled), str(len(c.seeds)), seeds])
  return markdown(["difference (mIoU points)", "mean over seeds",
                   f"{100 * confidence:g}% CI (seeds and images)", "seeds",
                   "per seed (images resampled)"], lines, align="lrrrl")


def diagnostics(found: Dict[tuple, dict], titles: Dict[str, str]) -> str:
  """grad_share of each term and critic_rank, per row and seed."""
  if not found:
    return "No run has written diagnostics.json."
  def share(value):  # None: the run counted no sample.
    return "n/a" if value is None else f"{value:.4g}"

  lines = [[titles[row], str(seed), share(v["grad_share"]["content"]),
            share(v["grad_share"]["adversarial"]),
            f"{v['critic_rank']:.3f}"]
           for (seed, row), v in sorted(
               found.items(), key=lambda kv: (list(titles).index(kv[0][1]),
                                              kv[0][0]))]
  return markdown(["row", "seed", "grad_share content",
                   "grad_share adversarial", "critic_rank"], lines)


def stage1_stops(validation: Dict[tuple, dict]) -> str:
  """Where each stage-1 run stopped, and by which rule."""
  lines = []
  for (seed, loss), value in sorted(validation.items()):
    stop = value.get("stop") or {}
    last = value["curve"][-1] if value["curve"] else {}
    lines.append([loss, str(seed), str(stop.get("stopped_at", "running")),
                  stop.get("stop_rule", "-"),
                  f"{last.get('l1', float('nan')):.4g}",
                  f"{last.get('separation', float('nan')):.4g}"])
  return markdown(["loss", "seed", "stopped at step", "rule", "last val L1",
                   "last separation"], lines, align="lrrlrr")
