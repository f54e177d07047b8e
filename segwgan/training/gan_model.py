"""Stage 1: G learns ground-truth label map -> image, D judges (map, image).

Eq. 10: I^R = G(Y); Eq. 11: p = D(Y, I); Eq. 13: the critic step; Eq. 12 with
Eq. 16: the generator step, l_G = 100 * l_C + l_A.
"""
import numpy as np
import tensorflow as tf
import tf_keras

from segwgan import losses
from segwgan import variants
from segwgan.training import maps
from segwgan.training import runner


class GanTrainer(tf_keras.Model):
  """Trains G and D on (one-hot ground truth, image) pairs."""

  def __init__(self, generator, critic, *, num_classes: int,
               gan_loss: variants.GanLoss, palette: np.ndarray,
               l1_weight: float = 100.0, critic_steps: int = 1,
               clip_value: float = 0.01, gp_weight: float = 10.0):
    super().__init__()
    self.generator = generator
    self.critic = critic
    self.num_classes = num_classes
    self.gan_loss = gan_loss
    self.palette = palette
    self.l1_weight = l1_weight
    self.critic_steps = critic_steps
    self.clip_value = clip_value
    self.gp_weight = gp_weight
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    self.distribute_reduction_method = "sum"  # see runner.replica_share

  def compile(self, g_optimizer, d_optimizer, **kwargs):
    super().compile(**kwargs)
    self.g_optimizer = g_optimizer
    self.d_optimizer = d_optimizer
    runner.build_slots(g_optimizer, self.generator.trainable_variables)
    runner.build_slots(d_optimizer, self.critic.trainable_variables)

  def call(self, label_maps, training=False):
    return self.generator(label_maps, training=training)

  def critic_loss(self, label_maps, real, fake):
    """The critic's loss (Eq. 7 or Eq. 8, + the gradient penalty for
    WGAN-GP) and D's real - fake gap."""
    real_score = self.critic([label_maps, real], training=True)
    fake_score = self.critic([label_maps, fake], training=True)
    loss = self.gan_loss.critic(real_score, fake_score)
    if self.gan_loss.gradient_penalty:
      loss += self.gp_weight * losses.gradient_penalty(
          self.critic, label_maps, real, fake)
    return loss, real_score - fake_score

  def train_step(self, data):
    features, labels = data
    label_maps = maps.ground_truth_map(labels["masks"], self.num_classes)
    real = tf.cast(features["image_gan"], tf.float32)
    valid = labels["valid_masks"]

    # Eq. 13: the critic ascends the GAN objective (minimises its loss).
    for _ in range(self.critic_steps):
      fake = self.generator(label_maps, training=True)
      with tf.GradientTape() as tape:
        critic_loss, critic_gap = self.critic_loss(label_maps, real, fake)
        loss = tf.nn.compute_average_loss(critic_loss)
      runner.minimize(self.d_optimizer, tape, loss,
                      self.critic.trainable_variables)
      if self.gan_loss.clip:
        losses.clip_weights(self.critic.clipped_variables, self.clip_value)

    # Eq. 12 with Eq. 16: l_G = 100 * l_C + l_A.
    with tf.GradientTape() as tape:
      fake = self.generator(label_maps, training=True)
      content = losses.content_loss(real, fake, valid)
      adversarial = self.gan_loss.adversarial(
          self.critic([label_maps, fake], training=True))
      generator_loss = losses.generator_loss(content, adversarial,
                                             self.l1_weight)
      loss = tf.nn.compute_average_loss(generator_loss)
    runner.minimize(self.g_optimizer, tape, loss,
                    self.generator.trainable_variables)

    self.step.assign_add(1)
    logs = {"gloss": generator_loss, "closs": content, "aloss": adversarial,
            "dloss": critic_loss}
    if self.gan_loss.wasserstein:
      logs["wdist"] = critic_gap  # the critic's Wasserstein estimate
    return {name: runner.replica_share(value) for name, value in logs.items()}

  def visualise(self, features, labels):
    """input | ground truth | G's reconstruction from the ground truth."""
    label_maps = maps.ground_truth_map(labels["masks"], self.num_classes)
    return maps.panel(self.palette, features["image_gan"],
                      labels["masks"][..., 0],
                      self.generator(label_maps, training=False))
