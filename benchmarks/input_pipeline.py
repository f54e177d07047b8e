"""Measure 5: images/s the tf.data pipeline delivers / images/s the
CPU-config training step consumes.

The pipeline is the training input of `stage2_cmp_facades_cpu` exactly as
`tasks.dataset_fn` builds it (TFDS-prepared real CMP Facades images, shuffle,
random scale 0.5-2 of the 512 long side, 256x256 crop, flip, normalisation;
batch 8), read from one long-lived iterator. A rep pulls four epochs of
batches (the shuffle buffer refills at each epoch start, so shorter reps
would catch only the fast or only the slow part); the batches the iterator
prefetched while the steps ran (ready at once, < 1 ms, at the start of a
rep) count neither as delivered nor as time, and how many there were is
printed.

The consumers are the CPU-config stage-2 steps on in-memory batches: the
CE-only step (the fastest, so the most demanding) and the SegWGAN step.

  .venv/bin/python benchmarks/input_pipeline.py

Final line: `input_pipeline ratio=X target=>=3` (pipeline images/s over the
CE-only step's images/s; the SegWGAN step's ratio is printed before it).
"""
import time

import steps  # pylint: disable=g-bad-import-order
import timing  # pylint: disable=g-bad-import-order

from segwgan import variants  # pylint: disable=g-import-not-at-top
from segwgan.data import registry  # pylint: disable=g-import-not-at-top
from segwgan.training import tasks  # pylint: disable=g-import-not-at-top


def main():
  timing.banner("input_pipeline")
  built = steps.build("cpu", 8)
  data_config = built.stage2.task.train_data.replace(
      source_dir=str(timing.SHARED / "data" / "cmp_facades"))
  batch = data_config.global_batch_size
  print(f"-- pipeline of stage2_{steps.DATASET}_cpu: batch {batch}, crop "
        f"{data_config.output_size}, long side {data_config.resize_long_side}"
        f", scale {data_config.aug_scale_min}-{data_config.aug_scale_max}, "
        f"flip {data_config.aug_rand_hflip}, shuffle "
        f"{data_config.shuffle_buffer_size}", flush=True)
  raw = registry.read_split(data_config)
  epoch = int(raw.cardinality())
  pulls = 4 * -(-epoch // batch)  # Four epochs: shuffle refills included.
  it = iter(tasks.dataset_fn(data_config)(None, 0))
  for _ in range(pulls):  # Warm-up: first fill, autotuning.
    next(it)
  prefetched, delivered = [], []

  def pipeline():
    times = []
    for _ in range(pulls):
      start = time.perf_counter()
      next(it)
      times.append(time.perf_counter() - start)
    # The batches ready at once (< 1 ms each) at the start were made while
    # the steps ran: they count neither as delivered nor as time.
    ready = next((k for k, t in enumerate(times) if t > 1e-3), len(times))
    prefetched.append(ready)
    delivered.append(pulls - ready)
    return timing.Elapsed(sum(times[ready:]))

  sides = {"pipeline": pipeline,
           "ce-only step": steps.stepper(
               built.trainers[variants.BASELINE.name], built.batches),
           "segwgan step": steps.stepper(built.trainers["segwgan"],
                                         built.batches)}
  times = timing.interleaved(sides, reps=30, warmup=2, budget_s=150)
  print(f"  pipeline reps: {pulls} batches ({pulls * batch} images, "
        f"{epoch}-image epochs), less those ready at the start (made while "
        f"the steps ran): median {timing.median(prefetched)}, max "
        f"{max(prefetched)}")
  counted = delivered[-len(times["pipeline"]):]
  rates = {"pipeline": [n * batch / t
                        for n, t in zip(counted, times["pipeline"])],
           "ce-only step": [batch / t for t in times["ce-only step"]],
           "segwgan step": [batch / t for t in times["segwgan step"]]}
  for name, values in rates.items():
    print(f"  {name:<16} median {timing.median(values):8.1f} images/s "
          f"(min {min(values):.1f}, max {max(values):.1f}, n={len(values)})")
  pipe = timing.median(rates["pipeline"])
  segwgan = pipe / timing.median(rates["segwgan step"])
  ratio = pipe / timing.median(rates["ce-only step"])
  print(f"  pipeline / segwgan step: {segwgan:.2f}")
  print(f"  pipeline / ce-only step: {ratio:.2f}")
  timing.final("input_pipeline", ratio, ">=3")


if __name__ == "__main__":
  main()
