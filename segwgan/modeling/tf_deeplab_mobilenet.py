"""TF DeepLab's MobileNetV2 as a Model Garden backbone: 'tf_deeplab_mobilenet'.

TF DeepLab (research/deeplab, TF-slim) builds MobileNetV2 slightly
differently from the Model Garden's `MobileNet`; weights trained there only
reproduce their outputs with both differences applied:

* channel counts are not rounded to multiples of 8 (`divisible_by=1`: width
  0.5 has 12 channels after the second block, not 16);
* at the block where the target output stride is reached, TF-slim keeps
  dilation rate 1 for that block's depthwise conv and dilates only the blocks
  after it; the Model Garden already dilates that block.

Everything else (layers, variables, checkpoint layout) is the Model Garden's.
"""
import tf_keras

from official.vision.modeling.backbones import factory
from official.vision.modeling.backbones import mobilenet
from official.vision.modeling.layers import nn_blocks


def slim_dilation_rates(strides, output_stride):
  """TF-slim's dilation rate of each layer given the layers' strides.

  Once the running stride reaches `output_stride`, a layer runs with stride 1
  and the rate accumulated *before* it; its own stride only multiplies the
  rate of the layers that follow.
  """
  rates, current_stride, rate = [], 1, 1
  for stride in strides:
    if output_stride and current_stride == output_stride:
      rates.append(rate)
      rate *= stride
    else:
      rates.append(1)
      current_stride *= stride
  return rates


@tf_keras.utils.register_keras_serializable(package='segwgan')
class TfDeepLabMobileNet(mobilenet.MobileNet):
  """`MobileNet` with TF DeepLab's channel rounding and atrous rule."""

  def __init__(self, divisible_by: int = 1, **kwargs):
    super().__init__(divisible_by=divisible_by, **kwargs)
    rates = slim_dilation_rates(
        [spec.strides or 1 for spec in self._decoded_specs],
        self._output_stride)
    block_rates = [rate for spec, rate in zip(self._decoded_specs, rates)
                   if spec.block_fn == 'invertedbottleneck']
    blocks = [layer for layer in self.layers
              if isinstance(layer, nn_blocks.InvertedBottleneckBlock)]
    if len(blocks) != len(block_rates):
      raise ValueError(f'{self._model_id}: found {len(blocks)} inverted '
                       f'bottleneck blocks, expected {len(block_rates)}')
    for block, rate in zip(blocks, block_rates):
      # The blocks are built (the functional graph is traced) but run their
      # depthwise conv with these attributes at call time.
      block._dilation_rate = rate  # pylint: disable=protected-access
      block._conv1.dilation_rate = (rate,) * 2  # pylint: disable=protected-access


@factory.register_backbone_builder('tf_deeplab_mobilenet')
def build_tf_deeplab_mobilenet(input_specs, backbone_config,
                               norm_activation_config, l2_regularizer=None):
  """Builds `TfDeepLabMobileNet` from a `TfDeepLabMobileNet` config."""
  config = backbone_config.get()
  return TfDeepLabMobileNet(
      model_id=config.model_id,
      filter_size_scale=config.filter_size_scale,
      divisible_by=config.divisible_by,
      input_specs=input_specs,
      stochastic_depth_drop_rate=config.stochastic_depth_drop_rate,
      flat_stochastic_depth_drop_rate=config.flat_stochastic_depth_drop_rate,
      output_stride=config.output_stride,
      output_intermediate_endpoints=config.output_intermediate_endpoints,
      use_sync_bn=norm_activation_config.use_sync_bn,
      norm_momentum=norm_activation_config.norm_momentum,
      norm_epsilon=norm_activation_config.norm_epsilon,
      kernel_regularizer=l2_regularizer)
