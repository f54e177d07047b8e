"""The paper's losses, one small function per equation (Eq. 1-16).

Every loss returns per-example values, shape [B], in float32 whatever the
inputs' precision, so the training step scales by the global batch with
`tf.nn.compute_average_loss` under any `tf.distribute` strategy. The forward
passes (Eq. 10, 11, 14) and the updates (Eq. 12, 13, 15) are the training
steps' (`segwgan.training.gan_model`, `segwgan.training.seg_model`).

Eq. 1 (the GAN min-max game) is what Eq. 5 and Eq. 7 split into the
generator's and the discriminator's loss. The adversarial and critic losses
take D's output, the patch average [B] (the paper: "all responses ... are
averaged"), or its patch map [B, h, w, 1] (`Critic.patches`; pix2pix: the
loss per patch, then averaged). For WGAN both give the same value.
Eq. 17-19 are the evaluation's (`segwgan.evaluation.metrics`).
"""
import tensorflow as tf
import tf_keras

from segwgan import labels as labels_lib


def _f32(x):
  return tf.cast(x, tf.float32)


def _per_example(values):
  """[B] as is; [B, ...] (a patch map) averaged to [B]."""
  values = tf.convert_to_tensor(values)
  if values.shape.rank is not None and values.shape.rank > 1:
    return tf.reduce_mean(values, axis=list(range(1, values.shape.rank)))
  return values


def segmentation_loss(labels, logits, ignore_label=labels_lib.IGNORE_LABEL):
  """Eq. 3: cross-entropy averaged over each image's labelled pixels.

  The paper's Eq. 3 sums over the N pixels and divides by the batch M; this
  averages over each image's labelled pixels (TF DeepLab averages over the
  batch's), which keeps l_S on the scale of the per-pixel l_C that
  lambda_1 = 0.1 weighs in Eq. 2. The 1/M is the caller's
  `tf.nn.compute_average_loss`.

  Args:
    labels: int [B, H, W] or [B, H, W, 1]; `ignore_label` pixels count for
      nothing. An image without any labelled pixel has loss 0 (and no
      gradient), so it adds nothing to the batch mean.
    logits: [B, H, W, C].
  """
  labels = tf.cast(labels, tf.int32)
  if labels.shape.rank == 4:
    labels = labels[..., 0]
  logits = _f32(logits)
  valid = tf.not_equal(labels, ignore_label)
  safe = tf.where(valid, labels, tf.zeros_like(labels))
  pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(safe, logits)
  pixel *= tf.cast(valid, tf.float32)
  count = tf.reduce_sum(tf.cast(valid, tf.float32), axis=[1, 2])
  return tf.math.divide_no_nan(tf.reduce_sum(pixel, axis=[1, 2]), count)


def content_loss(images, reconstructions, valid_mask=None):
  """Eq. 4: mean L1 distance ||I - G(Y, z)||_1 per image.

  A mean over pixels and channels (pix2pix), not the sum the norm writes.
  `valid_mask` ([B, H, W] or [B, H, W, 1] bool) restricts it to labelled
  pixels (G sees no class there); an image without any has loss 0.
  """
  diff = tf.abs(_f32(images) - _f32(reconstructions))
  if valid_mask is None:
    return tf.reduce_mean(diff, axis=[1, 2, 3])
  mask = tf.cast(valid_mask, tf.float32)
  if mask.shape.rank == 3:
    mask = mask[..., None]
  mask = tf.broadcast_to(mask, tf.shape(diff))
  return tf.math.divide_no_nan(tf.reduce_sum(diff * mask, axis=[1, 2, 3]),
                               tf.reduce_sum(mask, axis=[1, 2, 3]))


def adversarial_loss_gan(fake_logits):
  """Eq. 5: -log D(G(Y, z)), from D's logit (softplus(-x) = -log sigmoid x)."""
  return _per_example(tf.nn.softplus(-_f32(fake_logits)))


def adversarial_loss_wgan(fake_scores):
  """Eq. 6: -D(G(Y, z)), the WGAN generator loss."""
  return _per_example(-_f32(fake_scores))


def critic_loss_gan(real_logits, fake_logits):
  """Eq. 7, D's side: -log D(Y, I) - log(1 - D(Y, G(Y, z))), from logits."""
  return _per_example(tf.nn.softplus(-_f32(real_logits)) +
                      tf.nn.softplus(_f32(fake_logits)))


def critic_loss_wgan(real_scores, fake_scores):
  """Eq. 8, the critic's side: D(Y, G(Y, z)) - D(Y, I).

  The paper prints the second term as (1 - D(Y, G)); the WGAN it cites
  (Arjovsky et al.) maximises D(real) - D(fake), which this minimises.
  """
  return _per_example(_f32(fake_scores) - _f32(real_scores))


def gradient_penalty(critic, label_maps, real_images, fake_images,
                     epsilon: float = 1e-12):
  """WGAN-GP: (||grad_x D(Y, x)||_2 - 1)^2 at x between real and fake.

  x = a * real + (1 - a) * fake with a ~ U[0, 1] per example; the condition
  Y (the label maps) stays fixed. Computed in float32, with `epsilon` inside
  the square root so the gradient of the norm is finite at zero. The
  penalty is per example, which batch norm would break: a critic with a
  BatchNormalization layer is rejected (use normalization 'instance',
  'layer' or 'none').
  """
  if isinstance(critic, tf_keras.layers.Layer) and any(
      isinstance(m, tf_keras.layers.BatchNormalization)
      for m in critic.submodules):
    raise ValueError("the WGAN-GP critic must not use batch norm (set "
                     "CriticConfig.normalization to 'instance', 'layer' or "
                     "'none')")
  real, fake = _f32(real_images), _f32(fake_images)
  alpha = tf.random.uniform([tf.shape(real)[0], 1, 1, 1])
  mixed = alpha * real + (1.0 - alpha) * fake
  with tf.GradientTape() as tape:
    tape.watch(mixed)
    scores = _f32(critic([label_maps, mixed], training=True))
  grads = tape.gradient(scores, mixed,
                        unconnected_gradients=tf.UnconnectedGradients.ZERO)
  norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + epsilon)
  return tf.square(norms - 1.0)


def clip_weights(variables, clip_value: float) -> None:
  """WGAN weight clipping: each of `variables` (the critic's convolution
  weights, `Critic.clipped_variables`) into [-clip_value, clip_value]."""
  for variable in variables:
    variable.assign(tf.clip_by_value(variable, -clip_value, clip_value))


def generator_loss(content, adversarial, l1_weight: float = 100.0):
  """Eq. 16 (the objective of Eq. 9): l_G = 100 * l_C + l_A."""
  return l1_weight * _f32(content) + _f32(adversarial)


def segmenter_loss(segmentation, content, adversarial,
                   lambda_content: float = 0.1,
                   lambda_adversarial: float = 0.1):
  """Eq. 2: l = l_S + lambda_1 * l_C + lambda_2 * l_A."""
  return (_f32(segmentation) + lambda_content * _f32(content) +
          lambda_adversarial * _f32(adversarial))
