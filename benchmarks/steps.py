"""Trainers built as the registered experiments build them.

`build(size, ...)` gives, for `stage2_cmp_facades_<size>`, the segmenter
(random weights: step time does not depend on them), G and D from the
`stage1_cmp_facades_<size>` configs, one `SegTrainer` per variant asked for
(sharing the segmenter), and real CMP Facades training batches from the
experiment's pipeline, held in memory. `stage1_trainer(gan_loss, ...)`
gives the stage-1 `GanTrainer` of a GAN loss preset, fresh G and D.
"""
import dataclasses
from typing import Dict, List, Sequence

import timing  # pylint: disable=g-bad-import-order

import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tf_keras  # pylint: disable=g-import-not-at-top

from segwgan.configs import experiments  # pylint: disable=g-import-not-at-top
from segwgan import labels  # pylint: disable=g-import-not-at-top
from segwgan import variants as variants_lib  # pylint: disable=g-import-not-at-top
from segwgan.modeling import critic as critic_lib  # pylint: disable=g-import-not-at-top
from segwgan.modeling import generator as generator_lib  # pylint: disable=g-import-not-at-top
from segwgan.modeling import segmenter as segmenter_lib  # pylint: disable=g-import-not-at-top
from segwgan.training import runner  # pylint: disable=g-import-not-at-top
from segwgan.training import seg_model  # pylint: disable=g-import-not-at-top
from segwgan.training import tasks  # pylint: disable=g-import-not-at-top

DATASET = "cmp_facades"
GAN_KEYS = ("generator", "critic")


@dataclasses.dataclass
class Built:
  stage1: object
  stage2: object
  batches: List
  trainers: Dict[str, seg_model.SegTrainer]


def configs(size: str, override: dict):
  """(stage-1, stage-2) experiment configs; `override` keys generator and
  critic go to stage 1's task, the others to stage 2's task."""
  stage1 = experiments.stage1(DATASET, size)
  stage2 = experiments.stage2(DATASET, size)
  override = override or {}
  gan = {k: v for k, v in override.items() if k in GAN_KEYS}
  seg = {k: v for k, v in override.items() if k not in GAN_KEYS}
  if gan:
    stage1.task.override(gan, is_strict=True)
  if seg:
    stage2.task.override(seg, is_strict=True)
  return stage1, stage2


def trainer_options(task) -> dict:
  """The stage-2 task's SegTrainer options beyond the variant."""
  return dict(lambda_content=task.lambda_content,
              lambda_adversarial=task.lambda_adversarial,
              fine_tune_batch_norm=task.fine_tune_batch_norm)


def build(size: str, batch: int, *, precision: str = "float32",
          override: dict = None, variants: Sequence[str] = (
              variants_lib.BASELINE.name, "segwgan"),
          batches=None, n_batches: int = 2) -> Built:
  runner.set_precision(precision)
  tf_keras.utils.set_random_seed(0)
  stage1, stage2 = configs(size, override)
  if batches is None:
    data = stage2.task.train_data.replace(global_batch_size=batch)
    batches = timing.cmp_batches(data, n_batches)
  info = labels.get_info(DATASET)
  segmenter = segmenter_lib.build_segmenter(stage2.task.model)
  generator = critic = None
  if any(v != variants_lib.BASELINE.name for v in variants):
    generator = generator_lib.build_generator(stage1.task.generator,
                                              info.num_classes)
    critic = critic_lib.build_critic(stage1.task.critic, info.num_classes)
  trainers = {}
  for variant in variants:
    gan = variant != variants_lib.BASELINE.name
    trainer = seg_model.SegTrainer(
        segmenter, generator if gan else None, critic if gan else None,
        variant=variants_lib.get(variant), palette=info.palette(),
        **trainer_options(stage2.task))
    trainer.compile(runner.wrap_optimizer(
        tf_keras.optimizers.legacy.Adam(5e-4), precision))
    trainers[variant] = trainer
  runner.set_precision("float32")
  return Built(stage1, stage2, batches, trainers)


def stage1_trainer(gan_loss: str, size: str = "cpu"):
  """(the compiled stage-1 GanTrainer of `stage1_cmp_facades_<size>` with
  the `gan_loss` preset, fresh G and D; its task config)."""
  stage1 = experiments.stage1(DATASET, size)
  stage1.override(experiments.gan_loss_preset(gan_loss), is_strict=False)
  return tasks.build_gan_trainer(stage1, "float32"), stage1.task


def stepper(trainer, batches, loss: str = "loss"):
  """A call that runs one traced train_step on the next batch and blocks
  (on its `loss` output)."""
  step = tf.function(trainer.train_step)
  counter = [0]

  def call():
    out = step(batches[counter[0] % len(batches)])
    counter[0] += 1
    return float(out[loss])

  return call
