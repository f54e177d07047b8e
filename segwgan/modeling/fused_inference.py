"""Inference kernels of the same outputs for a Keras model's layers.

`inference_kernels` patches, while open, how batch norm, convolutions,
ReLU6 and the Model Garden's ASPP compute their inference outputs: folded
and fused ops that TF (and the TFLite converter) run faster than Keras'
own, e.g. the Model Garden's synchronized batch norm, which is element-wise
ops otherwise.
Evaluation and the export trace the segmenter under it, and stage 2's
training step under `frozen_batch_norm_kernels` (its subset with the right
gradients). A patched batch norm computes inference outputs only (it
refuses `training=True`). TF's registered gradient of a depthwise
convolution with `dilations` (`native_dilations`) is wrong; TF runs that op
only with oneDNN (`native_dilations_supported`).
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
ONEDNN_HINT = ("TensorFlow runs a depthwise convolution with dilations only "
               "with its oneDNN ops, which this process does not run "
               "(`import segwgan` before TensorFlow turns them on on x86-64 "
               "unless TF_ENABLE_ONEDNN_OPTS is set: unset it or set it to "
               "1; TensorFlow builds without oneDNN, such as macOS arm64's, "
               "cannot)")


@functools.lru_cache(maxsize=None)
def native_dilations_supported() -> bool:
  """Whether this process's TF runs a dilated DepthwiseConv2dNative right
  (oneDNN's kernel does; TF's own CPU kernel raises "does not support
  dilations"): checked once against the SpaceToBatchND form, eagerly."""
  with tf.init_scope():  # Run now, even when first asked while tracing.
    if not tf.executing_eagerly():
      raise RuntimeError("native_dilations_supported() needs eager mode")
    images = tf.random.stateless_uniform([1, 7, 7, 2], seed=[0, 1])
    kernel = tf.random.stateless_uniform([3, 3, 2, 1], seed=[2, 3])
    try:
      native = tf.raw_ops.DepthwiseConv2dNative(
          input=images, filter=kernel, strides=[1, 1, 1, 1], padding="SAME",
          dilations=[1, 2, 2, 1]).numpy()
    except tf.errors.OpError:
      return False
    portable = tf.nn.depthwise_conv2d(images, kernel, [1, 1, 1, 1], "SAME",
                                      dilations=[2, 2]).numpy()
  return bool(abs(native - portable).max() < 1e-5)


@functools.lru_cache(maxsize=None)
def relu6_as_minimum() -> bool:
  """Whether this process's inference graphs trace ReLU6 as min(ReLU(x), 6)
  (`_relu6_inference`): everywhere but where TF's oneDNN ops run on an
  AVX-512 CPU. There oneDNN fuses a ReLU6 into the convolution before it at
  no cost and the separate Minimum is the slower form (the MobileNetV2
  SavedModel 0.90-0.93x as slow with ReLU6 kept, on an Intel Xeon with AMX;
  other AVX-512 CPUs not measured); on AVX2 its fused ReLU6 was the slow
  part (see `_relu6_inference`). Exports (`inference_kernels(portable=
  True)`) always take min(ReLU(x), 6): they may run on another CPU."""
  return not (_onednn_enabled() and _cpu_flag("avx512f"))


def _onednn_enabled() -> bool:
  """Whether TF's oneDNN ops are on (False if TF cannot tell)."""
  try:
    from tensorflow.python.util import _pywrap_util_port  # pylint: disable=g-import-not-at-top
    return bool(_pywrap_util_port.IsMklEnabled())
  except (ImportError, AttributeError):
    return False


def _cpu_flag(name: str) -> bool:
  """Whether /proc/cpuinfo lists `name` (False where it cannot be read)."""
  try:
    with open("/proc/cpuinfo") as f:
      return any(line.startswith("flags") and name in line.split()
                 for line in f)
  except OSError:
    return False


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


def _relu6_inference(self, inputs, as_minimum: bool):
  """ReLU6, as min(ReLU(x), 6) if `as_minimum` (TF fuses the
  ReLU into a preceding convolution: on an AVX2 CPU, a 1x1 convolution with
  bias, batch 1, took 2.8 ms with a fused ReLU6, 2.2 ms with ReLU +
  Minimum; with oneDNN 6.0 and 2.3 ms), and applied before the
  BatchToSpaceND of a dilated depthwise convolution that makes its input
  (element-wise, it commutes with it), where TF fuses it into the
  convolution. The TFLite converter fuses both forms."""
  del self
  def relu6(x):
    return tf.minimum(tf.nn.relu(x), 6.0) if as_minimum else tf.nn.relu6(x)
  if not tf.executing_eagerly() and inputs.op.type == "BatchToSpaceND":
    batched, block_shape, crops = inputs.op.inputs
    return tf.batch_to_space(relu6(batched), block_shape, crops)
  return relu6(inputs)


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


def _patchable_relu6(layer) -> bool:
  return (isinstance(layer, tf_keras.layers.Activation) and
          type(layer).call is tf_keras.layers.Activation.call and
          layer.activation is tf.nn.relu6 and
          _patchable_policy(layer))


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
def inference_kernels(model, native_dilations: bool = False,
                      portable: bool = False):
  """While open, `model`'s layers compute inference outputs with:

  * built channels-last BatchNormalization layers (also the synchronized
    ones, which differ only when training on several replicas): folded
    into the Conv2D or DepthwiseConv2D whose output they take, else the
    fused inference op (`training` is ignored: for inference only);
  * channels-last Conv2D and DepthwiseConv2D layers: `_conv_inference`
    and `_depthwise_inference`, open to that fold. Folded, TF (with or
    without oneDNN) fuses the bias and activation into the convolution;
    an unfolded Conv2D + fused batch norm is fused too, but oneDNN runs
    that fusion slowly without AVX-512. The unfolded convolution stays in
    the traced graph unused: TF prunes it when running a tf.function, and
    the TFLite converter drops it (called eagerly, both run);
  * Activation layers of ReLU6: `_relu6_inference`, as min(ReLU(x), 6)
    if `portable` (for graphs that may run on another CPU: exports) or
    `relu6_as_minimum()` (not on AVX-512 CPUs with oneDNN);
  * the Model Garden's SpatialPyramidPooling (ASPP) with global image
    pooling: `_spp_inference`, the pooled branch as a per-image bias.

  The same outputs (to float rounding). Meant around the tracing of a
  tf.function: every call of the model meanwhile, in any thread, uses these
  kernels, and one thread at a time holds them (nested contexts are fine).
  The layers' own `call` is back on exit; functions traced meanwhile keep
  these kernels. Layers of a mixed-precision policy compute in its dtype
  (folds in float32, then cast). Layers of other policies (e.g. float64,
  or bfloat16 variables), subclasses with their own `call`, and a `model`
  that is not a tf.Module, are left as they are.
  """
  relu6 = functools.partial(_relu6_inference,
                            as_minimum=portable or relu6_as_minimum())
  with _patched(model, native_dilations=native_dilations, relu6=relu6):
    yield


@contextlib.contextmanager
def frozen_batch_norm_kernels(model):
  """`inference_kernels` for a training step that calls `model` with
  `training=False` (batch-norm statistics frozen, as stage 2): the batch-norm
  fold and the ASPP rewrite, differentiable in every weight (the fold's
  scale, gamma / sqrt(moving variance + epsilon), is computed in the graph).
  TF then fuses convolution + bias + ReLU6 forward and drops the batch
  norm's gradient op. ReLU6 stays one op (min(ReLU, 6)'s gradient is
  slower) and dilations keep Keras' form (the native op's gradient is
  wrong)."""
  with _patched(model, native_dilations=False, relu6=None):
    yield


@contextlib.contextmanager
def _patched(model, *, native_dilations: bool, relu6):
  """`model`'s layers patched with the kernels asked for (see
  `inference_kernels`); ReLU6 layers with `relu6` unless None."""
  folding = []
  patched = []
  with _LOCK:
    try:
      for layer in getattr(model, "submodules", ()):
        if _fusable_batch_norm(layer):
          kernel = functools.partial(_batch_norm_inference, folding=folding)
        elif _patchable_spp(layer):
          kernel = _spp_inference
        elif relu6 is not None and _patchable_relu6(layer):
          kernel = relu6
        elif _patchable_conv(layer):
          kernel = functools.partial(_conv_inference, folding=folding)
        elif _patchable_depthwise(layer):
          kernel = functools.partial(_depthwise_inference,
                                     native_dilations=native_dilations,
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
