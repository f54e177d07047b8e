"""TensorFlow's oneDNN ops off / on: training steps and evaluation.

TF reads `TF_ENABLE_ONEDNN_OPTS` once, when it starts, so each side is a
child process (this script with `--child`) with the variable set to 0 or 1;
children alternate off, on, on, off, ... (`--rounds` pairs). Each child
builds every workload below, warms each up, times them interleaved and
prints its times; the parent reports per-workload medians over all its
children's repetitions and the ratio off / on (above 1: oneDNN is faster).

Workloads, on real CMP Facades batches of the experiments' pipelines:
  ce step         stage-2 CE-only step, cpu config (MobileNetV2 0.5
                  DeepLabv3, 256 crops, batch 8)
  segwgan step    the same with the frozen G and D (SegWGAN)
  gan step        stage-1 step, GAN loss (cpu config G and D, batch 8)
  wgan step       stage-1 step, WGAN loss (5 critic steps)
  evaluation      the validation predict function (the folded copy),
                  one validation image per call, 4 images
  export logits   the export's `logits` function (`ServingModule`) of
                  the converted Google DeepLabv3 MobileNetV2 0.5, one
                  257x257 image per call, 10 calls (measure 6's size)
  paper ce step   (`--paper`) stage-2 CE-only step, paper config
                  (ResNet-101, 512 crops, batch 1)

  .venv/bin/python benchmarks/onednn.py [--rounds=2] [--reps=4] [--paper]

Final lines: `onednn_speedup_<workload> ratio=X target=>=1` (median off /
median on).
"""
import argparse
import json
import os
import subprocess
import sys

import timing  # pylint: disable=g-bad-import-order

RESULT = "RESULT "
SIDES = {"off": "0", "on": "1"}


def child_workloads(paper: bool, checkpoint: str) -> dict:
  """Name -> a blocking call, every workload built in this process."""
  import steps  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from segwgan import variants  # pylint: disable=g-import-not-at-top
  from segwgan.data import registry  # pylint: disable=g-import-not-at-top
  from segwgan.evaluation import inference  # pylint: disable=g-import-not-at-top
  from segwgan.modeling import segmenter as segmenter_lib  # pylint: disable=g-import-not-at-top
  from segwgan.serving import checkpoints  # pylint: disable=g-import-not-at-top
  from segwgan.serving import export  # pylint: disable=g-import-not-at-top

  built = steps.build("cpu", 8)
  workloads = {
      "ce step": steps.stepper(built.trainers[variants.BASELINE.name],
                               built.batches),
      "segwgan step": steps.stepper(built.trainers["segwgan"],
                                    built.batches)}
  for gan_loss in ("gan", "wgan"):
    trainer, _ = steps.stage1_trainer(gan_loss)
    workloads[f"{gan_loss} step"] = steps.stepper(trainer, built.batches,
                                                  loss="gloss")
  data = built.stage2.task.validation_data.replace(
      source_dir=str(timing.SHARED / "data" / "cmp_facades"))
  images = [example["image"] for example in
            registry.read_split(data).take(4).as_numpy_iterator()]
  predict = inference.segmenter_labels(
      segmenter_lib.build_segmenter(built.stage2.task.model), data)

  def evaluation():  # Training's validation of 4 images.
    for image in images:
      predict(image)

  workloads["evaluation"] = evaluation
  loaded = checkpoints.load(checkpoint, dataset="pascal_voc2012")
  module = export.ServingModule(loaded.segmenter, loaded.info)
  # Time does not depend on the pixel values.
  pixels = tf.random.stateless_uniform([1, 257, 257, 3], [0, 1], 0.0, 255.0)

  def export_logits():
    for _ in range(10):
      module.logits(pixels).numpy()

  workloads["export logits"] = export_logits
  if paper:
    paper_built = steps.build("paper", 1, variants=(variants.BASELINE.name,),
                              n_batches=1)
    workloads["paper ce step"] = steps.stepper(
        paper_built.trainers[variants.BASELINE.name], paper_built.batches)
  return workloads


def run_child(args) -> None:
  from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-import-not-at-top
  enabled = bool(_pywrap_util_port.IsMklEnabled())
  print(f"  child: TF_ENABLE_ONEDNN_OPTS="
        f"{os.environ.get('TF_ENABLE_ONEDNN_OPTS')}, oneDNN ops "
        f"{'on' if enabled else 'off'}", flush=True)
  times = timing.interleaved(child_workloads(args.paper, args.checkpoint),
                             reps=args.reps, warmup=1)
  print(RESULT + json.dumps({"onednn": enabled, "times": times}), flush=True)


def spawn(side: str, args) -> dict:
  command = [sys.executable, __file__, "--child", f"--reps={args.reps}",
             f"--checkpoint={args.checkpoint}"] + (["--paper"] if args.paper
                                                   else [])
  env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=SIDES[side],
             TF_CPP_MIN_LOG_LEVEL="2")
  print(f"-- {side}: a child process", flush=True)
  result = subprocess.run(command, env=env, capture_output=True, text=True,
                          check=False)
  lines = result.stdout.splitlines()
  for line in lines:
    if not line.startswith(RESULT):
      print(line, flush=True)
  found = [line for line in lines if line.startswith(RESULT)]
  if result.returncode != 0 or not found:
    raise RuntimeError(f"the {side} child failed (exit {result.returncode}):"
                       f"\n{result.stderr[-3000:]}")
  parsed = json.loads(found[-1][len(RESULT):])
  if parsed["onednn"] != (side == "on"):
    raise RuntimeError(f"the {side} child ran with oneDNN "
                       f"{'on' if parsed['onednn'] else 'off'}")
  return parsed["times"]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rounds", type=int, default=2,
                      help="off/on pairs of child processes")
  parser.add_argument("--reps", type=int, default=4,
                      help="timed calls of each workload per child")
  parser.add_argument("--paper", action="store_true",
                      help="also the paper config's CE step (slow)")
  parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    run_child(args)
    return
  timing.banner("onednn")
  args.checkpoint = timing.converted_dm05_checkpoint()
  order = [side for r in range(args.rounds)
           for side in (("off", "on") if r % 2 == 0 else ("on", "off"))]
  times = {}
  for side in order:
    for name, values in spawn(side, args).items():
      times.setdefault(f"{name}, oneDNN {side}", []).extend(values)
  timing.report(times, unit="s", per="call")
  names = list(dict.fromkeys(key.rsplit(", oneDNN ", 1)[0]
                             for key in times))
  ratios = {name: timing.ratio_of(times, f"{name}, oneDNN off",
                                  f"{name}, oneDNN on") for name in names}
  print(f"   ({timing.load()} at end)")
  for name, ratio in ratios.items():
    print(f"onednn_speedup_{name.replace(' ', '_')} ratio={ratio:.3f} "
          "target=>=1", flush=True)


if __name__ == "__main__":
  main()
