"""Stage 1 and stage 2 from an experiment config: models, inputs, run.

The tools (`tools/train_gan.py`, `tools/train_seg.py`) only parse flags and
call `train_stage1` / `train_stage2`.
"""
import os
from typing import Callable

import tensorflow as tf
import yaml
from absl import logging
from official.core import config_definitions as cfg
from official.modeling import optimization

from segwgan import errors
from segwgan import io_utils
from segwgan.configs import data as data_config
from segwgan.configs import experiments
from segwgan import labels
from segwgan import variants
from segwgan.data import pipeline
from segwgan.data import registry
from segwgan.evaluation import inference
from segwgan.evaluation import split_eval
from segwgan.modeling import critic as critic_lib
from segwgan.modeling import generator as generator_lib
from segwgan.modeling import segmenter as segmenter_lib
from segwgan.training import callbacks
from segwgan.training import diagnostics
from segwgan.training import gan_model
from segwgan.training import runner
from segwgan.training import seg_model

STAGE1_VALIDATION_FILE = "stage1_validation.json"
# params.yaml keys a resumed run may change: they do not change its result.
RESULT_NEUTRAL_KEYS = ("summary_interval", "max_to_keep", "source_dir",
                       "tfds_data_dir")
_ABSENT = "(absent)"
# Where a SegTrainer checkpoint (tf.train.Checkpoint(trainer=...)) keeps the
# segmenter's variables.
STAGE2_SEGMENTER_KEY = "trainer/segmenter/"


def dataset_fn(data: data_config.DataConfig
               ) -> Callable[[tf.distribute.InputContext, int], tf.data.Dataset]:
  """(input_context, start_step) -> the pipeline's batches."""
  raw = registry.read_split(data, decoded=False)
  return lambda ctx, start: pipeline.build(raw, data, ctx, start)


def build_optimizer(config: optimization.OptimizationConfig, precision: str):
  factory = optimization.OptimizerFactory(config)
  return runner.wrap_optimizer(
      factory.build_optimizer(factory.build_learning_rate()), precision)


def _flatten(tree, prefix: str = "") -> dict:
  if not isinstance(tree, dict):
    return {prefix: tree}
  flat = {}
  for key, value in tree.items():
    flat.update(_flatten(value, f"{prefix}{key}."))
  return {k.rstrip("."): v for k, v in flat.items()}


def _class_default(params: cfg.ExperimentConfig, key: str):
  """The default of the dotted `key` in its config class (what a run
  recorded before the key existed behaved as), or `_ABSENT`."""
  *path, name = key.split(".")
  node = params
  for part in path:
    node = getattr(node, part, None)
  try:
    value = type(node)().as_dict()[name]
    return yaml.safe_load(yaml.safe_dump(value))
  except (TypeError, AttributeError, KeyError, yaml.YAMLError):
    return _ABSENT  # Then the key counts as changed.


def check_resumable(params: cfg.ExperimentConfig, model_dir: str) -> None:
  """Refuses (errors.FlagError naming the keys) a model_dir whose recorded
  params.yaml differs from `params` in a key that changes the result, i.e.
  any key but `RESULT_NEUTRAL_KEYS` (logging, checkpoint retention, where
  the data is read from). A key added to the configs since the run was
  recorded counts as unchanged if it has its default value."""
  path = os.path.join(model_dir, experiments.PARAMS_FILE)
  if not os.path.exists(path):
    return
  with open(path) as f:
    recorded = _flatten(yaml.safe_load(f) or {})
  current = _flatten(yaml.safe_load(yaml.safe_dump(params.as_dict())))

  def differs(key):
    if key.rsplit(".", 1)[-1] in RESULT_NEUTRAL_KEYS:
      return False
    if key not in recorded and key in current:
      return current[key] != _class_default(params, key)
    return recorded.get(key, _ABSENT) != current.get(key, _ABSENT)

  differing = sorted(filter(differs, recorded.keys() | current.keys()))
  if differing:
    changes = "; ".join(f"{key}: {recorded.get(key, _ABSENT)!r} there, "
                        f"{current.get(key, _ABSENT)!r} now"
                        for key in differing)
    raise errors.FlagError(
        f"--model_dir={model_dir} holds a run with other settings "
        f"({changes}); to start a fresh run, pass another --model_dir "
        f"(nothing in {model_dir} was changed)")


def save_params(params: cfg.ExperimentConfig, model_dir: str) -> None:
  io_utils.atomic_write_text(os.path.join(model_dir, experiments.PARAMS_FILE),
                             yaml.safe_dump(params.as_dict(), sort_keys=True))


def _sample_batch(params: cfg.ExperimentConfig, n: int = 4):
  """A fixed batch of validation images, cropped like training images."""
  data = params.task.train_data.replace(
      split=params.task.validation_data.split, global_batch_size=n,
      shuffle_buffer_size=1, aug_scale_min=1.0, aug_scale_max=1.0,
      aug_rand_hflip=False)
  return next(iter(pipeline.build(registry.read_split(data).take(n), data)))


def _common_callbacks(params, model_dir: str, optimizer_name: str,
                      sample_batch):
  trainer_config = params.trainer
  summaries = callbacks.Summaries(
      os.path.join(model_dir, "train"), optimizer_name,
      every=trainer_config.summary_interval,
      image_every=trainer_config.validation_interval,
      sample_batch=sample_batch)
  progress = callbacks.Progress(
      trainer_config.train_steps, params.task.train_data.global_batch_size,
      every=trainer_config.summary_interval)
  return summaries, [progress, summaries]


def build_gan_trainer(params: cfg.ExperimentConfig,
                      precision: str) -> gan_model.GanTrainer:
  """The compiled stage-1 GanTrainer of `params`, with fresh G and D."""
  task = params.task
  info = labels.get_info(task.train_data.dataset)
  trainer = gan_model.GanTrainer(
      generator_lib.build_generator(task.generator, info.num_classes),
      critic_lib.build_critic(task.critic, info.num_classes),
      num_classes=info.num_classes,
      gan_loss=variants.gan_loss(task.gan_loss),
      palette=info.palette(), l1_weight=task.l1_weight,
      critic_steps=task.critic_steps, clip_value=task.clip_value,
      gp_weight=task.gp_weight)
  trainer.compile(
      build_optimizer(params.trainer.optimizer_config, precision),
      build_optimizer(task.critic_optimizer, precision),
      jit_compile=params.runtime.enable_xla)
  return trainer


def train_stage1(params: cfg.ExperimentConfig, model_dir: str,
                 figure_images: int = 4) -> int:
  """Trains G and D (Eq. 7-13, 16) until the stop rule fires or
  train_steps; returns the step reached.

  Writes MODEL_DIR/stage1_validation.json (the validation curve and why
  training stopped; a rerun after a stop trains nothing) and G's
  reconstructions of the first `figure_images` validation images by id.
  """
  check_resumable(params, model_dir)
  task = params.task
  if variants.gan_loss(task.gan_loss).gradient_penalty:
    # TF 2.20's grappler arithmetic optimizer makes the traced WGAN-GP step
    # (second-order gradients, critic_steps unrolled) a cyclic graph at the
    # cpu experiment's size ("N nodes in a cycle"); without it the step runs.
    tf.config.optimizer.set_experimental_options(
        {"arithmetic_optimization": False})
  precision = params.runtime.mixed_precision_dtype or "float32"
  runner.set_precision(precision)
  runner.set_seed(task.seed, task.deterministic)
  strategy = runner.get_strategy(params.runtime.distribution_strategy)
  with strategy.scope():
    trainer = build_gan_trainer(params, precision)
  save_params(params, model_dir)
  _, extra = _common_callbacks(params, model_dir, "g_optimizer",
                               _sample_batch(params))
  data = task.validation_data
  num_classes = labels.get_info(data.dataset).num_classes
  path = os.path.join(model_dir, STAGE1_VALIDATION_FILE)
  validation = callbacks.GanValidation(
      lambda: diagnostics.gan_validation(
          trainer.generator, trainer.critic,
          registry.read_split(data).as_numpy_iterator(), num_classes,
          data.resize_long_side),
      every=runner.epochs_between(params.trainer.validation_interval,
                                  params.trainer.checkpoint_interval),
      path=path, log_dir=os.path.join(model_dir, "validation"),
      patience=task.plateau_patience, min_delta=task.plateau_min_delta)
  stop = callbacks.read_gan_validation(path)["stop"]
  step = runner.fit(trainer, dataset_fn(task.train_data), model_dir=model_dir,
                    train_steps=(stop["stopped_at"] if stop
                                 else params.trainer.train_steps),
                    checkpoint_interval=params.trainer.checkpoint_interval,
                    callbacks=[*extra, validation],
                    max_to_keep=params.trainer.max_to_keep)
  diagnostics.write_reconstructions(
      trainer.generator, registry.read_split(data, decoded=False)
      .as_numpy_iterator(), figure_images, num_classes,
      data.resize_long_side, model_dir)
  return step


def load_stage1(gan_model_dir: str, variant: variants.Variant,
                num_classes: int):
  """G and D restored from a stage-1 model_dir, checked against `variant`."""
  params_path = os.path.join(gan_model_dir, experiments.PARAMS_FILE)
  if not os.path.exists(params_path):
    raise FileNotFoundError(
        f"task.gan_model_dir={gan_model_dir!r} holds no "
        f"{experiments.PARAMS_FILE}: run tools/train_gan.py with that "
        "--model_dir first")
  stage1 = experiments.GanTask()
  with open(params_path) as f:
    stage1.override(yaml.safe_load(f)["task"], is_strict=False)
  if stage1.gan_loss not in variant.accepted_gan_losses:
    raise errors.ModelError(
        f"--variant={variant.name} needs a stage-1 run with gan_loss in "
        f"{variant.accepted_gan_losses}, but {gan_model_dir} was trained "
        f"with gan_loss={stage1.gan_loss!r}")
  latest = tf.train.latest_checkpoint(gan_model_dir)
  if latest is None:
    raise FileNotFoundError(f"no checkpoint in task.gan_model_dir="
                            f"{gan_model_dir!r}")
  generator = generator_lib.build_generator(stage1.generator, num_classes)
  critic = critic_lib.build_critic(stage1.critic, num_classes)
  status = tf.train.Checkpoint(trainer=tf.train.Checkpoint(
      generator=generator, critic=critic)).restore(latest)
  status.expect_partial().assert_existing_objects_matched()
  logging.info("loaded G and D (%s) from %s", stage1.gan_loss, latest)
  return generator, critic


def init_segmenter(segmenter, init_checkpoint: str, modules) -> None:
  """Starts `segmenter` from `init_checkpoint`: a segwgan stage-2 model_dir
  or checkpoint prefix (its segmenter's weights, all of them) or a Model
  Garden style checkpoint (`modules` of it, see
  `segmenter.init_from_checkpoint`)."""
  path = segmenter_lib.resolve_checkpoint(init_checkpoint)
  saved = tf.train.load_checkpoint(path).get_variable_to_shape_map()
  if any(key.startswith(STAGE2_SEGMENTER_KEY) for key in saved):
    try:
      segmenter_lib.read_checkpoint(tf.train.Checkpoint(
          trainer=tf.train.Checkpoint(segmenter=segmenter)), path)
    except errors.ModelError:
      raise
    except (AssertionError, ValueError) as e:
      raise errors.ModelError(
          f"task.init_checkpoint={init_checkpoint}: its segmenter does not "
          f"fit this model ({str(e).splitlines()[0]})") from None
    logging.info("segmenter initialised from the stage-2 checkpoint %s", path)
    return
  segmenter_lib.init_from_checkpoint(
      segmenter, path,
      modules=(modules,) if isinstance(modules, str) else tuple(modules))


def evaluate_fn(segmenter, data: data_config.DataConfig) -> Callable[[], dict]:
  """A closure returning Eq. 17-19 of `segmenter` on `data`'s split, scored
  by the one evaluation path (as tools/evaluate.py scores a checkpoint)."""
  num_classes = labels.get_info(data.dataset).num_classes
  raw = registry.read_split(data)
  return lambda: split_eval.evaluate_split(
      inference.segmenter_labels(segmenter, data), raw.as_numpy_iterator(),
      num_classes).summary


def train_stage2(params: cfg.ExperimentConfig, model_dir: str,
                 validate_last: bool = True) -> int:
  """Fine-tunes DeepLabv3 (Eq. 2-6, 14-15); returns the step reached.

  `validate_last=False` skips the validation of the final step (for a caller
  that evaluates the final checkpoint itself).
  """
  check_resumable(params, model_dir)
  task = params.task
  precision = params.runtime.mixed_precision_dtype or "float32"
  runner.set_precision(precision)
  runner.set_seed(task.seed, task.deterministic)
  strategy = runner.get_strategy(params.runtime.distribution_strategy)
  if (task.fine_tune_batch_norm and strategy.num_replicas_in_sync > 1 and
      not task.model.norm_activation.use_sync_bn):
    logging.warning(
        "fine_tune_batch_norm on %d replicas with "
        "task.model.norm_activation.use_sync_bn false: each replica "
        "normalizes with its own batch's statistics",
        strategy.num_replicas_in_sync)
  info = labels.get_info(task.train_data.dataset)
  variant = variants.get(task.variant)
  with strategy.scope():
    segmenter = segmenter_lib.build_segmenter(
        task.model, l2_weight_decay=task.l2_weight_decay)
    if task.init_checkpoint:
      init_segmenter(segmenter, task.init_checkpoint,
                     task.init_checkpoint_modules)
    generator = critic = None
    if variant.gan_loss is not None:
      generator, critic = load_stage1(task.gan_model_dir, variant,
                                      info.num_classes)
    trainer = seg_model.SegTrainer(
        segmenter, generator, critic, variant=variant,
        palette=info.palette(), lambda_content=task.lambda_content,
        lambda_adversarial=task.lambda_adversarial,
        fine_tune_batch_norm=task.fine_tune_batch_norm,
        diagnostics_interval=task.diagnostics_interval)
    trainer.compile(build_optimizer(params.trainer.optimizer_config,
                                    precision),
                    jit_compile=params.runtime.enable_xla)
  save_params(params, model_dir)
  summaries, extra = _common_callbacks(params, model_dir, "seg_optimizer",
                                       _sample_batch(params))
  validation = callbacks.Validation(
      evaluate_fn(segmenter, task.validation_data),
      every=runner.epochs_between(params.trainer.validation_interval,
                                  params.trainer.checkpoint_interval),
      best_manager=runner.best_manager(trainer, model_dir),
      best_json=os.path.join(model_dir, "best", "metrics.json"),
      summaries=summaries, last=validate_last)
  grad_shares = callbacks.GradShares(summaries, trainer.diagnostics_interval)
  step = runner.fit(trainer, dataset_fn(task.train_data), model_dir=model_dir,
                    train_steps=params.trainer.train_steps,
                    checkpoint_interval=params.trainer.checkpoint_interval,
                    callbacks=[*extra, grad_shares, validation],
                    max_to_keep=params.trainer.max_to_keep)
  if variant.gan_loss is not None:
    data = task.validation_data
    result = diagnostics.write_stage2_diagnostics(
        model_dir, trainer.grad_share_sums.numpy(),
        int(trainer.grad_share_samples.numpy()),
        diagnostics.gan_validation(
            generator, critic, registry.read_split(data).as_numpy_iterator(),
            info.num_classes, data.resize_long_side))
    logging.info("stage-2 diagnostics: %s", result)
  return step
