"""The folded copy of a segmenter (`modeling.folded`) against no fold.

Three sides, timed interleaved in one run, on the converted Google
DeepLabv3 MobileNetV2 0.5 (VOC) and real VOC images at their own size,
batch 1, 2 threads:

  folded      a `FoldedSegmenter`: the frozen graph with its batch norms
              folded into the convolutions (what exports, and so the
              Predictor, `tools/evaluate.py` and the reports, run)
  unfolded    the same frozen graph, batch norms left as they are
              (`timing.unfolded_copies`)
  keras       the Keras model itself in a tf.function of any image size
              (what validation during training ran until it, too, built
              a folded copy at each validation; the build time is
              printed)

The converted model's batch norms are identities with a bias: time does
not depend on the values.

  .venv/bin/python benchmarks/batch_norm_fold.py

Final lines: `batch_norm_fold_export ratio=X target=<1` (folded / unfolded)
and `batch_norm_fold_vs_keras ratio=X target=<1` (folded / keras, the build
not counted).
"""
import time

import timing  # pylint: disable=g-bad-import-order

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top
from PIL import Image  # pylint: disable=g-import-not-at-top

from segwgan.modeling import folded  # pylint: disable=g-import-not-at-top
from segwgan.serving import checkpoints  # pylint: disable=g-import-not-at-top

THREADS = 2
IMAGES = ("2007_000033", "2007_000042", "2007_000123", "2007_000241")


def voc_images():
  folder = (timing.SHARED / "data" / "pascal_voc2012" / "VOCdevkit" /
            "VOC2012" / "JPEGImages")
  return [np.asarray(Image.open(folder / f"{name}.jpg").convert("RGB"),
                     np.float32)[None] for name in IMAGES]


def sides(segmenter) -> dict:
  """{name: images -> logits} of the sides above."""
  start = time.perf_counter()
  copy = folded.FoldedSegmenter(segmenter)
  print(f"  FoldedSegmenter built in {time.perf_counter() - start:.2f} s")
  with timing.unfolded_copies():
    unfolded = folded.FoldedSegmenter(segmenter)
  keras = tf.function(lambda x: segmenter(x, training=False),
                      reduce_retracing=True)
  return {"folded": copy, "unfolded": unfolded, "keras": keras}


def main():
  timing.banner("batch_norm_fold")
  tf.config.threading.set_intra_op_parallelism_threads(THREADS)
  tf.config.threading.set_inter_op_parallelism_threads(THREADS)
  segmenter = checkpoints.load(timing.converted_dm05_checkpoint(),
                               dataset="pascal_voc2012").segmenter
  images = [tf.constant((image - 127.5) / 127.5) for image in voc_images()]
  functions = sides(segmenter)
  reference = [functions["keras"](x).numpy() for x in images]
  for name, function in functions.items():
    outputs = [function(x).numpy() for x in images]
    error = max(np.abs(o - r).max() for o, r in zip(outputs, reference))
    agree = np.mean([np.mean(o.argmax(-1) == r.argmax(-1))
                     for o, r in zip(outputs, reference)])
    print(f"  {name}: labels agree with Keras' on {agree:.5f} of pixels, "
          f"logits within {error:.2e}")

  def each_image(function):
    def run():
      for image in images:
        function(image).numpy()
    return run

  times = timing.interleaved(
      {name: each_image(f) for name, f in functions.items()},
      reps=20, warmup=2, budget_s=120)
  timing.report(times, unit="ms", scale=1000.0 / len(images), per="image")
  export_ratio = timing.ratio_of(times, "folded", "unfolded")
  keras_ratio = timing.ratio_of(times, "folded", "keras")
  print(f"   ({timing.load()} at end)")
  print(f"batch_norm_fold_export ratio={export_ratio:.3f} target=<1")
  print(f"batch_norm_fold_vs_keras ratio={keras_ratio:.3f} target=<1",
        flush=True)


if __name__ == "__main__":
  main()
