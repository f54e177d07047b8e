"""The tf.data pipeline on real CMP Facades images (read here with PIL)."""
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from segwgan.configs import data as data_config
from segwgan.data import pipeline

IDS = ("cmp_b0001", "cmp_b0002", "cmp_b0003")


@pytest.fixture(scope="module")
def examples(shared_data):
  out = []
  for i in IDS:
    base = shared_data / "cmp_facades" / "base" / i
    image = np.array(Image.open(f"{base}.jpg").convert("RGB"))
    label = np.array(Image.open(f"{base}.png"))[..., None] - 1
    out.append((image, label.astype(np.uint8), i))
  return out


def raw_dataset(examples):
  def gen():
    for image, label, i in examples:
      yield {"image": image, "label": label, "id": i}
  return tf.data.Dataset.from_generator(gen, output_signature={
      "image": tf.TensorSpec([None, None, 3], tf.uint8),
      "label": tf.TensorSpec([None, None, 1], tf.uint8),
      "id": tf.TensorSpec([], tf.string)})


def train_config(**kw):
  base = dict(is_training=True, output_size=[96, 128], global_batch_size=2,
              shuffle_buffer_size=4, seed=7, deterministic=True)
  base.update(kw)
  return data_config.DataConfig(**base)


def first_batches(examples, config, n=2):
  ds = pipeline.build(raw_dataset(examples), config)
  return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in ds.take(n)]


def test_pipeline_does_not_autotune(examples):
  ds = pipeline.build(raw_dataset(examples), train_config())
  assert not ds.options().autotune.enabled  # see pipeline._options


def test_eval_configs_are_refused(examples):
  with pytest.raises(ValueError, match="training batches"):
    pipeline.build(raw_dataset(examples),
                   data_config.DataConfig(is_training=False))


def test_train_batch_shapes_dtypes_and_ranges(examples):
  features, labels = first_batches(examples, train_config())[0]
  assert features["image"].shape == (2, 96, 128, 3)
  assert features["image"].dtype == np.float32
  assert features["image_gan"].shape == (2, 96, 128, 3)
  assert features["image_gan"].min() >= -1.0
  assert features["image_gan"].max() <= 1.0
  assert labels["masks"].shape == (2, 96, 128, 1)
  assert labels["masks"].dtype == np.int32
  assert set(np.unique(labels["masks"])) <= set(range(12)) | {255}
  np.testing.assert_array_equal(labels["valid_masks"], labels["masks"] != 255)
  assert labels["image_info"].shape == (2, 4, 2)


def test_segmenter_normalisation_follows_config(examples):
  config = train_config(aug_rand_hflip=False)
  config.image_feature.mean = list(data_config.MINUS_ONE_ONE_MEAN)
  config.image_feature.stddev = list(data_config.MINUS_ONE_ONE_STDDEV)
  features, _ = first_batches(examples, config, n=1)[0]
  np.testing.assert_allclose(features["image"], features["image_gan"],
                             atol=1e-5)


def test_same_seed_same_batches_other_seed_differs(examples):
  a = first_batches(examples, train_config(seed=3))
  b = first_batches(examples, train_config(seed=3))
  c = first_batches(examples, train_config(seed=4))
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x[0]["image"], y[0]["image"])
    np.testing.assert_array_equal(x[1]["masks"], y[1]["masks"])
  assert any(not np.array_equal(x[0]["image"], z[0]["image"])
             for x, z in zip(a, c))


def test_unit_scale_crop_larger_than_image_keeps_every_pixel(examples):
  image, label, _ = examples[0]
  h, w = label.shape[:2]
  config = train_config(output_size=[h + 9, w + 13], aug_scale_min=1.0,
                        aug_scale_max=1.0, aug_rand_hflip=False,
                        global_batch_size=1, shuffle_buffer_size=1)
  features, labels = first_batches(examples[:1], config, n=1)[0]
  masks = labels["masks"][0, ..., 0]
  valid = masks != 255
  assert valid.sum() == h * w  # the whole picture is inside, padding is 255
  ys, xs = np.nonzero(valid)
  y0, x0 = ys.min(), xs.min()
  np.testing.assert_array_equal(masks[y0:y0 + h, x0:x0 + w], label[..., 0])
  pixels = (features["image_gan"][0, y0:y0 + h, x0:x0 + w] + 1.0) * 127.5
  np.testing.assert_allclose(pixels, image, atol=0.01)


def test_flip_mirrors_image_and_label_together(examples):
  image, label, _ = examples[0]
  h, w = label.shape[:2]
  seen = set()
  for seed in range(8):
    config = train_config(output_size=[h, w], aug_scale_min=1.0,
                          aug_scale_max=1.0, global_batch_size=1,
                          shuffle_buffer_size=1, seed=seed)
    _, labels = first_batches(examples[:1], config, n=1)[0]
    masks = labels["masks"][0, ..., 0]
    if np.array_equal(masks, label[..., 0]):
      seen.add("plain")
    elif np.array_equal(masks, label[:, ::-1, 0]):
      seen.add("flipped")
    else:
      pytest.fail(f"seed {seed}: label is neither the original nor its mirror")
  assert seen == {"plain", "flipped"}


def test_random_scale_keeps_label_values(examples):
  config = train_config(output_size=[64, 64], aug_scale_min=0.5,
                        aug_scale_max=2.0)
  for features, labels in first_batches(examples, config, n=3):
    scales = labels["image_info"][:, 2, 0]
    assert np.all((scales >= 0.5) & (scales <= 2.0))
  allowed = set(np.unique(np.concatenate([e[1].ravel() for e in examples])))
  assert set(np.unique(labels["masks"])) <= allowed | {255}


def test_scaled_size_brings_the_long_side_to_it_and_keeps_the_shape():
  assert pipeline.scaled_size([300, 200], 0).numpy().tolist() == [300, 200]
  assert pipeline.scaled_size([300, 200], 96).numpy().tolist() == [96, 64]
  assert pipeline.scaled_size([217, 1000], 256).numpy().tolist() == [56, 256]


def test_training_scale_is_relative_to_the_scaled_size(examples):
  config = train_config(resize_long_side=256, aug_scale_min=1.0,
                        aug_scale_max=1.0)
  _, labels = first_batches(examples, config, n=1)[0]
  for info in labels["image_info"]:  # [[h, w], crop, [scale, scale], offset]
    np.testing.assert_allclose(info[2, 0] * max(info[0]), 256, rtol=1e-5)


def test_start_step_resumes_the_exact_stream(examples):
  config = train_config(global_batch_size=2, shuffle_buffer_size=3)
  full = first_batches(examples, config, n=5)
  ds = pipeline.build(raw_dataset(examples), config, start_step=3)
  resumed = [tf.nest.map_structure(lambda t: t.numpy(), b) for b in ds.take(2)]
  for want, got in zip(full[3:], resumed):
    np.testing.assert_array_equal(want[0]["image"], got[0]["image"])
    np.testing.assert_array_equal(want[1]["masks"], got[1]["masks"])


@pytest.fixture(scope="module")
def small_cmp(shared_data, tmp_path_factory):
  """Four real CMP base images in the official layout."""
  import shutil  # pylint: disable=g-import-not-at-top
  base = tmp_path_factory.mktemp("cmp4") / "base"
  base.mkdir()
  for i in ("cmp_b0001", "cmp_b0002", "cmp_b0003", "cmp_b0004"):
    for ext in ("jpg", "png"):
      shutil.copy(shared_data / "cmp_facades" / "base" / f"{i}.{ext}", base)
  return base.parent


def test_encoded_input_gives_the_same_batches(small_cmp, tfds_dir):
  from segwgan.data import registry  # pylint: disable=g-import-not-at-top
  config = train_config(global_batch_size=2, shuffle_buffer_size=4)

  def batches(decoded, start_step=0):
    raw = registry.load_raw("cmp_facades", "all", source_dir=str(small_cmp),
                            tfds_dir=tfds_dir, decoded=decoded)
    ds = pipeline.build(raw, config, start_step=start_step)
    return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in ds.take(3)]

  assert registry.load_raw("cmp_facades", "all", source_dir=str(small_cmp),
                           tfds_dir=tfds_dir, decoded=False
                           ).element_spec["image"].dtype == tf.string
  for (f1, l1), (f2, l2) in zip(batches(True), batches(False)):
    np.testing.assert_array_equal(f1["image"], f2["image"])
    np.testing.assert_array_equal(l1["masks"], l2["masks"])
  # Resuming skips encoded elements: still the same stream.
  full, resumed = batches(False), batches(False, start_step=1)
  np.testing.assert_array_equal(full[1][0]["image"], resumed[0][0]["image"])
