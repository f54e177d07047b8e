"""SavedModel / TFLite export of the converted DeepLab on real VOC images."""
import collections
import csv
import dataclasses
import hashlib
import json
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from PIL import Image

from segwgan import errors
from segwgan.serving import checkpoints
from segwgan.serving import export
from segwgan.serving import predictor

VOC = "pascal_voc2012/VOCdevkit/VOC2012"
# The first, middle and last image of the val split.
VAL_IMAGES = ("2007_000033", "2007_000783", "2007_001594")


@pytest.fixture(scope="module")
def images(shared_data):
  return [np.asarray(Image.open(shared_data / VOC / "JPEGImages" /
                                f"{i}.jpg").convert("RGB"))
          for i in VAL_IMAGES]


def keras_labels(loaded, image):
  pixels = image[None].astype(np.float32)
  logits = loaded.segmenter((pixels - 127.5) / 127.5, training=False)
  return np.argmax(logits[0], axis=-1)


def agreement(a, b) -> float:
  return float(np.mean(a == b))


def tree_bytes(path) -> dict:
  return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
          for p in sorted(path.rglob("*")) if p.is_file()}


def test_saved_model_matches_keras_on_real_images(loaded, exported, images):
  module, info = export.load(exported)
  assert info == loaded.info
  serve = module.signatures["serving_default"]
  total = same = 0
  for image in images:
    out = serve(images=tf.constant(image[None]))
    assert out["labels"].dtype == tf.int32 and out["labels"].shape == (
        1, *image.shape[:2])
    assert out["probabilities"].shape == (1, *image.shape[:2], 21)
    np.testing.assert_allclose(tf.reduce_sum(out["probabilities"], -1), 1.0,
                               atol=1e-5)
    expected = keras_labels(loaded, image)
    assert len(np.unique(expected)) > 1
    same += np.sum(out["labels"][0].numpy() == expected)
    total += expected.size
  assert same / total >= 0.999, same / total


def test_any_size_and_batches(loaded, exported, images):
  module, _ = export.load(exported)
  crop = images[0][:97, 13:330]
  for batch in (crop[None], np.stack([crop, crop[:, ::-1]]),
                images[1][None, ::2, ::3], np.full((1, 5, 7, 3), 9, np.uint8)):
    labels = module.serve(tf.constant(batch))["labels"].numpy()
    assert labels.shape == batch.shape[:3]
    if batch.shape[1] > 32:
      assert agreement(labels[0], keras_labels(loaded, batch[0])) >= 0.999


def test_weights_are_graph_constants(loaded, exported, images):
  """The export holds no variables: its functions read the weights as
  constants, which a later change of the segmenter's weights leaves alone."""
  module, _ = export.load(exported)
  saved = [name for name, _ in tf.train.list_variables(
      str(exported / "variables" / "variables"))]
  assert saved == ["_CHECKPOINTABLE_OBJECT_GRAPH"], saved
  graph = module.signatures["logits"].graph.as_graph_def()
  ops = collections.Counter(node.op for function in graph.library.function
                            for node in function.node_def)
  assert ops["Conv2D"] >= 35 and ops["Const"] > ops["Conv2D"]
  assert not {"ReadVariableOp", "VarHandleOp"} & set(ops), ops
  # In process too: a ServingModule does not read the segmenter's variables.
  serving = export.ServingModule(loaded.segmenter, loaded.info)
  pixels = tf.constant(images[0][None, :65, :65], tf.float32)
  before = serving.logits(pixels).numpy()
  kernel = loaded.segmenter.trainable_variables[0]
  value = kernel.numpy()
  kernel.assign(value + 1.0)
  try:
    np.testing.assert_array_equal(serving.logits(pixels).numpy(), before)
  finally:
    kernel.assign(value)


def test_a_model_with_custom_gradients_exports(tmp_path):
  """Swish (the ResNet's activation) has a custom gradient that captures
  the frozen weights: the export, for inference only, leaves it out."""
  inputs = tf_keras.Input([None, None, 3])
  features = tf.nn.silu(tf_keras.layers.Conv2D(8, 3, padding="same")(inputs))
  model = tf_keras.Model(inputs, tf_keras.layers.Conv2D(21, 1)(features))
  info = checkpoints.ModelInfo(dataset="pascal_voc2012", mean=(127.5,) * 3,
                               stddev=(127.5,) * 3)
  module, _ = export.load(export.export(checkpoints.Loaded(model, info),
                                        tmp_path / "swish", tflite=True))
  image = np.random.default_rng(0).integers(0, 256, (1, 9, 11, 3), np.uint8)
  expected = model((image.astype(np.float32) - 127.5) / 127.5).numpy()
  np.testing.assert_allclose(
      module.logits(tf.constant(image, tf.float32)).numpy(), expected,
      rtol=1e-5, atol=1e-5)


def test_tflite_matches_keras_and_the_saved_model(loaded, exported, images):
  interpreter = tflite_interpreter(exported / export.TFLITE_FILE)
  interpreter.allocate_tensors()
  ops = collections.Counter(op["op_name"]
                            for op in interpreter._get_ops_details())  # pylint: disable=protected-access
  # Each dilated depthwise convolution is one op (no SpaceToBatchND pairs).
  assert "SPACE_TO_BATCH_ND" not in ops and ops["DEPTHWISE_CONV_2D"] == 17
  # ReLU6 (as min(ReLU(x), 6), `folded.relu6_as_minimum`) is fused into
  # the convolutions.
  assert not {"MINIMUM", "RELU", "RELU6"} & set(ops), ops
  runner = interpreter.get_signature_runner("serving_default")
  module, _ = export.load(exported)
  for image in images:
    out = runner(images=image[None])
    assert out["labels"].shape == (1, *image.shape[:2])
    assert agreement(out["labels"][0], keras_labels(loaded, image)) >= 0.99
    expected = module.serve(tf.constant(image[None]))
    assert agreement(out["labels"], expected["labels"].numpy()) >= 0.999
    np.testing.assert_allclose(out["probabilities"],
                               expected["probabilities"].numpy(), atol=1e-4)


def tflite_interpreter(path):
  with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation note.
    warnings.simplefilter("ignore")
    return tf.lite.Interpreter(model_path=str(path))


def test_fixed_size_tflite(loaded, exported, images, tmp_path):
  path = export.export(loaded, tmp_path / "fixed", tflite=True,
                       tflite_size=(97, 129))
  interpreter = tflite_interpreter(path / export.TFLITE_FILE)
  interpreter.allocate_tensors()
  (inputs,) = interpreter.get_input_details()
  assert list(inputs["shape_signature"]) == [1, 97, 129, 3]
  ops = {op["op_name"] for op in interpreter._get_ops_details()}  # pylint: disable=protected-access
  assert "SHAPE" not in ops, ops  # No sizes computed at run time.
  module, _ = export.load(exported)
  image = images[0][:97, 13:142]
  out = interpreter.get_signature_runner("serving_default")(images=image[None])
  expected = module.serve(tf.constant(image[None]))
  assert agreement(out["labels"], expected["labels"].numpy()) >= 0.999
  np.testing.assert_allclose(out["probabilities"],
                             expected["probabilities"].numpy(), atol=1e-4)


def test_labels_only_tflite(loaded, exported, images, tmp_path):
  """`tflite_outputs=["labels"]`: model.tflite's only output is the labels,
  the SavedModel's; no softmax in its graph."""
  path = export.export(loaded, tmp_path / "labels", tflite=True,
                       tflite_size=(97, 129), tflite_outputs=["labels"])
  interpreter = tflite_interpreter(path / export.TFLITE_FILE)
  runner = interpreter.get_signature_runner("serving_default")
  assert list(runner.get_output_details()) == ["labels"]
  ops = {op["op_name"] for op in interpreter._get_ops_details()}  # pylint: disable=protected-access
  assert "SOFTMAX" not in ops and "ARG_MAX" in ops, ops
  module, _ = export.load(exported)
  image = images[0][:97, 13:142]
  expected = module.serve(tf.constant(image[None]))["labels"].numpy()
  assert agreement(runner(images=image[None])["labels"], expected) >= 0.999
  # The SavedModel keeps both outputs.
  restored, _ = export.load(path)
  assert set(restored.signatures["serving_default"].structured_outputs) == {
      "labels", "probabilities"}


@pytest.mark.parametrize("outputs, tflite, message", [
    (["logits"], True, "some of"), ([], True, "some of"),
    (["labels"], False, "need tflite")])
def test_bad_tflite_outputs_are_refused_before_anything(loaded, tmp_path,
                                                        outputs, tflite,
                                                        message):
  (tmp_path / "x").mkdir()
  with pytest.raises(ValueError, match=message):
    export.export(loaded, tmp_path / "x", tflite=tflite,
                  tflite_outputs=outputs)
  assert not list((tmp_path / "x").iterdir())


def test_tflite_outputs_in_serving_order():
  assert export.checked_tflite_outputs(
      ["probabilities", "labels"], True) == export.SERVING_OUTPUTS
  assert export.checked_tflite_outputs("labels", True) == ("labels",)
  with pytest.raises(errors.FlagError, match="need tflite"):
    export.checked_tflite_outputs("labels", False)


@pytest.mark.parametrize("size, tflite, message", [
    ((257, 257), False, "needs tflite"), ((0, 257), True, "positive"),
    ((257,), True, "height, width"), (257.0, True, "integers")])
def test_bad_tflite_size_is_refused_before_anything(loaded, tmp_path, size,
                                                    tflite, message):
  # An existing directory: the size is checked before it (and before
  # anything is written).
  (tmp_path / "x").mkdir()
  with pytest.raises(ValueError, match=message):
    export.export(loaded, tmp_path / "x", tflite=tflite, tflite_size=size)
  assert not list((tmp_path / "x").iterdir())


def test_one_tflite_size_is_both():
  assert export.checked_tflite_size(257, tflite=True) == (257, 257)
  assert export.checked_tflite_size([97, np.int64(129)], True) == (97, 129)


def test_resize_in_graph_equals_the_predictor(loaded, images, tmp_path):
  small = checkpoints.Loaded(loaded.segmenter, dataclasses.replace(
      loaded.info, resize_long_side=257))
  path = export.export(small, tmp_path / "small")
  module, info = export.load(path)
  assert info.resize_long_side == 257
  eager = predictor.Predictor(export.ServingModule(small.segmenter,
                                                   small.info), small.info)
  reloaded = predictor.Predictor.from_saved_model(path)
  image = images[2]
  labels = module.serve(tf.constant(image[None]))["labels"][0].numpy()
  assert labels.shape == image.shape[:2]
  assert agreement(labels, eager.predict(image)) >= 0.999
  assert agreement(labels, reloaded.predict(image)) >= 0.999
  # Not the same as predicting at the original size.
  assert agreement(labels, keras_labels(loaded, image)) < 0.999


def test_failed_export_leaves_the_previous_one(loaded, tmp_path,
                                               monkeypatch):
  path = export.export(loaded, tmp_path / "voc")
  before = tree_bytes(path)
  with pytest.raises(FileExistsError, match="--overwrite"):
    export.export(loaded, path)

  def fail(saved_model_dir):
    assert (saved_model_dir / "saved_model.pb").exists()  # Mid-export.
    raise RuntimeError("converter crashed")

  monkeypatch.setattr(export, "convert_tflite", fail)
  with pytest.raises(RuntimeError, match="converter crashed"):
    export.export(loaded, path, tflite=True, overwrite=True)
  assert tree_bytes(path) == before
  assert [p.name for p in tmp_path.iterdir()] == ["voc"]
  with pytest.raises(ValueError, match="not a segwgan SavedModel"):
    export.load(tmp_path)


def test_native_dilations_are_marked_and_refused_where_unsupported(
    loaded, exported, tmp_path, monkeypatch):
  """The refusal and the marker, whatever this machine's TF can run (the
  tools test runs such an export for real)."""
  from segwgan.modeling import folded  # pylint: disable=g-import-not-at-top
  supported = {"value": False}
  monkeypatch.setattr(folded, "native_dilations_supported",
                      lambda: supported["value"])
  with pytest.raises(ValueError, match="--native_dilations.*oneDNN"):
    export.export(loaded, tmp_path / "refused", native_dilations=True)
  assert not (tmp_path / "refused").exists()
  supported["value"] = True
  native = export.export(loaded, tmp_path / "native", native_dilations=True)
  assert (native / export.NEEDS_ONEDNN_FILE).is_file()
  assert not (exported / export.NEEDS_ONEDNN_FILE).exists()
  export.load(native)
  supported["value"] = False
  with pytest.raises(ValueError,
                     match=re.escape(str(native)) + ".*re-export without it"):
    export.load(native)
  export.load(exported)  # A default export loads anywhere.


# Calls an export's signatures in a plain TensorFlow process; prints JSON.
_SIGNATURE_CALLS = r"""
import json, sys
import numpy as np
import tensorflow as tf
signatures = tf.saved_model.load(sys.argv[1]).signatures
image = np.load(sys.argv[2])
inputs = {
    "one image": image, "batch": image[None], "two dimensions": image[..., 0],
    "four channels": np.concatenate([image, image[..., :1]], -1)[None],
    "five dimensions": image[None, None], "empty": image[None, :0]}
results = {}
for name, value in inputs.items():
  try:
    outputs = signatures["serving_default"](images=tf.constant(value))
    results[name] = outputs["labels"].numpy().tolist()
  except tf.errors.InvalidArgumentError as error:
    results[name] = "InvalidArgumentError: " + error.message
logits = signatures["logits"](pixels=tf.constant(image, tf.float32))
results["logits of one image"] = list(logits["logits"].shape)
print(json.dumps(results))
"""


def test_serving_signature_batches_one_image_and_refuses_other_shapes(
    exported, images, tmp_path):
  """In a plain TensorFlow process (no segwgan): one image [H, W, 3] is a
  batch of one; other shapes raise InvalidArgumentError naming the input,
  and the process goes on (a oneDNN CHECK failure used to abort it)."""
  image = images[0][:40, :50]
  np.save(tmp_path / "image.npy", image)
  result = subprocess.run(
      [sys.executable, "-c", _SIGNATURE_CALLS, str(exported),
       str(tmp_path / "image.npy")], capture_output=True, text=True,
      timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  results = json.loads(result.stdout.strip().splitlines()[-1])
  assert np.shape(results["batch"]) == (1, 40, 50)
  assert results["one image"] == results["batch"]
  for name in ("two dimensions", "four channels", "five dimensions", "empty"):
    assert results[name].startswith("InvalidArgumentError"), name
    assert "images must be [batch, height, width, 3]" in results[name], name
  assert results["logits of one image"] == [1, 40, 50, 21]


def test_export_carries_class_names_and_palette(exported):
  info = json.loads((exported / export.INFO_FILE).read_text())
  assert len(info["class_names"]) == len(info["palette"]) == 21
  assert info["class_names"][15] == "person"
  assert info["palette"][15] == [192, 128, 128]
  with open(exported / export.CLASSES_FILE, newline="") as f:
    rows = list(csv.reader(f))
  assert rows[0] == ["id", "name", "red", "green", "blue"]
  assert len(rows) == 22 and rows[16] == ["15", "person", "192", "128", "128"]
  assert export.load(exported)[1].labels.class_names[15] == "person"


def test_a_corrupt_saved_model_is_a_model_error(tmp_path):
  info = checkpoints.ModelInfo("pascal_voc2012", (127.5,) * 3, (127.5,) * 3)
  (tmp_path / export.INFO_FILE).parent.mkdir(parents=True)
  (tmp_path / export.INFO_FILE).write_text(info.to_json())
  (tmp_path / "saved_model.pb").write_bytes(b"not a protobuf")
  with pytest.raises(errors.ModelError,
                     match=f"{tmp_path}: cannot load the SavedModel"):
    export.load(tmp_path)
