"""Measure 2: achieved FLOP rate of a ResNet-101 DeepLabv3 training step /
the machine's float32 matrix-multiply peak, both measured in this run.

The step is the stage-2 CE-only step (`SegTrainer.train_step`, variant
deeplabv3) of the registered `stage2_cmp_facades_paper` experiment (dilated
ResNet-101, output stride 16, ASPP, 512x512 crops of real CMP Facades
images; batch `--batch`, default 2), float32. Its FLOPs are counted from the
traced step graph with TF's registered per-op statistics, as
`tf.compat.v1.profiler` does, with the convolution backprops counted as
their forward's multiply-adds (see benchmarks/timing.py), over the ops a
call runs. The optimizer's fused Adam update has no FLOP statistic and
counts 0.

The peak is the best of a TF float32 matmul (N x N, N = 4096) and a NumPy
one, timed interleaved with the training step.

  .venv/bin/python benchmarks/compute_efficiency.py [--batch=2]
"""
import argparse

import timing  # pylint: disable=g-bad-import-order

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tf_keras  # pylint: disable=g-import-not-at-top

from segwgan.configs import experiments  # pylint: disable=g-import-not-at-top
from segwgan import labels  # pylint: disable=g-import-not-at-top
from segwgan import variants  # pylint: disable=g-import-not-at-top
from segwgan.modeling import segmenter as segmenter_lib  # pylint: disable=g-import-not-at-top
from segwgan.training import runner  # pylint: disable=g-import-not-at-top
from segwgan.training import seg_model  # pylint: disable=g-import-not-at-top

N = 4096
MATMUL_CALLS = 3


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=2)
  parser.add_argument("--precision", default="float32",
                      choices=list(runner.PRECISIONS))
  args = parser.parse_args()
  timing.banner("compute_efficiency")
  runner.set_precision(args.precision)
  tf_keras.utils.set_random_seed(0)
  stage2 = experiments.stage2("cmp_facades", "paper")
  data = stage2.task.train_data.replace(global_batch_size=args.batch)
  batches = timing.cmp_batches(data, 1)
  segmenter = segmenter_lib.build_segmenter(stage2.task.model)
  trainer = seg_model.SegTrainer(
      segmenter, variant=variants.BASELINE,
      palette=labels.get_info("cmp_facades").palette())
  trainer.compile(tf_keras.optimizers.legacy.Adam(5e-4))
  step = tf.function(trainer.train_step)
  concrete = step.get_concrete_function(batches[0])
  by_op = timing.flops_by_op(concrete)
  flops = sum(by_op.values())
  print(f"  step graph: {flops / 1e9:.1f} GFLOP per step (batch "
        f"{args.batch}, 512x512, {args.precision}; "
        f"{len(timing.executed_ops(concrete))} of "
        f"{len(concrete.graph.get_operations())} ops run); by op type:")
  for op_type, value in list(by_op.items())[:8]:
    print(f"    {op_type:<24} {value / 1e9:9.1f} GFLOP")

  a = tf.random.normal([N, N])
  b = tf.random.normal([N, N])
  a_np, b_np = a.numpy(), b.numpy()
  matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)[0, :1]))

  def tf_matmul():
    for _ in range(MATMUL_CALLS):
      matmul().numpy()

  def np_matmul():
    for _ in range(MATMUL_CALLS):
      np.matmul(a_np, b_np)

  sides = {"train step": lambda: float(step(batches[0])["loss"]),
           "tf matmul": tf_matmul, "numpy matmul": np_matmul}
  times = timing.interleaved(sides, reps=15, warmup=2, budget_s=330)
  timing.report(times, per="rep")
  matmul_flops = 2.0 * N ** 3 * MATMUL_CALLS
  rates = {
      "train step": flops / timing.median(times["train step"]),
      "tf matmul": matmul_flops / timing.median(times["tf matmul"]),
      "numpy matmul": matmul_flops / timing.median(times["numpy matmul"])}
  for name, rate in rates.items():
    print(f"  {name:<14} {rate / 1e9:8.1f} GFLOP/s")
  peak_name = max(("tf matmul", "numpy matmul"), key=rates.get)
  ratio = rates["train step"] / rates[peak_name]
  print(f"  peak = {peak_name}; step rate / peak = {ratio:.3f}")
  timing.final("compute_efficiency", ratio, ">=0.5")


if __name__ == "__main__":
  main()
