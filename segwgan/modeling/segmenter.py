"""DeepLabv3 through the Model Garden's factory, and checkpoint initialisation.

`build_segmenter` builds a Model Garden `SegmentationModel` from its config
(`official.vision.modeling.factory.build_segmentation_model`) and returns it
as a `Segmenter`: the same backbone / decoder / head and checkpoint layout,
but `call(images)` returns float32 logits [B, H, W, C] resized to the input
size, whatever the global precision policy.

`init_from_checkpoint` has the Model Garden's init_checkpoint semantics
(`official/vision/tasks/semantic_segmentation.py`, `initialize`), checks that
the checkpoint fits before restoring anything, and keeps the head freshly
initialised when only its number of classes differs.
"""
from typing import Sequence, Union

from absl import logging
import tensorflow as tf
import tf_keras

from official.vision.modeling import factory
from official.vision.modeling import segmentation_model
# Registers the 'tf_deeplab_mobilenet' backbone builder.
from segwgan import errors
from segwgan.modeling import tf_deeplab_mobilenet  # pylint: disable=unused-import

# Checkpoints written by the Model Garden trainer hold the modules both at the
# root (`checkpoint_items`) and under `model/`; either is read.
_MODULE_PREFIXES = ('', 'model/')
_MAX_LISTED = 20
_VALUE_SUFFIX = '/.ATTRIBUTES/VARIABLE_VALUE'


@tf_keras.utils.register_keras_serializable(package='segwgan')
class Segmenter(segmentation_model.SegmentationModel):
  """A `SegmentationModel` returning float32 logits at the input size."""

  def __init__(self, backbone, decoder, head, align_corners=False, **kwargs):
    super().__init__(backbone, decoder, head, **kwargs)
    self._config_dict['align_corners'] = align_corners
    self.align_corners = align_corners

  def call(self, inputs, training=None):
    logits = super().call(inputs, training=training)['logits']
    logits = tf.cast(logits, tf.float32)
    size = tf.shape(inputs)[1:3]
    if self.align_corners:
      return tf.raw_ops.ResizeBilinear(images=logits, size=size,
                                       align_corners=True)
    return tf.image.resize(logits, size, method='bilinear')


def build_segmenter(model_config, *, input_shape=(None, None, 3),
                    l2_weight_decay: float = 0.0) -> Segmenter:
  """Builds a `Segmenter` (all variables created) from a model config.

  Args:
    model_config: an `official.vision.configs.semantic_segmentation.
      SemanticSegmentationModel` (or `segwgan.configs.models.SegmenterModel`,
      whose `align_corners` sets the final resize).
    input_shape: [H, W, 3] with None for any size.
    l2_weight_decay: as the Model Garden task's `losses.l2_weight_decay`
      (kernels get an l2 regularizer of half this factor).
  """
  if model_config.mask_scoring_head:
    raise ValueError('mask_scoring_head is not supported by build_segmenter')
  input_specs = tf_keras.layers.InputSpec(shape=[None, *input_shape])
  l2_regularizer = (tf_keras.regularizers.l2(l2_weight_decay / 2.0)
                    if l2_weight_decay else None)
  garden_model = factory.build_segmentation_model(
      input_specs=input_specs, model_config=model_config,
      l2_regularizer=l2_regularizer)
  model = Segmenter(garden_model.backbone, garden_model.decoder,
                    garden_model.head,
                    align_corners=getattr(model_config, 'align_corners', False))
  model(tf_keras.Input(shape=input_shape))  # Creates decoder/head variables.
  return model


def resolve_checkpoint(path: str) -> str:
  """A checkpoint prefix from a prefix or a directory (its latest), whose
  index is readable (a ModelError otherwise)."""
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if latest is None:
      raise errors.ModelError(f'no checkpoint found in directory {path}')
    path = latest
  elif not tf.io.gfile.exists(path + '.index'):
    raise errors.ModelError(f'no checkpoint at {path} (expected {path}.index '
                            'or a directory holding checkpoints)')
  try:
    tf.train.load_checkpoint(path)
  except (tf.errors.OpError, IndexError) as e:
    raise errors.ModelError(f'checkpoint {path} cannot be read (truncated or '
                            f'corrupt?): {str(e).splitlines()[0]}') from None
  return path


def read_checkpoint(root: tf.train.Checkpoint, prefix: str) -> None:
  """Reads `root`'s objects from `prefix`, all of them present; a ModelError
  if the files cannot be read (e.g. a truncated data file)."""
  try:
    status = root.read(prefix)
  except (tf.errors.OpError, IndexError) as e:
    raise errors.ModelError(f'checkpoint {prefix} cannot be read (truncated '
                            f'or corrupt?): {str(e).splitlines()[0]}'
                            ) from None
  status.expect_partial().assert_existing_objects_matched()


def _variable_shapes(items) -> dict:
  """{checkpoint key: shape} of the variables `tf.train.Checkpoint(**items)`
  would write (the saver's own naming)."""
  # pylint: disable=g-import-not-at-top
  from tensorflow.python.checkpoint import graph_view
  from tensorflow.python.checkpoint import util
  # pylint: enable=g-import-not-at-top
  root = tf.train.Checkpoint(**items)  # The view only holds a weak ref.
  objects, _, _, _, names = util.objects_ids_and_slot_variables_and_paths(
      graph_view.ObjectGraphView(root))
  return {names[v] + _VALUE_SUFFIX: tuple(v.shape)
          for v in objects if isinstance(v, tf.Variable)}


def _module_prefix(saved: dict, module: str) -> str:
  for prefix in _MODULE_PREFIXES:
    if any(key.startswith(f'{prefix}{module}/') for key in saved):
      return prefix
  return ''


def _mismatches(model_vars: dict, saved: dict, prefix: str) -> list:
  """[(key, model shape, checkpoint shape or None)] of what does not fit."""
  found = []
  for key, shape in sorted(model_vars.items()):
    saved_shape = saved.get(prefix + key)
    if saved_shape is None or tuple(saved_shape) != shape:
      found.append((key, shape, None if saved_shape is None
                    else tuple(saved_shape)))
  return found


def _only_num_classes_differ(mismatches: list, num_classes: int) -> bool:
  """True if only the classifier (last dim = num_classes) has other shapes."""
  return bool(mismatches) and all(
      saved is not None and len(saved) == len(shape) and
      saved[:-1] == shape[:-1] and shape[-1] == num_classes
      for _, shape, saved in mismatches)


def init_from_checkpoint(model: Segmenter, path: str,
                         modules: Union[str, Sequence[str]] = ('all',)
                         ) -> None:
  """Restores `model`'s modules from a Model Garden style checkpoint.

  Args:
    model: a built `Segmenter` (or Model Garden `SegmentationModel`).
    path: a checkpoint prefix or a directory (its latest checkpoint); local
      or gs://.
    modules: 'all' (backbone, decoder and head) or a subset of 'backbone',
      'decoder' (the Model Garden's `init_checkpoint_modules`).

  Raises:
    ValueError: no checkpoint at `path`, unknown modules, or variables of the
      requested modules missing from the checkpoint or of other shapes (all
      listed with their shapes; nothing is restored then). A head whose
      number of classes differs is not an error: it keeps its fresh init.
  """
  modules = (modules,) if isinstance(modules, str) else tuple(modules)
  unknown = set(modules) - {'all', 'backbone', 'decoder'}
  if unknown:
    raise errors.UserError(f'unknown init_checkpoint_modules '
                           f"{sorted(unknown)}; use 'all' or a subset of "
                           "'backbone', 'decoder'")
  names = (['backbone', 'decoder', 'head'] if 'all' in modules
           else [m for m in ('backbone', 'decoder') if m in modules])
  names = [n for n in names if getattr(model, n) is not None]
  prefix = resolve_checkpoint(path)
  saved = dict(tf.train.list_variables(prefix))

  num_classes = model.head.get_config()['num_classes']
  restore, mismatched = {}, []
  for name in names:
    module_prefix = _module_prefix(saved, name)
    bad = _mismatches(_variable_shapes({name: getattr(model, name)}), saved,
                      module_prefix)
    if name == 'head' and _only_num_classes_differ(bad, num_classes):
      logging.warning(
          'Checkpoint %s has a head for %d classes, the model %d: the head '
          'keeps its fresh initialisation.', prefix, bad[0][2][-1],
          num_classes)
      continue
    mismatched += [(module_prefix + key, shape, saved_shape)
                   for key, shape, saved_shape in bad]
    restore.setdefault(module_prefix, {})[name] = getattr(model, name)
  if mismatched:
    lines = [f'  {key.replace(_VALUE_SUFFIX, "")}: model {list(shape)}, '
             'checkpoint ' + ('missing' if saved_shape is None
                              else str(list(saved_shape)))
             for key, shape, saved_shape in mismatched[:_MAX_LISTED]]
    if len(mismatched) > _MAX_LISTED:
      lines.append(f'  ... and {len(mismatched) - _MAX_LISTED} more')
    raise errors.ModelError(
        f'checkpoint {prefix} does not fit the model ({", ".join(names)}): '
        f'{len(mismatched)} variables do not match\n' + '\n'.join(lines))

  for module_prefix, items in restore.items():
    ckpt = tf.train.Checkpoint(**items)
    if module_prefix:
      ckpt = tf.train.Checkpoint(**{module_prefix.rstrip('/'): ckpt})
    read_checkpoint(ckpt, prefix)
  logging.info('Restored %s from %s', ', '.join(
      n for items in restore.values() for n in items), prefix)
