"""G: shapes, range, dropout noise at inference, frozen BN, gradient flow."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from segwgan import losses
from segwgan.configs import gan
from segwgan.modeling import critic as critic_lib
from segwgan.modeling import generator as generator_lib

SMALL = gan.GeneratorConfig(base_filters=8)


def maps(num_classes, size=32, batch=2, seed=0):
  logits = tf.random.stateless_normal([batch, size, size, num_classes],
                                      [seed, 1])
  return tf.nn.softmax(logits * 3.0)


@pytest.mark.parametrize("num_classes", [12, 8, 21, 150, 19])
def test_output_is_an_image_in_minus_one_one(num_classes):
  generator = generator_lib.build_generator(SMALL, num_classes)
  image = generator(maps(num_classes), training=False)
  assert image.shape == (2, 32, 32, 3)
  assert image.dtype == tf.float32
  assert float(tf.reduce_max(tf.abs(image))) <= 1.0


def test_has_four_convolutions_four_deconvolutions_and_skips():
  generator = generator_lib.build_generator(SMALL, 12)
  kinds = [type(l).__name__ for l in generator.encoder + generator.decoder +
           [generator.to_image]]
  assert kinds == ["Conv2D"] * 4 + ["Conv2DTranspose"] * 4
  # Skip concatenation: deconv i's successor sees its output + conv (4-1-i).
  assert generator.decoder[1].kernel.shape[-1] == 2 * 4 * 8  # 4f + 4f in
  assert generator.to_image.kernel.shape[-1] == 2 * 8


def test_dropout_noise_at_inference_and_repeatable_with_a_seed():
  generator = generator_lib.build_generator(SMALL, 12)
  x = maps(12)
  a = generator(x, training=False).numpy()
  b = generator(x, training=False).numpy()
  assert not np.allclose(a, b)
  generator_lib.reset_noise(generator, 123)
  c = generator(x, training=False).numpy()
  generator_lib.reset_noise(generator, 123)
  d = generator(x, training=False).numpy()
  np.testing.assert_array_equal(c, d)


def test_noise_state_is_checkpointed(tmp_path):
  generator = generator_lib.build_generator(SMALL, 12)
  x = maps(12)
  checkpoint = tf.train.Checkpoint(generator=generator)
  path = checkpoint.save(str(tmp_path / "ckpt"))
  first = generator(x, training=False).numpy()
  checkpoint.restore(path)
  np.testing.assert_array_equal(generator(x, training=False).numpy(), first)


@pytest.mark.parametrize("rate", [0.5, 0.3])
def test_noise_rate(rate):
  layer = generator_lib.NoiseDropout(rate, seed=1)
  kept = layer(tf.ones([4, 64, 64, 16])).numpy() != 0
  assert abs(kept.mean() - (1 - rate)) < 0.01


def test_inference_call_leaves_batch_norm_statistics_alone():
  generator = generator_lib.build_generator(SMALL, 12)
  stats = [v.numpy().copy() for v in generator.variables if "moving" in v.name]
  assert stats
  generator(maps(12), training=False)
  after = [v.numpy() for v in generator.variables if "moving" in v.name]
  for x, y in zip(stats, after):
    np.testing.assert_array_equal(x, y)
  generator(maps(12), training=True)
  assert any(not np.array_equal(x, v.numpy()) for x, v in zip(
      stats, [v for v in generator.variables if "moving" in v.name]))


def test_frozen_generator_passes_gradients_to_its_input():
  generator = generator_lib.build_generator(SMALL, 12)
  generator.trainable = False
  x = tf.Variable(maps(12))
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(tf.abs(generator(x, training=False)))
  grad = tape.gradient(loss, x)
  assert grad is not None
  assert float(tf.norm(grad)) > 0 and np.isfinite(grad.numpy()).all()
  assert not generator.trainable_variables


def test_frozen_generator_and_critic_pass_gradients_to_the_map():
  # Stage 2: d l_A / d p_seg through D(p_seg, G(p_seg)), both frozen.
  generator = generator_lib.build_generator(SMALL, 12)
  critic = critic_lib.build_critic(gan.CriticConfig(base_filters=8), 12)
  generator.trainable = critic.trainable = False
  x = tf.Variable(maps(12))
  with tf.GradientTape() as tape:
    score = critic([x, generator(x, training=False)], training=False)
    loss = tf.reduce_mean(losses.adversarial_loss_wgan(score))
  grad = tape.gradient(loss, x)
  assert float(tf.norm(grad)) > 0 and np.isfinite(grad.numpy()).all()


def test_size_not_multiple_of_16_is_a_clear_error():
  generator = generator_lib.build_generator(SMALL, 12)
  with pytest.raises(ValueError, match="multiple of 16"):
    generator(tf.zeros([1, 40, 32, 12]))
  unknown = tf.function(generator, input_signature=[
      tf.TensorSpec([None, None, None, 12])])
  with pytest.raises(tf.errors.InvalidArgumentError, match="multiple of 16"):
    unknown(tf.zeros([1, 32, 40, 12]))
  assert unknown(tf.zeros([1, 32, 48, 12])).shape == (1, 32, 48, 3)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_outputs_float32(policy):
  tf_keras.mixed_precision.set_global_policy(policy)
  try:
    generator = generator_lib.build_generator(SMALL, 12)
    image = generator(maps(12), training=False)
  finally:
    tf_keras.mixed_precision.set_global_policy("float32")
  assert image.dtype == tf.float32
  assert generator.compute_dtype == policy.split("_")[1]
  assert np.isfinite(image.numpy()).all()


def test_resolution_divisor_runs_the_same_unet_on_the_pooled_map():
  # k = 2: G(x) is the divisor-1 G (same weights) on the 2x2-averaged map,
  # each output pixel repeated over its 2x2 block.
  config = gan.GeneratorConfig(base_filters=8, resolution_divisor=2)
  fast = generator_lib.build_generator(config, 12)
  full = generator_lib.build_generator(config.replace(resolution_divisor=1),
                                       12)
  full.set_weights(fast.get_weights())
  x = maps(12, size=64)
  generator_lib.reset_noise(fast, 7)
  image = fast(x, training=False).numpy()
  generator_lib.reset_noise(full, 7)
  small = full(tf.nn.avg_pool2d(x, 2, 2, "VALID"), training=False).numpy()
  assert image.shape == (2, 64, 64, 3) and small.shape == (2, 32, 32, 3)
  np.testing.assert_allclose(image, np.repeat(np.repeat(small, 2, 1), 2, 2),
                             atol=1e-6)


def test_resolution_divisor_passes_gradients_and_checks_sizes():
  config = gan.GeneratorConfig(base_filters=8, resolution_divisor=2)
  generator = generator_lib.build_generator(config, 12)
  generator.trainable = False
  x = tf.Variable(maps(12, size=32))
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(tf.abs(generator(x, training=False)))
  grad = tape.gradient(loss, x).numpy()
  assert np.abs(grad).sum() > 0 and np.isfinite(grad).all()
  with pytest.raises(ValueError, match="multiple of 32"):
    generator(tf.zeros([1, 48, 32, 12]))
  for bad in (0, 1.5, -2, True):
    with pytest.raises(ValueError, match="resolution_divisor"):
      generator_lib.Generator(config.replace(resolution_divisor=bad), 12)


def test_default_is_the_papers_full_resolution():
  assert gan.GeneratorConfig().resolution_divisor == 1
  assert gan.CriticConfig().resolution_divisor == 1
