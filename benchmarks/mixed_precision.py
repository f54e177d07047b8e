"""Measure 3: mixed precision on CPU = float32 step time / bfloat16 step time.

The same stage-2 step (`SegTrainer.train_step`, `--variant`, default
segwgan) of the registered experiment, built twice: under the float32 and
the mixed_bfloat16 Keras policy (`runtime.mixed_precision_dtype`), on the
same real CMP Facades batches, timed interleaved.

  .venv/bin/python benchmarks/mixed_precision.py             # cpu and paper
  .venv/bin/python benchmarks/mixed_precision.py --config=cpu --variant=deeplabv3

`--profile` adds, per side, the TF profiler's op time by type and the
segmenter's and G+D's forward+backward timed alone.

Final lines: `mixed_precision_<config> ratio=X target=>=1.3` (the speed-up).
"""
import argparse

import steps  # pylint: disable=g-bad-import-order
import timing  # pylint: disable=g-bad-import-order

import yaml  # pylint: disable=g-import-not-at-top

from segwgan import variants  # pylint: disable=g-import-not-at-top

DEFAULT_BATCH = {"cpu": 8, "paper": 1}
BUDGET_S = {"cpu": 120.0, "paper": 300.0}
TARGET = 1.3


def run(size: str, batch: int, variant: str, override: dict,
        profile: bool = False) -> float:
  print(f"-- config {size}: stage2_{steps.DATASET}_{size} {variant} step, "
        f"batch {batch}, override {override or '{}'}", flush=True)
  f32 = steps.build(size, batch, precision="float32", override=override,
                    variants=(variant,))
  bf16 = steps.build(size, batch, precision="bfloat16", override=override,
                     variants=(variant,), batches=f32.batches)
  assert bf16.trainers[variant].segmenter.compute_dtype == "bfloat16"
  sides = {"float32 step": steps.stepper(f32.trainers[variant], f32.batches),
           "bfloat16 step": steps.stepper(bf16.trainers[variant],
                                          f32.batches)}
  times = timing.interleaved(sides, reps=30, warmup=2,
                             budget_s=BUDGET_S[size])
  timing.report(times, per="step")
  ratio = timing.ratio_of(times, "float32 step", "bfloat16 step")
  if profile:
    for name, call in sides.items():
      timing.print_op_times(name, timing.op_time_by_type(call, 3, 16))
    built = {"float32": f32, "bfloat16": bf16}
    for precision, parts in built.items():
      if parts.trainers[variant].generator is None:
        break
      trainer = parts.trainers[variant]
      pieces = segmenter_and_gan_parts(trainer, f32.batches)
      piece_times = timing.interleaved(pieces, reps=8, warmup=1)
      print(f"   {precision} parts:")
      timing.report(piece_times)
  return ratio


def segmenter_and_gan_parts(trainer, batches):
  """The segmenter's forward+backward and G+D's forward+backward alone."""
  import aux_loss_overhead  # pylint: disable=g-import-not-at-top
  pieces = aux_loss_overhead.parts({"segwgan": trainer}, batches)
  return {k: v for k, v in pieces.items() if "G+D fwd" != k}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", choices=["cpu", "paper", "both"],
                      default="both")
  parser.add_argument("--variant", default="segwgan",
                      choices=list(variants.VARIANTS))
  parser.add_argument("--batch", type=int, default=0)
  parser.add_argument("--params_override", default="")
  parser.add_argument("--profile", action="store_true",
                      help="also print op time by type (TF profiler) and "
                      "the segmenter / G+D parts of each side")
  args = parser.parse_args()
  timing.banner("mixed_precision")
  override = yaml.safe_load(args.params_override) if args.params_override \
      else {}
  sizes = ["cpu", "paper"] if args.config == "both" else [args.config]
  results = {size: run(size, args.batch or DEFAULT_BATCH[size], args.variant,
                       override, args.profile)
             for size in sizes}
  print(f"   ({timing.load()} at end)")
  for size in sizes:
    print(f"mixed_precision_{size} ratio={results[size]:.3f} "
          f"target=>={TARGET}", flush=True)


if __name__ == "__main__":
  main()
