"""The end of `fit`: tf.data without / with autotuning threads.

Deleting a tf.data iterator that autotunes waits for its autotuning thread,
which TF 2.20 often fails to wake, so the deletion can take up to that
thread's period (it doubles up to 60 s). At the end of `fit` that is idle
time. Two such threads used to run in training: the pipeline's own and the
one of tf.distribute's per-device prefetch (a MultiDeviceIterator), which
`runner.fit` now leaves out for a MirroredStrategy with one CPU replica
(`runner.input_options`); the pipeline no longer autotunes
(`pipeline._options`).

Sides, interleaved: "now" is `runner.fit` as it is; "before" re-enables the
pipeline's autotuning and the per-device prefetch. Each is one `runner.fit`
of a small conv net for `--steps` steps (about 20 s here) under
MirroredStrategy(CPU:0), on batches of the stage-2 cpu experiment's real
CMP Facades training pipeline (64x64 crops), after one untimed fit per
side; the teardown is the time from the last step's end to `fit` returning
(it includes the final checkpoint's save, a few tens of ms here).

  .venv/bin/python benchmarks/fit_teardown.py [--reps=4] [--steps=150]

Final line: `fit_teardown ratio=X target=<1` (median `fit` wall time,
now / before).
"""
import argparse
import tempfile
import time

import steps  # pylint: disable=g-bad-import-order
import timing  # pylint: disable=g-bad-import-order

import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tf_keras  # pylint: disable=g-import-not-at-top

from segwgan.training import runner  # pylint: disable=g-import-not-at-top
from segwgan.training import tasks  # pylint: disable=g-import-not-at-top


class _ConvNet(tf_keras.Model):
  """A few convolutions trained on a regression target, with the trainers'
  `step` variable."""

  def __init__(self):
    super().__init__()
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
    self.body = tf_keras.Sequential(
        [tf_keras.layers.Conv2D(32, 3, padding="same", activation="relu")
         for _ in range(4)] + [tf_keras.layers.Conv2D(3, 1)])

  def call(self, images):
    return self.body(images)

  def train_step(self, data):
    images = data[0]["image"]
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(tf.abs(self(images) - images))
    runner.minimize(self.optimizer, tape, loss, self.trainable_variables)
    self.step.assign_add(1)
    return {"loss": loss}


def training_batches():
  """The stage-2 cpu experiment's training pipeline at 64x64 crops."""
  _, stage2 = steps.configs("cpu", {})
  data = stage2.task.train_data.replace(
      source_dir=str(timing.SHARED / "data" / "cmp_facades"),
      output_size=[64, 64])
  return tasks.dataset_fn(data)


def autotuned(dataset_fn):
  """`dataset_fn` with tf.data autotuning on again (as before)."""
  options = tf.data.Options()
  options.autotune.enabled = True
  return lambda context, start: dataset_fn(context, start).with_options(
      options)


class _LastStep(tf_keras.callbacks.Callback):
  """Notes when the latest step ended."""

  def on_train_batch_end(self, batch, logs=None):
    self.at = time.perf_counter()


def fit_once(strategy, dataset_fn, n_steps: int, now: bool, teardowns: list):
  """A side: one fresh model's `runner.fit`, as now or as before; appends
  its teardown to `teardowns`."""
  def run():
    with strategy.scope():
      model = _ConvNet()
      model(tf.zeros([1, 64, 64, 3]))
      model.compile(optimizer=tf_keras.optimizers.Adam(1e-3))
      runner.build_slots(model.optimizer, model.trainable_variables)
    last = _LastStep()
    chosen = runner.input_options if now else (lambda unused: None)
    default, runner.input_options = runner.input_options, chosen
    try:
      with tempfile.TemporaryDirectory() as model_dir:
        runner.fit(model, dataset_fn if now else autotuned(dataset_fn),
                   model_dir=model_dir, train_steps=n_steps,
                   checkpoint_interval=n_steps, callbacks=[last])
        teardowns.append(time.perf_counter() - last.at)
    finally:
      runner.input_options = default
  return run


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--reps", type=int, default=4)
  parser.add_argument("--steps", type=int, default=150)
  args = parser.parse_args()
  timing.banner("fit_teardown")
  strategy = tf.distribute.MirroredStrategy(["CPU:0"])
  print(f"-- {args.steps} steps per fit under MirroredStrategy(CPU:0); "
        f"input options now: {runner.input_options(strategy)}", flush=True)
  dataset_fn = training_batches()
  teardowns = {"now": [], "before": []}
  sides = {f"fit, {name}": fit_once(strategy, dataset_fn, args.steps,
                                    name == "now", teardowns[name])
           for name in teardowns}
  times = timing.interleaved(sides, reps=args.reps, warmup=1)
  for values in teardowns.values():
    del values[0]  # The untimed warm-up fit's.
  timing.report(times, per="fit")
  for name, values in teardowns.items():
    print(f"  teardown, {name:<24} " + " ".join(f"{v:.2f}" for v in values)
          + f" s (over 1 s: {sum(v > 1 for v in values)} of {len(values)})",
          flush=True)
  ratio = timing.ratio_of(times, "fit, now", "fit, before")
  timing.final("fit_teardown", ratio, "<1")


if __name__ == "__main__":
  main()
