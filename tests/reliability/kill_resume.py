"""Fault injection: SIGKILL a short training run, resume it, compare weights.

  .venv/bin/python tests/reliability/kill_resume.py --trials=5 \
      --data_dir=../shared/data/cmp_facades --workdir=/tmp/kill_resume

For each stage (1: `tools/train_gan.py --gan_loss=wgan`; 2:
`tools/train_seg.py --variant=segwgan` on that stage-1 run) it first trains
an uninterrupted reference with `--deterministic --seed` (6 steps, a
checkpoint after each), timing its steps. Each trial then starts the same
command in a fresh model_dir and SIGKILLs it during training: at a random
moment within half a step after it saves a random step (before the last).
It runs the same command again (killing it the same way, up to
`--kills_per_trial` times, then letting it finish). The final checkpoint
of every trial must hold exactly the reference's variables: weights,
optimizer slots, step and the generator's noise state.
"""
import argparse
import contextlib
import dataclasses
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import List, Tuple

import numpy as np
import tensorflow as tf

REPO = pathlib.Path(__file__).resolve().parents[2]
STEPS = 6  # a checkpoint every step
SCHEDULE = ("{trainer: {train_steps: %d, checkpoint_interval: 1, "
            "summary_interval: 1, validation_interval: 3}, "
            "task: {train_data: {global_batch_size: 2, output_size: [64, 64], "
            "resize_long_side: 96, shuffle_buffer_size: 8}, "
            "validation_data: {resize_long_side: 96}%s}}")  # steps, extra
STAGE1_EXTRA = ", generator: {base_filters: 8}, critic: {base_filters: 8}"
STAGE2_EXTRA = ", init_checkpoint: ''"
# Not training state: how many saves a directory saw, and the serialized
# object graph (metadata whose bytes depend on restore order).
IGNORED = ("save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH")


@dataclasses.dataclass
class Trial:
  stage: int
  kills: List[Tuple[int, float]]  # (step saved before the kill, s after it)
  identical: bool
  differing: List[str]


def small_cmp_copy(source: pathlib.Path, root: pathlib.Path, n: int = 12
                   ) -> pathlib.Path:
  """The first `n` CMP base images (jpg, png, xml) in the official layout."""
  base = root / "cmp" / "base"
  base.mkdir(parents=True, exist_ok=True)
  for k in range(1, n + 1):
    for ext in ("jpg", "png", "xml"):
      name = f"cmp_b{k:04d}.{ext}"
      if (source / "base" / name).exists():
        shutil.copy(source / "base" / name, base / name)
  return root / "cmp"


def command(stage: int, model_dir, data_dir, tfds_dir, stage1_dir=None):
  common = [f"--data_dir={data_dir}", f"--tfds_dir={tfds_dir}",
            f"--model_dir={model_dir}", "--deterministic", "--seed=7"]
  if stage == 1:
    return [sys.executable, str(REPO / "tools" / "train_gan.py"),
            "--experiment=stage1_cmp_facades_cpu", "--gan_loss=wgan", *common,
            f"--params_override={SCHEDULE % (STEPS, STAGE1_EXTRA)}"]
  return [sys.executable, str(REPO / "tools" / "train_seg.py"),
          "--experiment=stage2_cmp_facades_cpu", "--variant=segwgan",
          f"--gan_model_dir={stage1_dir}", *common,
          f"--params_override={SCHEDULE % (STEPS, STAGE2_EXTRA)}"]


def saved_step(model_dir) -> int:
  """The step of the newest checkpoint in `model_dir` (0 if none)."""
  prefix = tf.train.latest_checkpoint(str(model_dir))
  return int(prefix.rsplit("-", 1)[1]) if prefix else 0


def wait_for_step(process, model_dir, step: int, timeout: float = 900
                  ) -> bool:
  """Waits until `model_dir` holds step `step`; False if `process` ended
  without saving it."""
  deadline = time.monotonic() + timeout
  while saved_step(model_dir) < step:
    if process.poll() is not None:
      return saved_step(model_dir) >= step
    if time.monotonic() > deadline:
      raise TimeoutError(f"no checkpoint of step {step} in {model_dir} "
                         f"after {timeout} s")
    time.sleep(0.1)
  return True


@contextlib.contextmanager
def started(cmd, stderr=subprocess.DEVNULL):
  """`cmd` as a process, killed if it is still running at the end."""
  process = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=stderr, text=True)
  try:
    yield process
  finally:
    if process.poll() is None:
      process.kill()
      process.wait()


def run_to_end(cmd, model_dir) -> float:
  """Runs `cmd` to the end; returns its mean time per step after the first
  checkpoint it saves."""
  with tempfile.TemporaryFile("w+") as stderr, started(cmd, stderr) as process:
    first = saved_step(model_dir) + 1
    wait_for_step(process, model_dir, first)
    start = time.monotonic()
    process.wait(timeout=900)
    if process.returncode:
      stderr.seek(0)
      raise RuntimeError(f"{' '.join(cmd[:2])} failed:\n"
                         f"{stderr.read()[-3000:]}")
    return (time.monotonic() - start) / max(1, STEPS - first)


def run_and_kill(cmd, model_dir, step: int, after: float) -> bool:
  """Starts `cmd` and SIGKILLs it `after` s after it saves step `step`;
  False if it ended first."""
  with started(cmd) as process:
    if not wait_for_step(process, model_dir, step):
      return False
    try:
      process.wait(timeout=after)
      return False
    except subprocess.TimeoutExpired:
      process.send_signal(signal.SIGKILL)
      process.wait()
      return True


def checkpoint_values(model_dir) -> dict:
  prefix = tf.train.latest_checkpoint(str(model_dir))
  if prefix is None:
    raise RuntimeError(f"no checkpoint in {model_dir}")
  reader = tf.train.load_checkpoint(prefix)
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if not any(name.startswith(i) for i in IGNORED)}


def differences(reference: dict, other: dict) -> List[str]:
  names = sorted(set(reference) | set(other))
  return [n for n in names if n not in reference or n not in other
          or not np.array_equal(reference[n], other[n])]


def run_trials(data_dir, workdir, trials: int, kills_per_trial: int = 2,
               seed: int = 0, stages=(1, 2), log=print) -> List[Trial]:
  """Runs the references and `trials` kill/resume trials per stage."""
  workdir = pathlib.Path(workdir)
  earlier = sorted(workdir.glob("stage*"))
  if earlier:
    raise ValueError(f"{workdir} holds an earlier run ({earlier[0].name}): "
                     "use an empty --workdir")
  data = small_cmp_copy(pathlib.Path(data_dir), workdir)
  tfds_dir = workdir / "tfds"
  rng = random.Random(seed)
  references, results = {}, []
  stage1_ref = workdir / "stage1_reference"
  for stage in stages:
    ref_dir = workdir / f"stage{stage}_reference"
    interval = run_to_end(
        command(stage, ref_dir, data, tfds_dir, stage1_ref), ref_dir)
    references[stage] = checkpoint_values(ref_dir)
    log(f"stage {stage}: reference trained, {interval:.2f} s per step after "
        "its first checkpoint")
    for k in range(trials):
      model_dir = workdir / f"stage{stage}_trial{k}"
      cmd = command(stage, model_dir, data, tfds_dir, stage1_ref)
      kills = []
      for _ in range(kills_per_trial):
        done = saved_step(model_dir)
        if done >= STEPS - 1:
          break
        step = rng.randint(done + 1, STEPS - 1)
        after = round(rng.uniform(0.0, 0.5) * interval, 2)
        if run_and_kill(cmd, model_dir, step, after):
          kills.append((step, after))
      run_to_end(cmd, model_dir)
      diff = differences(references[stage], checkpoint_values(model_dir))
      results.append(Trial(stage, kills, not diff, diff))
      outcome = "identical" if not diff else "DIFFER: " + ", ".join(diff[:5])
      log(f"stage {stage} trial {k}: killed at (step saved, s after it) "
          f"{kills}, resumed; final weights {outcome}")
  return results


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", default=str(
      REPO.parent / "shared" / "data" / "cmp_facades"))
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--trials", type=int, default=5)
  parser.add_argument("--kills_per_trial", type=int, default=2)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  results = run_trials(args.data_dir, args.workdir, args.trials,
                       args.kills_per_trial, args.seed)
  same = sum(t.identical for t in results)
  print(f"{same} of {len(results)} killed-and-resumed runs ended with the "
        "reference's weights")
  return 0 if same == len(results) else 1


if __name__ == "__main__":
  sys.exit(main())
