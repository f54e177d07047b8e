"""Segmenter (DeepLabv3) model configs and the named presets.

A preset is a Model Garden `SemanticSegmentationModel` config (extended by
`SegmenterModel`) plus what goes with it: the input normalisation the
weights expect (the `mean` / `stddev` of a DataConfig's `image_feature`) and
the checkpoint it is meant to start from. `model_config(preset, dataset)`
sets `num_classes` from the label tables in `segwgan.labels`.

Presets:
  deeplabv3_resnet101   the paper's model: DeepLabv3, dilated ResNet-101,
                        output stride 16, ASPP rates 6/12/18 + image pooling.
                        The rest is the Model Garden's `seg_deeplabv3_pascal`
                        (multigrid 1/2/4, 'v1' stem, swish, BN momentum
                        0.9997), which pairs it with its ImageNet checkpoint.
                        That experiment uses rates 12/24/36, the DeepLabv3
                        paper's setting for output stride 8; 6/12/18 is the
                        one for stride 16.
  deeplabv3_resnet50    the same with ResNet-50 (no pretrained checkpoint).
  deeplabv3_mnv2        the Model Garden's `mnv2_deeplabv3_pascal`:
                        MobileNetV2 width 1.0, output stride 16, ASPP-lite
                        (1x1 conv + image pooling).
  deeplabv3_mnv2_dm05   the same at width 0.5.
  tf_deeplab_mnv2_dm05_os8  TF DeepLab's MobileNetV2 width 0.5, output
                        stride 8, ASPP-lite: the architecture of the float
                        TFLite `deeplabv3_257_mv_gpu` (converted checkpoint).
  tf_deeplab_mnv2_os16  TF DeepLab's MobileNetV2 width 1.0, output stride 16,
                        ASPP-lite: the uint8 TFLite
                        `deeplabv3_mnv2_pascal_quant` (converted checkpoint).
"""
import dataclasses
import math
from typing import Callable, List, Tuple

from official.core import exp_factory
from official.vision.configs import backbones
from official.vision.configs import semantic_segmentation as mg_seg
from official.vision.ops import preprocess_ops

from segwgan import errors
from segwgan import labels
from segwgan.configs import data as data_config

# Model Garden configs normalise with ImageNet statistics ([0, 255] scale).
IMAGENET_MEAN = tuple(preprocess_ops.MEAN_RGB)
IMAGENET_STDDEV = tuple(preprocess_ops.STDDEV_RGB)
# TF DeepLab models take x / 127.5 - 1.
MINUS_ONE_ONE_MEAN = data_config.MINUS_ONE_ONE_MEAN
MINUS_ONE_ONE_STDDEV = data_config.MINUS_ONE_ONE_STDDEV


@dataclasses.dataclass
class TfDeepLabMobileNet(backbones.MobileNet):
  """Backbone 'tf_deeplab_mobilenet' (segwgan.modeling.tf_deeplab_mobilenet).

  Attributes:
    divisible_by: channel rounding; 1 is TF DeepLab's (no rounding).
  """
  divisible_by: int = 1


@dataclasses.dataclass
class Backbone(backbones.Backbone):
  """The Model Garden backbones plus 'tf_deeplab_mobilenet'."""
  tf_deeplab_mobilenet: TfDeepLabMobileNet = dataclasses.field(
      default_factory=TfDeepLabMobileNet)


@dataclasses.dataclass
class SegmenterModel(mg_seg.SemanticSegmentationModel):
  """A Model Garden segmentation model config, as `build_segmenter` reads it.

  Attributes:
    align_corners: how logits are resized to the input size (bilinear);
      TF DeepLab resizes with align_corners=True, the Model Garden without.
  """
  backbone: Backbone = dataclasses.field(
      default_factory=lambda: Backbone(type='resnet'))
  align_corners: bool = False


@dataclasses.dataclass(frozen=True)
class Preset:
  """A model config factory and what its weights expect.

  Attributes:
    build: returns the preset's `SegmenterModel` (num_classes unset).
    mean: per-channel input mean on the [0, 255] scale.
    stddev: per-channel input stddev on the [0, 255] scale.
    init_checkpoint: the checkpoint to start from ('' = random init): a
      Model Garden gs:// checkpoint, or the local output of
      `tools/convert_tflite_checkpoint.py`.
    init_checkpoint_modules: what to restore from it ('all' or a subset of
      'backbone', 'decoder').
  """
  build: Callable[[], SegmenterModel]
  mean: Tuple[float, float, float]
  stddev: Tuple[float, float, float]
  init_checkpoint: str = ''
  init_checkpoint_modules: Tuple[str, ...] = ()


def _from_model_garden(experiment: str) -> SegmenterModel:
  config = SegmenterModel()
  config.override(exp_factory.get_exp_config(experiment).task.model.as_dict())
  return config


def deeplabv3_resnet(depth: int) -> SegmenterModel:
  """The paper's DeepLabv3: dilated ResNet, output stride 16, ASPP."""
  config = _from_model_garden('seg_deeplabv3_pascal')
  config.backbone.dilated_resnet.model_id = depth
  config.decoder.aspp.dilation_rates = [6, 12, 18]
  return config


def deeplabv3_mnv2(width: float) -> SegmenterModel:
  """The Model Garden's DeepLabv3 MobileNetV2 at the given width."""
  config = _from_model_garden('mnv2_deeplabv3_pascal')
  config.backbone.mobilenet.filter_size_scale = width
  return config


def tf_deeplab_mnv2(width: float, output_stride: int) -> SegmenterModel:
  """TF DeepLab's MobileNetV2 DeepLabv3 (ASPP-lite) in Model Garden form."""
  config = deeplabv3_mnv2(width)
  level = int(math.log2(output_stride))
  config.backbone = Backbone(
      type='tf_deeplab_mobilenet',
      tf_deeplab_mobilenet=TfDeepLabMobileNet(
          model_id='MobileNetV2', filter_size_scale=width,
          output_stride=output_stride))
  config.decoder.aspp.level = level
  config.head.level = level
  config.align_corners = True
  return config


_IMAGENET = dict(mean=IMAGENET_MEAN, stddev=IMAGENET_STDDEV)
_TF_DEEPLAB = dict(mean=MINUS_ONE_ONE_MEAN, stddev=MINUS_ONE_ONE_STDDEV)

PRESETS = {
    'deeplabv3_resnet101': Preset(
        build=lambda: deeplabv3_resnet(101), **_IMAGENET,
        init_checkpoint=('gs://cloud-tpu-checkpoints/vision-2.0/deeplab/'
                         'deeplab_resnet101_imagenet/ckpt-62400'),
        init_checkpoint_modules=('backbone',)),
    'deeplabv3_resnet50': Preset(
        build=lambda: deeplabv3_resnet(50), **_IMAGENET),
    'deeplabv3_mnv2': Preset(
        build=lambda: deeplabv3_mnv2(1.0), **_IMAGENET,
        init_checkpoint=('gs://tf_model_garden/cloud/vision-2.0/deeplab/'
                         'deeplabv3_mobilenetv2_coco/best_ckpt-63'),
        init_checkpoint_modules=('backbone', 'decoder')),
    'deeplabv3_mnv2_dm05': Preset(
        build=lambda: deeplabv3_mnv2(0.5), **_IMAGENET),
    'tf_deeplab_mnv2_dm05_os8': Preset(
        build=lambda: tf_deeplab_mnv2(0.5, 8), **_TF_DEEPLAB,
        init_checkpoint='checkpoints/tf_deeplab_mnv2_dm05_os8',
        init_checkpoint_modules=('all',)),
    'tf_deeplab_mnv2_os16': Preset(
        build=lambda: tf_deeplab_mnv2(1.0, 16), **_TF_DEEPLAB,
        init_checkpoint='checkpoints/tf_deeplab_mnv2_os16',
        init_checkpoint_modules=('all',)),
}


def get_preset(name: str) -> Preset:
  """The preset `name`; a UserError lists the known names."""
  try:
    return PRESETS[name]
  except KeyError:
    raise errors.UserError(f'unknown model preset {name!r}; known presets: '
                           f'{", ".join(sorted(PRESETS))}') from None


def model_config(preset: str, dataset: str) -> SegmenterModel:
  """The preset's model config with `num_classes` of `dataset`."""
  config = get_preset(preset).build()
  config.num_classes = labels.get_info(dataset).num_classes
  return config


def input_normalization(preset: str) -> Tuple[List[float], List[float]]:
  """(mean, stddev) lists for a DataConfig's `image_feature`."""
  p = get_preset(preset)
  return list(p.mean), list(p.stddev)
