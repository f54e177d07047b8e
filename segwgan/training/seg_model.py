"""Stage 2: fine-tune DeepLabv3 with the frozen G and D as a learned loss.

Eq. 14: p_seg = segmenter(I); Eq. 2: l = l_S + 0.1 l_C + 0.1 l_A with
Eq. 3 (cross-entropy), Eq. 4 (L1 between I and G(p_seg)) and Eq. 5 / 6 (the
adversarial term); Eq. 15: only the segmenter's weights are updated, but the
gradients of l_C and l_A reach them *through* G and D.

Every `diagnostics_interval` steps the step also measures how much each
auxiliary term pulls on the segmenter (`record_grad_shares`).
"""
import numpy as np
import tensorflow as tf
import tf_keras
from absl import logging

from segwgan import losses
from segwgan import variants
from segwgan.training import frozen
from segwgan.training import maps
from segwgan.training import runner


class SegTrainer(tf_keras.Model):
  """A `variants.Variant`: DeepLabv3 (CE only), or with the frozen G and D
  and its stage-1 loss's l_A (SegGAN: Eq. 5, SegWGAN: Eq. 6)."""

  def __init__(self, segmenter, generator=None, critic=None, *,
               variant: variants.Variant, palette: np.ndarray,
               lambda_content: float = 0.1, lambda_adversarial: float = 0.1,
               fine_tune_batch_norm: bool = False,
               diagnostics_interval: int = 0):
    super().__init__()
    self.uses_gan = variant.gan_loss is not None
    if self.uses_gan and (generator is None or critic is None):
      raise ValueError(f"variant {variant.name!r} needs the stage-1 "
                       "generator and critic")
    self.segmenter = segmenter
    self.variant = variant
    self.adversarial_loss = (variants.gan_loss(variant.gan_loss).adversarial
                             if self.uses_gan else None)
    self.palette = palette
    # float(): a YAML override may give an int (lambda_content: 1).
    self.lambda_content = float(lambda_content)
    self.lambda_adversarial = float(lambda_adversarial)
    self.fine_tune_batch_norm = fine_tune_batch_norm
    self.generator = generator
    self.critic = critic
    for network in (generator, critic):
      if network is not None:
        network.trainable = False
    if critic is not None and critic.uses_batch_statistics:
      logging.warning(
          "the critic has batch norm: stage 1 trained it with batch "
          "statistics, stage 2 evaluates it with its moving statistics "
          "(a different function; critic normalization 'instance' avoids "
          "this)")
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    self.distribute_reduction_method = "sum"  # see runner.replica_share
    self.diagnostics_interval = diagnostics_interval if self.uses_gan else 0
    # Checkpointed with the step, so a resumed run's means are exact. With
    # several replicas, replica 0's share of the batch is measured.
    sampled = dict(trainable=False, aggregation=(
        tf.VariableAggregation.ONLY_FIRST_REPLICA))
    self.grad_share_sums = tf.Variable(tf.zeros([2]), name="grad_share_sums",
                                       **sampled)
    self.grad_share_last = tf.Variable(tf.zeros([2]), name="grad_share_last",
                                       **sampled)
    self.grad_share_samples = tf.Variable(
        0, dtype=tf.int64, name="grad_share_samples", **sampled)

  def compile(self, optimizer, **kwargs):
    super().compile(**kwargs)
    self.seg_optimizer = optimizer
    runner.build_slots(optimizer, self.segmenter.trainable_variables)

  def call(self, images, training=False):
    return self.segmenter(images, training=training)

  def segment(self, images):
    """p_seg (Eq. 14) for a training step: batch-norm statistics frozen
    (the layers' inference mode) unless fine_tune_batch_norm."""
    return self.segmenter(images, training=self.fine_tune_batch_norm)

  def weight_decay(self):
    """The segmenter's kernel regularization (SegTask.l2_weight_decay; 0
    without regularizers), added to every example's loss, so the batch
    mean adds it once whatever the number of replicas."""
    if not self.segmenter.losses:
      return 0.0
    return tf.add_n(self.segmenter.losses)

  def train_step(self, data):
    features, labels = data
    valid = labels["valid_masks"]
    with tf.GradientTape(persistent=self.diagnostics_interval > 0) as tape:
      logits = self.segment(features["image"])
      segmentation = losses.segmentation_loss(labels["masks"], logits)
      logs = {"segloss": segmentation}
      total = segmentation
      if self.uses_gan:
        real = tf.cast(features["image_gan"], tf.float32)
        probabilities = maps.prediction_map(logits, valid)
        reconstruction = frozen.reconstruct(self.generator, probabilities)
        content = losses.content_loss(real, reconstruction, valid)
        adversarial = self.adversarial_loss(
            frozen.judge(self.critic, probabilities, reconstruction))
        total = losses.segmenter_loss(segmentation, content, adversarial,
                                      self.lambda_content,
                                      self.lambda_adversarial)
        logs.update(closs=content, aloss=adversarial,
                    gloss=losses.generator_loss(content, adversarial))
      total += self.weight_decay()
      loss = tf.nn.compute_average_loss(total)
    if self.diagnostics_interval:
      self.record_grad_shares(tape, segmentation, content, adversarial)
    runner.minimize(self.seg_optimizer, tape, loss,
                    self.segmenter.trainable_variables)
    self.step.assign_add(1)
    logs["loss"] = total
    return {name: runner.replica_share(value) for name, value in logs.items()}

  def record_grad_shares(self, tape, segmentation, content, adversarial):
    """On every `diagnostics_interval`-th step (numbered from 1): the global
    norms of the gradients of lambda_1 l_C and lambda_2 l_A on the
    segmenter's trainable weights, each divided by that of l_S, added to
    `grad_share_sums` and kept in `grad_share_last`. Three extra backward
    passes through the step's `tape` (persistent), on those steps only,
    with the optimizer's loss scale (mixed_float16), which cancels in the
    shares. A sample whose norms are not finite, or whose l_S gradient is
    zero, is not counted."""
    variables = self.segmenter.trainable_variables
    scale = (tf.cast(self.seg_optimizer.loss_scale, tf.float32) if isinstance(
        self.seg_optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
             else 1.0)

    def norm(term, weight=1.0):
      # d(weight * mean(term)) / d(variables), scaled as the step's own
      # gradient is: `term` [B] is on the tape (the 1/B cancels in the
      # shares, but keeps float16 gradients where the loss scale keeps the
      # step's).
      batch = tf.cast(tf.shape(term)[0], tf.float32)
      return tf.linalg.global_norm(tape.gradient(
          term, variables,
          output_gradients=tf.fill(tf.shape(term), weight * scale / batch)))

    def measure():
      norms = tf.stack([norm(content, self.lambda_content),
                        norm(adversarial, self.lambda_adversarial),
                        norm(segmentation)])
      usable = tf.logical_and(tf.reduce_all(tf.math.is_finite(norms)),
                              norms[2] > 0.0)
      return tf.cond(usable, lambda: (norms[:2] / norms[2], True),
                     lambda: (tf.zeros([2]), False))

    sampled = tf.equal((self.step + 1) % self.diagnostics_interval, 0)
    shares, counted = tf.cond(sampled, measure,
                              lambda: (tf.zeros([2]), False))
    # Updated outside the cond: a distributed variable's update there would
    # cross a synchronization point.
    self.grad_share_sums.assign_add(shares)
    self.grad_share_last.assign(tf.where(counted, shares,
                                         self.grad_share_last))
    self.grad_share_samples.assign_add(tf.cast(counted, tf.int64))

  def visualise(self, features, labels):
    """input | ground truth | prediction (| G's reconstruction of it)."""
    logits = self.segmenter(features["image"], training=False)
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
    columns = [labels["masks"][..., 0], predictions]
    if self.generator is not None:
      columns.append(frozen.reconstruct(
          self.generator, maps.prediction_map(logits, labels["valid_masks"])))
    return maps.panel(self.palette, features["image_gan"], *columns)
