"""Evaluation inference with the fused kernels / with Keras' own kernels.

`inference.make_batch_predict_fn` (what `inference.evaluate`, the
validation during training, runs on plain whole-image evaluation) traces
the segmenter under
`modeling.fused_inference.inference_kernels`: batch norm folded into the
convolution before it, ReLU6 as min(ReLU, 6) (one op with oneDNN on an
AVX-512 CPU: `relu6_as_minimum`), the ASPP's pooled branch as a bias. The
other side traces the same function with Keras' own kernels: since
2026-12-02 the stage-2 experiments' plain batch norm (TF's fused op;
before, the Model Garden's synchronized batch norm, element-wise ops,
against which the figures in RESULTS.md were measured). Same segmenter
(fresh weights: time does not depend on them), same real CMP Facades validation batches of the
stage-2 experiment's validation pipeline at its evaluation batch size (1),
interleaved. (`tools/evaluate.py` and the reports predict through
`serving.export.ServingModule`, with the same kernels: see
inference_latency.py.)

  .venv/bin/python benchmarks/evaluation_speed.py [--sizes=cpu,paper]

Final lines: `evaluation_fused_vs_keras_<size> ratio=X target=<1` (fused /
Keras time; below 1 is faster).
"""
import argparse

import timing  # pylint: disable=g-bad-import-order

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

import steps  # pylint: disable=g-import-not-at-top
from segwgan.evaluation import inference  # pylint: disable=g-import-not-at-top
from segwgan.modeling import fused_inference  # pylint: disable=g-import-not-at-top
from segwgan.modeling import segmenter as segmenter_lib  # pylint: disable=g-import-not-at-top

BATCHES = {"cpu": (1, 8), "paper": (1, 2)}  # (images per batch, batches)


def measure(size: str) -> float:
  _, stage2 = steps.configs(size, {})
  batch, n_batches = BATCHES[size]
  data = stage2.task.validation_data.replace(global_batch_size=batch)
  batches = timing.cmp_batches(data, n_batches)
  segmenter = segmenter_lib.build_segmenter(stage2.task.model)
  fused = inference.make_batch_predict_fn(segmenter)
  with timing.keras_kernels():
    keras = inference.make_batch_predict_fn(segmenter)
    for features, labels in batches:  # Traced now, with Keras' kernels.
      keras(features["image"], labels["image_info"])
  agree = np.mean([
      np.mean(fused(features["image"], labels["image_info"]).numpy() ==
              keras(features["image"], labels["image_info"]).numpy())
      for features, labels in batches])
  print(f"  {size}: {stage2.task.model.backbone.type}, {n_batches} batches "
        f"of {batch} images {tuple(batches[0][0]['image'].shape[1:3])}; "
        f"labels agree on {agree:.5f} of pixels")

  def side(function):
    def call():
      for features, labels in batches:
        function(features["image"], labels["image_info"]).numpy()
    return call

  times = timing.interleaved({f"{size} fused": side(fused),
                              f"{size} keras": side(keras)},
                             reps=10 if size == "cpu" else 4, warmup=1,
                             budget_s=200)
  timing.report(times, unit="s", scale=1.0 / (batch * n_batches),
                per="image")
  return timing.ratio_of(times, f"{size} fused", f"{size} keras")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="cpu,paper")
  args = parser.parse_args()
  timing.banner("evaluation_speed")
  ratios = {size: measure(size) for size in args.sizes.split(",")}
  print(f"   ({timing.load()} at end)")
  for size, ratio in ratios.items():
    print(f"evaluation_fused_vs_keras_{size} ratio={ratio:.3f} target=<1")


if __name__ == "__main__":
  main()
