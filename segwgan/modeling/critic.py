"""The critic D: a PatchGAN on (class map, image) pairs (paper 3.1).

Four 4x4 convolutions (strides 2, 2, 1, 1), the activation after every one
but the last (pix2pix's 34x34 PatchGAN). Output cell (i, j) scores the 34x34
input patch of rows 4i-11 .. 4i+22 and columns 4j-11 .. 4j+22 (the receptive
field, `RECEPTIVE_FIELD`; "same" padding), and the cells are averaged into
D's output. `Critic.patches` gives the patch map [B, H/4, W/4, 1], calling
the critic its average [B]; both float32. The 2nd and 3rd convolutions are
normalised: by default per example and channel over H, W ('instance', which
is what pix2pix's batch norm computes at its batch size 1), so D is the
same function in training and in inference mode (stage 2 calls it frozen). The same network is a GAN
discriminator (its output is a logit) or a WGAN critic (an unbounded score):
only the loss differs.

`CriticConfig.resolution_divisor` k > 1 (a speed option; 1 is the paper's)
average-pools both inputs by k first: the patch map is
[B, ceil(H/4k), ceil(W/4k), 1] and each cell sees 34k x 34k input pixels.
"""
import tensorflow as tf
import tf_keras

from segwgan.configs import gan as gan_config

KERNEL = 4
STRIDES = (2, 2, 1, 1)
RECEPTIVE_FIELD = 34  # receptive_field(Critic.convs); tested empirically.
NORMALIZATIONS = ("instance", "batch", "layer", "none")


def receptive_field(layers) -> int:
  """Side of the input patch one output cell of a conv stack `layers` sees."""
  field, jump = 1, 1
  for layer in layers:
    field += (layer.kernel_size[0] - 1) * layer.dilation_rate[0] * jump
    jump *= layer.strides[0]
  return field


def _normalization(kind: str, name: str):
  if kind == "instance":  # Over H, W, per example and channel.
    return tf_keras.layers.GroupNormalization(groups=-1, epsilon=1e-3,
                                              name=name)
  if kind == "batch":
    return tf_keras.layers.BatchNormalization(name=name)
  if kind == "layer":  # Over channels, per example and position.
    return tf_keras.layers.LayerNormalization(name=name)
  if kind == "none":
    return None
  raise ValueError(f"critic normalization must be one of "
                   f"{', '.join(NORMALIZATIONS)}, got {kind!r}")


class Critic(tf_keras.Model):
  """D(Y, I): ([B,H,W,C] map, [B,H,W,3] image) -> [B] averaged patch score."""

  def __init__(self, config: gan_config.CriticConfig, num_classes: int,
               **kwargs):
    super().__init__(**kwargs)
    if config.activation not in ("relu", "leaky_relu"):
      raise ValueError(f"critic activation must be relu or leaky_relu, got "
                       f"{config.activation!r}")
    self.config = config
    self.num_classes = num_classes
    self.divisor = gan_config.check_divisor(config.resolution_divisor,
                                            "critic")
    f = config.base_filters
    widths = (f, 2 * f, 4 * f, 1)
    self.convs = [
        tf_keras.layers.Conv2D(
            w, KERNEL, strides=s, padding="same", name=f"conv{i + 1}",
            kernel_initializer=tf_keras.initializers.RandomNormal(stddev=0.02))
        for i, (w, s) in enumerate(zip(widths, STRIDES))]
    # No normalisation on the first and last convolutions (pix2pix).
    self.norms = [None] + [
        _normalization(config.normalization, f"conv{i + 1}_norm")
        for i in (1, 2)] + [None]
    self.to_float32 = tf_keras.layers.Activation("linear", dtype="float32")

  @property
  def uses_batch_statistics(self) -> bool:
    """Whether D's output depends on `training` (batch norm)."""
    return self.config.normalization == "batch"

  @property
  def clipped_variables(self):
    """What WGAN clipping bounds: the convolutions' kernels and biases,
    not the normalisations' gamma and beta (docs/networks.md)."""
    return [v for conv in self.convs for v in (conv.kernel, conv.bias)]

  def patches(self, inputs, training=None):
    """Per-patch scores [B, h, w, 1] (float32)."""
    label_maps, images = inputs
    x = tf.concat([tf.cast(label_maps, self.compute_dtype),
                   tf.cast(images, self.compute_dtype)], axis=-1)
    if self.divisor > 1:
      # "SAME": any size still works (edge blocks average what they hold).
      x = tf.nn.avg_pool2d(x, self.divisor, self.divisor, "SAME")
    for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
      x = conv(x)
      if norm is not None:
        x = norm(x, training=training)
      if i < len(self.convs) - 1:
        x = (tf.nn.relu(x) if self.config.activation == "relu"
             else tf.nn.leaky_relu(x, 0.2))
    return self.to_float32(x)

  def call(self, inputs, training=None):
    return tf.reduce_mean(self.patches(inputs, training=training),
                          axis=[1, 2, 3])


def build_critic(config: gan_config.CriticConfig, num_classes: int) -> Critic:
  """A built D for `num_classes`-channel maps (all variables created)."""
  critic = Critic(config, num_classes, name="critic")
  critic([tf.zeros([1, 16, 16, num_classes]), tf.zeros([1, 16, 16, 3])])
  return critic
