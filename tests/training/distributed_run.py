"""Runs one distributed check in a fresh process (devices are fixed at start).

  python distributed_run.py mirrored SHARED_DATA_DIR
      one train step of the CE baseline on one CPU and on MirroredStrategy
      over two logical CPUs, same global batch; prints JSON with both losses
      and the largest weight difference afterwards.
  python distributed_run.py worker SHARED_DATA_DIR   (TF_CONFIG set)
      three stage-1 steps under MultiWorkerMirroredStrategy; prints JSON.
"""
import json
import pathlib
import sys

import tensorflow as tf

MODE, SHARED_DATA = sys.argv[1], pathlib.Path(sys.argv[2])
if MODE == "mirrored":
  tf.config.set_logical_device_configuration(
      tf.config.list_physical_devices("CPU")[0],
      [tf.config.LogicalDeviceConfiguration()] * 2)

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import tf_keras  # pylint: disable=g-import-not-at-top,wrong-import-position

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from conftest import cmp_raw_dataset  # pylint: disable=g-import-not-at-top,wrong-import-position
from segwgan.configs import data as data_config  # pylint: disable=g-import-not-at-top,wrong-import-position
from segwgan.configs import gan as gan_config  # pylint: disable=g-import-not-at-top,wrong-import-position
from segwgan.configs import models  # pylint: disable=g-import-not-at-top,wrong-import-position
from segwgan import labels  # pylint: disable=g-import-not-at-top,wrong-import-position
from segwgan import variants  # pylint: disable=g-import-not-at-top,wrong-import-position
from segwgan.data import pipeline  # pylint: disable=g-import-not-at-top,wrong-import-position
from segwgan.modeling import critic as critic_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from segwgan.modeling import generator as generator_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from segwgan.modeling import segmenter as segmenter_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from segwgan.training import gan_model  # pylint: disable=g-import-not-at-top,wrong-import-position
from segwgan.training import seg_model  # pylint: disable=g-import-not-at-top,wrong-import-position

PRESET = "tf_deeplab_mnv2_dm05_os8"


def batches(n_images=4, batch=4):
  config = data_config.DataConfig(
      is_training=True, output_size=[64, 64], global_batch_size=batch,
      resize_long_side=128, shuffle_buffer_size=1, seed=1)
  config.image_feature.mean, config.image_feature.stddev = (
      models.input_normalization(PRESET))
  return pipeline.build(cmp_raw_dataset(SHARED_DATA, n_images), config)


def one_step_baseline(strategy):
  with strategy.scope():
    tf_keras.utils.set_random_seed(0)
    config = models.model_config(PRESET, "cmp_facades")
    config.norm_activation.use_sync_bn = False  # As the stage-2 experiments.
    segmenter = segmenter_lib.build_segmenter(config)
    trainer = seg_model.SegTrainer(segmenter,
                                   variant=variants.get("deeplabv3"),
                                   palette=labels.CMP_FACADES.palette())
    trainer.compile(tf_keras.optimizers.legacy.Adam(5e-4))
  batch = next(iter(batches()))
  history = trainer.fit(tf.data.Dataset.from_tensors(batch).repeat(),
                        steps_per_epoch=1, epochs=1, verbose=0)
  return history.history["loss"][0], [v.numpy() for v in
                                      segmenter.trainable_variables]


def mirrored():
  one_loss, one_weights = one_step_baseline(tf.distribute.get_strategy())
  strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
  two_loss, two_weights = one_step_baseline(strategy)
  diff = max(float(np.max(np.abs(a - b)))
             for a, b in zip(one_weights, two_weights))
  return {"replicas": strategy.num_replicas_in_sync, "one": one_loss,
          "two": two_loss, "max_weight_diff": diff}


def worker():
  strategy = tf.distribute.MultiWorkerMirroredStrategy()
  with strategy.scope():
    trainer = gan_model.GanTrainer(
        generator_lib.build_generator(
            gan_config.GeneratorConfig(base_filters=8), 12),
        critic_lib.build_critic(gan_config.CriticConfig(base_filters=8), 12),
        num_classes=12, gan_loss=variants.gan_loss("gan"),
        palette=labels.CMP_FACADES.palette())
    trainer.compile(tf_keras.optimizers.legacy.Adam(2e-4),
                    tf_keras.optimizers.legacy.Adam(2e-4))
  history = trainer.fit(
      tf_keras.utils.experimental.DatasetCreator(
          lambda ctx: pipeline.build(
              cmp_raw_dataset(SHARED_DATA, 4),
              data_config.DataConfig(is_training=True, output_size=[64, 64],
                                     global_batch_size=4,
                                     resize_long_side=128), ctx)),
      steps_per_epoch=3, epochs=1, verbose=0)
  return {"replicas": strategy.num_replicas_in_sync,
          "steps": int(trainer.step.numpy()),
          "gloss": history.history["gloss"][-1]}


if __name__ == "__main__":
  print("RESULT " + json.dumps(mirrored() if MODE == "mirrored" else worker()))
