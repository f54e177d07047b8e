"""Segmenters restored from checkpoints, with what inference needs to know.

A checkpoint holds weights only. The network, the classes, the input
normalisation and the evaluation size come from, in this order:

1. `experiment`: a registered stage-2 experiment (+ `params_override`);
2. the stage-2 run's ``params.yaml`` in the checkpoint's directory or its
   parent (so ``MODEL_DIR``, ``MODEL_DIR/ckpt-N`` and ``MODEL_DIR/best`` all
   work);
3. `preset` (default: the ``conversion.json`` of a converted checkpoint) and
   `dataset`, with whole images at their original size.

Two layouts are read: a stage-2 run's ``tf.train.Checkpoint(trainer=
SegTrainer)`` (``trainer/segmenter/...``) and ``tf.train.Checkpoint(
**segmenter.checkpoint_items)`` (converted and Model Garden checkpoints).
Every variable of the segmenter must be restored: a head for another number
of classes is an error here, not a fresh initialisation.
"""
import dataclasses
import json
import pathlib
from typing import Optional, Tuple

import tensorflow as tf
import yaml

from segwgan import errors
from segwgan.configs import experiments
from segwgan.configs import models
from segwgan.configs import overrides
from segwgan import labels
from segwgan.modeling import segmenter as segmenter_lib

CONVERSION_FILE = "conversion.json"
_TRAINER_SEGMENTER = "trainer/segmenter/"


@dataclasses.dataclass(frozen=True)
class ModelInfo:
  """What surrounds a segmenter's weights.

  Attributes:
    dataset: the dataset whose classes it predicts (`segwgan.labels`).
    mean, stddev: its input normalisation on the [0, 255] scale.
    resize_long_side: images are resized to this long side before inference
      and predictions resized back (0: original size), as in evaluation.
    source: where the weights came from (a checkpoint prefix).
  """
  dataset: str
  mean: Tuple[float, float, float]
  stddev: Tuple[float, float, float]
  resize_long_side: int = 0
  source: str = ""

  @property
  def labels(self) -> labels.DatasetInfo:
    return labels.get_info(self.dataset)

  @property
  def num_classes(self) -> int:
    return self.labels.num_classes

  def to_json(self) -> str:
    """The fields, and for readers without segwgan the dataset's
    `class_names` and `palette` ([r, g, b] of each class id)."""
    values = dataclasses.asdict(self)
    values["class_names"] = list(self.labels.class_names)
    values["palette"] = [list(colour) for colour in self.labels.colours]
    return json.dumps(values, indent=2) + "\n"

  @classmethod
  def from_json(cls, text: str) -> "ModelInfo":
    """The `ModelInfo` of `to_json` (class names and palette: the
    dataset's)."""
    values = json.loads(text)
    values.pop("class_names", None)
    values.pop("palette", None)
    values["mean"] = tuple(values["mean"])
    values["stddev"] = tuple(values["stddev"])
    return cls(**values)


@dataclasses.dataclass(frozen=True)
class Loaded:
  """A restored segmenter (normalised images -> logits) and its `ModelInfo`."""
  segmenter: segmenter_lib.Segmenter
  info: ModelInfo


def find_params(checkpoint: str) -> Optional[pathlib.Path]:
  """The run's params.yaml beside `checkpoint` or one level up, if any."""
  path = pathlib.Path(checkpoint)
  folder = path if path.is_dir() else path.parent
  for candidate in (folder, folder.parent):
    if (candidate / experiments.PARAMS_FILE).is_file():
      return candidate / experiments.PARAMS_FILE
  return None


def _stage2_task(params, origin: str) -> experiments.SegTask:
  if not isinstance(params.task, experiments.SegTask):
    raise errors.ModelError(f"{origin} is not a stage-2 (segmenter) "
                            "experiment")
  return params.task


def _task_from_params_file(path: pathlib.Path) -> experiments.SegTask:
  with open(path) as f:
    task = (yaml.safe_load(f) or {}).get("task", {})
  if "model" not in task or "variant" not in task:
    raise errors.ModelError(f"{path} is not a stage-2 run's params.yaml "
                            "(no task.model / task.variant)")
  config = experiments.SegTask()
  config.override(task, is_strict=False)
  return config


def _from_task(task: experiments.SegTask, source: str):
  data = task.validation_data
  info = ModelInfo(dataset=data.dataset, mean=tuple(data.image_feature.mean),
                   stddev=tuple(data.image_feature.stddev),
                   resize_long_side=data.resize_long_side, source=source)
  return task.model, info


def _conversion_preset(checkpoint: str) -> str:
  path = pathlib.Path(checkpoint)
  folder = path if path.is_dir() else path.parent
  conversion = folder / CONVERSION_FILE
  if conversion.is_file():
    return json.loads(conversion.read_text()).get("preset", "")
  return ""


def restore(segmenter: segmenter_lib.Segmenter, prefix: str) -> None:
  """Reads all of `segmenter`'s variables from checkpoint `prefix`."""
  names = [name for name, _ in tf.train.list_variables(prefix)]
  if any(name.startswith(_TRAINER_SEGMENTER) for name in names):
    root = tf.train.Checkpoint(
        trainer=tf.train.Checkpoint(segmenter=segmenter))
  else:
    root = tf.train.Checkpoint(**segmenter.checkpoint_items)
  try:
    segmenter_lib.read_checkpoint(root, prefix)
  except errors.ModelError:
    raise
  except (AssertionError, ValueError) as e:
    raise errors.ModelError(f"checkpoint {prefix} does not fit the model: "
                            f"{e}") from None


def load(checkpoint: str, *, experiment: Optional[str] = None,
         params_override: Optional[str] = None, preset: Optional[str] = None,
         dataset: Optional[str] = None) -> Loaded:
  """Builds the segmenter of `checkpoint` and restores it.

  Args:
    checkpoint: a checkpoint prefix or a directory (its latest checkpoint).
    experiment: a registered stage-2 experiment giving model and data config.
    params_override: YAML applied to `experiment`.
    preset: a model preset (when neither an experiment nor a params.yaml
      is there); defaults to the one in the checkpoint's conversion.json.
    dataset: the classes; with an experiment or params.yaml it must agree.

  Raises:
    errors.UserError: the model cannot be determined (FlagError), disagrees
      with `dataset` (FlagError), or does not fit the checkpoint
      (ModelError); overrides.ConfigError for a bad experiment.
  """
  prefix = segmenter_lib.resolve_checkpoint(checkpoint)
  params_file = find_params(checkpoint)
  if experiment:
    task = _stage2_task(overrides.build(experiment,
                                        params_override=params_override),
                        f"--experiment={experiment}")
    model_config, info = _from_task(task, prefix)
  elif params_file:
    model_config, info = _from_task(_task_from_params_file(params_file),
                                    prefix)
  else:
    preset = preset or _conversion_preset(checkpoint)
    if not preset or not dataset:
      raise errors.FlagError(
          f"cannot tell which model {checkpoint} holds: give an experiment "
          "(--experiment), a stage-2 model_dir with params.yaml, or a preset "
          "and a dataset")
    mean, stddev = models.input_normalization(preset)
    model_config = models.model_config(preset, dataset)
    info = ModelInfo(dataset=dataset, mean=tuple(mean), stddev=tuple(stddev),
                     source=prefix)
  if dataset and dataset != info.dataset:
    raise errors.FlagError(f"{checkpoint} predicts the classes of "
                           f"{info.dataset}, not {dataset}")
  segmenter = segmenter_lib.build_segmenter(model_config)
  restore(segmenter, prefix)
  return Loaded(segmenter, info)
