"""Every flag the tools share, defined once, and how a tool starts and fails.

A tool calls the group definers it needs, then `start(main)`:

  define_experiment_flags()  --experiment --config_file --params_override
                             --model_dir --mixed_precision --strategy --xla
                             --seed --deterministic + the data flags
                             (training)
  define_data_flags()        --data_dir --tfds_dir (+ --download)
  define_data_dir_flag()     --data_dir alone (files read directly)
  define_dataset_flag()      --dataset
  define_split_flag()        --split
  define_max_images_flag()   --max_images
  define_output_dir_flag()   --output_dir
  define_overwrite_flag()    --overwrite
  define_tflite_file_flag()  --tflite (a .tflite file)
  define_checkpoint_flag()   --checkpoint
  define_model_flags()       --checkpoint --experiment --params_override
                             --preset (+ --saved_model)
  define_inference_flags()   --scales --flip --window --overlap
  --verbose                  (always) library logs and TF's C++ logs

Each flag name has one meaning in every tool: --experiment is always a
registered segwgan experiment (the one to train, or the one describing a
--checkpoint), --config_file and --params_override always override such an
experiment. `start` lists a tool's flags, including these, under --help,
and exits 2 on an unknown or malformed flag. `run` turns segwgan's own
error types (`segwgan.errors`), the training stops the user can act on and
the OS refusing a file or directory into one line on stderr and exit 2;
anything else (a plain ValueError, a network failure) is a bug or an
environment failure and keeps its traceback.
"""
import ctypes
import errno
import logging as py_logging
import os
import sys
from typing import Callable, Optional

# TF reads this when it loads: its C++ log lines (oneDNN, CPU features, "no
# CUDA driver" on every CPU machine) are hidden unless --verbose is on the
# command line; errors still reach the user as Python exceptions.
def _verbose_in(argv) -> bool:
  """Whether the command line turns --verbose on (the last of --verbose,
  --noverbose and --verbose=VALUE wins), read before the flags are."""
  verbose = False
  for arg in argv[1:]:
    if arg in ("--verbose", "--noverbose"):
      verbose = arg == "--verbose"
    elif arg.startswith("--verbose="):
      verbose = arg.split("=", 1)[1].lower() in ("true", "t", "1", "yes")
  return verbose


if "tensorflow" not in sys.modules and not _verbose_in(sys.argv):
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow as tf
from absl import app
from absl import flags
from absl import logging

from segwgan import errors
from segwgan import io_utils
from segwgan.configs import data as data_config
from segwgan.configs import overrides
from segwgan.evaluation import inference
from segwgan.modeling import segmenter
from segwgan.serving import checkpoints
from segwgan.serving import predictor
from segwgan.training import callbacks
from segwgan.training import runner
# pylint: enable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS
# The C++ loggers TF_CPP_MIN_LOG_LEVEL does not reach in TF 2.20 (see
# `_hide_cpp_logs`): {library: (symbol, offset from TF's level)}. Abseil's
# levels are TF's (0 INFO .. 3 FATAL); TFLite's minimal logger (XNNPACK's
# "Created TensorFlow Lite XNNPACK delegate") counts VERBOSE 0, INFO 1 ..
# SILENT 4.
_CPP_LOGGERS = {
    "libtensorflow_framework.so.2": (
        "_ZN4absl12lts_2025012714SetMinLogLevelENS0_18LogSeverityAtLeastE",
        0),
    "libtensorflow_cc.so.2": (
        "_ZN6tflite16logging_internal13MinimalLogger21SetMinimumLogSeverity"
        "ENS_11LogSeverityE", 1),
}
# What `run` reports as one line (exit 2): segwgan's user errors, a training
# run that stopped for a reason it names (a checkpoint it could not save
# included), and the OS refusing a file or directory: missing, not
# writable, a file where a directory should be or the reverse, already
# there, or, as an OSError with one of `_REFUSED`'s codes, a full disk, a
# quota or file-size limit reached, a read-only file system, a name too
# long, a symlink loop, a directory not empty.
USER_ERRORS = (errors.UserError, callbacks.TrainingDiverged,
               callbacks.CheckpointSaveFailed, FileNotFoundError,
               PermissionError, IsADirectoryError, NotADirectoryError,
               FileExistsError)
_REFUSED = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS,
            errno.ENAMETOOLONG, errno.ELOOP, errno.ENOTEMPTY)

flags.DEFINE_bool("verbose", False, "Also show library logs (TensorFlow, "
                  "Model Garden) and TF's C++ INFO/WARNING lines.")


# Training ------------------------------------------------------------------


def define_experiment_flags() -> None:
  """--experiment, --config_file, --params_override, --model_dir and the
  runtime flags (Model Garden names where they exist)."""
  _define_experiment()
  flags.DEFINE_multi_string("config_file", None, "YAML override files of "
                            "--experiment, applied in order.")
  flags.DEFINE_string("model_dir", None, "Checkpoints, params.yaml and "
                      "TensorBoard events; rerunning resumes from it.")
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
  define_data_flags()
  flags.mark_flags_as_required(["experiment", "model_dir"])


def _define_experiment() -> None:
  flags.DEFINE_string("experiment", None, "A registered segwgan experiment, "
                      "e.g. stage1_cmp_facades_cpu (for a --checkpoint: the "
                      "one it was trained with; default its params.yaml).")
  flags.DEFINE_string("params_override", None, "YAML/JSON (or a YAML file) "
                      "applied last to --experiment, e.g. "
                      "'trainer: {train_steps: 100}'.")


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


def _positive_int(value, name: str) -> int:
  if isinstance(value, bool) or not isinstance(value, int):
    raise overrides.ConfigError(f"{name} must be an integer, got {value!r}")
  return value


def check_experiment(params) -> None:
  """Flag/config combinations that cannot work, refused before any work
  (--model_dir is created last, once everything else is right)."""
  init = getattr(params.task, "init_checkpoint", "")
  if init:
    try:
      segmenter.resolve_checkpoint(init)
    except errors.ModelError as e:
      raise overrides.ConfigError(f"task.init_checkpoint: {e}") from None
  check_training_config(params)
  check_data_source(params.task.train_data)
  io_utils.check_writable_dir(FLAGS.model_dir, "--model_dir")


def check_training_config(params) -> None:
  """The config's own combinations that cannot work (schedule, batch over
  replicas, crop size): a ConfigError naming the keys."""
  trainer = params.trainer
  steps = _positive_int(trainer.train_steps, "trainer.train_steps")
  interval = _positive_int(trainer.checkpoint_interval,
                           "trainer.checkpoint_interval")
  if steps <= 0:
    raise overrides.ConfigError(f"trainer.train_steps must be > 0, got "
                                f"{steps}")
  if interval <= 0 or steps % interval:
    raise overrides.ConfigError(
        f"trainer.train_steps ({steps}) must be a positive multiple of "
        f"trainer.checkpoint_interval ({interval})")
  try:
    strategy = runner.get_strategy(params.runtime.distribution_strategy)
  except errors.FlagError as e:
    raise overrides.ConfigError(f"runtime.distribution_strategy: {e}"
                                ) from None
  replicas = strategy.num_replicas_in_sync
  batch = _positive_int(params.task.train_data.global_batch_size,
                        "train_data.global_batch_size")
  if batch <= 0 or batch % replicas:
    raise overrides.ConfigError(
        f"train_data.global_batch_size ({batch}) must be a positive multiple "
        f"of the {replicas} replicas of "
        f"--strategy={params.runtime.distribution_strategy}")
  crop = list(params.task.train_data.output_size)
  if len(crop) != 2 or any(isinstance(c, bool) or not isinstance(c, int) or
                           c <= 0 or c % 16 for c in crop):
    raise overrides.ConfigError(
        f"train_data.output_size {crop} must be [h, w], each a positive "
        "multiple of 16 (the generator halves it 4 times; DeepLabv3 needs a "
        "multiple of its output stride)")


# Data ----------------------------------------------------------------------


def define_data_dir_flag() -> None:
  """--data_dir."""
  flags.DEFINE_string("data_dir", None, "The dataset's folder in its "
                      "official layout (docs/datasets.md).")


def define_data_flags(download: bool = True) -> None:
  """--data_dir, --tfds_dir and (if `download`) --download."""
  define_data_dir_flag()
  flags.DEFINE_string("tfds_dir", None, "Where prepared TFDS data is kept "
                      "(default: ~/tensorflow_datasets).")
  if download:
    flags.DEFINE_bool("download", False, "Without --data_dir: download "
                      "the dataset's official archives (several GB for VOC "
                      "and ADE20K) into --tfds_dir.")


def check_data_source(data: data_config.DataConfig) -> None:
  """Refuses to read `data` without a folder unless --download is given."""
  if not data.source_dir and not FLAGS.download:
    raise errors.FlagError(
        f"no --data_dir for {data.dataset}: give the dataset's folder "
        "(docs/datasets.md), or --download to fetch its official archives "
        "(several GB for VOC and ADE20K) into --tfds_dir")


def define_dataset_flag() -> None:
  """--dataset."""
  flags.DEFINE_string("dataset", None, "cmp_facades, stanford_background, "
                      "pascal_voc2012, ade20k or cityscapes (with a model: "
                      "default the one it predicts).")


def define_split_flag(default: str) -> None:
  """--split."""
  flags.DEFINE_string("split", default, "The dataset split: train, val, "
                      "test, all, or one of the dataset's own "
                      "(docs/datasets.md).")


def define_max_images_flag() -> None:
  """--max_images."""
  flags.DEFINE_integer("max_images", 0, "Only the first N images of the "
                       "split (0: all).")


def check_max_images() -> None:
  """Refuses a negative --max_images."""
  if FLAGS.max_images < 0:
    raise errors.FlagError(f"--max_images must be >= 0, got "
                           f"{FLAGS.max_images}")


def define_output_dir_flag(what: str) -> None:
  """--output_dir, where `what` goes."""
  flags.DEFINE_string("output_dir", None, f"Where {what} are written.")


def define_overwrite_flag() -> None:
  """--overwrite."""
  flags.DEFINE_bool("overwrite", False, "Replace an existing output (only "
                    "once the new one is complete).")


# Models and inference ------------------------------------------------------


def define_tflite_file_flag() -> None:
  """--tflite."""
  flags.DEFINE_string("tflite", None, "A Google TFLite DeepLab / MobileNetV2 "
                      ".tflite file (convert: or a name of "
                      "pretrained.TFLITE_FILES to download).")


def define_checkpoint_flag() -> None:
  """--checkpoint."""
  flags.DEFINE_string("checkpoint", None, "A checkpoint prefix or directory: "
                      "a stage-2 MODEL_DIR (latest), MODEL_DIR/best, or a "
                      "converted checkpoint (tools/convert_tflite_checkpoint"
                      ".py).")


def define_model_flags(saved_model: bool = True) -> None:
  """--checkpoint and what tells which model it holds (--experiment,
  --params_override, --preset); --saved_model if `saved_model`."""
  define_checkpoint_flag()
  _define_experiment()
  flags.DEFINE_string("preset", None, "Model preset of a converted "
                      "--checkpoint (default: its conversion.json).")
  if saved_model:
    flags.DEFINE_string("saved_model", None, "A SavedModel written by "
                        "tools/export.py (instead of --checkpoint).")
    flags.DEFINE_enum("backend", "savedmodel", predictor.BACKENDS,
                      "What runs a --saved_model: TensorFlow, or TFLite "
                      "(its model.tflite: the same labels, faster on CPUs; "
                      "whole images only).")


def define_inference_flags() -> None:
  """Test-time augmentation: --scales, --flip, --window, --overlap."""
  flags.DEFINE_list("scales", ["1.0"], "Image scales whose predictions are "
                    "averaged, e.g. 0.75,1.0,1.25.")
  flags.DEFINE_bool("flip", False, "Also average the horizontally flipped "
                    "prediction.")
  flags.DEFINE_list("window", None, "Sliding window H,W (default: whole "
                    "image).")
  flags.DEFINE_float("overlap", 1.0 / 3.0, "Fraction of a window shared with "
                     "its neighbours.")


def inference_config() -> inference.InferenceConfig:
  """The InferenceConfig of --scales, --flip, --window, --overlap."""
  try:
    scales = tuple(float(s) for s in FLAGS.scales)
    window = tuple(int(s) for s in FLAGS.window) if FLAGS.window else None
  except ValueError:
    raise errors.FlagError("--scales takes numbers and --window two integers "
                           "H,W") from None
  if not scales or any(s <= 0 for s in scales):
    raise errors.FlagError(f"--scales must be positive, got {FLAGS.scales}")
  if window is not None and (len(window) != 2 or min(window) <= 0):
    raise errors.FlagError(f"--window must be H,W > 0, got {FLAGS.window}")
  if not 0.0 <= FLAGS.overlap < 1.0:
    raise errors.FlagError(f"--overlap must be in [0, 1), got "
                           f"{FLAGS.overlap}")
  return inference.InferenceConfig(scales=scales, flip=FLAGS.flip,
                                   window=window, overlap=FLAGS.overlap)


def load_checkpoint(dataset: Optional[str]) -> checkpoints.Loaded:
  """The --checkpoint model (see `checkpoints.load`)."""
  if not FLAGS.checkpoint:
    raise errors.FlagError("--checkpoint is required")
  return checkpoints.load(FLAGS.checkpoint, experiment=FLAGS.experiment,
                          params_override=FLAGS.params_override,
                          preset=FLAGS.preset, dataset=dataset)


def load_predictor(dataset: Optional[str],
                   config: inference.InferenceConfig) -> predictor.Predictor:
  """A Predictor of exactly one of --checkpoint / --saved_model."""
  if bool(FLAGS.checkpoint) == bool(FLAGS.saved_model):
    raise errors.FlagError("give exactly one of --checkpoint and "
                           "--saved_model")
  if FLAGS.saved_model:
    if FLAGS.experiment or FLAGS.preset or FLAGS.params_override:
      raise errors.FlagError("--experiment, --params_override and --preset "
                             "describe a --checkpoint, not a --saved_model")
    model = predictor.Predictor.from_saved_model(FLAGS.saved_model, config,
                                                 backend=FLAGS.backend)
    if dataset and dataset != model.info.dataset:
      raise errors.FlagError(f"{FLAGS.saved_model} predicts the classes of "
                             f"{model.info.dataset}, not {dataset}")
    return model
  if FLAGS.backend != "savedmodel":
    raise errors.FlagError(f"--backend={FLAGS.backend} runs a --saved_model")
  return predictor.Predictor.from_loaded(load_checkpoint(dataset), config)


def describe(config: inference.InferenceConfig, resize_long_side: int) -> str:
  """One line: the evaluation size and test-time augmentation."""
  size = (f"long side {resize_long_side}" if resize_long_side
          else "original size")
  window = ("whole image" if not config.window
            else f"window {config.window[0]}x{config.window[1]}")
  return (f"{size}, scales {','.join(f'{s:g}' for s in config.scales)}, "
          f"{'flip' if config.flip else 'no flip'}, {window}")


def describe_json(config: inference.InferenceConfig,
                  resize_long_side: int) -> dict:
  """The same as a JSON-ready dict."""
  return {"resize_long_side": resize_long_side,
          "scales": list(config.scales), "flip": config.flip,
          "window": list(config.window or []) or None,
          "overlap": config.overlap}


# Starting and failing ------------------------------------------------------


class _OnlySegwganInfo(py_logging.Filter):
  """Drops INFO (and DEBUG) records that do not come from segwgan's package
  or tools (a library installed under a folder named segwgan, e.g. a
  checkout's .venv, is not segwgan)."""

  _PACKAGE = os.path.dirname(os.path.abspath(errors.__file__))
  _OWN = (_PACKAGE + os.sep,
          os.path.join(os.path.dirname(_PACKAGE), "tools") + os.sep)

  def filter(self, record: py_logging.LogRecord) -> bool:
    return (record.levelno >= py_logging.WARNING or
            os.path.abspath(record.pathname).startswith(self._OWN))


def _parse(argv: list) -> list:
  """Parses the flags; a bad flag or an extra argument is one line, exit 2."""
  try:
    rest = FLAGS(argv)
  except flags.Error as e:
    print(f"error: {e} (--help lists the flags)", file=sys.stderr)
    sys.exit(2)
  if len(rest) > 1:
    print(f"error: unexpected arguments {rest[1:]} (flags are --name=value; "
          "--help lists them)", file=sys.stderr)
    sys.exit(2)
  if not FLAGS.verbose:
    logging.get_absl_handler().addFilter(_OnlySegwganInfo())
    tf.get_logger().setLevel(py_logging.ERROR)
    _hide_cpp_logs()
  return rest


def _hide_cpp_logs() -> None:
  """Applies TF_CPP_MIN_LOG_LEVEL to TF's C++ lines logged through Abseil,
  which ignores it (grappler's "Number of eligible GPUs" and "Starting new
  session", MLIR's "optimization pass is not enabled", each time a model
  is folded or first run), and to TFLite's own logger (`--backend=tflite`).
  Skips a library without the symbol (another TF)."""
  level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")
  level = min(int(level), 3) if level.isdigit() else 0
  for name, (symbol, offset) in _CPP_LOGGERS.items():
    path = os.path.join(os.path.dirname(tf.__file__), name)
    try:
      set_level = getattr(ctypes.CDLL(path, mode=os.RTLD_NOLOAD), symbol)
    except (OSError, AttributeError):
      continue
    set_level.argtypes = [ctypes.c_int]
    set_level(level + offset)


def start(main: Callable[[], object]) -> None:
  """The tool's entry point: parses flags (`_parse`), then `run(main)`."""
  app.run(lambda argv: run(main), flags_parser=_parse)


def _user_error(error: Exception) -> bool:
  """Whether `run` reports `error` as one line (see `USER_ERRORS`)."""
  return isinstance(error, USER_ERRORS) or (
      isinstance(error, OSError) and error.errno in _REFUSED)


def run(main: Callable[[], object]) -> None:
  """Runs `main`, mapping user errors to one line and exit code 2."""
  try:
    main()
  except Exception as e:  # pylint: disable=broad-except
    if not _user_error(e):
      raise
    logging.debug("error", exc_info=True)
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
