"""The folded copy of a segmenter: the same outputs, no batch-norm ops."""
import collections
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from PIL import Image

from segwgan.modeling import folded
from segwgan.serving import checkpoints
from segwgan.serving import export

IMAGE = "pascal_voc2012/VOCdevkit/VOC2012/JPEGImages/2007_000033.jpg"
BATCH_NORM_OPS = ("FusedBatchNorm", "FusedBatchNormV3", "Rsqrt", "Mul")


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


def op_types(graph_def) -> collections.Counter:
  """Types of the graph's ops, those of the functions it calls included."""
  return collections.Counter(
      [node.op for node in graph_def.node] +
      [node.op for function in graph_def.library.function
       for node in function.node_def])


def require_native(one_op: bool):
  if one_op and not folded.native_dilations_supported():
    pytest.skip(folded.ONEDNN_HINT)


@pytest.mark.parametrize("one_op", [False, True], ids=["composed", "one_op"])
def test_real_segmenter_same_outputs_without_batch_norm(perturbed, pixels,
                                                        one_op):
  require_native(one_op)
  weights = [v.numpy() for v in perturbed.variables]
  reference = perturbed(pixels, training=False).numpy()
  copy = folded.FoldedSegmenter(perturbed, dilations_as_one_op=one_op)
  outputs = copy(pixels).numpy()
  types = op_types(copy.graph_def)
  assert not any(types[op] for op in BATCH_NORM_OPS), types
  # Every convolution carries its batch norm's shift as its bias.
  convolutions = types["Conv2D"] + types["DepthwiseConv2dNative"]
  assert convolutions == 55 and types["BiasAdd"] == convolutions
  assert types["Relu6"] == 0 and types["Minimum"] == 34
  assert (types["SpaceToBatchND"] == 0) == one_op
  np.testing.assert_allclose(outputs, reference, rtol=1e-4,
                             atol=1e-4 * np.abs(reference).max())
  assert np.mean(outputs.argmax(-1) == reference.argmax(-1)) >= 0.999
  for before, variable in zip(weights, perturbed.variables):
    np.testing.assert_array_equal(before, variable.numpy())


def test_one_op_cases_with_onednn_turned_on():
  """Where this process cannot run dilations as one op, the one_op cases
  run in a process with TF_ENABLE_ONEDNN_OPTS=1."""
  if folded.native_dilations_supported():
    pytest.skip("dilations as one op run in this process: the cases ran")
  here = pathlib.Path(__file__)
  result = subprocess.run(
      [sys.executable, "-m", "pytest", "-q", "-rs", str(here), "-k",
       "one_op"], cwd=here.parents[2], capture_output=True, text=True,
      timeout=900, check=False,
      env=dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1", TF_CPP_MIN_LOG_LEVEL="3"))
  summary = result.stdout.strip().splitlines()[-1]
  assert result.returncode == 0, result.stdout[-3000:]
  if "skipped" in summary and "passed" not in summary:
    pytest.skip(f"TF_ENABLE_ONEDNN_OPTS=1 did not help: {summary}")


def test_the_export_runs_the_folded_copy(loaded):
  module = export.ServingModule(loaded.segmenter, loaded.info)
  graph_def = module.logits.get_concrete_function().graph.as_graph_def()
  types = op_types(graph_def)
  assert types["BiasAdd"] >= 55 and not types["FusedBatchNormV3"]
  assert not types["ReadVariableOp"] and not types["Relu6"]


def conv_then_batch_norm(kind="depthwise", dilation=1, use_bias=True,
                         scale=True, center=True, epsilon=1e-3, fused=None,
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
      epsilon=epsilon, scale=scale, center=center, fused=fused)(x)
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


@pytest.mark.parametrize("one_op", [False, True], ids=["composed", "one_op"])
@pytest.mark.parametrize("kind", ["depthwise", "conv"])
@pytest.mark.parametrize("case", [
    dict(dilation=1), dict(dilation=2), dict(use_bias=False),
    dict(scale=False, center=False), dict(dilation=2, epsilon=1e-7),
    dict(fused=False), dict(dilation=2, fused=False)], ids=str)
def test_fold(kind, case, one_op):
  if one_op and (kind == "conv" or case.get("dilation", 1) == 1):
    pytest.skip("one op changes dilated depthwise convolutions only")
  require_native(one_op)
  model, images = conv_then_batch_norm(kind, **case)
  copy = folded.FoldedSegmenter(model, dilations_as_one_op=one_op)
  types = op_types(copy.graph_def)
  assert not any(types[op] for op in BATCH_NORM_OPS), types
  assert types["BiasAdd"] == 1
  reference = model(images, training=False).numpy()
  np.testing.assert_allclose(copy(images).numpy(), reference, rtol=1e-4,
                             atol=1e-6 * np.abs(reference).max())


@pytest.mark.parametrize("case", [dict(activation="relu"),
                                  dict(second_consumer=True)], ids=str)
def test_no_fold_across_an_activation_or_a_second_use(case):
  model, images = conv_then_batch_norm("conv", **case)
  copy = folded.FoldedSegmenter(model)
  assert op_types(copy.graph_def)["FusedBatchNormV3"] == 1
  reference = model(images, training=False).numpy()
  np.testing.assert_allclose(copy(images).numpy(), reference, rtol=1e-5,
                             atol=1e-6 * np.abs(reference).max())


def test_relu6_as_minimum_same_values():
  inputs = tf_keras.Input([None, None, 3])
  model = tf_keras.Model(inputs, tf_keras.layers.Activation(tf.nn.relu6)(
      tf_keras.layers.Conv2D(4, 3)(inputs)))
  images = np.random.default_rng(0).normal(
      0.0, 8.0, [2, 9, 9, 3]).astype(np.float32)
  reference = model(images).numpy()
  assert reference.min() == 0.0 and reference.max() == 6.0  # Both bounds.
  copy = folded.FoldedSegmenter(model)
  types = op_types(copy.graph_def)
  assert (types["Relu6"], types["Relu"], types["Minimum"]) == (0, 1, 1)
  np.testing.assert_array_equal(copy(images).numpy(), reference)
