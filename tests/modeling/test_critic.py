"""D: PatchGAN structure, receptive field, averaging, gradient flow."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from segwgan.configs import gan
from segwgan.modeling import critic as critic_lib

SMALL = gan.CriticConfig(base_filters=8)


def pair(num_classes, size=64, batch=2):
  maps = tf.nn.softmax(tf.random.stateless_normal(
      [batch, size, size, num_classes], [0, 1]))
  images = tf.random.stateless_uniform([batch, size, size, 3], [0, 2],
                                       -1.0, 1.0)
  return maps, images


@pytest.mark.parametrize("num_classes", [12, 8, 21, 150, 19])
def test_score_is_the_mean_of_patch_scores(num_classes):
  critic = critic_lib.build_critic(SMALL, num_classes)
  inputs = pair(num_classes)
  patches = critic.patches(inputs, training=False)
  assert patches.shape == (2, 16, 16, 1)
  np.testing.assert_allclose(critic(inputs, training=False).numpy(),
                             tf.reduce_mean(patches, axis=[1, 2, 3]).numpy(),
                             rtol=1e-6)


def test_four_convolutions_relu_after_all_but_the_last():
  critic = critic_lib.build_critic(SMALL, 12)
  assert [type(c).__name__ for c in critic.convs] == ["Conv2D"] * 4
  # The last layer is unbounded (a logit / a Wasserstein score): with a
  # negative bias, some patch scores must go below zero.
  critic.convs[-1].bias.assign([-5.0])
  assert float(tf.reduce_min(critic.patches(pair(12)))) < 0


def test_receptive_field_is_34_analytically_and_by_the_gradient_support():
  config = gan.CriticConfig(base_filters=4, normalization="none")
  critic = critic_lib.build_critic(config, 3)
  assert critic_lib.receptive_field(critic.convs) == critic_lib.RECEPTIVE_FIELD
  assert critic_lib.RECEPTIVE_FIELD == 34
  for layer in critic.convs:  # positive weights: no cancellation, no ReLU 0
    layer.kernel.assign(tf.abs(layer.kernel) + 0.01)
    layer.bias.assign(tf.ones_like(layer.bias))
  maps = tf.Variable(tf.ones([1, 96, 96, 3]))
  images = tf.Variable(tf.ones([1, 96, 96, 3]))
  i, j = 12, 5
  with tf.GradientTape() as tape:
    cell = critic.patches([maps, images])[0, i, j, 0]
  for grad in tape.gradient(cell, [maps, images]):
    support = tf.reduce_sum(tf.abs(grad[0]), axis=-1).numpy() > 0
    rows = np.nonzero(support.any(axis=1))[0]
    cols = np.nonzero(support.any(axis=0))[0]
    # The documented window: rows 4i-11 .. 4i+22, columns 4j-11 .. 4j+22.
    assert (rows.min(), rows.max()) == (4 * i - 11, 4 * i + 22)
    assert (cols.min(), cols.max()) == (4 * j - 11, 4 * j + 22)
    assert support[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()


def test_frozen_critic_passes_gradients_to_both_inputs():
  critic = critic_lib.build_critic(SMALL, 12)
  critic.trainable = False
  maps, images = (tf.Variable(t) for t in pair(12))
  with tf.GradientTape() as tape:
    score = tf.reduce_sum(critic([maps, images], training=False))
  for grad in tape.gradient(score, [maps, images]):
    assert float(tf.norm(grad)) > 0


def test_instance_norm_is_per_example_and_the_same_in_both_modes():
  """Each example's score is its own (any batch, any mode): what pix2pix's
  batch norm gives at batch size 1, with no moving statistics."""
  critic = critic_lib.build_critic(SMALL, 12)
  assert critic.config.normalization == "instance"
  assert not critic.uses_batch_statistics
  rng = np.random.default_rng(1)
  for variable in critic.trainable_weights:
    variable.assign(variable + rng.normal(0.0, 0.1, variable.shape))
  maps, images = pair(12, batch=3)
  together = critic([maps, images], training=True).numpy()
  alone = [critic([maps[i:i + 1], images[i:i + 1]], training=False).numpy()[0]
           for i in range(3)]
  np.testing.assert_allclose(alone, together, rtol=1e-5, atol=1e-6)


def test_clipping_leaves_normalisation_parameters_alone():
  critic = critic_lib.build_critic(SMALL, 12)
  clipped = {id(v) for v in critic.clipped_variables}
  assert len(clipped) == 8  # 4 kernels, 4 biases.
  others = [v.name for v in critic.trainable_weights if id(v) not in clipped]
  assert others and all("gamma" in n or "beta" in n for n in others), others


def test_bad_options_are_clear_errors():
  with pytest.raises(ValueError, match="normalization"):
    critic_lib.build_critic(gan.CriticConfig(normalization="group"), 12)
  with pytest.raises(ValueError, match="activation"):
    critic_lib.build_critic(gan.CriticConfig(activation="tanh"), 12)


@pytest.mark.parametrize("normalization", ["instance", "batch", "layer",
                                           "none"])
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_outputs_float32(policy, normalization):
  tf_keras.mixed_precision.set_global_policy(policy)
  try:
    critic = critic_lib.build_critic(
        gan.CriticConfig(base_filters=8, normalization=normalization), 12)
    patches = critic.patches(pair(12), training=True)
    score = critic(pair(12), training=False)
  finally:
    tf_keras.mixed_precision.set_global_policy("float32")
  assert critic.compute_dtype == policy.split("_")[1]
  assert patches.dtype == score.dtype == tf.float32
  assert np.isfinite(score.numpy()).all()


def test_resolution_divisor_scores_the_pooled_pair():
  config = gan.CriticConfig(base_filters=8, resolution_divisor=2)
  fast = critic_lib.build_critic(config, 12)
  full = critic_lib.build_critic(config.replace(resolution_divisor=1), 12)
  full.set_weights(fast.get_weights())
  maps, images = pair(12, size=64)
  patches = fast.patches([maps, images], training=False)
  assert patches.shape == (2, 8, 8, 1)
  pooled = [tf.nn.avg_pool2d(t, 2, 2, "VALID") for t in (maps, images)]
  np.testing.assert_allclose(patches.numpy(),
                             full.patches(pooled, training=False).numpy(),
                             rtol=1e-5, atol=1e-6)
  # Any size still works; a fake repeated from G's low resolution is seen
  # exactly as G made it.
  assert fast.patches(pair(12, size=30), training=False).shape == (
      2, 4, 4, 1)
  low = tf.random.stateless_uniform([2, 32, 32, 3], [0, 3], -1.0, 1.0)
  repeated = tf.image.resize(low, [64, 64], method="nearest")
  np.testing.assert_allclose(
      fast([maps, repeated], training=False).numpy(),
      full([pooled[0], low], training=False).numpy(), rtol=1e-5, atol=1e-6)


def test_resolution_divisor_passes_gradients_to_both_inputs():
  config = gan.CriticConfig(base_filters=8, resolution_divisor=2)
  critic = critic_lib.build_critic(config, 12)
  critic.trainable = False
  maps, images = [tf.Variable(t) for t in pair(12, size=32)]
  with tf.GradientTape() as tape:
    score = tf.reduce_sum(critic([maps, images], training=False))
  for grad in tape.gradient(score, [maps, images]):
    assert float(tf.norm(grad)) > 0
