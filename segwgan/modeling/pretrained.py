"""Google's pretrained DeepLab / MobileNetV2 files as Model Garden checkpoints.

* Where the files are: `TFLITE_FILES` (official URLs, sha256) and
  `MODEL_GARDEN_CHECKPOINTS`; `download` / `download_checkpoint` copy them
  (atomically, checksum verified); `resolve_init` maps a preset's default
  starting checkpoint to the converted copy of its file (`PRESET_TFLITE`).
* `convert_tflite` loads a TFLite DeepLabv3-MobileNetV2 (or a TF-slim
  MobileNetV2 ImageNet classifier, backbone only) into a `Segmenter` built
  from the matching `tf_deeplab_mnv2_*` preset; `save_checkpoint` writes it
  as a checkpoint that `init_from_checkpoint` (and the Model Garden's
  `init_checkpoint`) reads.
* `TfliteModel` runs the original file: the reference the conversion is
  checked against (`compare`).

TFLite stores each conv with batch norm folded in (kernel + bias). A Model
Garden conv + BN pair takes the kernel, and the BN becomes the identity plus
the bias (gamma 1, beta = bias, mean 0, variance 1 - epsilon). TF DeepLab
concatenates ASPP branches as [image_pooling, aspp0], the Model Garden as
[aspp0, image_pooling]: the projection's input channels are swapped to match.
"""
import dataclasses
import hashlib
import http.client
import json
import math
import os
import pathlib
import re
import tempfile
import urllib.error
import urllib.request
import warnings

import numpy as np
import tensorflow as tf

from official.vision.modeling.backbones import mobilenet
from official.vision.modeling.layers import nn_blocks
from segwgan import errors
from segwgan import io_utils
from segwgan.configs import models
from segwgan.modeling import segmenter as segmenter_lib


@dataclasses.dataclass(frozen=True)
class TfliteFile:
  """An official TFLite file: where it is served and its sha256."""
  url: str
  filename: str
  sha256: str


TFLITE_FILES = {
    # TF Lite GPU-delegate sample model: DeepLabv3 MobileNetV2 width 0.5,
    # output stride 8, PASCAL VOC, float, 257x257.
    'deeplabv3_mnv2_dm05_pascal_257_float': TfliteFile(
        url=('https://storage.googleapis.com/download.tensorflow.org/models/'
             'tflite/gpu/deeplabv3_257_mv_gpu.tflite'),
        filename='deeplabv3_257_mv_gpu.tflite',
        sha256=('68a539782c2c6a72f8aac3724600124a85ed977162b44e84cbae5db717c'
                '933c6')),
    # Coral model zoo (CPU build): DeepLabv3 MobileNetV2 width 1.0, output
    # stride 16, PASCAL VOC, uint8, 513x513, argmax output.
    'deeplabv3_mnv2_pascal_quant': TfliteFile(
        url=('https://github.com/google-coral/test_data/raw/master/'
             'deeplabv3_mnv2_pascal_quant.tflite'),
        filename='deeplabv3_mnv2_pascal_quant.tflite',
        sha256=('350af47fd346ea6d74b58833a351f583ba860e9806ec5bd292ff8d8f1f2'
                '49398')),
    # TF-slim MobileNetV2 1.0 ImageNet classifier, uint8 (backbone init).
    'mobilenet_v2_1.0_224_quant': TfliteFile(
        url=('https://github.com/google-coral/test_data/raw/master/'
             'mobilenet_v2_1.0_224_quant.tflite'),
        filename='mobilenet_v2_1.0_224_quant.tflite',
        sha256=('7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9f'
                'd4776')),
}

# Model Garden checkpoints of the presets (read in place, or copied with
# `download_checkpoint`); no checksums are published for them.
MODEL_GARDEN_CHECKPOINTS = {
    'deeplab_resnet101_imagenet': models.PRESETS[
        'deeplabv3_resnet101'].init_checkpoint,
    'deeplabv3_mobilenetv2_coco': models.PRESETS[
        'deeplabv3_mnv2'].init_checkpoint,
}

# Presets whose starting checkpoint is converted from an official TFLite file.
PRESET_TFLITE = {
    'tf_deeplab_mnv2_dm05_os8': 'deeplabv3_mnv2_dm05_pascal_257_float',
    'tf_deeplab_mnv2_os16': 'deeplabv3_mnv2_pascal_quant',
}


def resolve_init(init_checkpoint: str, converted_root, weights_dir: str = ''
                 ) -> tuple:
  """(checkpoint to start from, TFLite file to convert into it or '').

  A preset's default converted checkpoint (e.g.
  'checkpoints/tf_deeplab_mnv2_dm05_os8') becomes CONVERTED_ROOT/<preset>,
  converted from the official TFLite file: the copy under WEIGHTS_DIR
  (searched recursively) if any, else its `TFLITE_FILES` name (to
  download). A Model Garden checkpoint (gs://.../NAME/ckpt-N) is read from
  WEIGHTS_DIR/NAME/ckpt-N when that local copy exists, in place otherwise;
  any other checkpoint is returned as given.
  """
  for preset, name in PRESET_TFLITE.items():
    if init_checkpoint == models.PRESETS[preset].init_checkpoint:
      filename = TFLITE_FILES[name].filename
      found = (sorted(pathlib.Path(weights_dir).rglob(filename))
               if weights_dir else [])
      if weights_dir and not found:
        raise FileNotFoundError(
            f'--weights_dir={weights_dir} holds no {filename}; leave '
            '--weights_dir out to download it')
      return (str(pathlib.Path(converted_root) / preset),
              str(found[0]) if found else name)
  if '://' in init_checkpoint and weights_dir:
    local = pathlib.Path(weights_dir, *init_checkpoint.rstrip('/')
                         .split('/')[-2:])
    if pathlib.Path(f'{local}.index').exists():
      return str(local), ''
  return init_checkpoint, ''


_URL = re.compile(r'^(https?|ftp|file)://')
_CHUNK = 1 << 20


def sha256_of(path) -> str:
  digest = hashlib.sha256()
  with tf.io.gfile.GFile(str(path), 'rb') as f:
    for chunk in iter(lambda: f.read(_CHUNK), b''):
      digest.update(chunk)
  return digest.hexdigest()


_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException,
                   ConnectionError, TimeoutError)


def _open(source: str):
  if _URL.match(source):
    # pylint: disable-next=consider-using-with
    return urllib.request.urlopen(source, timeout=60)
  return tf.io.gfile.GFile(source, 'rb')


def _check_free(path, overwrite: bool = False) -> None:
  if pathlib.Path(path).exists() and not overwrite:
    raise FileExistsError(f'{path} already exists')


def download(source: str, path, sha256: str = '') -> pathlib.Path:
  """Copies `source` (URL, gs:// or local path) to `path`, atomically.

  An existing `path` with the right checksum is kept as is.

  Raises:
    ModelError: the copied bytes do not have the expected sha256.
    DownloadError: the network failed (in both cases nothing is left at
      `path`).
  """
  path = pathlib.Path(path)
  if sha256 and path.exists() and sha256_of(path) == sha256:
    return path
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', dir=path.parent)
  try:
    digest = hashlib.sha256()
    with os.fdopen(fd, 'wb') as out, _open(source) as src:
      for chunk in iter(lambda: src.read(_CHUNK), b''):
        digest.update(chunk)
        out.write(chunk)
    if sha256 and digest.hexdigest() != sha256:
      raise errors.ModelError(
          f'checksum mismatch for {source}: sha256 '
          f'{digest.hexdigest()}, expected {sha256}')
    os.replace(tmp, path)
  except _NETWORK_ERRORS as e:  # opening or reading a URL
    pathlib.Path(tmp).unlink(missing_ok=True)
    raise errors.DownloadError(
        f'could not download {source}: {getattr(e, "reason", e)}; without '
        'a network, copy the file and pass its local path') from None
  except BaseException:
    pathlib.Path(tmp).unlink(missing_ok=True)
    raise
  return path


def fetch_tflite(name: str, cache_dir, source: str = '') -> pathlib.Path:
  """`TFLITE_FILES[name]` in `cache_dir`, downloaded (or copied from
  `source`, e.g. a local mirror) if absent; always checksum-verified."""
  if name not in TFLITE_FILES:
    raise errors.FlagError(
        f'unknown TFLite file {name!r}; known: '
        f'{", ".join(sorted(TFLITE_FILES))}')
  spec = TFLITE_FILES[name]
  return download(source or spec.url, pathlib.Path(cache_dir) / spec.filename,
                  spec.sha256)


def download_checkpoint(prefix: str, output_dir) -> str:
  """Copies checkpoint `prefix` (.index + .data-*) into `output_dir`.

  Returns the local prefix; `output_dir` also works as a checkpoint dir.
  """
  prefix = segmenter_lib.resolve_checkpoint(prefix)
  output_dir = pathlib.Path(output_dir)
  name = os.path.basename(prefix)
  files = [prefix + '.index'] + tf.io.gfile.glob(prefix + '.data-*')
  _check_free(output_dir)
  with io_utils.atomic_directory(output_dir) as tmp:
    for source in files:
      download(source, tmp / os.path.basename(source))
    tf.compat.v1.train.update_checkpoint_state(str(tmp), name)
  return str(output_dir / name)


def _interpreter(path, run: bool = False) -> tf.lite.Interpreter:
  """An interpreter of the TFLite file `path`; with TFLite's default
  XNNPACK delegate if it is to `run` (and then its INFO line), else for
  reading weights only."""
  if not pathlib.Path(path).is_file():
    raise errors.ModelError(
        f'no TFLite file at {path}')
  with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation note.
    warnings.simplefilter('ignore')
    try:
      resolver = tf.lite.experimental.OpResolverType
      interpreter = tf.lite.Interpreter(
          model_path=str(path), experimental_op_resolver_type=(
              resolver.AUTO if run else
              resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
    except ValueError as e:
      raise errors.ModelError(
          f'{path} is not a valid TFLite file: {str(e).strip()}') from None
  interpreter.allocate_tensors()
  return interpreter


def _dequantize(interpreter, detail) -> np.ndarray:
  array = interpreter.get_tensor(detail['index'])
  q = detail['quantization_parameters']
  if not len(q['scales']):  # pylint: disable=g-explicit-length-test
    return array.astype(np.float32)
  shape = [1] * array.ndim
  shape[q['quantized_dimension']] = -1
  scales = q['scales'].reshape(shape if len(q['scales']) > 1 else [])
  zeros = q['zero_points'].reshape(shape if len(q['zero_points']) > 1 else [])
  return ((array.astype(np.float32) - zeros) * scales).astype(np.float32)


# TF-slim / TF DeepLab layer scopes whose convs carry weights.
_SCOPE = re.compile(
    r'^(MobilenetV2/(?:Conv|Conv_1|Logits/Conv2d_1c_1x1|expanded_conv(?:_\d+)?'
    r'/(?:expand|depthwise|project))|aspp0|image_pooling|concat_projection'
    r'|logits/semantic)/')
_CONV_OPS = ('CONV_2D', 'DEPTHWISE_CONV_2D')


def read_tflite_convs(path) -> dict:
  """{TF-slim scope: (kernel, bias)} of every conv in a TFLite file.

  Kernels come in Keras layout ([kh, kw, in, out]; depthwise [kh, kw, C, 1]),
  dequantised to float32.
  """
  interpreter = _interpreter(path)
  details = {d['index']: d for d in interpreter.get_tensor_details()}
  convs = {}
  for op in interpreter._get_ops_details():  # pylint: disable=protected-access
    if op['op_name'] not in _CONV_OPS:
      continue
    kernel, bias = (details[i] for i in op['inputs'][1:3])
    # Fused constants are named 'own/name;other/names'.
    match = _SCOPE.match(kernel['name'].split(';')[0])
    if not match:
      raise errors.ModelError(
          f'{path}: conv weight {kernel["name"]!r} is not in a TF-slim / TF '
          'DeepLab MobileNetV2 scope; only files with those names are '
          'supported')
    if match.group(1) in convs:
      raise errors.ModelError(
          f'{path}: two convs in scope {match.group(1)!r}')
    convs[match.group(1)] = (
        np.transpose(_dequantize(interpreter, kernel), (1, 2, 3, 0)),
        _dequantize(interpreter, bias))
  if 'MobilenetV2/Conv' not in convs:
    raise errors.ModelError(
        f'{path}: no MobilenetV2/Conv layer; not a TF-slim '
        'MobileNetV2 / TF DeepLab model')
  return convs


def _garden_convs(model) -> dict:
  """{TF-slim scope: (conv layer, batch norm layer or None)} of `model`.

  Uses the layer attributes of the Model Garden's MobileNet blocks, ASPP and
  segmentation head (tf-models-official 2.20).
  """
  # pylint: disable=protected-access
  layers = {}
  stem, last = [l for l in model.backbone.layers
                if isinstance(l, mobilenet.Conv2DBNBlock)]
  layers['MobilenetV2/Conv'] = (stem._conv0, stem._norm0)
  layers['MobilenetV2/Conv_1'] = (last._conv0, last._norm0)
  blocks = [l for l in model.backbone.layers
            if isinstance(l, nn_blocks.InvertedBottleneckBlock)]
  for i, block in enumerate(blocks):
    scope = 'MobilenetV2/expanded_conv' + (f'_{i}' if i else '')
    if block._expand_ratio > 1:
      layers[scope + '/expand'] = (block._conv0, block._norm0)
    layers[scope + '/depthwise'] = (block._conv1, block._norm1)
    layers[scope + '/project'] = (block._conv2, block._norm2)
  spp = model.decoder.aspp  # ASPP-lite: 1x1 conv + image pooling.
  layers['aspp0'] = tuple(spp.aspp_layers[0].layers[:2])
  layers['image_pooling'] = tuple(spp.aspp_layers[-1].layers[-1].layers[:2])
  layers['concat_projection'] = tuple(spp.projection.layers[:2])
  layers['logits/semantic'] = (model.head._classifier, None)
  # pylint: enable=protected-access
  return layers


def _assign(scope, conv, norm, kernel, bias) -> None:
  target = conv.weights[0]
  if tuple(target.shape) != kernel.shape:
    raise errors.ModelError(
        f'{scope}: TFLite kernel {list(kernel.shape)} does not '
        f'fit the model\'s {target.shape.as_list()}')
  target.assign(kernel)
  if norm is None:
    conv.bias.assign(bias)
    return
  norm.gamma.assign(np.ones_like(bias))
  norm.beta.assign(bias)
  norm.moving_mean.assign(np.zeros_like(bias))
  norm.moving_variance.assign(np.full_like(bias, 1.0 - norm.epsilon))


@dataclasses.dataclass
class Conversion:
  """A converted model and what of it holds pretrained weights.

  Attributes:
    model: the `Segmenter` with the TFLite weights.
    preset: the `segwgan.configs.models` preset it was built from.
    modules: ('all',) for a whole DeepLab model, ('backbone',) for an
      ImageNet classifier's backbone.
    width: the MobileNetV2 depth multiplier.
  """
  model: segmenter_lib.Segmenter
  preset: str
  modules: tuple
  width: float


_PRESET_BY_WIDTH = {0.5: 'tf_deeplab_mnv2_dm05_os8',
                    1.0: 'tf_deeplab_mnv2_os16'}


def convert_tflite(path, width: float = 0.0) -> Conversion:
  """Loads a TFLite DeepLabv3-MobileNetV2 / MobileNetV2 into a `Segmenter`.

  Args:
    path: a TFLite file with TF-slim scope names (see `TFLITE_FILES`).
    width: expected depth multiplier (0.5 or 1.0); 0 infers it from the file.

  Raises:
    ValueError: unreadable file, unsupported names, a width other than
      requested, or weights that do not fit the preset's layers.
  """
  convs = read_tflite_convs(path)
  file_width = convs['MobilenetV2/Conv'][0].shape[-1] / 32
  if width and not math.isclose(width, file_width):
    raise errors.ModelError(
        f'{path} has MobileNetV2 width {file_width}, not {width}')
  if file_width not in _PRESET_BY_WIDTH:
    raise errors.ModelError(
        f'{path}: MobileNetV2 width {file_width} has no preset '
        f'(supported: {sorted(_PRESET_BY_WIDTH)})')
  preset = _PRESET_BY_WIDTH[file_width]
  config = models.get_preset(preset).build()
  is_deeplab = 'logits/semantic' in convs
  config.num_classes = (convs['logits/semantic'][0].shape[-1] if is_deeplab
                        else 21)
  model = segmenter_lib.build_segmenter(config)
  targets = _garden_convs(model)
  if not is_deeplab:
    targets = {k: v for k, v in targets.items() if k.startswith('MobilenetV2')}
    convs.pop('MobilenetV2/Logits/Conv2d_1c_1x1', None)
  elif 'concat_projection' in convs:
    kernel, bias = convs['concat_projection']
    n = kernel.shape[2] // 2  # [image_pooling, aspp0] -> [aspp0, pooling]
    convs['concat_projection'] = (
        np.concatenate([kernel[:, :, n:], kernel[:, :, :n]], axis=2), bias)
  unused = sorted(set(convs) - set(targets))
  if unused:
    raise errors.ModelError(
        f'{path}: no layer in preset {preset} for {unused}')
  missing = sorted(set(targets) - set(convs) - {'MobilenetV2/Conv_1'})
  if missing:
    raise errors.ModelError(
        f'{path}: no weights for {missing}')
  for scope, (kernel, bias) in convs.items():
    _assign(scope, *targets[scope], kernel, bias)
  return Conversion(model=model, preset=preset,
                    modules=('all',) if is_deeplab else ('backbone',),
                    width=file_width)


def save_checkpoint(conversion: Conversion, output_dir, source: str = '',
                    overwrite: bool = False) -> str:
  """Writes `output_dir/ckpt-1` (+ `conversion.json`) atomically.

  Only the converted modules are written (all of backbone / decoder / head,
  or the backbone alone). Returns the checkpoint prefix.
  """
  model = conversion.model
  items = (model.checkpoint_items if conversion.modules == ('all',)
           else {'backbone': model.backbone})
  _check_free(output_dir, overwrite)
  with io_utils.atomic_directory(output_dir) as tmp:
    tf.train.CheckpointManager(tf.train.Checkpoint(**items), str(tmp),
                               max_to_keep=1).save()
    info = {'source': str(source), 'preset': conversion.preset,
            'modules': list(conversion.modules), 'width': conversion.width,
            'num_classes': model.head.get_config()['num_classes']}
    if source:
      info['source_sha256'] = sha256_of(source)
    (tmp / 'conversion.json').write_text(json.dumps(info, indent=2) + '\n')
  return tf.train.latest_checkpoint(str(output_dir))


class TfliteModel:
  """Runs a TFLite DeepLab file on one RGB uint8 image at its input size."""

  def __init__(self, path):
    self._interpreter = _interpreter(path, run=True)
    self._input = self._interpreter.get_input_details()[0]
    self._output = self._interpreter.get_output_details()[0]

  @property
  def input_size(self) -> int:
    return int(self._input['shape'][1])

  def predict(self, image: np.ndarray) -> np.ndarray:
    """[S, S, 3] uint8 -> [S, S] int32 labels (argmax of the logits)."""
    real = image.astype(np.float32) / 127.5 - 1.0  # TF DeepLab's input.
    scale, zero_point = self._input['quantization']
    if scale:
      real = np.clip(np.round(real / scale + zero_point), 0, 255)
    self._interpreter.set_tensor(
        self._input['index'], real[None].astype(self._input['dtype']))
    self._interpreter.invoke()
    out = self._interpreter.get_tensor(self._output['index'])[0]
    return (out.argmax(-1) if out.ndim == 3 else out).astype(np.int32)


def letterbox(image: np.ndarray, size: int):
  """Resizes the long side to `size` and pads bottom/right with 128.

  Returns the [size, size, 3] uint8 image and the (h, w) of the picture.
  """
  h, w = image.shape[:2]
  scale = size / max(h, w)
  new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
  resized = tf.image.resize(image, (new_h, new_w), method='bilinear')
  resized = np.clip(np.round(resized.numpy()), 0, 255).astype(np.uint8)
  padded = np.full((size, size, 3), 128, np.uint8)
  padded[:new_h, :new_w] = resized
  return padded, (new_h, new_w)


def compare(reference: TfliteModel, model, mean, stddev, image: np.ndarray):
  """Label maps of the TFLite file and of `model` on one letterboxed image.

  Args:
    reference: the original TFLite model.
    model: a converted `Segmenter`.
    mean, stddev: the model's input normalisation ([0, 255] scale).
    image: [H, W, 3] uint8.

  Returns:
    (reference labels, model labels) at the image's size (nearest), and the
    fraction of pixels of the letterboxed picture where the two agree.
  """
  boxed, (h, w) = letterbox(image, reference.input_size)
  expected = reference.predict(boxed)[:h, :w]
  x = (boxed.astype(np.float32) - np.asarray(mean, np.float32)) / np.asarray(
      stddev, np.float32)
  logits = model(x[None], training=False)[0].numpy()
  got = logits.argmax(-1).astype(np.int32)[:h, :w]
  agreement = float((expected == got).mean())
  size = image.shape[:2]
  restore = lambda labels: tf.image.resize(  # pylint: disable=g-long-lambda
      labels[..., None], size, method='nearest').numpy()[..., 0]
  return restore(expected), restore(got), agreement
