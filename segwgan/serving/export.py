"""SavedModel (and TFLite) export: uint8 images of any size in, labels out.

Signatures of an export:

* ``serving_default``: ``images`` uint8 [B, H, W, 3] of any size ->
  ``labels`` int32 [B, H, W] and ``probabilities`` float32 [B, H, W, C].
  The input normalisation, and the model's evaluation resize
  (`ModelInfo.resize_long_side`: the long side resized, predictions resized
  back bilinearly), are inside the graph.
* ``logits``: ``pixels`` float32 [B, H, W, 3] on the [0, 255] scale ->
  ``logits`` float32 [B, H, W, C] at the input size, without any resize:
  what evaluation and test-time augmentation call.

``assets.extra/segwgan.json`` holds the `ModelInfo` (dataset, normalisation,
resize) and ``model.tflite`` the optional TFLite conversion of
``serving_default`` (float32, builtin ops only, so XNNPACK runs all of it;
batch 1 of any size after `resize_tensor_input`). An export is written to a
temporary directory and renamed when complete.

The segmenter is traced with inference kernels of the same outputs
(`inference_kernels`): batch norm as the fused inference op, which TF folds
into a preceding convolution (the Model Garden's synchronized batch norm is
element-wise ops otherwise), or folded here into a preceding depthwise
convolution; and, for TFLite (or by request), a dilated depthwise
convolution as one op with dilations (Keras' SpaceToBatchND / conv /
BatchToSpaceND with run-time paddings split XNNPACK's graph in 24 pieces).
"""
import contextlib
import functools
import pathlib
import tempfile
import types

import tensorflow as tf
import tf_keras

from segwgan import io_utils
from segwgan.serving import checkpoints

INFO_FILE = "assets.extra/segwgan.json"
TFLITE_FILE = "model.tflite"
SERVING_KEY = "serving_default"
LOGITS_KEY = "logits"


def scaled_size(size, long_side: int):
  """[h, w] resized so that the long side is `long_side` (as the pipeline)."""
  size_f = tf.cast(size, tf.float32)
  scale = tf.cast(long_side, tf.float32) / tf.reduce_max(size_f)
  return tf.cast(tf.round(size_f * scale), tf.int32)


def _depthwise_inference(self, inputs, native_dilations, folding):
  """DepthwiseConv2D's output, its convolution open to a batch-norm fold.

  With dilations, the convolution is Keras' SpaceToBatchND / conv /
  BatchToSpaceND, or, if `native_dilations`, one DepthwiseConv2dNative with
  `dilations`: what TFLite runs as DEPTHWISE_CONV_2D with dilation, and TF's
  CPU kernel runs only with oneDNN.
  """
  strides = [1, *self.strides, 1]
  padding = self.padding.upper()

  def convolve(kernel, bias):
    kernel = tf.cast(kernel, inputs.dtype)
    if native_dilations or max(self.dilation_rate) == 1:
      outputs = tf.raw_ops.DepthwiseConv2dNative(
          input=inputs, filter=kernel, strides=strides, padding=padding,
          dilations=[1, *self.dilation_rate, 1], data_format="NHWC")
    else:
      outputs = tf.nn.depthwise_conv2d(inputs, kernel, strides, padding,
                                       dilations=self.dilation_rate)
    if bias is not None:
      outputs = tf.nn.bias_add(outputs, tf.cast(bias, outputs.dtype))
    return outputs

  outputs = convolve(self.depthwise_kernel, self.bias if self.use_bias
                     else None)
  if self.activation in (None, tf_keras.activations.linear):
    folding[:] = [outputs, self, convolve]
    return outputs
  return self.activation(outputs)


def _batch_norm_inference(self, inputs, training=None, mask=None, *,
                          folding):
  """BatchNormalization's inference output: folded into the depthwise
  convolution whose output `inputs` is, else one FusedBatchNormV3."""
  del training, mask
  ones = tf.ones_like(self.moving_mean)
  gamma = self.gamma if self.scale else ones
  beta = self.beta if self.center else 0.0 * ones
  if folding and folding[0] is inputs:
    _, conv, convolve = folding
    scale = gamma * tf.math.rsqrt(self.moving_variance + self.epsilon)
    bias = conv.bias if conv.use_bias else 0.0 * ones
    # Output channel c * multiplier + m is kernel[:, :, c, m]'s.
    kernel = conv.depthwise_kernel * tf.reshape(
        scale, conv.depthwise_kernel.shape[2:])
    return convolve(kernel, (bias - self.moving_mean) * scale + beta)
  outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
      inputs, gamma, beta, mean=self.moving_mean,
      variance=self.moving_variance, epsilon=self.epsilon, is_training=False)
  return outputs


def _fusable_batch_norm(layer) -> bool:
  return (isinstance(layer, tf_keras.layers.BatchNormalization) and
          layer.built and list(layer.axis) == [3] and
          getattr(layer, "virtual_batch_size", None) is None and
          not getattr(layer, "renorm", False) and layer.epsilon > 1.001e-5)


@contextlib.contextmanager
def inference_kernels(model, native_dilations: bool = False):
  """While open, `model`'s layers compute their inference outputs with:

  * built channels-last BatchNormalization layers (also the synchronized
    ones, which differ only when training on several replicas): the fused
    inference op, which TF folds into a preceding Conv2D (`training` is
    ignored: for inference only);
  * channels-last DepthwiseConv2D layers: `_depthwise_inference`, into
    which such a batch norm called right on their output is folded (TF
    does not fold it into a depthwise convolution; folded, oneDNN also
    fuses the bias and activation into it). The unfolded convolution stays
    in the traced graph unused: TF prunes it when running the function, and
    the TFLite converter drops it.

  The same outputs (to float rounding). The layers' own `call` is back on
  exit; calls traced meanwhile keep these kernels.
  """
  folding = []
  patched = []
  for layer in model.submodules:
    if _fusable_batch_norm(layer):
      layer.call = types.MethodType(
          functools.partial(_batch_norm_inference, folding=folding), layer)
      patched.append(layer)
    elif (isinstance(layer, tf_keras.layers.DepthwiseConv2D) and
          layer.built and layer.data_format == "channels_last"):
      layer.call = types.MethodType(
          functools.partial(_depthwise_inference,
                            native_dilations=native_dilations,
                            folding=folding), layer)
      patched.append(layer)
  try:
    yield
  finally:
    for layer in patched:
      del layer.call


class ServingModule(tf.Module):
  """A segmenter with normalisation, resize, softmax and argmax around it.

  `native_dilations` traces dilated depthwise convolutions as one op (see
  `inference_kernels`): what TFLite runs, and faster in TF, but only where
  TF has oneDNN.
  """

  def __init__(self, segmenter, info: checkpoints.ModelInfo,
               native_dilations: bool = False):
    super().__init__()
    self.info = info
    # Only the variables are tracked: tracking the Keras model would make
    # saving trace every layer (10x slower) for nothing the export uses.
    self.segmenter_variables = list(segmenter.variables)

    def call_segmenter(images):
      with inference_kernels(segmenter, native_dilations):
        return segmenter(images, training=False)

    self._segmenter = call_segmenter
    self._mean = tf.constant(info.mean, tf.float32)
    self._stddev = tf.constant(info.stddev, tf.float32)

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None, 3], tf.float32, name="pixels")])
  def logits(self, pixels):
    """float32 logits [B, H, W, C] of pixels on the [0, 255] scale."""
    return self._segmenter((pixels - self._mean) / self._stddev)

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None, 3], tf.float32, name="pixels")])
  def logits_signature(self, pixels):
    return {"logits": self.logits(pixels)}

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
  def serve(self, images):
    """{'labels': int32 [B, H, W], 'probabilities': float32 [B, H, W, C]}."""
    pixels = tf.cast(images, tf.float32)
    size = tf.shape(images)[1:3]
    if self.info.resize_long_side > 0:
      pixels = tf.image.resize(
          pixels, scaled_size(size, self.info.resize_long_side),
          method="bilinear")
    logits = self.logits(pixels)
    if self.info.resize_long_side > 0:
      logits = tf.image.resize(logits, size, method="bilinear")
    return {"labels": tf.argmax(logits, axis=-1, output_type=tf.int32),
            "probabilities": tf.nn.softmax(logits)}

  def signatures(self) -> dict:
    return {SERVING_KEY: self.serve.get_concrete_function(),
            LOGITS_KEY: self.logits_signature.get_concrete_function()}


def convert_tflite(saved_model_dir) -> bytes:
  """The float32 TFLite flatbuffer of an export's serving signature."""
  converter = tf.lite.TFLiteConverter.from_saved_model(
      str(saved_model_dir), signature_keys=[SERVING_KEY])
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
  return converter.convert()


def export(loaded: checkpoints.Loaded, export_dir, *, tflite: bool = False,
           native_dilations: bool = False,
           overwrite: bool = False) -> pathlib.Path:
  """Writes the SavedModel (+ model.tflite) of `loaded` to `export_dir`.

  `native_dilations`: the SavedModel's dilated depthwise convolutions as
  one op each (faster; runs only where TF has oneDNN, the default of its
  x86-64 Linux builds); model.tflite always has them so.

  Raises:
    FileExistsError: `export_dir` exists and not `overwrite`. The previous
      export stays in place until the new one is complete, and a failed
      export leaves it untouched.
  """
  export_dir = pathlib.Path(export_dir)
  if export_dir.exists() and not overwrite:
    raise FileExistsError(f"{export_dir} already exists (use --overwrite to "
                          "replace it)")
  module = ServingModule(loaded.segmenter, loaded.info, native_dilations)
  with io_utils.atomic_directory(export_dir) as tmp:
    tf.saved_model.save(module, str(tmp), signatures=module.signatures())
    info_path = tmp / INFO_FILE
    info_path.parent.mkdir(parents=True, exist_ok=True)
    info_path.write_text(loaded.info.to_json())
    if tflite:
      (tmp / TFLITE_FILE).write_bytes(_tflite(loaded))
  return export_dir


def _tflite(loaded: checkpoints.Loaded) -> bytes:
  """`convert_tflite` of a staging SavedModel traced for TFLite."""
  module = ServingModule(loaded.segmenter, loaded.info, native_dilations=True)
  with tempfile.TemporaryDirectory(prefix="segwgan_tflite_") as staging:
    tf.saved_model.save(module, staging, signatures={
        SERVING_KEY: module.serve.get_concrete_function()})
    return convert_tflite(pathlib.Path(staging))


def load(export_dir):
  """(the restored module, its ModelInfo) of an export.

  The module's ``serve(images)`` and ``logits(pixels)`` are the signatures'
  functions.

  Raises:
    ValueError: `export_dir` is not a segwgan export.
  """
  export_dir = pathlib.Path(export_dir)
  info_path = export_dir / INFO_FILE
  if not (export_dir / "saved_model.pb").is_file() or not info_path.is_file():
    raise ValueError(f"{export_dir} is not a segwgan SavedModel export "
                     f"(needs saved_model.pb and {INFO_FILE})")
  info = checkpoints.ModelInfo.from_json(info_path.read_text())
  return tf.saved_model.load(str(export_dir)), info
