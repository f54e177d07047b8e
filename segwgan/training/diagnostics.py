"""What the frozen G and D do on the validation split (issue 25's checks).

`gan_validation` measures, on whole validation images at the evaluation
scale, with G and D called exactly as stage 2 calls them
(`segwgan.training.frozen`) on the one-hot ground truth Y:

* `l1`: G's reconstruction error, Eq. 4 on labelled pixels, image mean;
* `critic_rank`: the fraction of images with D(Y, I) > D(Y, G(Y));
* `separation`: the mean of D(Y, I) - D(Y, G(Y)).

G's dropout noise restarts from `NOISE_SEED` for each measurement and
G's noise state is put back afterwards, so a measurement is repeatable and
leaves training's noise stream (checkpointed, resume-exact) untouched.
"""
import json
import os
from typing import Iterable

import numpy as np
import tensorflow as tf

from segwgan import io_utils
from segwgan import losses
from segwgan.data import decode
from segwgan.data import pipeline
from segwgan.modeling import generator as generator_lib
from segwgan.training import frozen
from segwgan.training import maps

DIAGNOSTICS_FILE = "diagnostics.json"
RECONSTRUCTIONS_DIR = "reconstructions"
NOISE_SEED = 1234


def evaluation_pair(example: dict, num_classes: int, long_side: int,
                    multiple: int):
  """(Y [1,h,w,C], I [1,h,w,3] in [-1, 1], labelled [1,h,w,1]) of a raw
  example at the evaluation scale, cropped to a multiple of `multiple`
  (G's `size_multiple`; top left)."""
  image = tf.convert_to_tensor(example["image"])
  label = tf.convert_to_tensor(example["label"])
  size = pipeline.scaled_size(tf.shape(image)[:2], long_side)
  image = tf.image.resize(tf.cast(image, tf.float32), size, method="bilinear")
  label = tf.image.resize(label, size, method="nearest")
  height, width = (size // multiple * multiple).numpy()
  image = image[None, :height, :width] / 127.5 - 1.0
  masks = tf.cast(label[None, :height, :width], tf.int32)
  return (maps.ground_truth_map(masks, num_classes), image,
          tf.not_equal(masks, 255))


def _noise_states(generator):
  return [layer.noise.state.numpy() for layer in generator.noise]


def gan_validation(generator, critic, examples: Iterable[dict],
                   num_classes: int, long_side: int) -> dict:
  """{'l1', 'critic_rank', 'separation', 'images'} over `examples` (raw
  numpy examples, e.g. `registry.read_split(...).as_numpy_iterator()`)."""

  @tf.function(reduce_retracing=True)
  def measure(label_maps, images, labelled):
    fake = frozen.reconstruct(generator, label_maps)
    real_score = frozen.judge(critic, label_maps, images)
    fake_score = frozen.judge(critic, label_maps, fake)
    return (losses.content_loss(images, fake, labelled)[0], real_score[0],
            fake_score[0])

  states = _noise_states(generator)
  generator_lib.reset_noise(generator, NOISE_SEED)
  l1, real, fake = [], [], []
  try:
    for example in examples:
      values = measure(*evaluation_pair(example, num_classes, long_side,
                                        generator.size_multiple))
      for store, value in zip((l1, real, fake), values):
        store.append(float(value))
  finally:
    for layer, state in zip(generator.noise, states):
      layer.noise.state.assign(state)
  if not l1:
    raise ValueError("gan_validation: no validation images")
  real, fake = np.array(real), np.array(fake)
  return {"l1": float(np.mean(l1)),
          "critic_rank": float(np.mean(real > fake)),
          "separation": float(np.mean(real - fake)), "images": len(l1)}


def reconstruction(generator, example: dict, num_classes: int,
                   long_side: int) -> np.ndarray:
  """uint8 G(Y) of a raw example's ground truth at the evaluation scale
  (the map padded to a multiple of G's `size_multiple` with empty pixels),
  resized to the image's size."""
  label = tf.convert_to_tensor(example["label"])
  original = tf.shape(label)[:2]
  size = pipeline.scaled_size(original, long_side)
  label = tf.cast(tf.image.resize(label, size, method="nearest"), tf.int32)
  pad = (-size) % generator.size_multiple
  label = tf.pad(label - 255, [[0, pad[0]], [0, pad[1]], [0, 0]]) + 255
  image = frozen.reconstruct(
      generator, maps.ground_truth_map(label[None], num_classes))[0]
  image = tf.image.resize(image[:size[0], :size[1]], original,
                          method="bilinear")
  return tf.cast(tf.clip_by_value((image + 1.0) * 127.5, 0, 255),
                 tf.uint8).numpy()


def write_reconstructions(generator, examples: Iterable[dict], count: int,
                          num_classes: int, long_side: int,
                          model_dir: str) -> list:
  """MODEL_DIR/reconstructions/<id>.png for the first `count` of
  `examples` (raw, possibly still encoded) by sorted id; returns the ids."""
  encoded = {}
  for example in examples:
    encoded[example["id"].decode()] = example
  ids = sorted(encoded)[:count]
  states = _noise_states(generator)
  generator_lib.reset_noise(generator, NOISE_SEED)
  try:
    with io_utils.atomic_directory(
        os.path.join(model_dir, RECONSTRUCTIONS_DIR)) as tmp:
      for image_id in ids:
        example = encoded[image_id]
        if isinstance(example["image"], bytes):
          example = decode.decode_example(example)
        io_utils.atomic_write_bytes(
            tmp / f"{image_id}.png", decode.png_bytes(reconstruction(
                generator, example, num_classes, long_side)))
  finally:
    for layer, state in zip(generator.noise, states):
      layer.noise.state.assign(state)
  return ids


def write_stage2_diagnostics(model_dir: str, grad_share_sums, samples: int,
                             validation: dict) -> dict:
  """MODEL_DIR/diagnostics.json: the run's mean grad shares (None if none
  was sampled) and the frozen D's critic_rank on the validation split."""
  sums = np.asarray(grad_share_sums, np.float64)
  means = [float(x) / samples if samples else None for x in sums]
  result = {"grad_share": {"content": means[0], "adversarial": means[1]},
            "grad_share_samples": int(samples),
            "critic_rank": validation["critic_rank"],
            "critic_rank_images": validation["images"]}
  io_utils.atomic_write_text(os.path.join(model_dir, DIAGNOSTICS_FILE),
                             json.dumps(result, indent=2))
  return result
