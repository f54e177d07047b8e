"""critic_rank and the stage-1 validation numbers on real CMP images."""
import numpy as np
import tensorflow as tf
import tf_keras

from conftest import cmp_raw_dataset
from segwgan.configs import gan as gan_config
from segwgan.modeling import critic as critic_lib
from segwgan.modeling import generator as generator_lib
from segwgan.training import diagnostics

NUM_CLASSES = 12
LONG_SIDE = 128


def networks():
  tf_keras.utils.set_random_seed(0)
  generator = generator_lib.build_generator(
      gan_config.GeneratorConfig(base_filters=8), NUM_CLASSES)
  critic = critic_lib.build_critic(gan_config.CriticConfig(base_filters=8),
                                   NUM_CLASSES)
  rng = np.random.default_rng(0)
  for variable in critic.trainable_weights:  # Scores that differ per image.
    variable.assign(variable + rng.normal(0.0, 0.05, variable.shape))
  return generator, critic


def by_hand(generator, critic, example):
  """D(Y, I) and D(Y, G(Y)) of one real example, computed directly."""
  image, label = example["image"], example["label"]
  scale = LONG_SIDE / max(image.shape[:2])
  size = [round(image.shape[0] * scale), round(image.shape[1] * scale)]
  crop = [s // 16 * 16 for s in size]
  image = tf.image.resize(image.astype(np.float32), size)[:crop[0], :crop[1]]
  label = tf.image.resize(label, size, method="nearest")[:crop[0], :crop[1]]
  label_map = tf.one_hot(tf.cast(label[None, ..., 0], tf.int32), NUM_CLASSES)
  real = image[None] / 127.5 - 1.0
  fake = generator(label_map, training=False)
  return (float(critic([label_map, real], training=False)[0]),
          float(critic([label_map, fake], training=False)[0]))


def test_critic_rank_on_real_images(shared_data):
  generator, critic = networks()
  examples = list(cmp_raw_dataset(shared_data, 6).as_numpy_iterator())
  result = diagnostics.gan_validation(generator, critic, examples,
                                      NUM_CLASSES, LONG_SIDE)
  generator_lib.reset_noise(generator, diagnostics.NOISE_SEED)
  scores = np.array([by_hand(generator, critic, e) for e in examples])
  assert result["images"] == 6
  assert len(set(np.round(scores[:, 0], 6))) == 6  # Real, distinct scores.
  np.testing.assert_allclose(result["critic_rank"],
                             np.mean(scores[:, 0] > scores[:, 1]))
  np.testing.assert_allclose(result["separation"],
                             np.mean(scores[:, 0] - scores[:, 1]),
                             rtol=1e-4, atol=1e-6)
  assert 0 < result["l1"] < 2


def test_validation_leaves_the_noise_stream_alone(shared_data):
  generator, critic = networks()
  examples = list(cmp_raw_dataset(shared_data, 2).as_numpy_iterator())
  states = [layer.noise.state.numpy().copy() for layer in generator.noise]
  first = diagnostics.gan_validation(generator, critic, examples,
                                     NUM_CLASSES, LONG_SIDE)
  for layer, state in zip(generator.noise, states):
    np.testing.assert_array_equal(layer.noise.state.numpy(), state)
  assert diagnostics.gan_validation(generator, critic, examples, NUM_CLASSES,
                                    LONG_SIDE) == first


def test_a_generator_with_a_resolution_divisor_is_validated(shared_data):
  """G with resolution_divisor 2 needs sizes in multiples of 32: validation
  and reconstructions crop or pad to that, not to 16."""
  generator = generator_lib.build_generator(
      gan_config.GeneratorConfig(base_filters=8, resolution_divisor=2),
      NUM_CLASSES)
  critic = critic_lib.build_critic(gan_config.CriticConfig(base_filters=8),
                                   NUM_CLASSES)
  assert generator.size_multiple == 32
  examples = list(cmp_raw_dataset(shared_data, 2).as_numpy_iterator())
  result = diagnostics.gan_validation(generator, critic, examples,
                                      NUM_CLASSES, LONG_SIDE)
  assert result["images"] == 2 and np.isfinite(result["l1"])
  picture = diagnostics.reconstruction(generator, examples[0], NUM_CLASSES,
                                       LONG_SIDE)
  assert picture.shape == examples[0]["image"].shape
