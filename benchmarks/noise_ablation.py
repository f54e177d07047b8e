"""Before/after of the generator's noise: a float per element vs one bit.

`NoiseDropout` at rate 0.5 used to draw a uniform float per element
(`tf.nn.experimental.stateless_dropout`) and now draws one random bit per
element (`generator.half_dropout`). Both are timed interleaved in one run,
on the CPU configs (real CMP Facades batches, batch 8, 256 crops):
  * the stage-2 SegWGAN step (frozen G and D),
  * the stage-1 WGAN step (5 critic steps, so 6 G forward passes),
each with G's noise layers switched back to the float mask (`before`) or
left as they are (`after`).

  .venv/bin/python benchmarks/noise_ablation.py

Final line: `noise_ablation ratio=X target=>1` (stage-2 SegWGAN step time
before / after).
"""
import types

import steps  # pylint: disable=g-bad-import-order
import timing  # pylint: disable=g-bad-import-order

import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tf_keras  # pylint: disable=g-import-not-at-top

from segwgan.configs import experiments  # pylint: disable=g-import-not-at-top
from segwgan.data import labels  # pylint: disable=g-import-not-at-top
from segwgan.modeling import critic as critic_lib  # pylint: disable=g-import-not-at-top
from segwgan.modeling import generator as generator_lib  # pylint: disable=g-import-not-at-top
from segwgan.training import gan_model  # pylint: disable=g-import-not-at-top


def float_mask_call(self, inputs, training=None):  # pylint: disable=unused-argument
  """NoiseDropout.call as it was: a uniform float per element."""
  seed = self.noise.make_seeds(1)[:, 0]
  return tf.nn.experimental.stateless_dropout(inputs, self.rate, seed=seed)


def use_float_mask(generator) -> None:
  for layer in generator.noise:
    layer.call = types.MethodType(float_mask_call, layer)


def wgan_stepper(batches, before: bool):
  stage1 = experiments.stage1(steps.DATASET, "cpu")
  stage1.override(experiments.GAN_LOSS_PRESETS["wgan"], is_strict=False)
  task = stage1.task
  info = labels.get_info(steps.DATASET)
  generator = generator_lib.build_generator(task.generator, info.num_classes)
  if before:
    use_float_mask(generator)
  trainer = gan_model.GanTrainer(
      generator, critic_lib.build_critic(task.critic, info.num_classes),
      num_classes=info.num_classes, gan_loss=task.gan_loss,
      palette=info.palette(), critic_steps=task.critic_steps,
      clip_value=task.clip_value)
  trainer.compile(tf_keras.optimizers.legacy.Adam(2e-4, beta_1=0.5),
                  tf_keras.optimizers.legacy.RMSprop(5e-5))
  step = tf.function(trainer.train_step)
  counter = [0]

  def call():
    out = step(batches[counter[0] % len(batches)])
    counter[0] += 1
    return float(out["gloss"])

  return call, task


def main():
  timing.banner("noise_ablation")
  after = steps.build("cpu", 8, variants=("segwgan",))
  before = steps.build("cpu", 8, variants=("segwgan",), batches=after.batches)
  use_float_mask(before.trainers["segwgan"].generator)
  wgan_before, task = wgan_stepper(after.batches, True)
  wgan_after, _ = wgan_stepper(after.batches, False)
  print(f"-- G {task.generator.as_dict()}, D {task.critic.as_dict()}; WGAN "
        f"critic_steps {task.critic_steps}", flush=True)
  sides = {
      "segwgan step, float mask": steps.stepper(before.trainers["segwgan"],
                                                after.batches),
      "segwgan step, bit mask": steps.stepper(after.trainers["segwgan"],
                                              after.batches),
      "wgan stage-1 step, float mask": wgan_before,
      "wgan stage-1 step, bit mask": wgan_after,
  }
  times = timing.interleaved(sides, reps=20, warmup=2, budget_s=300)
  timing.report(times, per="step")
  ratio = timing.ratio_of(times, "segwgan step, float mask",
                          "segwgan step, bit mask")
  timing.ratio_of(times, "wgan stage-1 step, float mask",
                  "wgan stage-1 step, bit mask")
  timing.final("noise_ablation", ratio, ">1")


if __name__ == "__main__":
  main()
