"""What both stages share: precision, strategy, checkpoints/resume and `fit`.

A trainer is a `tf_keras.Model` with a custom `train_step`, an int64 `step`
variable it increments, and its optimizers as attributes, so one
`tf.train.Checkpoint(trainer=...)` holds weights, optimizer state and the step.
The data position is the step: the input stream is deterministic and resumes
by skipping `step` batches (see `segwgan.data.pipeline.build`).
"""
import math
import os
from typing import Callable, List, Optional

import tensorflow as tf
import tf_keras
from absl import logging
from official.common import distribute_utils
from official.modeling import performance

from segwgan import errors
from segwgan.training import callbacks as callbacks_lib

PRECISIONS = {"float32": tf.float32, "bfloat16": tf.bfloat16,
              "float16": tf.float16}
STRATEGIES = ("default", "mirrored", "multi_worker")


def set_precision(precision: str) -> None:
  """Sets the global Keras policy: float32, mixed_bfloat16 or mixed_float16."""
  if precision not in PRECISIONS:
    raise ValueError(f"--mixed_precision must be one of {list(PRECISIONS)}, "
                     f"got {precision!r}")
  performance.set_mixed_precision_policy(PRECISIONS[precision])


def set_seed(seed: int, deterministic: bool = False) -> None:
  """Seeds Python, NumPy and TF; optionally makes TF ops deterministic."""
  tf_keras.utils.set_random_seed(seed)
  if deterministic:
    tf.config.experimental.enable_op_determinism()


def wrap_optimizer(optimizer, precision: str):
  """Adds dynamic loss scaling for float16 (no-op otherwise)."""
  return performance.configure_optimizer(
      optimizer, use_float16=precision == "float16")


def get_strategy(name: str) -> tf.distribute.Strategy:
  """default | mirrored (all local devices) | multi_worker (TF_CONFIG); a
  FlagError for another name or a bad TF_CONFIG."""
  if name not in STRATEGIES:
    raise errors.FlagError(f"--strategy must be one of {list(STRATEGIES)}, "
                           f"got {name!r}")
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  try:
    return distribute_utils.get_distribution_strategy("multi_worker_mirrored")
  except ValueError as e:  # e.g. TF_CONFIG that is not valid JSON
    raise errors.FlagError(f"multi_worker needs a valid TF_CONFIG: {e}"
                           ) from None


def input_options(strategy: tf.distribute.Strategy
                  ) -> Optional[tf.distribute.InputOptions]:
  """How `fit` feeds `strategy`: None (tf.distribute's default) except for a
  MirroredStrategy with one CPU replica, which reads the pipeline directly.

  By default each replica's batches go through a per-device prefetch (a
  MultiDeviceIterator), which on a CPU replica only copies from the CPU to
  the same CPU. Its tf.data iterator runs its own autotuning thread, which TF
  2.20 often fails to wake when the iterator is deleted, so the end of `fit`
  could sit idle for up to a minute (benchmarks/fit_teardown.py). With one
  replica the batches are the same either way. Accelerator and multi-replica
  runs keep the default (the prefetch into device memory is worth having;
  the wait may remain there).
  """
  if not isinstance(strategy, tf.distribute.MirroredStrategy):
    return None
  devices = strategy.extended.worker_devices
  if (len(devices) == 1
      and tf.DeviceSpec.from_string(devices[0]).device_type == "CPU"):
    return tf.distribute.InputOptions(
        experimental_fetch_to_device=False,
        experimental_replication_mode=(
            tf.distribute.InputReplicationMode.PER_REPLICA))
  return None


def build_slots(optimizer, variables) -> None:
  """Creates `optimizer`'s state for `variables` now (as `apply_gradients`
  would on first use), so the train step creates no variables and
  `tf.function` traces it once instead of twice."""
  if not variables:
    raise ValueError("the model has no trainable variables yet (build it "
                     "before compile)")
  if hasattr(optimizer, "build"):  # tf_keras.optimizers.Optimizer
    optimizer.build(variables)
  else:  # tf_keras.optimizers.legacy, which the Model Garden's factory gives
    optimizer._create_all_weights(variables)  # pylint: disable=protected-access


def minimize(optimizer, tape: tf.GradientTape, loss, variables) -> None:
  """Applies d(loss)/d(variables), with loss scaling under float16."""
  scaled = isinstance(optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
  if scaled:
    with tape:  # The tape must record the scaling too.
      loss = optimizer.get_scaled_loss(loss)
  grads = tape.gradient(loss, variables)
  if scaled:
    grads = optimizer.get_unscaled_gradients(grads)
  optimizer.apply_gradients(zip(grads, variables))


def replica_share(per_example):
  """This replica's share of the global-batch mean of `per_example`.

  Trainers set `distribute_reduction_method = "sum"`, so Keras adds the
  replicas' shares into the global mean whatever the number of replicas.
  """
  return tf.nn.compute_average_loss(tf.cast(per_example, tf.float32))


def _read_all(path: str) -> None:
  """Reads every tensor of checkpoint `path` (restores can be deferred, so a
  truncated file would otherwise surface only mid-training)."""
  reader = tf.train.load_checkpoint(path)
  for name in reader.get_variable_to_shape_map():
    reader.get_tensor(name)


def restore_latest(checkpoint: tf.train.Checkpoint,
                   manager: tf.train.CheckpointManager) -> Optional[str]:
  """Restores the newest readable checkpoint; older ones if it is corrupt."""
  for path in reversed(manager.checkpoints):
    try:
      _read_all(path)
      checkpoint.restore(path).expect_partial()
    except (tf.errors.OpError, ValueError, IndexError, OSError) as e:
      logging.warning("checkpoint %s is unreadable (%s); trying the previous "
                      "one", path, str(e).splitlines()[0])
      continue
    logging.info("resumed from %s", path)
    return path
  return None


def fit(trainer: tf_keras.Model,
        dataset_fn: Callable[[tf.distribute.InputContext, int], tf.data.Dataset],
        *, model_dir: str, train_steps: int, checkpoint_interval: int,
        callbacks: List[tf_keras.callbacks.Callback], max_to_keep: int = 3
        ) -> int:
  """Trains `trainer` to `train_steps`, resuming from `model_dir` if possible.

  Each Keras epoch is `checkpoint_interval` steps and ends with a checkpoint,
  so a killed run loses at most one interval and replays it exactly.

  Returns:
    The step reached.
  """
  if train_steps % checkpoint_interval:
    raise ValueError(f"train_steps ({train_steps}) must be a multiple of "
                     f"checkpoint_interval ({checkpoint_interval})")
  checkpoint = tf.train.Checkpoint(trainer=trainer)
  manager = tf.train.CheckpointManager(checkpoint, model_dir,
                                       max_to_keep=max_to_keep)
  restore_latest(checkpoint, manager)
  start = int(trainer.step.numpy())
  if start >= train_steps:
    logging.info("%s already holds step %d >= %d: nothing to train", model_dir,
                 start, train_steps)
    return start
  data = tf_keras.utils.experimental.DatasetCreator(
      lambda ctx: dataset_fn(ctx, start),
      input_options=input_options(trainer.distribute_strategy))
  trainer.fit(data, steps_per_epoch=checkpoint_interval,
              epochs=train_steps // checkpoint_interval,
              initial_epoch=start // checkpoint_interval, verbose=0,
              callbacks=[callbacks_lib.NanGuard(), *callbacks,
                         callbacks_lib.Checkpointing(manager)])
  return int(trainer.step.numpy())


def best_manager(trainer: tf_keras.Model, model_dir: str
                 ) -> tf.train.CheckpointManager:
  """Keeps the single best checkpoint under `model_dir/best`."""
  return tf.train.CheckpointManager(tf.train.Checkpoint(trainer=trainer),
                                    os.path.join(model_dir, "best"),
                                    max_to_keep=1)


def epochs_between(interval_steps: int, checkpoint_interval: int) -> int:
  """A step interval expressed in Keras epochs (at least one)."""
  return max(1, math.ceil(interval_steps / checkpoint_interval))
