"""The one tf.data pipeline: raw examples -> augmented, normalised batches.

Input elements (from `registry.load_raw`): ``{'image': uint8 [H,W,3],
'label': uint8 [H,W,1], 'id': string}``, or the same with 'image' and 'label'
still encoded (``load_raw(..., decoded=False)``): those are decoded after
shuffling and resume-skipping, so a resumed run does not decode the images
it skips.

Output elements are ``(features, labels)`` in the Model Garden's layout, so its
segmentation losses and metrics apply unchanged:

* ``features['image']``: float, normalised for the segmenter with the
  config's ``image_feature.mean/stddev``;
* ``features['image_gan']``: the same pixels scaled to [-1, 1] for G and D;
* ``labels['masks']``: int32 [H,W,1], 255 = ignore (also for padding);
* ``labels['valid_masks']``: bool [H,W,1], ``masks != 255``;
* ``labels['image_info']``: float32 [4,2] = [[orig_h, orig_w], [scaled_h,
  scaled_w], [scale_y, scale_x], [offset_y, offset_x]] as in the Model Garden:
  the region of ``image`` that holds the picture, to restore its size.

Training randomness is stateless and keyed by ``(config.seed, position in the
stream)``, so the same seed gives the same batches whatever the parallelism,
and a checkpointed iterator resumes the exact stream.
"""
from typing import Optional

import tensorflow as tf
from official.vision.ops import preprocess_ops

from segwgan.configs import data as data_config
from segwgan.data import decode
from segwgan import labels as labels_lib

PAD_PIXEL = 127.5  # grey: 0 in [-1, 1] and close to 0 after ImageNet norm.


def _resize_scale(height, width, long_side: int):
  """The factor that brings the long side to `long_side` (1 if it is 0)."""
  if long_side <= 0:
    return tf.constant(1.0, tf.float32)
  return tf.cast(long_side, tf.float32) / tf.cast(tf.maximum(height, width),
                                                   tf.float32)


def scaled_size(size, long_side: int):
  """int32 [h, w] of an image of `size` [h, w] whose long side is resized to
  `long_side` (unchanged if it is 0): the size evaluation and inference run
  at, and the scale training's augmentation is relative to."""
  size = tf.cast(size, tf.float32)
  scale = _resize_scale(size[0], size[1], long_side)
  return tf.cast(tf.round(size * scale), tf.int32)


def _features(image, config: data_config.DataConfig):
  """The segmenter's and the GAN's views of a float [0, 255] image."""
  dtype = tf.dtypes.as_dtype(config.dtype)
  normalised = preprocess_ops.normalize_scaled_float_image(
      image, offset=config.image_feature.mean,
      scale=config.image_feature.stddev)
  return {'image': tf.cast(normalised, dtype),
          'image_gan': tf.cast(image / 127.5 - 1.0, dtype)}


def _labels(label, image_info):
  label = tf.cast(label, tf.int32)
  return {'masks': label,
          'valid_masks': tf.not_equal(label, labels_lib.IGNORE_LABEL),
          'image_info': image_info}


def train_transform(index, example, config: data_config.DataConfig):
  """Random scale, random crop (255-padded labels) and flip of one example.

  One `tf.image.crop_and_resize` per tensor does scale, crop, padding and
  flip together, reading only the source pixels the crop needs.
  """
  crop_h, crop_w = config.output_size
  seeds = tf.random.experimental.stateless_split(
      tf.stack([tf.cast(config.seed, tf.int64), tf.cast(index, tf.int64)]), 4)
  shape = tf.shape(example['image'])
  height, width = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
  scale = _resize_scale(shape[0], shape[1], config.resize_long_side)
  scale *= tf.random.stateless_uniform(
      [], seeds[0], config.aug_scale_min, config.aug_scale_max)
  scaled_h, scaled_w = height * scale, width * scale

  def offset(scaled, crop, seed):
    # Crop inside a large image; place a small image anywhere in the crop.
    lo, hi = tf.minimum(0.0, scaled - crop), tf.maximum(0.0, scaled - crop)
    return tf.floor(tf.random.stateless_uniform([], seed, lo, hi + 1.0))

  y0 = offset(scaled_h, float(crop_h), seeds[1])
  x0 = offset(scaled_w, float(crop_w), seeds[2])

  def box_edges(start, crop, size):
    # Output pixel k samples source ((start + k + 0.5) / scale - 0.5),
    # expressed in crop_and_resize's normalised [0, size - 1] coordinates.
    first = (start + 0.5) / scale - 0.5
    last = (start + crop - 0.5) / scale - 0.5
    denom = tf.maximum(size - 1.0, 1.0)
    return first / denom, last / denom

  y1, y2 = box_edges(y0, float(crop_h), height)
  x1, x2 = box_edges(x0, float(crop_w), width)
  if config.aug_rand_hflip:
    flip = tf.random.stateless_uniform([], seeds[3]) < 0.5
    x1, x2 = tf.where(flip, x2, x1), tf.where(flip, x1, x2)
  boxes = tf.reshape(tf.stack([y1, x1, y2, x2]), [1, 4])

  def crop(tensor, method, pad_value):
    out = tf.image.crop_and_resize(
        tf.cast(tensor, tf.float32)[None], boxes, [0], [crop_h, crop_w],
        method=method, extrapolation_value=pad_value)
    return out[0]

  image = crop(example['image'], 'bilinear', PAD_PIXEL)
  label = crop(example['label'], 'nearest', float(labels_lib.IGNORE_LABEL))
  image.set_shape([crop_h, crop_w, 3])
  label.set_shape([crop_h, crop_w, 1])
  image_info = tf.stack([
      tf.stack([height, width]),
      tf.stack([tf.cast(crop_h, tf.float32), tf.cast(crop_w, tf.float32)]),
      tf.stack([scale, scale]),
      tf.stack([y0, x0])])
  return _features(image, config), _labels(label, image_info)


def _options(config: data_config.DataConfig) -> tf.data.Options:
  """Deterministic order as configured; parallel maps; no autotuning thread.

  With autotuning, TF 2.20 often fails to wake its thread when an iterator
  is deleted, so the deletion (the end of `fit`, of an evaluation) could
  wait for up to a minute (benchmarks/fit_teardown.py). Without it,
  `AUTOTUNE` parallelism is TF's fixed default, min(16, cores), and prefetch
  buffers still grow as needed.
  """
  options = tf.data.Options()
  if config.deterministic is not None:
    options.deterministic = config.deterministic
  options.experimental_optimization.map_parallelization = True
  options.autotune.enabled = False
  return options


def build(raw: tf.data.Dataset, config: data_config.DataConfig,
          input_context: Optional[tf.distribute.InputContext] = None,
          start_step: int = 0) -> tf.data.Dataset:
  """Batches `raw` examples for training (`config.is_training`) or eval.

  `start_step` resumes a training stream: the batches of the first
  `start_step` global steps are skipped before any decoding or augmentation.
  """
  batch_size = config.global_batch_size
  elements_per_step = batch_size
  if input_context:
    elements_per_step = batch_size // input_context.num_input_pipelines
    batch_size = input_context.get_per_replica_batch_size(batch_size)
    if config.sharding and input_context.num_input_pipelines > 1:
      raw = raw.shard(input_context.num_input_pipelines,
                      input_context.input_pipeline_id)
  if config.cache:
    raw = raw.cache()
  autotune = tf.data.AUTOTUNE
  encoded = decode.is_encoded(raw.element_spec)

  def decoded(example):
    return decode.decode_example(example) if encoded else example

  if not config.is_training:
    raise ValueError('pipeline.build makes training batches; evaluation '
                     'reads whole images (segwgan.evaluation.split_eval)')
  if len(config.output_size) != 2:
    raise ValueError('training needs DataConfig.output_size = [h, w] (the '
                     f'crop size), got {config.output_size!r}')
  if config.shuffle_buffer_size > 1:
    raw = raw.shuffle(config.shuffle_buffer_size, seed=config.seed,
                      reshuffle_each_iteration=True)
  ds = raw.repeat().enumerate().skip(start_step * elements_per_step).map(
      lambda i, ex: train_transform(i, decoded(ex), config),
      num_parallel_calls=autotune)
  ds = ds.batch(batch_size, drop_remainder=True)
  return ds.prefetch(autotune).with_options(_options(config))
