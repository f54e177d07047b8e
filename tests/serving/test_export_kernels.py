"""The export's inference kernels: same outputs, fewer and fused ops."""
import collections
import warnings

import numpy as np
import pytest
import tensorflow as tf
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


@pytest.mark.parametrize("dilated_depthwise", [False, True])
def test_same_outputs_and_layers_restored(loaded, pixels, dilated_depthwise):
  segmenter = loaded.segmenter
  reference = segmenter(pixels, training=False).numpy()
  with export.inference_kernels(segmenter, dilated_depthwise):
    patched = patched_types(segmenter)
    outputs = tf.function(lambda x: segmenter(x, training=False))(pixels)
  assert patched["BatchNormalization"] >= 50
  assert patched["DepthwiseConv2D"] == (10 if dilated_depthwise else 0)
  np.testing.assert_allclose(outputs.numpy(), reference, atol=2e-4)
  assert not patched_types(segmenter)
  # Back to Keras' own kernels: BN follows `training` again.
  variables = segmenter.trainable_variables
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(segmenter(pixels, training=False))
  assert all(g is None or np.isfinite(g.numpy()).all()
             for g in tape.gradient(loss, variables))


def test_serving_graph_uses_fused_batch_norm(loaded):
  module = export.ServingModule(loaded.segmenter, loaded.info)
  graph = module.logits.get_concrete_function().graph
  types = collections.Counter(op.type for op in graph.get_operations())
  assert types["FusedBatchNormV3"] >= 50
  assert types["SpaceToBatchND"] > 0  # Portable: no dilated depthwise op.


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
