"""Keras callbacks shared by both stages: progress, summaries, checkpoints."""
import json
import math
import time
from typing import Callable, Optional

import numpy as np
import tensorflow as tf
import tf_keras
from absl import logging

from segwgan import io_utils


class TrainingDiverged(RuntimeError):
  """A loss became NaN or infinite; names the step."""


class CheckpointSaveFailed(OSError):
  """A checkpoint could not be written (e.g. a full disk); names the step."""


def _step(trainer) -> int:
  return int(trainer.step.numpy())


def learning_rate(optimizer) -> float:
  """The optimizer's current learning rate (evaluating a schedule)."""
  optimizer = getattr(optimizer, "inner_optimizer", optimizer)
  lr = optimizer.learning_rate
  if callable(lr):
    lr = lr(optimizer.iterations)
  return float(tf_keras.backend.get_value(lr))


class Progress(tf_keras.callbacks.Callback):
  """Logs step, losses, throughput and ETA every `every` steps."""

  def __init__(self, total_steps: int, global_batch_size: int, every: int):
    super().__init__()
    self.total_steps = total_steps
    self.global_batch_size = global_batch_size
    self.every = max(1, every)

  def on_train_begin(self, logs=None):
    self._start_time = time.time()
    self._start_step = _step(self.model)

  def on_train_batch_end(self, batch, logs=None):
    step = _step(self.model)
    if step % self.every and step != self.total_steps:
      return
    elapsed = max(time.time() - self._start_time, 1e-9)
    steps_per_s = (step - self._start_step) / elapsed
    eta = (self.total_steps - step) / steps_per_s if steps_per_s else math.inf
    losses = " ".join(f"{k}={float(v):.4g}" for k, v in (logs or {}).items())
    eta_text = (time.strftime("%H:%M:%S", time.gmtime(eta))
                if math.isfinite(eta) else "?")
    logging.info("step %d/%d (%.0f%%) %s | %.2f img/s | ETA %s", step,
                 self.total_steps, 100.0 * step / self.total_steps, losses,
                 steps_per_s * self.global_batch_size, eta_text)


class NanGuard(tf_keras.callbacks.Callback):
  """Stops at the first non-finite loss, before any checkpoint is saved."""

  def on_train_batch_end(self, batch, logs=None):
    bad = {k: v for k, v in (logs or {}).items()
           if not np.all(np.isfinite(np.asarray(v, np.float64)))}
    if bad:
      self.model.stop_training = True
      raise TrainingDiverged(
          f"loss became non-finite at step {_step(self.model)}: {bad}; the "
          "last good checkpoint is kept (lower the learning rate or check the "
          "data)")


class Summaries(tf_keras.callbacks.Callback):
  """TensorBoard scalars (the train_step's losses, `lr`) and image panels."""

  def __init__(self, log_dir: str, optimizer_name: str, every: int,
               image_every: int = 0, sample_batch=None):
    super().__init__()
    self.writer = tf.summary.create_file_writer(log_dir)
    self.optimizer_name = optimizer_name
    self.every = max(1, every)
    self.image_every = image_every
    self.sample_batch = sample_batch

  def on_train_batch_end(self, batch, logs=None):
    step = _step(self.model)
    with self.writer.as_default(step=step):
      if step % self.every == 0:
        for name, value in (logs or {}).items():
          tf.summary.scalar(name, float(value))
        tf.summary.scalar("lr", learning_rate(
            getattr(self.model, self.optimizer_name)))
      if (self.image_every and self.sample_batch is not None
          and step % self.image_every == 0):
        panel = self.model.visualise(*self.sample_batch)
        tf.summary.image("input|truth|prediction|reconstruction", panel,
                         max_outputs=4)
    self.writer.flush()

  def log_scalars(self, values: dict, step: int) -> None:
    with self.writer.as_default(step=step):
      for name, value in values.items():
        tf.summary.scalar(name, value)
    self.writer.flush()


class GradShares(tf_keras.callbacks.Callback):
  """Writes a stage-2 trainer's grad shares (`SegTrainer.record_grad_shares`)
  as TensorBoard scalars grad_share/content and grad_share/adversarial on
  the steps they are sampled."""

  def __init__(self, summaries: Summaries, every: int):
    super().__init__()
    self.summaries = summaries
    self.every = every

  def on_train_batch_end(self, batch, logs=None):
    step = _step(self.model)
    if self.every and step % self.every == 0:
      content, adversarial = self.model.grad_share_last.numpy()
      self.summaries.log_scalars({"grad_share/content": content,
                                  "grad_share/adversarial": adversarial},
                                 step)


def plateau_reached(l1_curve, patience: int, min_delta: float) -> bool:
  """Stage 1's stop rule: the last `patience` evaluations all failed to
  bring the validation L1 below (1 - min_delta) x the best before them.
  `patience` 0 disables it (only train_steps stops stage 1)."""
  if patience <= 0 or len(l1_curve) <= patience:
    return False
  best = min(l1_curve[:-patience])
  return min(l1_curve[-patience:]) >= best * (1.0 - min_delta)


def plateau_rule(patience: int, min_delta: float) -> str:
  return (f"validation L1 not below (1 - {min_delta:g}) x its best for "
          f"{patience} evaluations")


class GanValidation(tf_keras.callbacks.Callback):
  """Stage 1's validation curve and stop rule.

  Every `every` epochs and at the last one: `evaluate()` gives {'l1',
  'critic_rank', 'separation', ...}; they go to TensorBoard (`log_dir`) and
  to `path` as {"curve": [{"step", "l1", "critic_rank", "separation"}],
  "stop": null or {"stopped_at", "stop_rule"}}. Training stops when
  `plateau_reached`; "stop" is also set when the last epoch is reached.
  A resumed run reads the curve back (dropping evaluations after the step
  it resumes from), so the rule sees the same curve as an unbroken run.
  """

  def __init__(self, evaluate: Callable[[], dict], every: int, path: str,
               log_dir: str, patience: int, min_delta: float):
    super().__init__()
    self.evaluate = evaluate
    self.every = max(1, every)
    self.path = path
    self.writer = tf.summary.create_file_writer(log_dir)
    self.patience = patience
    self.min_delta = min_delta
    self.curve = []

  def on_train_begin(self, logs=None):
    start = _step(self.model)
    self.curve = [entry for entry in read_gan_validation(self.path)["curve"]
                  if entry["step"] <= start]

  def on_epoch_end(self, epoch, logs=None):
    last = (epoch + 1) == self.params.get("epochs")
    if not last and (epoch + 1) % self.every:
      return
    step = _step(self.model)
    result = self.evaluate()
    entry = {"step": step, **{k: result[k] for k in
                              ("l1", "critic_rank", "separation")}}
    self.curve = [e for e in self.curve if e["step"] < step] + [entry]
    logging.info("step %d: stage-1 validation L1 %.4f critic_rank %.3f "
                 "separation %.4g", step, entry["l1"], entry["critic_rank"],
                 entry["separation"])
    with self.writer.as_default(step=step):
      for name in ("l1", "critic_rank", "separation"):
        tf.summary.scalar(name, entry[name])
    self.writer.flush()
    stop = None
    if plateau_reached([e["l1"] for e in self.curve], self.patience,
                       self.min_delta):
      stop = {"stopped_at": step,
              "stop_rule": plateau_rule(self.patience, self.min_delta)}
      self.model.stop_training = True
    elif last:
      stop = {"stopped_at": step, "stop_rule": "train_steps reached"}
    io_utils.atomic_write_text(self.path, json.dumps(
        {"curve": self.curve, "stop": stop}, indent=2))


def read_gan_validation(path: str) -> dict:
  """The stage-1 validation file, or an empty curve if there is none."""
  try:
    with open(path) as f:
      return json.load(f)
  except FileNotFoundError:
    return {"curve": [], "stop": None}


class Checkpointing(tf_keras.callbacks.Callback):
  """Saves a checkpoint at every epoch end (an epoch = checkpoint interval)."""

  def __init__(self, manager: tf.train.CheckpointManager):
    super().__init__()
    self.manager = manager

  def on_epoch_end(self, epoch, logs=None):
    step = _step(self.model)
    try:
      path = self.manager.save(checkpoint_number=step)
    except (tf.errors.OpError, OSError) as e:
      raise CheckpointSaveFailed(
          f"saving the step-{step} checkpoint in {self.manager.directory} "
          f"failed ({type(e).__name__}: {str(e).splitlines()[0]}); the "
          f"previous checkpoint {self.manager.latest_checkpoint} is kept and "
          "a rerun resumes from it") from None
    logging.info("saved checkpoint %s", path)


class Validation(tf_keras.callbacks.Callback):
  """Evaluates every `every` epochs; keeps the best checkpoint by mIoU.

  The last epoch is always evaluated if `last` (even off the interval), never
  if not (even on the interval: for a caller that scores the final
  checkpoint itself).
  """

  def __init__(self, evaluate: Callable[[], dict], every: int,
               best_manager: tf.train.CheckpointManager, best_json: str,
               summaries: Optional[Summaries] = None, last: bool = True):
    super().__init__()
    self.evaluate = evaluate
    self.every = max(1, every)
    self.last = last
    self.best_manager = best_manager
    self.best_json = best_json
    self.summaries = summaries
    self.best = -math.inf

  def on_train_begin(self, logs=None):
    try:
      with open(self.best_json) as f:
        self.best = json.load(f)["miou"]
    except (FileNotFoundError, KeyError, ValueError):
      self.best = -math.inf

  def on_epoch_end(self, epoch, logs=None):
    if (epoch + 1) == self.params.get("epochs"):
      if not self.last:
        return
    elif (epoch + 1) % self.every:
      return
    step = _step(self.model)
    result = self.evaluate()
    logging.info("step %d: validation mIoU %.4f pixel acc %.4f class acc "
                 "%.4f", step, result["miou"], result["pixel_accuracy"],
                 result["class_accuracy"])
    if self.summaries:
      self.summaries.log_scalars(
          {f"val_{k}": result[k]
           for k in ("miou", "pixel_accuracy", "class_accuracy")}, step)
    if result["miou"] > self.best:
      self.best = result["miou"]
      self.best_manager.save(checkpoint_number=step)
      io_utils.atomic_write_text(self.best_json, json.dumps(
          {"step": step, **result}, indent=2))
