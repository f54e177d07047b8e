"""Flags shared by tools/evaluate.py, predict.py and export.py.

Which model (a checkpoint, with what describes it, or a SavedModel export)
and how images are predicted (test-time augmentation).
"""
from typing import Optional

from absl import flags

from segwgan.evaluation import inference
from segwgan.serving import checkpoints
from segwgan.serving import predictor

FLAGS = flags.FLAGS


def define_checkpoint_flags() -> None:
  """--checkpoint and what tells which model it holds."""
  flags.DEFINE_string("checkpoint", None, "A checkpoint prefix or directory: "
                      "a stage-2 MODEL_DIR (latest), MODEL_DIR/best, or a "
                      "converted checkpoint (tools/convert_tflite_checkpoint"
                      ".py).")
  flags.DEFINE_string("experiment", None, "The stage-2 experiment of "
                      "--checkpoint (default: MODEL_DIR/params.yaml).")
  flags.DEFINE_string("params_override", None, "YAML applied to "
                      "--experiment.")
  flags.DEFINE_string("preset", None, "Model preset of a converted "
                      "--checkpoint (default: its conversion.json).")


def define_model_flags() -> None:
  """The checkpoint flags and --saved_model."""
  define_checkpoint_flags()
  flags.DEFINE_string("saved_model", None, "A SavedModel written by "
                      "tools/export.py (instead of --checkpoint).")


def define_inference_flags() -> None:
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
    raise ValueError("--scales takes numbers and --window two integers H,W"
                     ) from None
  if not scales or any(s <= 0 for s in scales):
    raise ValueError(f"--scales must be positive, got {FLAGS.scales}")
  if window is not None and (len(window) != 2 or min(window) <= 0):
    raise ValueError(f"--window must be H,W > 0, got {FLAGS.window}")
  if not 0.0 <= FLAGS.overlap < 1.0:
    raise ValueError(f"--overlap must be in [0, 1), got {FLAGS.overlap}")
  return inference.InferenceConfig(scales=scales, flip=FLAGS.flip,
                                   window=window, overlap=FLAGS.overlap)


def load_checkpoint(dataset: Optional[str]) -> checkpoints.Loaded:
  """The --checkpoint model (see `checkpoints.load`)."""
  if not FLAGS.checkpoint:
    raise ValueError("--checkpoint is required")
  return checkpoints.load(FLAGS.checkpoint, experiment=FLAGS.experiment,
                          params_override=FLAGS.params_override,
                          preset=FLAGS.preset, dataset=dataset)


def load_predictor(dataset: Optional[str],
                   config: inference.InferenceConfig) -> predictor.Predictor:
  """A Predictor of exactly one of --checkpoint / --saved_model."""
  if bool(FLAGS.checkpoint) == bool(FLAGS.saved_model):
    raise ValueError("give exactly one of --checkpoint and --saved_model")
  if FLAGS.saved_model:
    if FLAGS.experiment or FLAGS.preset or FLAGS.params_override:
      raise ValueError("--experiment, --params_override and --preset "
                       "describe a --checkpoint, not a --saved_model")
    model = predictor.Predictor.from_saved_model(FLAGS.saved_model, config)
    if dataset and dataset != model.info.dataset:
      raise ValueError(f"{FLAGS.saved_model} predicts the classes of "
                       f"{model.info.dataset}, not {dataset}")
    return model
  loaded = load_checkpoint(dataset)
  return predictor.Predictor.from_loaded(loaded, config)


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
