"""Stage 2's training step with its frozen batch norms folded, by patching.

`frozen_batch_norm_kernels` patches, while open, how batch norm, convolutions
and the Model Garden's ASPP compute their outputs: each frozen batch norm
folded into the convolution before it, differentiably. Kept only until
stage 2's step stops using it (issue 27 item 5); inference and exports use
`modeling.folded` instead.
"""
import contextlib
import functools
import threading
import types

import tensorflow as tf
import tf_keras
from official.vision.modeling.layers import deeplab
from tf_keras.src.mixed_precision import autocast_variable

# The smallest epsilon cuDNN's fused batch norm takes (TF's bound): a
# smaller one is moved into the variance.
_FUSED_MIN_EPSILON = 1.001e-5
_LOCK = threading.RLock()


def _stored_dtypes():
  """While open, variables read in their own dtype (float32), also inside
  a mixed-precision layer's call, where Keras reads its kernels in the
  compute dtype: folds are computed in float32, then cast."""
  return autocast_variable.enable_auto_cast_variables(None)


def _foldable(folding, outputs, layer, convolve, scaled_kernel):
  """`layer`'s output: linear, it is left open to a batch-norm fold (the
  fold is `convolve` of the kernel scaled per output channel)."""
  if layer.activation is not tf_keras.activations.linear:
    return layer.activation(outputs)

  def fold(scale, shift):
    with _stored_dtypes():
      bias = layer.bias * scale if layer.use_bias else 0.0
      kernel = scaled_kernel(scale)
    return convolve(kernel, bias + shift)

  folding[:] = [outputs, fold]
  return outputs


def _conv_inference(self, inputs, folding):
  """Conv2D's output, its convolution open to a batch-norm fold."""

  def convolve(kernel, bias):
    outputs = self.convolution_op(inputs, tf.cast(kernel, inputs.dtype))
    return tf.nn.bias_add(outputs, tf.cast(bias, outputs.dtype))

  outputs = self.convolution_op(inputs, self.kernel)
  if self.use_bias:
    outputs = tf.nn.bias_add(outputs, self.bias)
  # The kernel is [height, width, in, out]: scale broadcasts over `out`.
  return _foldable(folding, outputs, self, convolve,
                   lambda scale: self.kernel * scale)


def _depthwise_inference(self, inputs, native_dilations, folding):
  """DepthwiseConv2D's output, its convolution open to a batch-norm fold.

  With dilations, the convolution is Keras' SpaceToBatchND / conv /
  BatchToSpaceND (the bias added before BatchToSpaceND), or, if
  `native_dilations`, one DepthwiseConv2dNative with `dilations`: what
  TFLite runs as DEPTHWISE_CONV_2D with dilation, and TF's CPU kernel runs
  only with oneDNN.
  """
  strides = [1, *self.strides, 1]
  padding = self.padding.upper()

  def convolve(kernel, bias):
    kernel = tf.cast(kernel, inputs.dtype)

    def biased(images, padding, dilations):
      outputs = tf.raw_ops.DepthwiseConv2dNative(
          input=images, filter=kernel, strides=strides, padding=padding,
          dilations=dilations, data_format="NHWC")
      if bias is None:
        return outputs
      return tf.nn.bias_add(outputs, tf.cast(bias, outputs.dtype))

    if native_dilations or max(self.dilation_rate) == 1:
      return biased(inputs, padding, [1, *self.dilation_rate, 1])
    # Keras' form, the bias added before BatchToSpaceND (it commutes), where
    # TF fuses it into the convolution.
    return tf.nn.with_space_to_batch(
        inputs, self.dilation_rate, padding,
        lambda images, _, padding: biased(images, padding, [1, 1, 1, 1]),
        filter_shape=self.depthwise_kernel.shape[:2])

  outputs = convolve(self.depthwise_kernel, self.bias if self.use_bias
                     else None)

  def scaled_kernel(scale):
    # Output channel c * multiplier + m is kernel[:, :, c, m]'s.
    return self.depthwise_kernel * tf.reshape(
        scale, self.depthwise_kernel.shape[2:])

  return _foldable(folding, outputs, self, convolve, scaled_kernel)


def _scale_and_shift(norm):
  """(scale, shift): a BatchNormalization's inference output is
  x * scale + shift."""
  gamma = norm.gamma if norm.scale else 1.0
  beta = norm.beta if norm.center else 0.0
  scale = gamma * tf.math.rsqrt(norm.moving_variance + norm.epsilon)
  return scale, beta - norm.moving_mean * scale


def _batch_norm_inference(self, inputs, training=None, mask=None, *,
                          folding):
  """BatchNormalization's inference output: folded into the convolution
  whose output `inputs` is, else one FusedBatchNormV3. `training=True`
  (statistics would update) is refused."""
  del mask
  if training is True:
    raise ValueError(f"{self.name}: fused_inference's kernels compute "
                     "inference outputs only; call the model with "
                     "training=False (statistics frozen) under them")
  if folding and folding[0] is inputs:
    return folding[1](*_scale_and_shift(self))
  ones = tf.ones_like(self.moving_mean)
  gamma = self.gamma if self.scale else ones
  beta = self.beta if self.center else 0.0 * ones
  variance, epsilon = self.moving_variance, self.epsilon
  if epsilon < _FUSED_MIN_EPSILON:  # The same variance + epsilon as Keras'.
    variance = variance + (epsilon - _FUSED_MIN_EPSILON)
    epsilon = _FUSED_MIN_EPSILON
  outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
      inputs, gamma, beta, mean=self.moving_mean, variance=variance,
      epsilon=epsilon, is_training=False)
  return outputs


def _spp_inference(self, inputs, training=None):
  """SpatialPyramidPooling's output with the image-pooling branch's share of
  the projection added as a per-image bias: projection(concat(branches,
  broadcast(pooled))) = conv(concat(branches)) + conv(pooled), the 1x1
  projection's input channels split. No broadcast, concatenation of it, or
  its share of the projection at every pixel (half of the ASPP-lite
  projection's input in MobileNetV2 DeepLab; 1/5 of ResNet-101's)."""
  del training
  branches = [layer(inputs, training=False) for layer in self.aspp_layers]
  pooled = tf.cast(branches.pop(), inputs.dtype)  # [B, 1, 1, C]
  conv, norm, activation = self.projection.layers[:3]
  scale, shift = _scale_and_shift(norm)
  with _stored_dtypes():
    kernel = tf.cast(conv.kernel * scale, inputs.dtype)  # [1, 1, in, out]
  split = conv.kernel.shape[2] - pooled.shape[-1]
  per_image = (tf.nn.conv2d(pooled, kernel[:, :, split:], 1, "VALID") +
               tf.cast(shift, inputs.dtype))
  features = tf.concat(branches, -1) if len(branches) > 1 else branches[0]
  outputs = tf.nn.conv2d(features, kernel[:, :, :split], 1, "VALID")
  return activation(outputs + per_image)


def _patchable_policy(layer) -> bool:
  """Whether `layer` has float32 variables and computes in float32, or in
  the bfloat16 or float16 of a mixed-precision policy (what the folds and
  TF's fused batch norm take)."""
  return (layer.dtype_policy.variable_dtype == "float32" and
          layer.compute_dtype in ("float32", "bfloat16", "float16"))


def _fusable_batch_norm(layer) -> bool:
  return (isinstance(layer, (tf_keras.layers.BatchNormalization,
                             tf_keras.layers.experimental.SyncBatchNormalization))
          and type(layer).call is tf_keras.layers.BatchNormalization.call and
          layer.built and _patchable_policy(layer) and
          list(layer.axis) == [3] and
          getattr(layer, "virtual_batch_size", None) is None and
          not getattr(layer, "renorm", False))


def _patchable_conv(layer) -> bool:
  conv = tf_keras.layers.Conv2D
  return (isinstance(layer, conv) and type(layer).call is conv.call and
          type(layer).convolution_op is conv.convolution_op and
          layer.padding != "causal" and layer.built and
          _patchable_policy(layer) and
          layer.data_format == "channels_last" and layer.groups == 1)


def _patchable_spp(layer) -> bool:
  """The Model Garden's ASPP with global image pooling and a 1x1 projection
  (conv, batch norm, activation, dropout) whose parts are patchable."""
  spp = deeplab.SpatialPyramidPooling
  if not (isinstance(layer, spp) and type(layer).call is spp.call and
          type(layer).build is spp.build and layer.built and
          layer.pool_kernel_size is None):
    return False
  parts = layer.projection.layers
  return (len(parts) == 4 and _patchable_conv(parts[0]) and
          parts[0].kernel_size == (1, 1) and parts[0].strides == (1, 1) and
          not parts[0].use_bias and
          parts[0].activation is tf_keras.activations.linear and
          _fusable_batch_norm(parts[1]) and
          isinstance(parts[2], tf_keras.layers.Activation) and
          isinstance(parts[3], tf_keras.layers.Dropout))


def _patchable_depthwise(layer) -> bool:
  return (isinstance(layer, tf_keras.layers.DepthwiseConv2D) and
          type(layer).call is tf_keras.layers.DepthwiseConv2D.call and
          layer.built and _patchable_policy(layer) and
          layer.data_format == "channels_last")


@contextlib.contextmanager
def frozen_batch_norm_kernels(model):
  """While open, `model`'s layers compute for a training step that calls it with
  `training=False` (batch-norm statistics frozen, as stage 2): the batch-norm
  fold and the ASPP rewrite, differentiable in every weight (the fold's
  scale, gamma / sqrt(moving variance + epsilon), is computed in the graph).
  TF then fuses convolution + bias + ReLU6 forward and drops the batch
  norm's gradient op. ReLU6 stays one op (min(ReLU, 6)'s gradient is
  slower) and dilations keep Keras' form (the native op's gradient is
  wrong)."""
  with _patched(model):
    yield


@contextlib.contextmanager
def _patched(model):
  """`model`'s layers patched with the kernels above."""
  folding = []
  patched = []
  with _LOCK:
    try:
      for layer in getattr(model, "submodules", ()):
        if _fusable_batch_norm(layer):
          kernel = functools.partial(_batch_norm_inference, folding=folding)
        elif _patchable_spp(layer):
          kernel = _spp_inference
        elif _patchable_conv(layer):
          kernel = functools.partial(_conv_inference, folding=folding)
        elif _patchable_depthwise(layer):
          kernel = functools.partial(_depthwise_inference,
                                     native_dilations=False,
                                     folding=folding)
        else:
          continue
        patched.append((layer, vars(layer).get("call")))
        layer.call = types.MethodType(kernel, layer)
      yield
    finally:
      for layer, previous in reversed(patched):
        if previous is None:
          del layer.call
        else:
          layer.call = previous
