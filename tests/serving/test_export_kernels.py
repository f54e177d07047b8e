"""The export's inference kernels: same outputs, fewer and fused ops."""
import collections
import warnings

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from PIL import Image

from segwgan.serving import checkpoints
from segwgan.serving import export

IMAGE = "pascal_voc2012/VOCdevkit/VOC2012/JPEGImages/2007_000033.jpg"


@pytest.fixture(scope="module")
def loaded(converted_dm05):
  return checkpoints.load(converted_dm05, dataset="pascal_voc2012")


@pytest.fixture(scope="module")
def pixels(shared_data):
  image = Image.open(shared_data / IMAGE).convert("RGB").resize((129, 97))
  return (np.asarray(image, np.float32)[None] - 127.5) / 127.5


def patched_types(segmenter):
  return collections.Counter(type(layer).__name__
                             for layer in segmenter.submodules
                             if "call" in vars(layer))


def op_types(function):
  return collections.Counter(op.type for op in function.graph.get_operations())


def batch_norm_inputs(function):
  """Types of the ops whose outputs the graph's batch-norm ops take."""
  return collections.Counter(
      op.inputs[0].op.type for op in function.graph.get_operations()
      if op.type == "FusedBatchNormV3")


@pytest.mark.parametrize("native_dilations", [False, True])
def test_same_outputs_and_layers_restored(loaded, pixels, native_dilations):
  segmenter = loaded.segmenter
  reference = segmenter(pixels, training=False).numpy()
  with export.inference_kernels(segmenter, native_dilations):
    patched = patched_types(segmenter)
    function = tf.function(lambda x: segmenter(x, training=False))
    outputs = function(pixels)
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
  types = op_types(logits)
  # Portable by default: dilations as SpaceToBatchND / BatchToSpaceND.
  assert (types["SpaceToBatchND"] > 0) == (not native_dilations)


def test_tflite_has_dilated_depthwise_and_matches(loaded, pixels, tmp_path):
  path = export.export(loaded, tmp_path / "voc", tflite=True)
  with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation note.
    warnings.simplefilter("ignore")
    interpreter = tf.lite.Interpreter(model_path=str(path /
                                                     export.TFLITE_FILE))
  interpreter.allocate_tensors()
  ops = collections.Counter(op["op_name"]
                            for op in interpreter._get_ops_details())  # pylint: disable=protected-access
  assert "SPACE_TO_BATCH_ND" not in ops and "BATCH_TO_SPACE_ND" not in ops
  assert ops["DEPTHWISE_CONV_2D"] == 17
  uint8 = np.clip(pixels * 127.5 + 127.5, 0, 255).round().astype(np.uint8)
  out = interpreter.get_signature_runner("serving_default")(images=uint8)
  module, _ = export.load(path)
  expected = module.serve(tf.constant(uint8))
  assert np.mean(out["labels"] == expected["labels"].numpy()) >= 0.999
  np.testing.assert_allclose(out["probabilities"],
                             expected["probabilities"].numpy(), atol=1e-4)


@pytest.mark.parametrize("native_dilations", [False, True])
@pytest.mark.parametrize("dilation", [1, 2])
def test_fold_with_a_bias_and_a_depth_multiplier(native_dilations, dilation):
  inputs = tf_keras.Input([None, None, 3])
  x = tf_keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2,
                                      dilation_rate=dilation)(inputs)
  outputs = tf_keras.layers.BatchNormalization(epsilon=1e-3)(x)
  model = tf_keras.Model(inputs, outputs)
  rng = np.random.default_rng(0)
  for variable in model.variables:  # Bias, statistics, gamma: all non-trivial.
    variable.assign(rng.uniform(0.5, 1.5, variable.shape))
  images = rng.normal(size=[2, 11, 13, 3]).astype(np.float32)
  with export.inference_kernels(model, native_dilations):
    function = tf.function(lambda x: model(x, training=False))
    outputs = function(images)
  assert not batch_norm_inputs(function.get_concrete_function(images))
  np.testing.assert_allclose(outputs.numpy(),
                             model(images, training=False).numpy(),
                             rtol=1e-5, atol=1e-5)
