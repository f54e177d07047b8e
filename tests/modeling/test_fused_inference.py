"""Fused inference kernels: the same outputs as Keras', fused and folded.

Also their two users: the export's graph and evaluation's."""
import collections
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from official.vision.modeling.layers import deeplab
from official.vision.modeling.layers import nn_layers
from PIL import Image

from segwgan.evaluation import inference
from segwgan.modeling import fused_inference
from segwgan.serving import checkpoints
from segwgan.serving import export

IMAGE = "pascal_voc2012/VOCdevkit/VOC2012/JPEGImages/2007_000033.jpg"


@pytest.fixture(scope="module")
def perturbed(converted_dm05):
  """The converted segmenter with non-trivial batch-norm statistics (the
  converted ones are an identity and a bias: a wrong scale would not show)."""
  segmenter = checkpoints.load(converted_dm05,
                               dataset="pascal_voc2012").segmenter
  rng = np.random.default_rng(0)
  for layer in segmenter.submodules:
    if isinstance(layer, tf_keras.layers.BatchNormalization) and layer.built:
      shape = layer.moving_mean.shape
      layer.moving_mean.assign(rng.normal(0.0, 0.1, shape))
      layer.moving_variance.assign(rng.uniform(0.5, 2.0, shape))
      layer.gamma.assign(layer.gamma * rng.uniform(0.8, 1.25, shape))
  return segmenter


@pytest.fixture(scope="module")
def pixels(shared_data):
  image = Image.open(shared_data / IMAGE).convert("RGB").resize((129, 97))
  return (np.asarray(image, np.float32)[None] - 127.5) / 127.5


# How dilated depthwise convolutions run: composed (SpaceToBatchND) or native.
NATIVE_DILATIONS = pytest.mark.parametrize(
    "native_dilations",
    [False, pytest.param(True, marks=pytest.mark.native_dilations)],
    ids=["composed", "native"])


def require_native(native_dilations):
  """Skips a native-dilation case where this TF cannot run it (oneDNN off;
  `test_native_cases_with_onednn_turned_on` runs them with it on)."""
  if native_dilations and not fused_inference.native_dilations_supported():
    pytest.skip(fused_inference.ONEDNN_HINT)


def test_native_cases_with_onednn_turned_on():
  """Where this process cannot run native dilations, the cases marked
  native_dilations run in a process with TF_ENABLE_ONEDNN_OPTS=1."""
  if fused_inference.native_dilations_supported():
    pytest.skip("native dilations run in this process: the cases above ran")
  here = pathlib.Path(__file__)
  result = subprocess.run(
      [sys.executable, "-m", "pytest", "-q", "-rs", str(here), "-m",
       "native_dilations"], cwd=here.parents[2],
      capture_output=True, text=True, timeout=900, check=False,
      env=dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1", TF_CPP_MIN_LOG_LEVEL="3"))
  summary = result.stdout.strip().splitlines()[-1]
  assert result.returncode == 0, result.stdout[-3000:]
  if "skipped" in summary:  # A build where the variable turns nothing on.
    pytest.skip(f"TF_ENABLE_ONEDNN_OPTS=1 did not help: {summary}")
  assert "passed" in summary, summary


def patched_types(model):
  return collections.Counter(type(layer).__name__
                             for layer in model.submodules
                             if "call" in vars(layer))


def batch_norm_inputs(concrete_function):
  """Types of the ops whose outputs the graph's batch-norm ops take."""
  return collections.Counter(
      op.inputs[0].op.type for op in concrete_function.graph.get_operations()
      if op.type == "FusedBatchNormV3")


def op_types(concrete_function):
  """Types of the graph's ops, those of the functions it calls included."""
  graph = concrete_function.graph.as_graph_def()
  return collections.Counter(
      [node.op for node in graph.node] +
      [node.op for function in graph.library.function
       for node in function.node_def])


def assert_relu6_form(types, as_minimum=None):
  """The MobileNetV2 DeepLab's 34 ReLU6 layers traced as min(ReLU(x), 6)
  if `as_minimum` (default: the form `relu6_as_minimum` picks here)."""
  if as_minimum is None:
    as_minimum = fused_inference.relu6_as_minimum()
  if as_minimum:
    assert types["Relu6"] == 0 and types["Minimum"] >= 34
  else:
    assert types["Minimum"] == 0 and types["Relu6"] >= 34


def batch_to_space_neighbours(concrete_function):
  """(types of the ops whose outputs BatchToSpaceND ops take, types of the
  ops that take BatchToSpaceND outputs), over the graph and its functions."""
  graph = concrete_function.graph.as_graph_def()
  producers, consumers = collections.Counter(), collections.Counter()
  for nodes in [graph.node] + [f.node_def for f in graph.library.function]:
    by_name = {node.name: node for node in nodes}
    for node in nodes:
      for name in node.input:
        source = by_name.get(name.lstrip("^").split(":")[0])
        if node.op == "BatchToSpaceND" and name == node.input[0] and source:
          producers[source.op] += 1
        if source is not None and source.op == "BatchToSpaceND":
          consumers[node.op] += 1
  return producers, consumers


@NATIVE_DILATIONS
def test_same_outputs_and_layers_restored(perturbed, pixels,
                                          native_dilations):
  require_native(native_dilations)
  reference = perturbed(pixels, training=False).numpy()
  with fused_inference.inference_kernels(perturbed, native_dilations):
    patched = patched_types(perturbed)
    function = tf.function(lambda x: perturbed(x, training=False))
    outputs = function(pixels).numpy()
  assert patched["BatchNormalization"] >= 50
  assert patched["DepthwiseConv2D"] == 17
  assert patched["Conv2D"] >= 35
  assert patched["Activation"] >= 35  # The ReLU6 ones.
  assert patched["SpatialPyramidPooling"] == 1
  types = op_types(function.get_concrete_function(pixels))
  # The image pooling's broadcast is gone: one resize (of the logits).
  assert types["ResizeBilinear"] == 1 and types["ConcatV2"] == 0
  # Every batch norm follows a convolution and is folded into it.
  assert types["FusedBatchNormV3"] == 0
  assert_relu6_form(types)
  np.testing.assert_allclose(outputs, reference, rtol=1e-4,
                             atol=1e-4 * np.abs(reference).max())
  assert np.mean(outputs.argmax(-1) == reference.argmax(-1)) >= 0.999
  assert not patched_types(perturbed)


def test_nested_contexts_restore_in_turn(loaded):
  segmenter = loaded.segmenter
  with fused_inference.inference_kernels(segmenter):
    outer = patched_types(segmenter)
    with fused_inference.inference_kernels(segmenter, native_dilations=True):
      assert patched_types(segmenter) == outer
    assert patched_types(segmenter) == outer
  assert not patched_types(segmenter)


@NATIVE_DILATIONS
@pytest.mark.parametrize("portable", [False, True], ids=["here", "portable"])
def test_serving_graph_folds_batch_norm(loaded, native_dilations, portable):
  module = export.ServingModule(loaded.segmenter, loaded.info,
                                native_dilations, portable=portable)
  types = op_types(module.logits.get_concrete_function())
  # Every batch norm is folded into the convolution before it.
  assert types["FusedBatchNormV3"] == 0
  assert types["Conv2D"] >= 35 and types["DepthwiseConv2dNative"] >= 17
  # What `export` saves has the form fast on any CPU.
  assert_relu6_form(types, as_minimum=True if portable else None)
  # Portable by default: dilations as SpaceToBatchND / BatchToSpaceND.
  assert (types["SpaceToBatchND"] > 0) == (not native_dilations)
  producers, consumers = batch_to_space_neighbours(
      module.logits.get_concrete_function())
  if not native_dilations:
    # Bias and ReLU6 come before each BatchToSpaceND, fused into the
    # convolution: it takes a ReLU6's output and feeds no BiasAdd or ReLU.
    assert sum(producers.values()) == types["BatchToSpaceND"] > 0
    assert set(producers) <= {"Relu6", "Minimum"}, producers
    assert not {"BiasAdd", "Relu6", "Relu", "Minimum"} & set(consumers)


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


CONV_KINDS = pytest.mark.parametrize("kind", ["depthwise", "conv"])


@NATIVE_DILATIONS
@CONV_KINDS
@pytest.mark.parametrize("case", [
    dict(dilation=1), dict(dilation=2), dict(use_bias=False),
    dict(scale=False, center=False), dict(dilation=2, epsilon=1e-7),
    dict(second_consumer=True)], ids=str)
def test_fold(native_dilations, kind, case):
  if native_dilations and kind == "conv":
    pytest.skip("native dilations change depthwise convolutions only")
  if case.get("dilation", 1) > 1:
    require_native(native_dilations)
  model, images = conv_then_batch_norm(kind, **case)
  with fused_inference.inference_kernels(model, native_dilations):
    function = tf.function(lambda x: model(x, training=False))
    outputs = function(images)
  assert not batch_norm_inputs(function.get_concrete_function(images))
  assert_same_outputs(outputs, model(images, training=False))


@CONV_KINDS
@pytest.mark.parametrize("epsilon", [1e-3, 1e-7])
def test_no_fold_across_an_activation(kind, epsilon):
  model, images = conv_then_batch_norm(kind, activation="relu",
                                       epsilon=epsilon)
  with fused_inference.inference_kernels(model):
    function = tf.function(lambda x: model(x, training=False))
    outputs = function(images)
  assert batch_norm_inputs(function.get_concrete_function(images)) == {
      "Relu": 1}
  assert_same_outputs(outputs, model(images, training=False))


class _ScaledConv2D(tf_keras.layers.Conv2D):
  """A Conv2D whose convolution is its own (here: of a doubled kernel)."""

  def convolution_op(self, inputs, kernel):
    return super().convolution_op(inputs, 2.0 * kernel)


@pytest.mark.parametrize("layer", [
    lambda: tf_keras.layers.Conv2D(6, 3, groups=3, padding="same"),
    lambda: tf_keras.layers.Conv2D(4, 3, padding="same",
                                   data_format="channels_first"),
    lambda: nn_layers.Conv2D(4, 3, padding="causal"),
    lambda: _ScaledConv2D(4, 3, padding="same")],
    ids=["groups", "channels_first", "causal", "own_convolution_op"])
def test_convolutions_it_cannot_fold_are_left_alone(layer):
  inputs = tf_keras.Input([12, 12, 3])
  model = tf_keras.Model(inputs, layer()(inputs))
  with fused_inference.inference_kernels(model):
    assert not patched_types(model)


@pytest.mark.parametrize("as_minimum", [True, False])
def test_relu6_in_the_form_picked(monkeypatch, as_minimum):
  monkeypatch.setattr(fused_inference, "relu6_as_minimum", lambda: as_minimum)
  inputs = tf_keras.Input([None, None, 3])
  model = tf_keras.Model(inputs, tf_keras.layers.Activation(tf.nn.relu6)(
      tf_keras.layers.Conv2D(4, 3)(inputs)))
  images = np.random.default_rng(0).normal(
      0.0, 8.0, [2, 9, 9, 3]).astype(np.float32)
  reference = model(images).numpy()
  assert reference.min() == 0.0 and reference.max() == 6.0  # Both bounds.
  with fused_inference.inference_kernels(model):
    assert patched_types(model) == {"Activation": 1, "Conv2D": 1}
    function = tf.function(lambda x: model(x, training=False))
    outputs = function(images).numpy()
  types = op_types(function.get_concrete_function(images))
  assert (types["Relu6"], types["Relu"], types["Minimum"]) == (
      (0, 1, 1) if as_minimum else (1, 0, 0))
  np.testing.assert_array_equal(outputs, reference)


@pytest.mark.parametrize("onednn,avx512,as_minimum", [
    (True, True, False), (True, False, True), (False, True, True),
    (False, False, True)])
def test_relu6_kept_only_with_onednn_on_avx512(monkeypatch, onednn, avx512,
                                               as_minimum):
  monkeypatch.setattr(fused_inference, "_onednn_enabled", lambda: onednn)
  monkeypatch.setattr(fused_inference, "_cpu_flag",
                      lambda name: avx512 and name == "avx512f")
  fused_inference.relu6_as_minimum.cache_clear()
  try:
    assert fused_inference.relu6_as_minimum() is as_minimum
  finally:
    fused_inference.relu6_as_minimum.cache_clear()


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


@pytest.mark.parametrize("options", [
    dict(dilation_rates=[]),  # MobileNetV2 DeepLab's ASPP-lite.
    dict(dilation_rates=[2, 3]),  # ResNet DeepLabv3's (rates 6, 12, 18).
    dict(dilation_rates=[2], use_depthwise_convolution=True),
    dict(dilation_rates=[2], activation="relu6")], ids=str)
def test_spp_pooled_branch_as_a_bias(options):
  spp, images = spatial_pyramid_pooling(**options)
  reference = spp(images, training=False)
  assert 0.1 < np.mean(reference.numpy() == 0.0) < 0.9  # The ReLU clips.
  with fused_inference.inference_kernels(spp):
    assert patched_types(spp)["SpatialPyramidPooling"] == 1
    function = tf.function(lambda x: spp(x, training=False))
    outputs = function(images)
  types = op_types(function.get_concrete_function(images))
  assert types["ResizeBilinear"] == 0 and types["FusedBatchNormV3"] == 0
  assert types["ConcatV2"] == (1 if options["dilation_rates"] else 0)
  assert_same_outputs(outputs, reference)


@pytest.mark.parametrize("options", [
    dict(dilation_rates=[], pool_kernel_size=[3, 3]),
    dict(dilation_rates=[], dropout=0.0)],
    ids=["pooling window", "dropout"])
def test_spp_rewritten_only_with_global_pooling(options):
  spp, images = spatial_pyramid_pooling(**options)
  reference = spp(images, training=False)
  with fused_inference.inference_kernels(spp):
    rewritten = "SpatialPyramidPooling" in patched_types(spp)
    outputs = spp(images, training=False)
  assert_same_outputs(outputs, reference)
  assert rewritten == ("dropout" in options)


def in_policy(policy, build):
  """`build()` under the Keras dtype `policy`."""
  tf_keras.mixed_precision.set_global_policy(policy)
  try:
    return build()
  finally:
    tf_keras.mixed_precision.set_global_policy("float32")


@CONV_KINDS
def test_mixed_precision_layers_fold_in_their_dtype(kind):
  model, images = in_policy("mixed_bfloat16", lambda: conv_then_batch_norm(
      kind, dilation=2))
  reference = model(images, training=False)
  with fused_inference.inference_kernels(model):
    assert patched_types(model)["BatchNormalization"] == 1
    function = tf.function(lambda x: model(x, training=False))
    outputs = function(images)
  assert not batch_norm_inputs(function.get_concrete_function(images))
  assert outputs.dtype == tf.bfloat16
  reference = tf.cast(reference, tf.float32).numpy()
  # bfloat16 keeps 8 bits: the fold rounds the kernel once more.
  np.testing.assert_allclose(tf.cast(outputs, tf.float32).numpy(), reference,
                             rtol=3e-2, atol=3e-2 * np.abs(reference).max())


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


def test_evaluation_traces_the_fused_kernels(loaded, pixels):
  segmenter = loaded.segmenter
  image_info = tf.constant([[[97, 129], [97, 129], [1, 1], [0, 0]]],
                           tf.float32)
  predict = inference.make_batch_predict_fn(segmenter)
  labels = predict(pixels, image_info).numpy()
  types = op_types(predict.get_concrete_function(pixels, image_info))
  assert types["FusedBatchNormV3"] == 0
  assert_relu6_form(types)
  keras_labels = np.argmax(segmenter(pixels, training=False)[0], -1)
  assert np.mean(labels[0] == keras_labels) >= 0.999
