"""Fused inference kernels: the same outputs as Keras', fused and folded."""
import collections

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from PIL import Image

from segwgan.evaluation import inference
from segwgan.modeling import fused_inference
from segwgan.serving import checkpoints
from segwgan.serving import export

IMAGE = "pascal_voc2012/VOCdevkit/VOC2012/JPEGImages/2007_000033.jpg"


@pytest.fixture(scope="module")
def loaded(converted_dm05):
  return checkpoints.load(converted_dm05, dataset="pascal_voc2012")


@pytest.fixture(scope="module")
def segmenter(loaded):
  return loaded.segmenter


@pytest.fixture(scope="module")
def pixels(shared_data):
  image = Image.open(shared_data / IMAGE).convert("RGB").resize((129, 97))
  return (np.asarray(image, np.float32)[None] - 127.5) / 127.5


def patched_types(model):
  return collections.Counter(type(layer).__name__
                             for layer in model.submodules
                             if "call" in vars(layer))


def batch_norm_inputs(concrete_function):
  """Types of the ops whose outputs the graph's batch-norm ops take."""
  return collections.Counter(
      op.inputs[0].op.type for op in concrete_function.graph.get_operations()
      if op.type == "FusedBatchNormV3")


@pytest.mark.parametrize("native_dilations", [False, True])
def test_same_outputs_and_layers_restored(segmenter, pixels,
                                          native_dilations):
  reference = segmenter(pixels, training=False).numpy()
  with fused_inference.inference_kernels(segmenter, native_dilations):
    patched = patched_types(segmenter)
    outputs = tf.function(lambda x: segmenter(x, training=False))(pixels)
  assert patched["BatchNormalization"] >= 50
  assert patched["DepthwiseConv2D"] == 17
  np.testing.assert_allclose(outputs.numpy(), reference, atol=2e-4)
  assert not patched_types(segmenter)
  # Back to Keras' own kernels: BN follows `training` again.
  variables = segmenter.trainable_variables
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(segmenter(pixels, training=False))
  assert all(g is None or np.isfinite(g.numpy()).all()
             for g in tape.gradient(loss, variables))


@pytest.mark.parametrize("native_dilations", [False, True])
def test_serving_graph_folds_and_fuses_batch_norm(loaded, native_dilations):
  module = export.ServingModule(loaded.segmenter, loaded.info,
                                native_dilations)
  logits = module.logits.get_concrete_function()
  # Every batch norm is the fused op after a Conv2D, which TF folds into
  # it; those after the 17 depthwise convolutions are folded into them.
  assert set(batch_norm_inputs(logits)) == {"Conv2D"}
  assert batch_norm_inputs(logits)["Conv2D"] >= 35
  types = collections.Counter(op.type
                              for op in logits.graph.get_operations())
  # Portable by default: dilations as SpaceToBatchND / BatchToSpaceND.
  assert (types["SpaceToBatchND"] > 0) == (not native_dilations)


def depthwise_then_batch_norm(dilation):
  inputs = tf_keras.Input([None, None, 3])
  x = tf_keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2,
                                      dilation_rate=dilation)(inputs)
  outputs = tf_keras.layers.BatchNormalization(epsilon=1e-3)(x)
  model = tf_keras.Model(inputs, outputs)
  rng = np.random.default_rng(0)
  for variable in model.variables:  # Bias, statistics, gamma: all non-trivial.
    variable.assign(rng.uniform(0.5, 1.5, variable.shape))
  return model, rng.normal(size=[2, 11, 13, 3]).astype(np.float32)


@pytest.mark.parametrize("native_dilations", [False, True])
@pytest.mark.parametrize("dilation", [1, 2])
def test_fold_with_a_bias_and_a_depth_multiplier(native_dilations, dilation):
  model, images = depthwise_then_batch_norm(dilation)
  with fused_inference.inference_kernels(model, native_dilations):
    function = tf.function(lambda x: model(x, training=False))
    outputs = function(images)
  assert not batch_norm_inputs(function.get_concrete_function(images))
  np.testing.assert_allclose(outputs.numpy(),
                             model(images, training=False).numpy(),
                             rtol=1e-5, atol=1e-5)


def test_mixed_precision_layers_are_left_alone():
  tf_keras.mixed_precision.set_global_policy("mixed_bfloat16")
  try:
    model, images = depthwise_then_batch_norm(2)
  finally:
    tf_keras.mixed_precision.set_global_policy("float32")
  with fused_inference.inference_kernels(model):
    assert not patched_types(model)
    outputs = model(images, training=False)
  assert outputs.dtype == tf.bfloat16


def test_evaluation_traces_the_fused_kernels(segmenter, pixels):
  image_info = tf.constant([[[97, 129], [97, 129], [1, 1], [0, 0]]],
                           tf.float32)
  predict = inference.make_batch_predict_fn(segmenter)
  labels = predict(pixels, image_info).numpy()
  graph = predict.get_concrete_function(pixels, image_info).graph
  assert sum(op.type == "FusedBatchNormV3"
             for op in graph.get_operations()) >= 35
  keras_labels = np.argmax(segmenter(pixels, training=False)[0], -1)
  assert np.mean(labels[0] == keras_labels) >= 0.999
