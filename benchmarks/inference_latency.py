"""Measure 6: exported SavedModel latency / TFLite-XNNPACK latency.

The model is DeepLabv3 MobileNetV2 width 0.5 (VOC, 21 classes): Google's
float TFLite file `deeplabv3_257_mv_gpu.tflite` in ../shared/weights, and the
same weights converted to our checkpoint (`checkpoints/tf_deeplab_mnv2_dm05_os8`,
converted now if absent) and exported with `segwgan.serving.export` (+
`--tflite`). One real VOC image resized to 257x257, batch 1, 2 threads for
both runtimes (TF intra-op threads = 2; `tf.lite.Interpreter(num_threads=2)`,
whose default delegate for float models is XNNPACK).

Sides (each a call on the same image, timed interleaved, medians):
  google tflite        the Google file: normalised pixels -> logits 257x257x21
  savedmodel logits    our export's `logits` signature: pixels -> logits at
                       the input size (the same work as the Google file plus
                       the in-graph normalisation)
  savedmodel serving   `serving_default`: uint8 -> labels + probabilities
  savedmodel native    `logits` of an export with `native_dilations`
                       (oneDNN-only dilated depthwise convolutions; left
                       out where TF's oneDNN ops are off)
  our tflite (export)  the export's model.tflite (serving_default), any size
  our tflite (export, 257x257)  the same exported with `--tflite_size=257`
                       (static shapes, like the Google file)
  our tflite (export, 257x257, labels only)  the same with
                       `--tflite_outputs=labels` (no probabilities)
  our tflite logits    our `logits` signature converted to TFLite the same way

Every SavedModel side runs the segmenter's folded copy
(`modeling.folded`), as the export does; `batch_norm_fold.py` times it
against no fold.

With `--candidates`, three TFLite conversions not adopted
(benchmarks/RESULTS.md):
  our tflite, google's work   normalised pixels -> logits: exactly the
                              Google file's work
  ..., 257x257 only           the same for one input size (static shapes,
                              like the Google file)
  our tflite, int8 weights    the export with dynamic-range quantisation
                              (`tf.lite.Optimize.DEFAULT`)

  .venv/bin/python benchmarks/inference_latency.py [--candidates]

Final lines: `inference_savedmodel_vs_tflite ratio=X target=<=1.2`
(savedmodel logits / google tflite) and `inference_our_tflite_vs_google
ratio=X target=<=1.0` (our tflite (export) / google tflite), then
`inference_our_tflite_257_vs_google ratio=X target=<=1.0` (our tflite
(export, 257x257) / google tflite: both of one size) and
`inference_our_tflite_257_labels_vs_google ratio=X target=<=1.0` (the
labels-only one: the Google file's work plus uint8 input, normalisation
and argmax, without the probabilities).
"""
import argparse
import dataclasses
import pathlib
import tempfile

import timing  # pylint: disable=g-bad-import-order

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top
from PIL import Image  # pylint: disable=g-import-not-at-top

from segwgan.modeling import folded  # pylint: disable=g-import-not-at-top
from segwgan.serving import checkpoints  # pylint: disable=g-import-not-at-top
from segwgan.serving import export  # pylint: disable=g-import-not-at-top

SIZE = 257
THREADS = 2
CALLS_PER_REP = 10
IMAGE = (timing.SHARED / "data" / "pascal_voc2012" / "VOCdevkit" / "VOC2012" /
         "JPEGImages" / "2007_000363.jpg")


def interpreter(path_or_content, input_shape=None):
  kwargs = ({"model_path": str(path_or_content)}
            if isinstance(path_or_content, (str, pathlib.Path))
            else {"model_content": path_or_content})
  interp = tf.lite.Interpreter(num_threads=THREADS, **kwargs)
  if input_shape is not None:
    interp.resize_tensor_input(interp.get_input_details()[0]["index"],
                               input_shape)
  interp.allocate_tensors()
  return interp


def tflite_call(interp, value):
  inp = interp.get_input_details()[0]
  outputs = interp.get_output_details()

  def call():
    interp.set_tensor(inp["index"], value.astype(inp["dtype"]))
    interp.invoke()
    return [interp.get_tensor(o["index"]) for o in outputs]

  return call


def repeated(call, n=CALLS_PER_REP):
  def run():
    for _ in range(n):
      call()
  return run


class _FixedSizeLogits(tf.Module):
  """A ServingModule's logits for [1, SIZE, SIZE, 3] pixels only."""

  def __init__(self, module):
    super().__init__()
    self.module = module

  @tf.function(input_signature=[
      tf.TensorSpec([1, SIZE, SIZE, 3], tf.float32, name="pixels")])
  def logits(self, pixels):
    return {"logits": self.module.logits(pixels)}


def _tflite_of(module, function, optimize=False) -> bytes:
  """TFLite flatbuffer of `function` (a tf.function of `module`)."""
  staging = pathlib.Path(tempfile.mkdtemp()) / "staging"
  tf.saved_model.save(module, str(staging), signatures={
      export.SERVING_KEY: function.get_concrete_function()})
  if not optimize:
    return export.convert_tflite(staging)
  converter = tf.lite.TFLiteConverter.from_saved_model(
      str(staging), signature_keys=[export.SERVING_KEY])
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
  converter.optimizations = [tf.lite.Optimize.DEFAULT]
  return converter.convert()


def candidates(loaded, image, normalised) -> dict:
  """The `--candidates` sides: {name: call}."""
  shape = [1, SIZE, SIZE, 3]
  tflite = export.ServingModule(loaded.segmenter, loaded.info,
                                native_dilations=True)
  unnormalised = export.ServingModule(
      loaded.segmenter, dataclasses.replace(
          loaded.info, mean=(0.0, 0.0, 0.0), stddev=(1.0, 1.0, 1.0)),
      native_dilations=True)
  fixed_size = _FixedSizeLogits(unnormalised)
  return {
      "our tflite, google's work": tflite_call(interpreter(
          _tflite_of(unnormalised, unnormalised.logits_signature), shape),
          normalised),
      "our tflite, google's work, 257x257 only": tflite_call(interpreter(
          _tflite_of(fixed_size, fixed_size.logits)), normalised),
      "our tflite, int8 weights": tflite_call(interpreter(
          _tflite_of(tflite, tflite.serve, optimize=True), shape), image)}


def labels_of(outputs):
  """Labels from a side's outputs (its int32 output, else argmax)."""
  ints = [o for o in outputs if o.dtype == np.int32]
  return ints[0][0] if ints else np.argmax(outputs[0][0], -1)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--candidates", action="store_true",
                      help="also time the TFLite exports not adopted")
  parser.add_argument("--profile", action="store_true",
                      help="also print the SavedModel's op time by type")
  args = parser.parse_args()
  with tempfile.TemporaryDirectory(prefix="inference_latency_") as scratch:
    tempfile.tempdir = scratch  # The exports below: removed at exit.
    try:
      run(args)
    finally:
      tempfile.tempdir = None


def run(args):
  timing.banner("inference_latency")
  tf.config.threading.set_intra_op_parallelism_threads(THREADS)
  tf.config.threading.set_inter_op_parallelism_threads(THREADS)
  image = np.array(Image.open(IMAGE).convert("RGB").resize(
      (SIZE, SIZE), Image.BILINEAR), np.uint8)[None]
  pixels = image.astype(np.float32)
  normalised = pixels / 127.5 - 1.0

  checkpoint = timing.converted_dm05_checkpoint()
  loaded = checkpoints.load(checkpoint, dataset="pascal_voc2012")
  assert loaded.info.resize_long_side == 0, loaded.info
  export_dir = pathlib.Path(tempfile.mkdtemp()) / "export"
  export.export(loaded, export_dir, tflite=True)
  module, _ = export.load(export_dir)
  fixed_dir = export.export(loaded, export_dir.with_name("fixed"), tflite=True,
                            tflite_size=(SIZE, SIZE))
  labels_dir = export.export(loaded, export_dir.with_name("labels"),
                             tflite=True, tflite_size=(SIZE, SIZE),
                             tflite_outputs=["labels"])
  pixels_t, image_t = tf.constant(pixels), tf.constant(image)
  native_sides = {}
  if folded.native_dilations_supported():
    native, _ = export.load(export.export(
        loaded, pathlib.Path(tempfile.mkdtemp()) / "native",
        native_dilations=True))
    native_sides["savedmodel native"] = lambda: native.logits(pixels_t).numpy()
  else:
    print(f"  no 'savedmodel native' side: {folded.ONEDNN_HINT}")
  # The `logits` signature traced for TFLite like the export's model.tflite
  # (without the uint8 cast, resize-back, softmax and argmax).
  tflite_module = export.ServingModule(loaded.segmenter, loaded.info,
                                       native_dilations=True)
  staging = pathlib.Path(tempfile.mkdtemp()) / "logits"
  tf.saved_model.save(tflite_module, str(staging), signatures={
      export.SERVING_KEY: tflite_module.logits_signature.get_concrete_function()})
  logits_tflite = export.convert_tflite(staging)

  google = interpreter(timing.DM05_TFLITE)
  ours = interpreter(export_dir / export.TFLITE_FILE, [1, SIZE, SIZE, 3])
  ours_fixed = interpreter(fixed_dir / export.TFLITE_FILE)
  ours_logits = interpreter(logits_tflite, [1, SIZE, SIZE, 3])
  calls = {
      "google tflite": tflite_call(google, normalised),
      "savedmodel logits": lambda: module.logits(pixels_t).numpy(),
      "savedmodel serving": lambda: module.serve(image_t)["labels"].numpy(),
      "our tflite (export)": tflite_call(ours, image),
      "our tflite (export, 257x257)": tflite_call(ours_fixed, image),
      "our tflite (export, 257x257, labels only)": tflite_call(
          interpreter(labels_dir / export.TFLITE_FILE), image),
      "our tflite logits": tflite_call(ours_logits, pixels),
      **native_sides,
      **(candidates(loaded, image, normalised) if args.candidates else {}),
  }
  # The same predictions (sanity): labels of each side against Google's.
  reference = labels_of(calls["google tflite"]())
  agreement = {
      "savedmodel logits": np.argmax(module.logits(pixels_t).numpy()[0], -1),
      **{name: np.argmax(call()[0], -1) for name, call in native_sides.items()},
      **{name: labels_of(call()) for name, call in calls.items()
         if "tflite" in name and name != "google tflite"}}
  for name, labels in agreement.items():
    print(f"  {name}: {np.mean(labels == reference):.4f} of pixels agree "
          "with the Google file's argmax")
  for name, interp in (("google", google), ("ours", ours),
                       ("ours, 257x257", ours_fixed)):
    print(f"  {name} tflite ops: {len(interp._get_ops_details())}")  # pylint: disable=protected-access

  times = timing.interleaved({k: repeated(v) for k, v in calls.items()},
                             reps=40, warmup=2, budget_s=300)
  timing.report(times, unit="ms", scale=1000.0 / CALLS_PER_REP,
                per="image")
  saved = timing.ratio_of(times, "savedmodel logits", "google tflite")
  timing.ratio_of(times, "savedmodel serving", "google tflite")
  for name in native_sides:
    timing.ratio_of(times, name, "google tflite")
    timing.ratio_of(times, name, "savedmodel logits")
  ours_ratio = timing.ratio_of(times, "our tflite (export)", "google tflite")
  fixed_ratio = timing.ratio_of(times, "our tflite (export, 257x257)",
                                "google tflite")
  labels_ratio = timing.ratio_of(
      times, "our tflite (export, 257x257, labels only)", "google tflite")
  timing.ratio_of(times, "our tflite logits", "google tflite")
  for name in calls:
    if name.startswith("our tflite, "):
      timing.ratio_of(times, name, "google tflite")
  if args.profile:
    timing.print_op_times("savedmodel logits, 10 images",
                          timing.op_time_by_type(
                              repeated(calls["savedmodel logits"]), 3, 14))
  print(f"   ({timing.load()} at end)")
  print(f"inference_savedmodel_vs_tflite ratio={saved:.3f} target=<=1.2")
  print(f"inference_our_tflite_vs_google ratio={ours_ratio:.3f} "
        "target=<=1.0")
  print(f"inference_our_tflite_257_vs_google ratio={fixed_ratio:.3f} "
        "target=<=1.0")
  print("inference_our_tflite_257_labels_vs_google "
        f"ratio={labels_ratio:.3f} target=<=1.0", flush=True)


if __name__ == "__main__":
  main()
