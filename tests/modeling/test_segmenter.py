"""DeepLabv3 built through the Model Garden: presets, shapes, checkpoints."""
import logging

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from official.vision.modeling.backbones import mobilenet
from official.vision.modeling.layers import nn_blocks
from segwgan.configs import models
from segwgan import labels
from segwgan.modeling import segmenter
from segwgan.modeling import tf_deeplab_mobilenet


def _build(preset, dataset="pascal_voc2012"):
  return segmenter.build_segmenter(models.model_config(preset, dataset))


def _values(layer):
  return [v.numpy() for v in layer.weights]


def _all_equal(a, b):
  return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def voc_model():
  return _build("deeplabv3_mnv2_dm05")


@pytest.fixture(scope="module")
def voc_checkpoint(voc_model, tmp_path_factory):
  directory = tmp_path_factory.mktemp("voc_ckpt")
  manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(**voc_model.checkpoint_items), str(directory), 1)
  return manager.save()


@pytest.mark.parametrize("preset,dataset", [
    *[("deeplabv3_mnv2_dm05", d) for d in labels.DATASETS],
    ("deeplabv3_mnv2", "cityscapes"),
    ("deeplabv3_resnet50", "pascal_voc2012"),
    ("tf_deeplab_mnv2_dm05_os8", "ade20k"),
    ("tf_deeplab_mnv2_os16", "cmp_facades"),
])
def test_logits_have_input_size_and_dataset_classes(preset, dataset):
  model = _build(preset, dataset)
  logits = model(tf.random.uniform([1, 65, 49, 3]), training=False)
  assert logits.dtype == tf.float32
  assert logits.shape == (1, 65, 49, labels.get_info(dataset).num_classes)


def test_num_classes_per_dataset():
  expected = {"cmp_facades": 12, "stanford_background": 8,
              "pascal_voc2012": 21, "ade20k": 150, "cityscapes": 19}
  for dataset, n in expected.items():
    assert models.model_config("deeplabv3_resnet101", dataset).num_classes == n


def test_paper_resnet101_is_os16_aspp_with_image_pooling():
  model = _build("deeplabv3_resnet101")
  backbone = model.backbone.get_config()
  assert (backbone["model_id"], backbone["output_stride"]) == (101, 16)
  decoder = model.decoder.get_config()
  assert decoder["level"] == 4 and model.head.get_config()["level"] == 4
  assert list(decoder["dilation_rates"]) == [6, 12, 18]
  assert decoder["pool_kernel_size"] is None  # Global image pooling.
  # 1x1 conv, three atrous convs, image pooling.
  assert len(model.decoder.aspp.aspp_layers) == 5
  features = model.backbone(tf_keras.Input((512, 512, 3)))["4"]
  assert features.shape.as_list() == [None, 32, 32, 2048]


def test_tf_deeplab_mobilenet_rounding_and_dilation():
  model = _build("tf_deeplab_mnv2_dm05_os8")
  assert model.backbone.output_specs["3"][-1] == 160
  blocks = [l for l in model.backbone.layers
            if isinstance(l, nn_blocks.InvertedBottleneckBlock)]
  assert blocks[1].get_config()["out_filters"] == 12  # 24 * 0.5, unrounded.
  rates = [b.get_config()["dilation_rate"] for b in blocks]
  # Output stride 8 is reached before block 6 (stride 2): it keeps rate 1.
  assert rates == [1] * 7 + [2] * 7 + [4] * 3
  # pylint: disable-next=protected-access
  assert [b._conv1.dilation_rate[0] for b in blocks] == rates
  garden = mobilenet.MobileNet(filter_size_scale=0.5, output_stride=8)
  garden_rates = [l.get_config()["dilation_rate"] for l in garden.layers
                  if isinstance(l, nn_blocks.InvertedBottleneckBlock)]
  assert garden_rates[6] == 2 and garden_rates[:6] + garden_rates[7:] == (
      rates[:6] + rates[7:])


def test_slim_dilation_rates():
  assert tf_deeplab_mobilenet.slim_dilation_rates(
      [2, 1, 2, 2, 1, 2, 1], 4) == [1, 1, 1, 1, 2, 2, 4]
  assert tf_deeplab_mobilenet.slim_dilation_rates([2, 2, 1], None) == [1, 1, 1]


@pytest.mark.parametrize("align_corners", [False, True])
def test_final_resize(align_corners):
  config = models.model_config("tf_deeplab_mnv2_dm05_os8", "cmp_facades")
  config.align_corners = align_corners
  model = segmenter.build_segmenter(config)
  images = tf.random.uniform([1, 33, 33, 3])
  low = super(segmenter.Segmenter, model).call(images)["logits"]
  high = model(images)
  expected = (tf.raw_ops.ResizeBilinear(images=low, size=[33, 33],
                                        align_corners=True)
              if align_corners else tf.image.resize(low, [33, 33]))
  np.testing.assert_allclose(high, expected, atol=1e-5)
  if align_corners:  # Corner pixels are the low-resolution corners.
    np.testing.assert_allclose(high[0, -1, -1], low[0, -1, -1], atol=1e-5)


def test_l2_weight_decay_adds_kernel_losses(voc_model):
  config = models.model_config("deeplabv3_mnv2_dm05", "cmp_facades")
  assert not voc_model.losses
  assert segmenter.build_segmenter(config, l2_weight_decay=4e-5).losses


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_gives_float32_logits(policy):
  previous = tf_keras.mixed_precision.global_policy()
  tf_keras.mixed_precision.set_global_policy(policy)
  try:
    model = _build("tf_deeplab_mnv2_dm05_os8", "stanford_background")
    logits = model(tf.random.uniform([2, 41, 33, 3]), training=False)
    assert model.backbone.compute_dtype == policy.split("_")[1]
  finally:
    tf_keras.mixed_precision.set_global_policy(previous)
  assert logits.dtype == tf.float32 and logits.shape == (2, 41, 33, 8)
  assert np.isfinite(logits.numpy()).all()


def test_restores_all_modules(voc_model, voc_checkpoint):
  model = _build("deeplabv3_mnv2_dm05")
  assert not _all_equal(_values(model), _values(voc_model))
  segmenter.init_from_checkpoint(model, voc_checkpoint)
  assert _all_equal(_values(model), _values(voc_model))


def test_directory_means_latest_checkpoint(voc_model, voc_checkpoint):
  model = _build("deeplabv3_mnv2_dm05")
  segmenter.init_from_checkpoint(model, voc_checkpoint.rsplit("/", 1)[0],
                                 modules=("backbone", "decoder"))
  assert _all_equal(_values(model.backbone), _values(voc_model.backbone))
  assert _all_equal(_values(model.decoder), _values(voc_model.decoder))
  assert not _all_equal(_values(model.head), _values(voc_model.head))


def test_reads_trainer_checkpoints(voc_model, tmp_path):
  path = tf.train.Checkpoint(model=voc_model).write(str(tmp_path / "ckpt"))
  model = _build("deeplabv3_mnv2_dm05")
  segmenter.init_from_checkpoint(model, path, modules="backbone")
  assert _all_equal(_values(model.backbone), _values(voc_model.backbone))
  assert not _all_equal(_values(model.decoder), _values(voc_model.decoder))


def test_other_num_classes_keeps_fresh_head(voc_model, voc_checkpoint, caplog):
  model = _build("deeplabv3_mnv2_dm05", "ade20k")
  head = _values(model.head)
  with caplog.at_level(logging.WARNING):
    segmenter.init_from_checkpoint(model, voc_checkpoint)
  assert "21 classes" in caplog.text and "150" in caplog.text
  assert _all_equal(_values(model.backbone), _values(voc_model.backbone))
  assert _all_equal(_values(model.decoder), _values(voc_model.decoder))
  assert _all_equal(_values(model.head), head)


def test_mismatched_checkpoint_lists_names_and_shapes(voc_checkpoint):
  model = _build("tf_deeplab_mnv2_dm05_os8")  # Unrounded channels.
  before = _values(model)
  with pytest.raises(ValueError) as error:
    segmenter.init_from_checkpoint(model, voc_checkpoint)
  message = str(error.value)
  assert "does not fit" in message
  assert ("backbone/layer_with_weights-2/_conv2/kernel: model [1, 1, 48, 12]"
          ", checkpoint [1, 1, 48, 16]") in message
  assert _all_equal(_values(model), before)  # Nothing was restored.


def test_missing_variables_are_listed(voc_model, tmp_path):
  path = tf.train.Checkpoint(backbone=voc_model.backbone).write(
      str(tmp_path / "ckpt"))
  with pytest.raises(ValueError, match=r"decoder/.*checkpoint missing"):
    segmenter.init_from_checkpoint(_build("deeplabv3_mnv2_dm05"), path)


def test_bad_arguments(voc_model, voc_checkpoint, tmp_path):
  with pytest.raises(ValueError, match="no checkpoint found in directory"):
    segmenter.init_from_checkpoint(voc_model, str(tmp_path))
  with pytest.raises(ValueError, match="no checkpoint at"):
    segmenter.init_from_checkpoint(voc_model, str(tmp_path / "nope"))
  with pytest.raises(ValueError, match="unknown init_checkpoint_modules"):
    segmenter.init_from_checkpoint(voc_model, voc_checkpoint, ("heads",))


def test_presets_record_their_normalisation():
  assert models.input_normalization("deeplabv3_resnet101") == (
      list(models.IMAGENET_MEAN), list(models.IMAGENET_STDDEV))
  assert models.input_normalization("tf_deeplab_mnv2_os16") == (
      [127.5] * 3, [127.5] * 3)
  with pytest.raises(ValueError, match="known presets: deeplabv3_mnv2"):
    models.get_preset("deeplabv4")
