"""A tool's start-up with tf.keras as legacy Keras / as Keras 3.

segwgan sets `TF_USE_LEGACY_KERAS=1` (if unset) before TensorFlow loads
(`segwgan/__init__.py`), so TF does not import Keras 3, which segwgan never
uses. Both sides run the same command in a fresh process,
`tools/inspect_data.py --helpshort` (imports the package and TF, parses the
flags, exits), with the variable 1 / 0, interleaved. Every tool run, test
subprocess and reproduction part pays this start-up.

  .venv/bin/python benchmarks/start_up.py [--reps=8]

Final line: `start_up_legacy_vs_keras3 ratio=X target=<1` (below 1: faster).
"""
import argparse
import os
import subprocess
import sys

import timing  # pylint: disable=g-bad-import-order

COMMAND = [sys.executable, str(timing.REPO / "tools" / "inspect_data.py"),
           "--helpshort"]


def start(legacy: str):
  env = dict(os.environ, TF_USE_LEGACY_KERAS=legacy, TF_CPP_MIN_LOG_LEVEL="3")

  def run() -> None:  # absl exits with 1 after --helpshort.
    result = subprocess.run(COMMAND, env=env, cwd=timing.REPO, check=False,
                            capture_output=True, text=True, timeout=300)
    if "--dataset" not in result.stdout:
      raise RuntimeError(f"{' '.join(COMMAND)} failed:\n{result.stderr}")

  return run


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--reps", type=int, default=8)
  args = parser.parse_args()
  timing.banner("start_up")
  times = timing.interleaved({"legacy Keras (segwgan's default)": start("1"),
                              "Keras 3 (TF's default)": start("0")},
                             reps=args.reps, warmup=1)
  timing.report(times, per="start")
  ratio = timing.ratio_of(times, "legacy Keras (segwgan's default)",
                          "Keras 3 (TF's default)")
  timing.final("start_up_legacy_vs_keras3", ratio, "<1")


if __name__ == "__main__":
  main()
