"""Label maps of single uint8 images, for notebooks and the tools.

  predictor = Predictor.from_saved_model("exports/voc")
  # or Predictor.from_checkpoint("runs/segwgan/best"), or
  # Predictor.from_saved_model("exports/voc", backend="tflite")
  labels = predictor.predict(image)            # [H, W] int32
  probabilities = predictor.probabilities(image)  # [H, W, C] float32

Every source runs the same computation as evaluation: the image is resized
to the model's `resize_long_side` (if any), normalised, passed through the
segmenter (with the test-time augmentation of `config`), and the logits are
resized back to the image's size. The "tflite" backend runs the export's
model.tflite (`tflite_model`: the same labels, faster on CPUs) on whole
images only: no test-time augmentation, no logits.
"""
from typing import Optional

import numpy as np
import tensorflow as tf

from segwgan import errors
from segwgan.data import pipeline
from segwgan.evaluation import inference
from segwgan.serving import checkpoints
from segwgan.serving import export
from segwgan.serving import tflite_model

BACKENDS = ("savedmodel", "tflite")


class Predictor:
  """Predictions of one image at a time at its original size."""

  def __init__(self, module, info: checkpoints.ModelInfo,
               config: inference.InferenceConfig = inference.InferenceConfig(),
               long_side: Optional[int] = None):
    """`module`: a `tflite_model.TFLiteModel` (whole images only), or
    anything whose `logits(pixels)` maps float32 [B, H, W, 3] on [0, 255]
    to logits (an `export.ServingModule` or a restored export).
    `long_side`: images are resized to this long side (0: their own size)
    instead of the model's evaluation size (`info.resize_long_side`).

    Raises:
      errors.FlagError: a TFLiteModel with test-time augmentation, or one
        that resizes images to another long side than `long_side` itself.
    """
    self.info = info
    self.config = config
    self.module = module  # Its tf.functions hold it only weakly.
    self.long_side = (info.resize_long_side if long_side is None
                      else long_side)
    self._inference = None
    if not isinstance(module, tflite_model.TFLiteModel):
      self._inference = inference.ImageInference(module.logits,
                                                 self.long_side, config)
    elif (tuple(config.scales) != (1.0,) or config.flip or
          config.window is not None):
      raise errors.FlagError("--backend=tflite predicts whole images: "
                             "--scales, --flip and --window need "
                             "--backend=savedmodel")
    elif info.resize_long_side > 0 and self.long_side != info.resize_long_side:
      raise errors.FlagError(
          f"--backend=tflite: this model.tflite resizes every image to long "
          f"side {info.resize_long_side} itself, so it cannot predict at "
          f"{self.long_side}; use --backend=savedmodel for another size")

  @classmethod
  def from_saved_model(cls, export_dir, config: inference.InferenceConfig =
                       inference.InferenceConfig(),
                       backend: str = "savedmodel",
                       threads: Optional[int] = None) -> "Predictor":
    """The export in `export_dir`, run by `backend` (of `BACKENDS`;
    `threads`: TFLite's, default one per CPU)."""
    if backend not in BACKENDS:
      raise errors.FlagError(f"--backend must be one of {', '.join(BACKENDS)}"
                             f", not {backend}")
    if backend == "tflite":
      module, info = tflite_model.load(export_dir, threads)
    else:
      module, info = export.load(export_dir)
    return cls(module, info, config)

  @classmethod
  def from_checkpoint(cls, checkpoint: str, *,
                      experiment: Optional[str] = None,
                      params_override: Optional[str] = None,
                      preset: Optional[str] = None,
                      dataset: Optional[str] = None,
                      config: inference.InferenceConfig =
                      inference.InferenceConfig()) -> "Predictor":
    """See `checkpoints.load` for how the model is determined."""
    return cls.from_loaded(checkpoints.load(
        checkpoint, experiment=experiment, params_override=params_override,
        preset=preset, dataset=dataset), config)

  @classmethod
  def from_loaded(cls, loaded: checkpoints.Loaded,
                  config: inference.InferenceConfig =
                  inference.InferenceConfig()) -> "Predictor":
    return cls(export.ServingModule(loaded.segmenter, loaded.info),
               loaded.info, config)

  def at_long_side(self, long_side: int) -> "Predictor":
    """This model predicting images resized to `long_side` (0: their own
    size); labels still come back at each image's size (a FlagError for a
    TFLite model that resizes to another long side itself)."""
    return Predictor(self.module, self.info, self.config, long_side)

  @property
  def class_names(self) -> tuple:
    return self.info.labels.class_names

  def logits(self, image: np.ndarray) -> np.ndarray:
    """float32 logits [H, W, C] of a uint8 RGB image [H, W, 3]."""
    image = _checked(image)
    if self._inference is None:
      raise errors.FlagError("--backend=tflite gives labels and "
                             "probabilities, not logits")
    return self._inference.logits(image).numpy()

  def probabilities(self, image: np.ndarray) -> np.ndarray:
    """Class probabilities [H, W, C] (softmax of the averaged logits)."""
    if self._inference is None:
      image = _checked(image)
      probabilities = self.module.probabilities(self._tflite_input(image))
      return tf.image.resize(probabilities, image.shape[:2],
                             method="bilinear").numpy()
    return tf.nn.softmax(self.logits(image)).numpy()

  def predict(self, image: np.ndarray) -> np.ndarray:
    """The label map [H, W] int32 (class ids of `info.dataset`)."""
    if self._inference is None:
      image = _checked(image)
      labels = self.module.labels(self._tflite_input(image))
      return tf.image.resize(labels[..., None], image.shape[:2],
                             method="nearest")[..., 0].numpy()
    return np.argmax(self.logits(image), axis=-1).astype(np.int32)

  def _tflite_input(self, image: np.ndarray) -> np.ndarray:
    """`image` resized to `long_side` unless model.tflite resizes it itself
    (`__init__` refused any other long side then; its labels come back
    resized by nearest neighbour, its probabilities bilinearly, not its
    logits)."""
    if self.long_side == 0 or self.info.resize_long_side > 0:
      return image
    size = pipeline.scaled_size(image.shape[:2], self.long_side)
    resized = tf.image.resize(image, size, method="bilinear")
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255),
                   tf.uint8).numpy()


def _checked(image) -> np.ndarray:
  """`image` as an array; ValueError unless uint8 [H, W, 3]."""
  image = np.asarray(image)
  if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError("expected a uint8 RGB image [H, W, 3], got "
                     f"{image.dtype} {list(image.shape)}")
  return image
