"""The Predictor's TFLite backend against Google's TFLite DeepLab.

Google's float file `deeplabv3_257_mv_gpu.tflite` (DeepLabv3 MobileNetV2
0.5, VOC) and the same weights converted to our checkpoint and exported
with a 257x257 labels-only model.tflite (`tflite_size=257`,
`tflite_outputs=labels`), run by `Predictor.from_saved_model(...,
backend="tflite")`: `predict(image)` on a uint8 image (normalisation and
argmax inside the model, the Predictor's checks and copies around it),
against the Google file's `invoke` on normalised pixels giving logits
(set_tensor, invoke, get_tensor). One real VOC image resized to 257x257,
batch 1, 2 threads each (XNNPACK), interleaved, 10 images per rep.

  .venv/bin/python benchmarks/predictor_tflite.py

Final line: `inference_predictor_tflite_vs_google ratio=X target=<=1.1`.
"""
import pathlib
import tempfile
import warnings

import timing  # pylint: disable=g-bad-import-order

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top
from PIL import Image  # pylint: disable=g-import-not-at-top

from segwgan.serving import checkpoints  # pylint: disable=g-import-not-at-top
from segwgan.serving import export  # pylint: disable=g-import-not-at-top
from segwgan.serving import predictor  # pylint: disable=g-import-not-at-top

SIZE = 257
THREADS = 2
CALLS_PER_REP = 10
IMAGE = (timing.SHARED / "data" / "pascal_voc2012" / "VOCdevkit" / "VOC2012" /
         "JPEGImages" / "2007_000033.jpg")


def google_call(normalised):
  with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation.
    warnings.simplefilter("ignore")
    interpreter = tf.lite.Interpreter(model_path=str(timing.DM05_TFLITE),
                                      num_threads=THREADS)
  interpreter.allocate_tensors()
  inp = interpreter.get_input_details()[0]["index"]
  out = interpreter.get_output_details()[0]["index"]

  def call():
    interpreter.set_tensor(inp, normalised)
    interpreter.invoke()
    return interpreter.get_tensor(out)[0]

  return call


def main():
  timing.banner("predictor_tflite")
  image = np.array(Image.open(IMAGE).convert("RGB").resize(
      (SIZE, SIZE), Image.BILINEAR), np.uint8)
  normalised = (image[None].astype(np.float32) / 127.5 - 1.0)
  loaded = checkpoints.load(timing.converted_dm05_checkpoint(),
                            dataset="pascal_voc2012")
  with tempfile.TemporaryDirectory(prefix="predictor_tflite_") as scratch:
    export_dir = export.export(loaded, pathlib.Path(scratch) / "export",
                               tflite=True, tflite_size=SIZE,
                               tflite_outputs=["labels"])
    ours = predictor.Predictor.from_saved_model(export_dir, backend="tflite",
                                                threads=THREADS)
    google = google_call(normalised)
    agree = np.mean(ours.predict(image) == np.argmax(google(), -1))
    print(f"  labels agree with the Google file's argmax on {agree:.4f} of "
          "pixels")

    def repeated(call):
      def run():
        for _ in range(CALLS_PER_REP):
          call()
      return run

    times = timing.interleaved(
        {"predictor tflite (257x257, labels)":
             repeated(lambda: ours.predict(image)),
         "google tflite": repeated(google)},
        reps=40, warmup=2, budget_s=60)
  timing.report(times, unit="ms", scale=1000.0 / CALLS_PER_REP, per="image")
  ratio = timing.ratio_of(times, "predictor tflite (257x257, labels)",
                          "google tflite")
  timing.final("inference_predictor_tflite_vs_google", ratio, "<=1.1")


if __name__ == "__main__":
  main()
