"""SavedModel (and TFLite) export: uint8 images of any size in, labels out.

Signatures of an export:

* ``serving_default``: ``images`` uint8 [B, H, W, 3] of any size (or one
  image [H, W, 3]: B = 1) -> ``labels`` int32 [B, H, W] and
  ``probabilities`` float32 [B, H, W, C]. Any other shape raises
  InvalidArgumentError before the model runs (`batched`).
  The input normalisation, and the model's evaluation resize
  (`ModelInfo.resize_long_side`: the long side resized, predictions resized
  back bilinearly), are inside the graph.
* ``logits``: ``pixels`` float32 [B, H, W, 3] (or [H, W, 3]) on the
  [0, 255] scale -> ``logits`` float32 [B, H, W, C] at the input size,
  without any resize: what evaluation and test-time augmentation call.

``assets.extra/segwgan.json`` holds the `ModelInfo` (dataset, normalisation,
resize, and the class names and palette), ``assets.extra/classes.csv`` the
classes again for any reader (``id,name,red,green,blue``, one row per
class id), ``assets.extra/needs_onednn`` marks an export with native
dilations (see below), and ``model.tflite`` the optional TFLite conversion of
``serving_default`` (float32, builtin ops only, so XNNPACK runs all of it;
batch 1 of any size after `resize_tensor_input`, or of one size:
`tflite_size`; both outputs, or `tflite_outputs`). An export is written to a
temporary directory and renamed when complete.

The segmenter runs as its `modeling.folded.FoldedSegmenter` copy: a frozen
graph (weights as constants, so an export holds no variables) whose batch
norms are folded into the convolutions before them and, for TFLite (or by
request), a dilated depthwise convolution as one op with dilations (Keras'
SpaceToBatchND / conv / BatchToSpaceND with run-time paddings split
XNNPACK's graph in 24 pieces).
"""
import csv
import io
import numbers
import pathlib
import tempfile

import tensorflow as tf

from segwgan import errors
from segwgan import io_utils
from segwgan import labels
from segwgan.data import pipeline
from segwgan.modeling import folded
from segwgan.serving import checkpoints

INFO_FILE = "assets.extra/segwgan.json"
CLASSES_FILE = "assets.extra/classes.csv"
NEEDS_ONEDNN_FILE = "assets.extra/needs_onednn"
TFLITE_FILE = "model.tflite"
SERVING_KEY = "serving_default"
LOGITS_KEY = "logits"
SERVING_OUTPUTS = ("labels", "probabilities")
# For inference only: custom gradients (e.g. of the ResNet's swish, which
# capture the frozen graph's constants and then cannot be saved) are left
# out.
_SAVE_OPTIONS = tf.saved_model.SaveOptions(experimental_custom_gradients=False)


class ServingModule(tf.Module):
  """A segmenter with normalisation, resize, softmax and argmax around it.

  The segmenter runs as its folded copy (`folded.FoldedSegmenter`): later
  changes of its weights do not show. `native_dilations` makes dilated
  depthwise convolutions one op each (see `folded`): what TFLite runs, and
  faster in TF, but only with TF's oneDNN ops on
  (`folded.native_dilations_supported`).
  """

  def __init__(self, segmenter, info: checkpoints.ModelInfo,
               native_dilations: bool = False):
    super().__init__()
    self.info = info
    self._segmenter = folded.FoldedSegmenter(
        segmenter, dilations_as_one_op=native_dilations)
    self._mean = tf.constant(info.mean, tf.float32)
    self._stddev = tf.constant(info.stddev, tf.float32)

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None, 3], tf.float32, name="pixels")])
  def logits(self, pixels):
    """float32 logits [B, H, W, C] of pixels on the [0, 255] scale."""
    return self._segmenter((pixels - self._mean) / self._stddev)

  @tf.function(input_signature=[
      tf.TensorSpec(None, tf.float32, name="pixels")])
  def logits_signature(self, pixels):
    return {"logits": self.logits(batched(pixels, "pixels"))}

  @tf.function(input_signature=[tf.TensorSpec(None, tf.uint8, name="images")])
  def serve(self, images):
    """{'labels': int32 [B, H, W], 'probabilities': float32 [B, H, W, C]}
    of images [B, H, W, 3] or one image [H, W, 3] (B = 1); anything else
    raises InvalidArgumentError before the model runs."""
    return self._serve(batched(images, "images"))

  def serving_function(self, size=None, outputs=SERVING_OUTPUTS):
    """A new tf.function: `serve` with only `outputs`, for [1, height,
    width, 3] images only if `size` is (height, width) (static shapes)."""
    shape = [None, None, None, 3] if size is None else [1, *size, 3]
    return tf.function(lambda images: self._serve(images, outputs),
                       input_signature=[tf.TensorSpec(shape, tf.uint8,
                                                      name="images")])

  def _serve(self, images, outputs=SERVING_OUTPUTS):
    pixels = tf.cast(images, tf.float32)
    size = tf.shape(images)[1:3]
    if self.info.resize_long_side > 0:
      pixels = tf.image.resize(
          pixels, pipeline.scaled_size(size, self.info.resize_long_side),
          method="bilinear")
    logits = self.logits(pixels)
    if self.info.resize_long_side > 0:
      logits = tf.image.resize(logits, size, method="bilinear")
    results = {}
    if "labels" in outputs:
      results["labels"] = tf.argmax(logits, axis=-1, output_type=tf.int32)
    if "probabilities" in outputs:
      results["probabilities"] = tf.nn.softmax(logits)
    return results

  def signatures(self) -> dict:
    return {SERVING_KEY: self.serve.get_concrete_function(),
            LOGITS_KEY: self.logits_signature.get_concrete_function()}


def batched(images, name: str):
  """`images` [B, H, W, 3] as they are, one image [H, W, 3] as a batch of
  one; for any other shape, or no pixel, an InvalidArgumentError naming
  `name` before anything runs on them (a kernel given another rank may
  abort the process: oneDNN's convolutions do)."""
  images = tf.cond(tf.equal(tf.rank(images), 3), lambda: images[None],
                   lambda: images)
  shape = tf.shape(images)
  padded = tf.concat([shape, tf.zeros([4], tf.int32)], 0)[:4]
  valid = tf.logical_and(
      tf.equal(tf.size(shape), 4),
      tf.logical_and(tf.equal(padded[3], 3), tf.reduce_min(padded[:3]) > 0))
  check = tf.debugging.Assert(valid, [
      f"{name} must be [batch, height, width, 3] or one image [height, "
      "width, 3], at least 1x1; got shape", shape])
  with tf.control_dependencies([check]):
    return tf.ensure_shape(tf.identity(images), [None, None, None, 3])


def convert_tflite(saved_model_dir) -> bytes:
  """The float32 TFLite flatbuffer of an export's serving signature."""
  converter = tf.lite.TFLiteConverter.from_saved_model(
      str(saved_model_dir), signature_keys=[SERVING_KEY])
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
  return converter.convert()


def check_native_dilations() -> None:
  """Raises ValueError if this TF cannot run `native_dilations` exports."""
  if not folded.native_dilations_supported():
    raise errors.FlagError(f"--native_dilations: {folded.ONEDNN_HINT}; "
                           "the default export runs anywhere")


def export(loaded: checkpoints.Loaded, export_dir, *, tflite: bool = False,
           tflite_size=None, tflite_outputs=SERVING_OUTPUTS,
           native_dilations: bool = False,
           overwrite: bool = False) -> pathlib.Path:
  """Writes the SavedModel (+ model.tflite) of `loaded` to `export_dir`.

  `tflite_size`: (height, width), or one int for both, of model.tflite's
  only input size, batch 1 (static shapes: faster, as mobile models are);
  default any size.
  `tflite_outputs`: model.tflite's outputs, of `SERVING_OUTPUTS`; labels
  alone skip the softmax over every pixel (0.95 of the Google file's time
  at 257x257 on an AMD Zen 4, against 1.12 with probabilities).
  `native_dilations`: the SavedModel's dilated depthwise convolutions as
  one op each (faster; for inference only; runs only with TF's oneDNN ops
  on, see `folded.ONEDNN_HINT`); model.tflite always has them so.

  Raises:
    FileExistsError: `export_dir` exists and not `overwrite`. The previous
      export stays in place until the new one is complete, and a failed
      export leaves it untouched.
    ValueError: `native_dilations` where this TF cannot run them, or a
      `tflite_size` without `tflite` or not two positive sizes, or
      `tflite_outputs` not of `SERVING_OUTPUTS` (or without `tflite`).
  """
  export_dir = pathlib.Path(export_dir)
  if tflite_size is not None:
    tflite_size = checked_tflite_size(tflite_size, tflite)
  tflite_outputs = checked_tflite_outputs(tflite_outputs, tflite)
  check_export_dir(export_dir, overwrite)
  if native_dilations:
    check_native_dilations()
  module = ServingModule(loaded.segmenter, loaded.info, native_dilations)
  with io_utils.atomic_directory(export_dir) as tmp:
    tf.saved_model.save(module, str(tmp), signatures=module.signatures(),
                        options=_SAVE_OPTIONS)
    info_path = tmp / INFO_FILE
    info_path.parent.mkdir(parents=True, exist_ok=True)
    info_path.write_text(loaded.info.to_json())
    (tmp / CLASSES_FILE).write_text(classes_csv(loaded.info.labels))
    if native_dilations:
      (tmp / NEEDS_ONEDNN_FILE).write_text(
          "exported with --native_dilations: runs only with TensorFlow's "
          "oneDNN ops\n")
    if tflite:
      (tmp / TFLITE_FILE).write_bytes(_tflite(loaded, tflite_size,
                                              tflite_outputs))
  return export_dir


def check_export_dir(export_dir, overwrite: bool) -> None:
  """FileExistsError if `export_dir` exists and not `overwrite`."""
  if pathlib.Path(export_dir).exists() and not overwrite:
    raise FileExistsError(f"{export_dir} already exists (use --overwrite to "
                          "replace it)")


def classes_csv(info: labels.DatasetInfo) -> str:
  """``id,name,red,green,blue`` rows of a dataset's classes."""
  text = io.StringIO()
  writer = csv.writer(text, lineterminator="\n")
  writer.writerow(["id", "name", "red", "green", "blue"])
  for i, (name, colour) in enumerate(zip(info.class_names, info.colours)):
    writer.writerow([i, name, *colour])
  return text.getvalue()


def checked_tflite_size(size, tflite: bool) -> tuple:
  """`size` as (height, width); ValueError unless both are positive ints
  (one int: both) and `tflite`."""
  if not tflite:
    raise ValueError("tflite_size is the size of model.tflite's input: it "
                     "needs tflite=True")
  if isinstance(size, numbers.Integral):
    size = (size, size)
  size = tuple(size) if isinstance(size, (tuple, list)) else (size,)
  if (len(size) != 2 or
      not all(isinstance(n, numbers.Integral) for n in size) or
      min(size) < 1):
    raise ValueError("tflite_size must be (height, width) or one size, "
                     f"positive integers; got {size}")
  return tuple(int(n) for n in size)


def checked_tflite_outputs(outputs, tflite: bool) -> tuple:
  """`outputs` as a tuple in `SERVING_OUTPUTS` order; a FlagError if empty,
  not of them, or other than both without `tflite`."""
  outputs = (outputs,) if isinstance(outputs, str) else tuple(outputs)
  unknown = [name for name in outputs if name not in SERVING_OUTPUTS]
  if unknown or not outputs:
    raise errors.FlagError(f"tflite_outputs must be some of "
                           f"{list(SERVING_OUTPUTS)}, got {list(outputs)}")
  outputs = tuple(name for name in SERVING_OUTPUTS if name in outputs)
  if outputs != SERVING_OUTPUTS and not tflite:
    raise errors.FlagError("tflite_outputs are model.tflite's outputs: they "
                           "need tflite=True")
  return outputs


def _tflite(loaded: checkpoints.Loaded, size=None,
            outputs=SERVING_OUTPUTS) -> bytes:
  """`convert_tflite` of a staging SavedModel traced for TFLite."""
  module = ServingModule(loaded.segmenter, loaded.info, native_dilations=True)
  serve = module.serving_function(size, outputs)
  with tempfile.TemporaryDirectory(prefix="segwgan_tflite_") as staging:
    tf.saved_model.save(module, staging, options=_SAVE_OPTIONS, signatures={
        SERVING_KEY: serve.get_concrete_function()})
    return convert_tflite(pathlib.Path(staging))


def load(export_dir):
  """(the restored module, its ModelInfo) of an export.

  The module's ``serve(images)`` and ``logits(pixels)`` are the signatures'
  functions.

  Raises:
    ValueError: `export_dir` is not a segwgan export, or one with native
      dilations where this TF cannot run them.
  """
  export_dir = pathlib.Path(export_dir)
  info_path = export_dir / INFO_FILE
  if not (export_dir / "saved_model.pb").is_file() or not info_path.is_file():
    raise errors.ModelError(f"{export_dir} is not a segwgan SavedModel "
                            f"export (needs saved_model.pb and {INFO_FILE})")
  if ((export_dir / NEEDS_ONEDNN_FILE).is_file() and
      not folded.native_dilations_supported()):
    raise errors.ModelError(f"{export_dir} was exported with "
                            "--native_dilations (re-export without it to run "
                            f"here): {folded.ONEDNN_HINT}")
  info = checkpoints.ModelInfo.from_json(info_path.read_text())
  try:
    return tf.saved_model.load(str(export_dir)), info
  except (OSError, tf.errors.OpError) as e:
    raise errors.ModelError(f"{export_dir}: cannot load the SavedModel "
                            f"({e})") from None
