"""Stage 2's frozen batch-norm kernels: the same outputs and gradients."""
import collections

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from official.vision.modeling.layers import deeplab

from segwgan.modeling import fused_inference


def patched_types(model):
  return collections.Counter(type(layer).__name__
                             for layer in model.submodules
                             if "call" in vars(layer))


def op_types(concrete_function):
  """Types of the graph's ops, those of the functions it calls included."""
  graph = concrete_function.graph.as_graph_def()
  return collections.Counter(
      [node.op for node in graph.node] +
      [node.op for function in graph.library.function
       for node in function.node_def])


def assert_same_outputs(outputs, reference):
  """Equal to float rounding (relative: small variances scale them up)."""
  reference = reference.numpy()
  np.testing.assert_allclose(outputs.numpy(), reference, rtol=1e-4,
                             atol=1e-6 * np.abs(reference).max())


def conv_then_batch_norm(kind="depthwise", dilation=1, use_bias=True,
                         scale=True, center=True, epsilon=1e-3,
                         activation=None, second_consumer=False):
  """A convolution (a DepthwiseConv2D of depth multiplier 2 or a Conv2D of
  4 filters) -> BatchNormalization model with non-trivial weights and
  statistics, and a batch of inputs."""
  inputs = tf_keras.Input([None, None, 3])
  options = dict(padding="same", dilation_rate=dilation, use_bias=use_bias,
                 activation=activation)
  if kind == "depthwise":
    conv = tf_keras.layers.DepthwiseConv2D(3, depth_multiplier=2, **options)
  else:
    conv = tf_keras.layers.Conv2D(4, 3, **options)
  x = conv(inputs)
  outputs = tf_keras.layers.BatchNormalization(
      epsilon=epsilon, scale=scale, center=center)(x)
  if second_consumer:  # The convolution's output is also used unfolded.
    outputs = tf_keras.layers.Concatenate()([outputs, x])
  model = tf_keras.Model(inputs, outputs)
  rng = np.random.default_rng(0)
  for variable in model.variables:
    variable.assign(rng.uniform(0.5, 1.5, variable.shape))
  norm = next(layer for layer in model.layers
              if isinstance(layer, tf_keras.layers.BatchNormalization))
  # Variances near epsilon, so that its value shows in the outputs.
  norm.moving_variance.assign(norm.moving_variance * 10 * epsilon)
  return model, rng.normal(size=[2, 11, 13, 3]).astype(np.float32)


def spatial_pyramid_pooling(**options):
  """A model of a built ASPP with non-trivial weights and statistics, and
  inputs."""
  spp = tf_keras.Sequential(
      [deeplab.SpatialPyramidPooling(output_channels=8, **options)])
  images = np.random.default_rng(1).normal(size=[2, 9, 11, 6])
  images = images.astype(np.float32)
  spp(images, training=False)  # Builds it.
  rng = np.random.default_rng(0)
  for variable in spp.variables:  # Signed, so that activations clip.
    low = 0.5 if "variance" in variable.name else -1.5
    variable.assign(rng.uniform(low, 1.5, variable.shape))
  return spp, images


def in_policy(policy, build):
  """`build()` under the Keras dtype `policy`."""
  tf_keras.mixed_precision.set_global_policy(policy)
  try:
    return build()
  finally:
    tf_keras.mixed_precision.set_global_policy("float32")


def op_types_and_dilations(concrete_function):
  """`op_types`, and "native dilations": DepthwiseConv2dNative ops with."""
  types = op_types(concrete_function)
  types["native dilations"] = sum(
      op.get_attr("dilations") != [1, 1, 1, 1]
      for op in concrete_function.graph.get_operations()
      if op.type == "DepthwiseConv2dNative")
  return types


def value_and_gradients(model, images, kernels=None):
  """(outputs, gradients of a weighted sum of them) of `model(images,
  training=False)`, traced under `kernels(model)` if given; the op types of
  the traced graph (`op_types_and_dilations`)."""
  weights = tf.random.stateless_normal(model(images).shape, [3, 4])

  def step(x):
    with tf.GradientTape() as tape:
      outputs = model(x, training=False)
      loss = tf.reduce_sum(tf.cast(outputs, tf.float32) * weights)
    return outputs, tape.gradient(loss, model.trainable_variables)

  function = tf.function(step)
  if kernels is None:
    result = function(images)
  else:
    with kernels(model):
      result = function(images)
  return result, op_types_and_dilations(function.get_concrete_function(images))


FROZEN_BATCH_NORM_CASES = pytest.mark.parametrize("build", [
    lambda: conv_then_batch_norm("conv", activation=None),
    lambda: conv_then_batch_norm("depthwise", dilation=2),
    lambda: spatial_pyramid_pooling(dilation_rates=[2], activation="relu6")],
    ids=["conv", "dilated depthwise", "aspp"])


@FROZEN_BATCH_NORM_CASES
def test_frozen_batch_norm_kernels_same_gradients(build):
  """A training step's kernels (statistics frozen): the same outputs and
  gradients in every weight, gamma and beta included, without the batch
  norm's ops forward or backward; ReLU6 stays one op, dilations composed."""
  model, images = build()
  (reference, reference_grads), _ = value_and_gradients(model, images)
  (outputs, grads), types = value_and_gradients(
      model, images, fused_inference.frozen_batch_norm_kernels)
  assert types["FusedBatchNormV3"] == 0 and types["FusedBatchNormGradV3"] == 0
  assert types["Minimum"] == 0 and not types["native dilations"]
  assert_same_outputs(outputs, reference)
  names = [v.name for v in model.trainable_variables]
  assert any("gamma" in name for name in names)
  for name, grad, reference_grad in zip(names, grads, reference_grads):
    assert grad is not None and reference_grad is not None, name
    np.testing.assert_allclose(
        grad.numpy(), reference_grad.numpy(), rtol=1e-4,
        atol=1e-4 * np.abs(reference_grad.numpy()).max(), err_msg=name)


@pytest.mark.parametrize("case", [
    dict(activation="relu"), dict(second_consumer=True),
    dict(epsilon=1e-7, dilation=2)], ids=str)
def test_frozen_batch_norm_kernels_unfolded_cases_same_gradients(case):
  """Where the fold does not apply (an activation between, a second
  consumer) or moves epsilon into the variance: the same gradients."""
  model, images = conv_then_batch_norm("depthwise", **case)
  (reference, reference_grads), _ = value_and_gradients(model, images)
  (outputs, grads), _ = value_and_gradients(
      model, images, fused_inference.frozen_batch_norm_kernels)
  assert_same_outputs(outputs, reference)
  for variable, grad, reference_grad in zip(model.trainable_variables, grads,
                                            reference_grads):
    np.testing.assert_allclose(
        grad.numpy(), reference_grad.numpy(), rtol=1e-4,
        atol=1e-4 * np.abs(reference_grad.numpy()).max(),
        err_msg=variable.name)


def test_frozen_batch_norm_kernels_refuse_training():
  model, images = conv_then_batch_norm("conv")
  with fused_inference.frozen_batch_norm_kernels(model):
    with pytest.raises(ValueError, match="training=False"):
      model(images, training=True)


def relative_error(values, truth):
  values, truth = (tf.cast(v, tf.float32).numpy() for v in (values, truth))
  return np.linalg.norm(values - truth) / np.linalg.norm(truth)


def float32_folded_kernels(concrete_function):
  """How many convolutions of the graph take a kernel folded in float32
  (Cast of a float32 Mul, maybe sliced) in a lower precision."""
  count = 0
  for op in concrete_function.graph.get_operations():
    if op.type not in ("Conv2D", "DepthwiseConv2dNative"):
      continue
    kernel = op.inputs[1].op
    while kernel.type == "StridedSlice":
      kernel = kernel.inputs[0].op
    count += (kernel.type == "Cast" and op.inputs[1].dtype != tf.float32 and
              kernel.inputs[0].dtype == tf.float32 and
              kernel.inputs[0].op.type == "Mul")
  return count


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
@FROZEN_BATCH_NORM_CASES
def test_frozen_batch_norm_kernels_in_low_precision(build, policy):
  """Under a mixed policy: every batch norm folded in float32, then cast;
  outputs and gradients about as near float32's as Keras' own low-precision
  layers (the fold rounds the kernel once more and sums beta's gradient in
  low precision, about 1 % off where Keras' float32 batch-norm gradient is
  0.1 %; ReLU6's clipping turns on rounding, so in the ASPP both are 5-40 %
  off float32)."""
  model, images = build()
  model_low, _ = in_policy(policy, build)  # The same weights.
  truth = value_and_gradients(model, images)[0]
  keras = value_and_gradients(model_low, images)[0]
  with fused_inference.frozen_batch_norm_kernels(model_low):
    norms = patched_types(model_low)["BatchNormalization"]
  folded, types = value_and_gradients(
      model_low, images, fused_inference.frozen_batch_norm_kernels)
  assert types["FusedBatchNormV3"] == 0 and types["FusedBatchNormGradV3"] == 0
  assert folded[0].dtype == model_low.compute_dtype
  concrete = tf.function(lambda x: model_low(x, training=False))
  with fused_inference.frozen_batch_norm_kernels(model_low):
    assert float32_folded_kernels(
        concrete.get_concrete_function(images)) >= norms >= 1
  pairs = [("outputs", folded[0], keras[0], truth[0])] + [
      (v.name, *grads) for v, *grads in zip(
          model.trainable_variables, folded[1], keras[1], truth[1])]
  for name, folded_value, keras_value, true_value in pairs:
    assert folded_value is not None, name
    assert relative_error(folded_value, true_value) <= (
        2 * relative_error(keras_value, true_value) + 0.02), name


def test_layers_of_other_policies_are_left_alone():
  model, images = in_policy("float64", lambda: conv_then_batch_norm("conv"))
  with fused_inference.frozen_batch_norm_kernels(model):
    assert not patched_types(model)
    assert model(images.astype(np.float64), training=False).dtype == tf.float64

