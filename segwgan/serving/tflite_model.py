"""An export's model.tflite run by TFLite (XNNPACK on CPU), image by image.

model.tflite is the export's ``serving_default`` (uint8 image in;
normalisation, the model's evaluation resize, softmax and argmax inside):
its labels are the SavedModel's, to float rounding, at CPU speeds of
mobile runtimes. It predicts whole images only (no test-time augmentation
or sliding windows: they need logits).
"""
import os
import pathlib
from typing import Optional
import warnings

import numpy as np
import tensorflow as tf

from segwgan import errors
from segwgan.serving import checkpoints
from segwgan.serving import export


class TFLiteModel:
  """Labels and probabilities of single uint8 RGB images [H, W, 3]."""

  def __init__(self, path, threads: Optional[int] = None):
    """`path`: an export's model.tflite; `threads`: TFLite's (default: one
    per CPU)."""
    self.path = pathlib.Path(path)
    if not self.path.is_file():
      raise errors.ModelError(
          f"{self.path} not found: the TFLite backend runs an export's "
          "model.tflite (export it with the TFLite option of "
          "tools/export.py)")
    try:
      with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation.
        warnings.simplefilter("ignore")
        self._interpreter = tf.lite.Interpreter(
            model_path=str(self.path), num_threads=threads or os.cpu_count())
      runner = self._interpreter.get_signature_runner(export.SERVING_KEY)
    except ValueError as e:  # Not a TFLite file, or not one of an export.
      raise errors.ModelError(
          f"{self.path} is not the model.tflite of a segwgan export: "
          f"{str(e).strip().splitlines()[0]}") from None
    self._input = runner.get_input_details()["images"]
    self._outputs = {name: details["index"] for name, details in
                     runner.get_output_details().items()}
    # [1, H, W, 3] of a model of one size (`export`'s tflite_size), else
    # None (any size: the input is resized to each new image size).
    shape = list(self._input["shape_signature"])
    self.fixed_shape = tuple(shape) if min(shape) > 0 else None
    self._shape = None

  @property
  def outputs(self) -> tuple:
    return tuple(self._outputs)

  def _run(self, image: np.ndarray, output: str) -> np.ndarray:
    if output not in self._outputs:
      raise errors.ModelError(
          f"{self.path} outputs {', '.join(self._outputs)} only, not "
          f"{output} (exported with tflite_outputs)")
    shape = (1, *image.shape)
    if shape != self._shape:
      if self.fixed_shape is not None and shape != self.fixed_shape:
        raise errors.UserError(
            f"{self.path} takes {self.fixed_shape[1]}x{self.fixed_shape[2]} "
            f"images only (exported with a TFLite size), not "
            f"{shape[1]}x{shape[2]}: resize the image, or export without a "
            "TFLite size for any size")
      if self.fixed_shape is None:
        self._interpreter.resize_tensor_input(self._input["index"], shape)
      self._interpreter.allocate_tensors()
      self._shape = shape
    self._interpreter.set_tensor(self._input["index"], image[None])
    self._interpreter.invoke()
    return self._interpreter.get_tensor(self._outputs[output])[0]

  def labels(self, image: np.ndarray) -> np.ndarray:
    """int32 labels [H, W] (argmax of the probabilities if the model
    outputs no labels)."""
    if "labels" in self._outputs:
      return self._run(image, "labels").astype(np.int32)
    return np.argmax(self._run(image, "probabilities"), -1).astype(np.int32)

  def probabilities(self, image: np.ndarray) -> np.ndarray:
    """float32 class probabilities [H, W, C]."""
    return self._run(image, "probabilities")


def load(export_dir, threads: Optional[int] = None):
  """(a `TFLiteModel` of an export's model.tflite, the export's ModelInfo).

  Raises:
    errors.ModelError: `export_dir` is not a segwgan export or has no
      model.tflite.
  """
  export_dir = pathlib.Path(export_dir)
  info_path = export_dir / export.INFO_FILE
  if not info_path.is_file():
    raise errors.ModelError(f"{export_dir} is not a segwgan export (needs "
                            f"{export.INFO_FILE})")
  return (TFLiteModel(export_dir / export.TFLITE_FILE, threads),
          checkpoints.ModelInfo.from_json(info_path.read_text()))
