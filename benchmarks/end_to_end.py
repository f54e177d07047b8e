"""Measure 7: end-to-end wall time of the CPU reproduction and of `make demo`.

Reads the wall times `tools/reproduce.py` records in an output directory
(`parts/<part>.json`: each part's process wall and CPU seconds;
`invocations.jsonl`: each invocation's wall time, the parts it ran and
skipped) or, when a directory holds no complete run, in a committed report
it wrote: for the reproduction the "Wall time per part" table
(`--reproduce_report`, default experiments/results/cmp_facades_cpu/report.md),
for the demo the "Commands" table (`--demo_report`, default
experiments/results/cmp_facades_demo/report.md); or, with `--run_demo`,
times a fresh `make demo` into a temporary DEMO_DIR (up to ~15 minutes, so
longer than the other benchmarks).

  .venv/bin/python benchmarks/end_to_end.py \
      [--reproduce_dir=runs/reproduce/cmp_facades_cpu_tuned] [--demo_dir=runs/demo]
  .venv/bin/python benchmarks/end_to_end.py --run_demo

Targets: the CPU reproduction of one dataset (one seed: the parts
pretrained and seed0_*, and the report) <= 90 min; the main command
(`make demo`) <= 15 min.
Final lines: `end_to_end_reproduction ratio=X target=<=1.0` and
`end_to_end_demo ratio=X target=<=1.0`, X = wall time / target time, or
`ratio=nan` with the reason when nothing was recorded (never an estimate).
"""
import argparse
import json
import math
import os
import pathlib
import subprocess
import tempfile
import time

import timing

TARGET_MIN = {"reproduction": 90.0, "demo": 15.0}
ONE_SEED_PARTS = ("seed0_stage1_gan", "seed0_stage1_wgan_gp", "seed0_ce",
                  "seed0_deeplabv3", "seed0_seggan", "seed0_segwgan",
                  "seed0_segwgan_scaled")


def recorded(root: pathlib.Path) -> dict:
  """{'parts': {name: marker}, 'invocations': [record]} of an output dir."""
  parts = {}
  for path in sorted((root / "parts").glob("*.json")):
    if "." not in path.stem:  # Not <part>.attempts.json (interrupted tries).
      parts[path.stem] = json.loads(path.read_text())
  invocations = []
  if (root / "invocations.jsonl").exists():
    invocations = [json.loads(line) for line in
                   (root / "invocations.jsonl").read_text().splitlines()
                   if line.strip()]
  return {"parts": parts, "invocations": invocations}


def wall_minutes(root: pathlib.Path, name: str) -> float:
  """The recorded wall time of a complete one-seed run in `root` (nan and
  the reason printed if there is none)."""
  if not root.exists():
    print(f"  {name}: not measured: no output directory {root}")
    return math.nan
  data = recorded(root)
  parts = data["parts"]
  for part, marker in parts.items():
    print(f"  {name}: part {part:<26} wall {marker['seconds'] / 60:7.1f} "
          f"min, CPU {marker.get('cpu_seconds', 0) / 60:7.1f} min")
  missing = [p for p in ONE_SEED_PARTS if p not in parts]
  if missing:
    print(f"  {name}: not measured: parts not finished: {missing}")
    return math.nan
  extra_seeds = [p for p in parts if p.startswith("seed") and
                 not p.startswith("seed0_")]
  if extra_seeds:
    one_seed = [p for p in parts if p == "pretrained" or
                p.startswith("seed0_")]
    print(f"  {name}: more than one seed ran; the sum of the one-seed "
          f"parts' wall times ({', '.join(one_seed)}) is used")
    return sum(parts[p]["seconds"] for p in one_seed) / 60
  complete = [r for r in data["invocations"]
              if r.get("outcome", "completed") == "completed" and
              "seconds" in r and not r.get("skipped")]
  if complete:
    record = complete[-1]
    print(f"  {name}: one invocation ran every part: "
          f"{' '.join(record.get('command', []))}")
    return record["seconds"] / 60
  total = sum(m["seconds"] for m in parts.values())
  print(f"  {name}: parts ran across several invocations; the sum of the "
        "parts' wall times (without the report) is used")
  return total / 60


def parse_duration(text: str) -> float:
  """Seconds of a report duration such as '1h02m', '6m18s' or '41.0s'."""
  total, number = 0.0, ""
  for char in text.strip():
    if char.isdigit() or char == ".":
      number += char
    elif char in "hms" and number:
      total += float(number) * {"h": 3600, "m": 60, "s": 1}[char]
      number = ""
  return total


def table_rows(report: pathlib.Path, name: str):
  """The cells of every Markdown table row of `report` (None, and the
  reason printed, if there is no report)."""
  if not report.exists():
    print(f"  {name}: not measured: no report {report}")
    return None
  return [[c.strip() for c in line.split("|")[1:-1]]
          for line in report.read_text().splitlines() if line.startswith("|")]


def report_minutes(report: pathlib.Path, name: str) -> float:
  """The wall time of the completed invocation that ran every part, from a
  report's "Commands" table (what `tools/reproduce.py` recorded)."""
  rows = table_rows(report, name)
  if rows is None:
    return math.nan
  rows = [cells for cells in rows if cells[0].startswith("`") and
          "tools/reproduce.py" in cells[0]]
  for cells in reversed(rows):  # With or without a commit column.
    command, (wall, finished, skipped, outcome) = cells[0], cells[-4:]
    ran_all = all(p in finished for p in ONE_SEED_PARTS)
    if outcome == "completed" and skipped == "0" and ran_all:
      print(f"  {name}: from {report}: {command} -> {wall} "
            "(tools/reproduce.py only: no .venv set-up)")
      return parse_duration(wall) / 60
  print(f"  {name}: not measured: {report} records no complete invocation")
  return math.nan


def report_part_minutes(report: pathlib.Path, name: str) -> float:
  """The one-seed parts' summed wall time from a report's "Wall time per
  part" table (what `tools/reproduce.py` recorded for each part)."""
  rows = table_rows(report, name)
  if rows is None:
    return math.nan
  walls = {cells[0]: parse_duration(cells[1]) for cells in rows
           if len(cells) == 5 and cells[0] in ("pretrained", *ONE_SEED_PARTS)}
  missing = [p for p in ONE_SEED_PARTS if p not in walls]
  if missing:
    print(f"  {name}: not measured: {report} has no wall time of {missing}")
    return math.nan
  print(f"  {name}: from {report}: the sum of the parts "
        f"{', '.join(walls)} (each part's recorded wall time)")
  return sum(walls.values()) / 60


def run_demo() -> float:
  demo_dir = pathlib.Path(tempfile.mkdtemp()) / "demo"
  print(f"  running: make demo DEMO_DIR={demo_dir}", flush=True)
  start = time.perf_counter()
  result = subprocess.run(["make", "demo", f"DEMO_DIR={demo_dir}"],
                          cwd=timing.REPO, check=False,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
  minutes = (time.perf_counter() - start) / 60
  print("\n".join("    " + line for line in
                  result.stdout.splitlines()[-15:]))
  if result.returncode:
    print(f"  make demo failed (exit {result.returncode}): not measured")
    return math.nan
  wall_minutes(demo_dir, "demo (recorded)")
  return minutes


def line(name: str, minutes: float) -> None:
  target = TARGET_MIN[name]
  if math.isnan(minutes):
    print(f"  {name}: not measured")
    print(f"end_to_end_{name} ratio=nan target=<=1.0")
  else:
    print(f"  {name}: {minutes:.1f} min (target {target:.0f} min)")
    print(f"end_to_end_{name} ratio={minutes / target:.3f} target=<=1.0",
          flush=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--reproduce_dir", default=os.path.join(
      "runs", "reproduce", "cmp_facades_cpu_tuned"))
  parser.add_argument("--reproduce_report", default=os.path.join(
      "experiments", "results", "cmp_facades_cpu", "report.md"),
                      help="read when --reproduce_dir holds no complete run")
  parser.add_argument("--demo_dir", default=os.path.join("runs", "demo"))
  parser.add_argument("--demo_report", default=os.path.join(
      "experiments", "results", "cmp_facades_demo", "report.md"),
                      help="read when --demo_dir holds no complete run")
  parser.add_argument("--run_demo", action="store_true",
                      help="time a fresh `make demo` instead of reading "
                      "--demo_dir")
  args = parser.parse_args()
  timing.banner("end_to_end")
  reproduction = wall_minutes(timing.REPO / args.reproduce_dir,
                              "reproduction")
  if math.isnan(reproduction):
    reproduction = report_part_minutes(timing.REPO / args.reproduce_report,
                                       "reproduction")
  if args.run_demo:
    demo = run_demo()
  else:
    demo = wall_minutes(timing.REPO / args.demo_dir, "demo")
    if math.isnan(demo):
      demo = report_minutes(timing.REPO / args.demo_report, "demo")
  print(f"   ({timing.load()} at end)")
  line("reproduction", reproduction)
  line("demo", demo)


if __name__ == "__main__":
  main()
