"""Label maps of single uint8 images, for notebooks and the tools.

  predictor = Predictor.from_saved_model("exports/voc")
  # or Predictor.from_checkpoint("runs/segwgan/best")
  labels = predictor.predict(image)            # [H, W] int32
  probabilities = predictor.probabilities(image)  # [H, W, C] float32

Both sources run the same computation as evaluation: the image is resized to
the model's `resize_long_side` (if any), normalised, passed through the
segmenter (with the test-time augmentation of `config`), and the logits are
resized back to the image's size.
"""
from typing import Optional

import numpy as np
import tensorflow as tf

from segwgan.evaluation import inference
from segwgan.serving import checkpoints
from segwgan.serving import export


class Predictor:
  """Predictions of one image at a time at its original size."""

  def __init__(self, module, info: checkpoints.ModelInfo,
               config: inference.InferenceConfig = inference.InferenceConfig()):
    """`module.logits(pixels)`: float32 [B, H, W, 3] on [0, 255] -> logits
    (an `export.ServingModule` or a restored export)."""
    self.info = info
    self.config = config
    self.module = module  # Its tf.functions hold it only weakly.
    self._inference = inference.ImageInference(
        module.logits, info.resize_long_side, config)

  @classmethod
  def from_saved_model(cls, export_dir, config: inference.InferenceConfig =
                       inference.InferenceConfig()) -> "Predictor":
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

  @property
  def class_names(self) -> tuple:
    return self.info.labels.class_names

  def logits(self, image: np.ndarray) -> np.ndarray:
    """float32 logits [H, W, C] of a uint8 RGB image [H, W, 3]."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
      raise ValueError("expected a uint8 RGB image [H, W, 3], got "
                       f"{image.dtype} {list(image.shape)}")
    return self._inference.logits(image).numpy()

  def probabilities(self, image: np.ndarray) -> np.ndarray:
    """Class probabilities [H, W, C] (softmax of the averaged logits)."""
    return tf.nn.softmax(self.logits(image)).numpy()

  def predict(self, image: np.ndarray) -> np.ndarray:
    """The label map [H, W] int32 (class ids of `info.dataset`)."""
    return np.argmax(self.logits(image), axis=-1).astype(np.int32)
