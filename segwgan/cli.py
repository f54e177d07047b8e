"""Flags and error handling shared by the training tools.

Every tool validates its flags before doing any work and turns a known bad
input (a config, data or checkpoint error) into one line on stderr and exit
code 2, never a stack trace.
"""
import sys
from typing import Callable

import tensorflow as tf
from absl import flags
from absl import logging

from segwgan import io_utils
from segwgan.configs import overrides
from segwgan.data import validate
from segwgan.modeling import segmenter
from segwgan.training import callbacks
from segwgan.training import runner

FLAGS = flags.FLAGS
USER_ERRORS = (overrides.ConfigError, validate.DataError, ValueError,
               FileNotFoundError, PermissionError, OSError,
               AssertionError, tf.errors.OpError, callbacks.TrainingDiverged)


def define_experiment_flags() -> None:
  """--experiment, --config_file, --params_override, --model_dir, data and
  runtime flags (Model Garden names where they exist)."""
  flags.DEFINE_string("experiment", None, "A registered segwgan experiment, "
                      "e.g. stage1_cmp_facades_cpu.")
  flags.DEFINE_multi_string("config_file", None, "YAML override files, "
                            "applied in order.")
  flags.DEFINE_string("params_override", None, "A YAML/JSON string or file "
                      "applied last, e.g. 'trainer: {train_steps: 100}'.")
  flags.DEFINE_string("model_dir", None, "Checkpoints, params.yaml and "
                      "TensorBoard events; rerunning resumes from it.")
  flags.DEFINE_string("data_dir", None, "The dataset's official layout "
                      "(default: download the official archive).")
  flags.DEFINE_string("tfds_dir", None, "Where prepared TFDS data is kept "
                      "(default: ~/tensorflow_datasets).")
  flags.DEFINE_enum("mixed_precision", None, list(runner.PRECISIONS),
                    "Compute precision (default: the experiment's).")
  flags.DEFINE_enum("strategy", None, list(runner.STRATEGIES),
                    "tf.distribute strategy (default: the experiment's).")
  flags.DEFINE_bool("xla", None, "jit_compile the train step (off by default: "
                    "5x slower on CPU).")
  flags.DEFINE_integer("seed", None, "Seeds weight initialisation and the "
                       "data order/augmentation (task.seed and "
                       "train_data.seed).")
  flags.DEFINE_bool("deterministic", None, "Deterministic TF ops and data "
                    "order: a killed and resumed run ends with the same "
                    "weights as an uninterrupted one (slower).")
  flags.mark_flags_as_required(["experiment", "model_dir"])


def flag_values() -> dict:
  """The typed flags as an override dict (unset flags are left out)."""
  data = {}
  if FLAGS.data_dir:
    data["source_dir"] = FLAGS.data_dir
  if FLAGS.tfds_dir:
    data["tfds_data_dir"] = FLAGS.tfds_dir
  runtime = {}
  if FLAGS.mixed_precision:
    runtime["mixed_precision_dtype"] = FLAGS.mixed_precision
  if FLAGS.strategy:
    runtime["distribution_strategy"] = FLAGS.strategy
  if FLAGS.xla is not None:
    runtime["enable_xla"] = FLAGS.xla
  values = {}
  if data:
    values["task"] = {"train_data": dict(data), "validation_data": dict(data)}
  task = values.setdefault("task", {})
  if FLAGS.seed is not None:
    task["seed"] = FLAGS.seed
    task.setdefault("train_data", {})["seed"] = FLAGS.seed
  if FLAGS.deterministic is not None:
    task["deterministic"] = FLAGS.deterministic
    task.setdefault("train_data", {})["deterministic"] = FLAGS.deterministic
  if not task:
    del values["task"]
  if runtime:
    values["runtime"] = runtime
  return values


def check_experiment(params) -> None:
  """Flag/config combinations that cannot work, refused before any work."""
  io_utils.check_writable_dir(FLAGS.model_dir, "--model_dir")
  init = getattr(params.task, "init_checkpoint", "")
  if init:
    try:
      segmenter.resolve_checkpoint(init)
    except ValueError as e:
      raise ValueError(f"task.init_checkpoint: {e}") from None
  trainer = params.trainer
  if trainer.train_steps <= 0:
    raise ValueError(f"trainer.train_steps must be > 0, got "
                     f"{trainer.train_steps}")
  if trainer.checkpoint_interval <= 0 or (
      trainer.train_steps % trainer.checkpoint_interval):
    raise ValueError(f"trainer.train_steps ({trainer.train_steps}) must be a "
                     "positive multiple of trainer.checkpoint_interval "
                     f"({trainer.checkpoint_interval})")
  strategy = runner.get_strategy(params.runtime.distribution_strategy)
  replicas = strategy.num_replicas_in_sync
  batch = params.task.train_data.global_batch_size
  if batch <= 0 or batch % replicas:
    raise ValueError(f"train_data.global_batch_size ({batch}) must be a "
                     f"positive multiple of the {replicas} replicas of "
                     f"--strategy={params.runtime.distribution_strategy}")
  crop = list(params.task.train_data.output_size)
  if len(crop) != 2 or any(c <= 0 or c % 16 for c in crop):
    raise ValueError(f"train_data.output_size {crop} must be [h, w], each a "
                     "positive multiple of 16 (the generator halves it 4 "
                     "times; DeepLabv3 needs a multiple of its output "
                     "stride)")


def run(main: Callable[[], object]) -> None:
  """Runs `main`, mapping user errors to one line and exit code 2."""
  try:
    main()
  except USER_ERRORS as e:
    logging.debug("error", exc_info=True)
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
