"""Measure 1: auxiliary-loss overhead = SegWGAN stage-2 step / CE-only step.

Both sides are `SegTrainer.train_step` (traced once as a `tf.function`) on
the same segmenter, batch and real CMP Facades data; the only difference is
`variant`: segwgan (CE + 0.1 l_C + 0.1 l_A through the frozen G and D) or
deeplabv3 (CE only). G and D are built from the registered stage-1
experiment's configs (random weights: the time does not depend on them).

  .venv/bin/python benchmarks/aux_loss_overhead.py            # both configs
  .venv/bin/python benchmarks/aux_loss_overhead.py --config=cpu
  .venv/bin/python benchmarks/aux_loss_overhead.py --config=paper --batch=1

Configs: `cpu` = stage2_cmp_facades_cpu (MobileNetV2 0.5 DeepLabv3, 256
crops, batch 8, G/D of the stage1 cpu experiment); `paper` =
stage2_cmp_facades_paper (ResNet-101 DeepLabv3, 512 crops, G/D with 64
filters) with a small batch (default 1) so that it fits 2 CPU cores.
`--params_override` (YAML, applied to both stage configs' `task`) measures
other settings, e.g. '{generator: {base_filters: 16}}'.

Prints, per config, the step medians, a decomposition of the SegWGAN step
(segmenter forward+backward, G and D forward, G and D forward+backward to the
probabilities) and `aux_loss_overhead_<config> ratio=X target=Y`.
"""
import argparse

import steps  # pylint: disable=g-bad-import-order
import timing  # pylint: disable=g-bad-import-order

import tensorflow as tf  # pylint: disable=g-import-not-at-top
import yaml  # pylint: disable=g-import-not-at-top

from segwgan import variants  # pylint: disable=g-import-not-at-top
from segwgan.training import maps  # pylint: disable=g-import-not-at-top
from segwgan.training import runner  # pylint: disable=g-import-not-at-top

DATASET = steps.DATASET
TARGETS = {"cpu": 2.0, "paper": 1.3}
DEFAULT_BATCH = {"cpu": 8, "paper": 1}
BUDGET_S = {"cpu": 150.0, "paper": 300.0}


def parts(trainers, batches):
  """Callables for the pieces of the SegWGAN step (each a tf.function)."""
  trainer = trainers["segwgan"]
  segmenter, generator, critic = (trainer.segmenter, trainer.generator,
                                  trainer.critic)
  features, labels_ = batches[0]
  variables = segmenter.trainable_variables

  @tf.function
  def segmenter_step():
    with tf.GradientTape() as tape:
      logits = trainer.segment(features["image"])  # As the step traces it.
      loss = tf.reduce_mean(logits)
    grads = tape.gradient(loss, variables)
    # Every gradient is an output (else the graph would be pruned).
    return tf.add_n([tf.reduce_sum(g) for g in grads if g is not None])

  probabilities = maps.prediction_map(
      segmenter(features["image"], training=False), labels_["valid_masks"])

  @tf.function
  def gd_forward():
    return critic([probabilities, generator(probabilities, training=False)],
                  training=False)

  @tf.function
  def gd_forward_backward():
    with tf.GradientTape() as tape:
      tape.watch(probabilities)
      score = critic([probabilities, generator(probabilities, training=False)],
                     training=False)
      loss = tf.reduce_mean(score)
    return tape.gradient(loss, probabilities)

  return {"segmenter fwd+bwd": lambda: segmenter_step().numpy(),
          "G+D fwd": lambda: gd_forward().numpy(),
          "G+D fwd+bwd(input)": lambda: gd_forward_backward().numpy()}


def run(size: str, batch: int, override: dict, precision: str,
        decompose: bool) -> float:
  print(f"-- config {size}: stage2_{DATASET}_{size}, batch {batch}, "
        f"precision {precision}, override {override or '{}'}", flush=True)
  built = steps.build(size, batch, precision=precision, override=override)
  stage1, stage2, batches, trainers = (built.stage1, built.stage2,
                                       built.batches, built.trainers)
  print(f"   segmenter {stage2.task.model.backbone.type}, crop "
        f"{stage2.task.train_data.output_size}; G {stage1.task.generator.as_dict()}"
        f"; D {stage1.task.critic.as_dict()}", flush=True)
  sides = {"segwgan step": steps.stepper(trainers["segwgan"], batches),
           "ce-only step": steps.stepper(trainers[variants.BASELINE.name],
                                         batches)}
  budget = BUDGET_S[size] * (0.7 if decompose else 1.0)
  times = timing.interleaved(sides, reps=30, warmup=2, budget_s=budget)
  timing.report(times, unit="s", per="step")
  ratio = timing.ratio_of(times, "segwgan step", "ce-only step")
  if decompose:
    piece_times = timing.interleaved(parts(trainers, batches), reps=10,
                                     warmup=1,
                                     budget_s=BUDGET_S[size] * 0.3)
    print("   decomposition (medians, interleaved):")
    timing.report(piece_times, unit="s", per="call")
  return ratio


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", choices=["cpu", "paper", "both"],
                      default="both")
  parser.add_argument("--batch", type=int, default=0,
                      help="global batch (default: cpu 8, paper 1)")
  parser.add_argument("--precision", default="float32",
                      choices=list(runner.PRECISIONS))
  parser.add_argument("--params_override", default="",
                      help="YAML for the stage-1/stage-2 task")
  parser.add_argument("--no_decompose", action="store_true")
  args = parser.parse_args()
  timing.banner("aux_loss_overhead")
  override = yaml.safe_load(args.params_override) if args.params_override \
      else {}
  sizes = ["cpu", "paper"] if args.config == "both" else [args.config]
  results = {}
  for size in sizes:
    results[size] = run(size, args.batch or DEFAULT_BATCH[size], override,
                        args.precision, not args.no_decompose)
  print(f"   ({timing.load()} at end)")
  for size in sizes:
    print(f"aux_loss_overhead_{size} ratio={results[size]:.3f} "
          f"target=<={TARGETS[size]}", flush=True)


if __name__ == "__main__":
  main()
