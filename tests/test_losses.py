"""Each paper loss against a plain numpy computation."""
import numpy as np
import pytest
import tensorflow as tf

from segwgan import losses
from segwgan.configs import gan
from segwgan.modeling import critic as critic_lib

RNG = np.random.default_rng(0)


def np_log_softmax(x):
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_segmentation_loss_ignores_void_and_handles_all_void_images():
  logits = RNG.normal(size=(3, 4, 5, 6)).astype(np.float32) * 4
  labels = RNG.integers(0, 6, size=(3, 4, 5)).astype(np.int32)
  labels[0, :2] = 255
  labels[2] = 255  # nothing labelled
  got = losses.segmentation_loss(labels[..., None], logits).numpy()
  logp = np_log_softmax(logits.astype(np.float64))
  for b in range(2):
    valid = labels[b] != 255
    want = -np.mean(logp[b][valid, labels[b][valid]])
    assert got[b] == pytest.approx(want, rel=1e-5)
  assert got[2] == 0.0


def test_segmentation_loss_is_stable_for_large_logits():
  logits = np.zeros((1, 2, 2, 3), np.float32)
  logits[..., 0] = 1e4
  labels = np.ones((1, 2, 2), np.int32)
  got = losses.segmentation_loss(labels, logits).numpy()
  assert got[0] == pytest.approx(1e4, rel=1e-5)


def test_content_loss_is_masked_mean_l1():
  a = RNG.uniform(-1, 1, size=(2, 4, 4, 3)).astype(np.float32)
  b = RNG.uniform(-1, 1, size=(2, 4, 4, 3)).astype(np.float32)
  mask = RNG.uniform(size=(2, 4, 4)) > 0.3
  got = losses.content_loss(a, b, mask[..., None]).numpy()
  for k in range(2):
    assert got[k] == pytest.approx(np.abs(a[k] - b[k])[mask[k]].mean(),
                                   rel=1e-5)
  np.testing.assert_allclose(losses.content_loss(a, b).numpy(),
                             np.abs(a - b).mean(axis=(1, 2, 3)), rtol=1e-5)


def test_gan_losses_equal_log_forms():
  real = np.array([2.0, -1.0, 30.0], np.float32)
  fake = np.array([-3.0, 0.5, -40.0], np.float32)
  sig = lambda x: 1 / (1 + np.exp(-x.astype(np.float64)))
  np.testing.assert_allclose(losses.adversarial_loss_gan(fake).numpy(),
                             -np.log(sig(fake)), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(
      losses.critic_loss_gan(real, fake).numpy(),
      -np.log(sig(real)) - np.log(1 - sig(fake)), rtol=1e-5, atol=1e-7)
  # Large logits stay finite.
  assert np.isfinite(losses.critic_loss_gan([1e4], [-1e4]).numpy()).all()


def test_gan_losses_on_patch_maps_average_the_patch_losses():
  real = RNG.normal(size=(2, 3, 3, 1)).astype(np.float32) * 5
  fake = RNG.normal(size=(2, 3, 3, 1)).astype(np.float32) * 5
  sig = lambda x: 1 / (1 + np.exp(-x.astype(np.float64)))
  np.testing.assert_allclose(
      losses.adversarial_loss_gan(fake).numpy(),
      -np.log(sig(fake)).mean(axis=(1, 2, 3)), rtol=1e-5)
  np.testing.assert_allclose(
      losses.critic_loss_gan(real, fake).numpy(),
      (-np.log(sig(real)) - np.log(1 - sig(fake))).mean(axis=(1, 2, 3)),
      rtol=1e-5)
  # WGAN: the loss of the patch map is the loss of its average.
  np.testing.assert_allclose(losses.critic_loss_wgan(real, fake).numpy(),
                             (fake - real).mean(axis=(1, 2, 3)), rtol=1e-5)


def test_wgan_losses():
  real = np.array([1.5, -2.0], np.float32)
  fake = np.array([0.5, 3.0], np.float32)
  np.testing.assert_allclose(losses.adversarial_loss_wgan(fake), -fake)
  np.testing.assert_allclose(losses.critic_loss_wgan(real, fake), fake - real)


def test_gradient_penalty_of_a_linear_critic_is_analytic():
  w = tf.constant(RNG.normal(size=(1, 4, 4, 3)).astype(np.float32))
  critic = lambda inputs, training=None: tf.reduce_sum(
      inputs[1] * w, axis=[1, 2, 3])
  real = tf.random.uniform([2, 4, 4, 3])
  fake = tf.random.uniform([2, 4, 4, 3])
  got = losses.gradient_penalty(critic, None, real, fake).numpy()
  want = (np.linalg.norm(w.numpy()) - 1.0) ** 2
  np.testing.assert_allclose(got, [want, want], rtol=1e-4)


def test_gradient_penalty_is_finite_at_zero_gradient():
  w = tf.Variable(tf.zeros([1, 4, 4, 3]))  # dD/dx = w = 0: sqrt'(0) w/o eps
  critic = lambda inputs, training=None: tf.reduce_sum(
      inputs[1] * w, axis=[1, 2, 3])
  x = tf.zeros([2, 4, 4, 3])
  with tf.GradientTape() as tape:
    penalty = losses.gradient_penalty(critic, None, x, x)
  np.testing.assert_allclose(penalty.numpy(), [1.0, 1.0], rtol=1e-5)
  assert np.isfinite(tape.gradient(penalty, w).numpy()).all()


def test_gradient_penalty_trains_a_layer_norm_critic():
  critic = critic_lib.build_critic(
      gan.CriticConfig(base_filters=4, normalization="layer"), 5)
  label_maps = tf.nn.softmax(tf.random.normal([2, 16, 16, 5]))
  real = tf.random.uniform([2, 16, 16, 3], -1, 1)
  with tf.GradientTape() as tape:
    penalty = losses.gradient_penalty(critic, label_maps, real, -real)
  grads = dict(zip([v.name for v in critic.trainable_variables],
                   tape.gradient(penalty, critic.trainable_variables)))
  assert penalty.shape == (2,) and penalty.dtype == tf.float32
  # The last bias shifts D, not its slope: the only variable it leaves alone.
  assert [k for k, g in grads.items() if g is None] == ["critic/conv4/bias:0"]
  for name, grad in grads.items():
    if "kernel" in name:
      assert np.isfinite(grad.numpy()).all() and float(tf.norm(grad)) > 0


def test_gradient_penalty_rejects_a_batch_norm_critic():
  critic = critic_lib.build_critic(
      gan.CriticConfig(base_filters=4, normalization="batch"), 5)
  x = tf.zeros([2, 16, 16, 3])
  with pytest.raises(ValueError, match="batch norm"):
    losses.gradient_penalty(critic, tf.zeros([2, 16, 16, 5]), x, x)


def test_clip_weights_clips():
  v = tf.Variable([-1.0, 0.005, 2.0])
  losses.clip_weights([v], 0.01)
  np.testing.assert_allclose(v.numpy(), [-0.01, 0.005, 0.01])


def test_total_losses_weight_their_terms():
  np.testing.assert_allclose(losses.generator_loss([0.5], [2.0]), [52.0])
  np.testing.assert_allclose(losses.segmenter_loss([1.0], [2.0], [3.0]),
                             [1.5])


@pytest.mark.parametrize("dtype", [tf.bfloat16, tf.float16])
def test_low_precision_inputs_give_float32_losses(dtype):
  logits = RNG.normal(size=(2, 3, 3, 4)).astype(np.float32) * 4
  labels = RNG.integers(0, 4, size=(2, 3, 3)).astype(np.int32)
  a = RNG.uniform(-1, 1, size=(2, 3, 3, 3)).astype(np.float32)
  b = RNG.uniform(-1, 1, size=(2, 3, 3, 3)).astype(np.float32)
  scores = np.array([60.0, -3.0], np.float32)  # softplus(60) in float16: inf
  low = lambda x: tf.cast(x, dtype)
  pairs = [
      (losses.segmentation_loss(labels, low(logits)),
       losses.segmentation_loss(labels, low(logits).numpy().astype(
           np.float32))),
      (losses.content_loss(low(a), low(b)),
       np.abs(low(a).numpy().astype(np.float32) -
              low(b).numpy().astype(np.float32)).mean(axis=(1, 2, 3))),
      (losses.adversarial_loss_gan(low(-scores)), scores * [1, 0] +
       np.log1p(np.exp(-np.abs(scores)))),
      (losses.critic_loss_wgan(low(scores), low(-scores)), -2 * scores),
      (losses.generator_loss(low([0.5, 1.0]), low([2.0, 3.0])), [52.0, 103.0]),
  ]
  for got, want in pairs:
    assert got.dtype == tf.float32 and got.shape == (2,)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
