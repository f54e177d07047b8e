"""Stage 1: one train step per GAN loss on real CMP crops."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from conftest import cmp_raw_dataset
from segwgan.configs import data as data_config
from segwgan.configs import gan
from segwgan import labels
from segwgan import variants
from segwgan.data import pipeline
from segwgan.modeling import critic as critic_lib
from segwgan.modeling import generator as generator_lib
from segwgan.training import gan_model
from segwgan.training import runner


@pytest.fixture(scope="module")
def batch(shared_data):
  config = data_config.DataConfig(
      is_training=True, output_size=[64, 64], global_batch_size=2,
      resize_long_side=128, shuffle_buffer_size=1, seed=2)
  return next(iter(pipeline.build(cmp_raw_dataset(shared_data, 2), config)))


def adam():
  return tf_keras.optimizers.legacy.Adam(2e-4, beta_1=0.5)


def make_trainer(gan_loss, divisor=1, optimizer=adam):
  tf_keras.utils.set_random_seed(0)
  trainer = gan_model.GanTrainer(
      generator_lib.build_generator(gan.GeneratorConfig(
          base_filters=8, resolution_divisor=divisor), 12),
      critic_lib.build_critic(gan.CriticConfig(
          base_filters=8, resolution_divisor=divisor), 12),
      num_classes=12, gan_loss=variants.gan_loss(gan_loss),
      palette=labels.CMP_FACADES.palette(),
      critic_steps=1 if gan_loss == "gan" else 2)
  trainer.compile(optimizer(), optimizer())
  return trainer


@pytest.mark.parametrize("gan_loss,divisor", [
    ("gan", 1), ("wgan", 1), ("wgan_gp", 1), ("gan", 2), ("wgan_gp", 2)])
def test_one_step_updates_both_networks(batch, gan_loss, divisor):
  trainer = make_trainer(gan_loss, divisor)
  g_before = [v.numpy().copy() for v in trainer.generator.trainable_variables]
  d_before = [v.numpy().copy() for v in trainer.critic.trainable_variables]
  logs = {k: float(v) for k, v in trainer.train_step(batch).items()}
  assert {"gloss", "closs", "aloss", "dloss"} <= set(logs)
  assert ("wdist" in logs) == (gan_loss != "gan")
  assert all(np.isfinite(v) for v in logs.values())
  assert logs["gloss"] == pytest.approx(100 * logs["closs"] + logs["aloss"],
                                        rel=1e-4)
  for before, variables in ((g_before, trainer.generator.trainable_variables),
                            (d_before, trainer.critic.trainable_variables)):
    assert any(not np.array_equal(b, v.numpy())
               for b, v in zip(before, variables))
  assert int(trainer.step.numpy()) == 1


def test_wgan_clips_the_critics_convolutions_only(batch):
  trainer = make_trainer("wgan")
  trainer.train_step(batch)
  for variable in trainer.critic.clipped_variables:
    assert np.abs(variable.numpy()).max() <= trainer.clip_value + 1e-7
  gammas = [v for v in trainer.critic.trainable_weights if "gamma" in v.name]
  assert gammas and all(np.abs(v.numpy()).min() > 0.5 for v in gammas)


def test_visualise_panel(batch):
  trainer = make_trainer("gan")
  panel = trainer.visualise(*batch)
  assert panel.shape == (2, 64, 3 * 64, 3)
  assert panel.dtype.name == "uint8"


@pytest.mark.parametrize(
    "optimizer",
    [adam, lambda: tf_keras.optimizers.Adam(2e-4, beta_1=0.5),
     lambda: runner.wrap_optimizer(adam(), "float16")],
    ids=["legacy", "optimizer_v3", "loss_scaled"])
def test_fit_traces_the_train_step_once(batch, optimizer):
  """compile creates the optimizers' state, so the step creates no variables
  (a step that does is traced twice by tf.function)."""
  trainer = make_trainer("wgan", optimizer=optimizer)
  traced = []
  step = trainer.train_step
  trainer.train_step = lambda data: traced.append(1) or step(data)
  trainer.fit(tf.data.Dataset.from_tensors(batch).repeat(), epochs=1,
              steps_per_epoch=2, verbose=0)
  assert len(traced) == 1
  assert int(trainer.step.numpy()) == 2
