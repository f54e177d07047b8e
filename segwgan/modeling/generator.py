"""The generator G (paper 3.1): class-probability map -> RGB image.

A pix2pix U-Net with 4 convolutions (4x4, stride 2) and 4 transposed
convolutions; layer i's output is concatenated with layer n-i's (n = 8), and
dropout 0.5 is the noise z, applied at training *and* at inference. The
noise comes from a `tf.random.Generator` per dropout layer: its state is a
variable (checkpointed, so a resumed run draws the same noise) and
`reset_noise` makes calls repeatable. Batch norm follows `training`
(training=False, or a frozen G: moving statistics, never updated); the noise
ignores it. The output is float32 under any mixed-precision policy.

`GeneratorConfig.resolution_divisor` k > 1 (a speed option; 1 is the
paper's) runs the U-Net on the k x k average-pooled map and repeats its
image back to the input size.
"""
import tensorflow as tf
import tf_keras

from segwgan.configs import gan as gan_config

LEVELS = 4  # H and W must be divisible by 2**LEVELS (times the divisor).


class NoiseDropout(tf_keras.layers.Layer):
  """Dropout that is always on, whatever `training`: the generator's noise z.

  Each call draws a fresh seed from its `tf.random.Generator` and applies
  stateless dropout with it (a new mask per call and per example); `reset`
  restarts the stream, so the calls after it repeat.
  """

  def __init__(self, rate: float, seed=None, **kwargs):
    super().__init__(**kwargs)
    self.rate = rate
    self.noise = (tf.random.Generator.from_seed(seed) if seed is not None
                  else tf.random.Generator.from_non_deterministic_state())

  def call(self, inputs, training=None):  # pylint: disable=unused-argument
    seed = self.noise.make_seeds(1)[:, 0]
    return tf.nn.experimental.stateless_dropout(inputs, self.rate, seed=seed)

  def reset(self, seed: int) -> None:
    self.noise.reset_from_seed(seed)


def _conv(filters, name):
  return tf_keras.layers.Conv2D(
      filters, 4, strides=2, padding="same", name=name,
      kernel_initializer=tf_keras.initializers.RandomNormal(stddev=0.02))


def _deconv(filters, name):
  return tf_keras.layers.Conv2DTranspose(
      filters, 4, strides=2, padding="same", name=name,
      kernel_initializer=tf_keras.initializers.RandomNormal(stddev=0.02))


class Generator(tf_keras.Model):
  """G(Y, z): [B, H, W, C] class map -> [B, H, W, 3] image in [-1, 1]."""

  def __init__(self, config: gan_config.GeneratorConfig, num_classes: int,
               **kwargs):
    super().__init__(**kwargs)
    self.config = config
    self.num_classes = num_classes
    self.divisor = gan_config.check_divisor(config.resolution_divisor,
                                            "generator")
    # H and W of an input must be multiples of this.
    self.size_multiple = 2 ** LEVELS * self.divisor
    f = config.base_filters
    widths = [f, 2 * f, 4 * f, 8 * f]
    self.encoder = [_conv(w, f"conv{i + 1}") for i, w in enumerate(widths)]
    # The first convolution has no normalisation (pix2pix).
    self.encoder_norms = [None] + [
        tf_keras.layers.BatchNormalization(name=f"conv{i + 1}_bn")
        for i in range(1, LEVELS)]
    self.decoder = [_deconv(w, f"deconv{i + 1}")
                    for i, w in enumerate(reversed(widths[:-1]))]
    self.decoder_norms = [tf_keras.layers.BatchNormalization(
        name=f"deconv{i + 1}_bn") for i in range(LEVELS - 1)]
    self.noise = [
        NoiseDropout(config.dropout_rate,
                     None if config.noise_seed is None
                     else config.noise_seed + i, name=f"noise{i + 1}")
        for i in range(min(config.dropout_layers, LEVELS - 1))]
    self.to_image = _deconv(3, "deconv4")
    self.tanh = tf_keras.layers.Activation("tanh", dtype="float32")

  def call(self, label_maps, training=None):
    _check_size(label_maps, self.divisor)
    x = label_maps
    if self.divisor > 1:
      x = tf.nn.avg_pool2d(x, self.divisor, self.divisor, "VALID")
    skips = []
    for conv, norm in zip(self.encoder, self.encoder_norms):
      x = conv(x)
      if norm is not None:
        x = norm(x, training=training)
      x = tf.nn.leaky_relu(x, 0.2)
      skips.append(x)
    # Decoder layer n-i meets encoder layer i: deconv1 <-> conv3, ...
    for i, (deconv, norm) in enumerate(zip(self.decoder, self.decoder_norms)):
      x = norm(deconv(x), training=training)
      if i < len(self.noise):
        x = self.noise[i](x)
      x = tf.concat([tf.nn.relu(x), skips[LEVELS - 2 - i]], axis=-1)
    image = self.tanh(self.to_image(x))
    if self.divisor > 1:
      image = tf.image.resize(image, tf.shape(label_maps)[1:3],
                              method="nearest")
    return image


def _check_size(label_maps, divisor: int = 1) -> None:
  """ValueError (or, for sizes known only at run time, an assertion) unless
  H and W are multiples of 16 (times the resolution divisor)."""
  multiple = 2 ** LEVELS * divisor
  for axis, name in ((1, "height"), (2, "width")):
    size = label_maps.shape[axis]
    message = (f"generator input {name} is not a multiple of {multiple} "
               "(crop or pad the maps)")
    if size is None:
      tf.debugging.assert_equal(tf.shape(label_maps)[axis] % multiple, 0,
                                message=message)
    elif size % multiple:
      raise ValueError(f"{message}: {size}")


def build_generator(config: gan_config.GeneratorConfig,
                    num_classes: int) -> Generator:
  """A built G for `num_classes`-channel maps (all variables created)."""
  generator = Generator(config, num_classes, name="generator")
  size = 2 ** LEVELS * generator.divisor
  generator(tf.zeros([1, size, size, num_classes]))
  return generator


def reset_noise(generator: Generator, seed: int) -> None:
  """Makes G's dropout noise repeat from `seed`."""
  for i, layer in enumerate(generator.noise):
    layer.reset(seed + i)
