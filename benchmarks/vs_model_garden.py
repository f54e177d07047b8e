"""Measure 4: our stage-2 baseline step / the Model Garden's train step.

Ours: the CE-only stage-2 step as `fit` runs it, i.e. Keras'
`make_train_function()` around `SegTrainer.train_step` (variant deeplabv3).
The Model Garden's: `SemanticSegmentationTask.train_step` driven as
`official.core.base_trainer.Trainer.train_step` drives it (under
`strategy.run` in a `tf.function`, with its train-loss metric and global
step), with the task's own loss (`SegmentationLoss`, l2 weight decay 0).
Same model (`build_segmenter` of the registered experiment's model config;
the Model Garden side gets a `SegmentationModel` of the same backbone,
decoder and head classes with the same weights), the same two real CMP
Facades batches from in-memory iterators, the same optimizer (Adam 5e-4).

Two pairs are timed interleaved:
  frozen BN   ours as configured (`fine_tune_batch_norm=False`: the
              segmenter is called with training=False, so batch-norm
              statistics stay frozen while gamma and beta are trained, as in
              TF DeepLab) vs the Model
              Garden step on the same model wrapped to run the same way
              (the wrapper passes training=False to it whatever the task's
              train_step passes; the model's own layers, nothing folded).
  trained BN  ours with fine_tune_batch_norm=True vs the Model Garden step
              on the same model as is (both call the model with
              training=True).

  .venv/bin/python benchmarks/vs_model_garden.py [--config=cpu|paper]

Final line: `vs_model_garden ratio=X target=<=1.05` (the frozen-BN pair:
our stage-2 baseline as the experiments run it).
"""
import argparse

import steps  # pylint: disable=g-bad-import-order
import timing  # pylint: disable=g-bad-import-order

import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tf_keras  # pylint: disable=g-import-not-at-top
from official.core import exp_factory  # pylint: disable=g-import-not-at-top
from official.vision.modeling import segmentation_model  # pylint: disable=g-import-not-at-top
from official.vision.tasks import semantic_segmentation  # pylint: disable=g-import-not-at-top

from segwgan import labels  # pylint: disable=g-import-not-at-top
from segwgan import variants  # pylint: disable=g-import-not-at-top
from segwgan.modeling import segmenter as segmenter_lib  # pylint: disable=g-import-not-at-top
from segwgan.training import seg_model  # pylint: disable=g-import-not-at-top

DEFAULT_BATCH = {"cpu": 8, "paper": 1}
BUDGET_S = {"cpu": 200.0, "paper": 420.0}


def iterator(batches, structure=lambda b: b):
  data = tf.data.Dataset.from_tensors(structure(batches[0]))
  for b in batches[1:]:
    data = data.concatenate(tf.data.Dataset.from_tensors(structure(b)))
  return iter(data.repeat())


def ours(stage2, batches, fine_tune_batch_norm: bool, weights):
  segmenter = segmenter_lib.build_segmenter(stage2.task.model)
  segmenter.set_weights(weights)
  trainer = seg_model.SegTrainer(
      segmenter, variant=variants.BASELINE,
      palette=labels.get_info(steps.DATASET).palette(),
      fine_tune_batch_norm=fine_tune_batch_norm)
  trainer.compile(tf_keras.optimizers.legacy.Adam(5e-4))
  train_function = trainer.make_train_function()
  it = iterator(batches)
  return lambda: float(train_function(it)["loss"])


class FrozenStatistics(tf_keras.Model):
  """`model` called with training=False whatever `training` is."""

  def __init__(self, model):
    super().__init__()
    self.model = model

  def call(self, inputs, training=None):  # pylint: disable=unused-argument
    return self.model(inputs, training=False)


def model_garden(stage2, batches, freeze_batch_norm: bool, weights):
  segmenter = segmenter_lib.build_segmenter(stage2.task.model)
  segmenter.set_weights(weights)
  model = segmentation_model.SegmentationModel(
      segmenter.backbone, segmenter.decoder, segmenter.head)
  if freeze_batch_norm:
    model = FrozenStatistics(model)
  config = exp_factory.get_exp_config("seg_deeplabv3_pascal").task
  config.losses.l2_weight_decay = 0.0
  config.losses.ignore_label = labels.IGNORE_LABEL
  config.model.num_classes = stage2.task.model.num_classes
  task = semantic_segmentation.SemanticSegmentationTask(config)
  optimizer = tf_keras.optimizers.legacy.Adam(5e-4)
  train_loss = tf_keras.metrics.Mean("training_loss", dtype=tf.float32)
  global_step = tf.Variable(0, dtype=tf.int64, trainable=False)
  strategy = tf.distribute.get_strategy()
  it = iterator(batches, lambda b: (b[0]["image"], b[1]))

  @tf.function
  def train_step(iterator_):
    def step_fn(inputs):
      logs = task.train_step(inputs, model=model, optimizer=optimizer,
                             metrics=[])
      train_loss.update_state(logs[task.loss])
      global_step.assign_add(1)
      return logs[task.loss]
    return strategy.run(step_fn, args=(next(iterator_),))

  return lambda: float(train_step(it))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", choices=["cpu", "paper"], default="cpu")
  parser.add_argument("--batch", type=int, default=0)
  args = parser.parse_args()
  timing.banner("vs_model_garden")
  batch = args.batch or DEFAULT_BATCH[args.config]
  built = steps.build(args.config, batch, variants=(variants.BASELINE.name,))
  stage2, batches = built.stage2, built.batches
  weights = built.trainers[variants.BASELINE.name].segmenter.get_weights()
  print(f"-- stage2_{steps.DATASET}_{args.config} model "
        f"({stage2.task.model.backbone.type}), batch {batch}, crop "
        f"{stage2.task.train_data.output_size}", flush=True)
  sides = {
      "ours, frozen BN": ours(stage2, batches, False, weights),
      "model garden, frozen BN": model_garden(stage2, batches, True, weights),
      "ours, trained BN": ours(stage2, batches, True, weights),
      "model garden, trained BN": model_garden(stage2, batches, False,
                                               weights),
  }
  times = timing.interleaved(sides, reps=30, warmup=2,
                             budget_s=BUDGET_S[args.config])
  timing.report(times, per="step")
  ratio = timing.ratio_of(times, "ours, frozen BN", "model garden, frozen BN")
  timing.ratio_of(times, "ours, trained BN", "model garden, trained BN")
  timing.final("vs_model_garden", ratio, "<=1.05")


if __name__ == "__main__":
  main()
