"""Paired bootstrap of mIoU differences on cases whose answer is known."""
import numpy as np
import pytest
from PIL import Image

from segwgan.evaluation import bootstrap
from segwgan.evaluation import metrics

C = 12


def per_image(labels, predictions, num_classes=C):
  out = []
  for label, prediction in zip(labels, predictions):
    cm = metrics.ConfusionMatrix(num_classes)
    cm.update(label, prediction)
    out.append(cm.matrix)
  return np.stack(out)


@pytest.fixture(scope="module")
def cmp_labels(shared_data):
  """Ten real CMP Facades label maps (train ids 0..11), downsampled 4x."""
  base = shared_data / "cmp_facades" / "base"
  return [(np.asarray(Image.open(base / f"cmp_b{k:04d}.png")) - 1
           ).astype(np.uint8)[::4, ::4] for k in range(1, 11)]


def shifted(label, pixels):
  return np.roll(label, pixels, axis=1)


def test_identical_runs_give_zero_width_interval_at_zero(cmp_labels):
  predictions = [shifted(l, 9) for l in cmp_labels]
  run = per_image(cmp_labels, predictions)
  interval = bootstrap.paired_difference(run, run.copy(), samples=2000)
  assert (interval.estimate, interval.low, interval.high) == (0.0, 0.0, 0.0)
  assert not interval.excludes_zero
  assert interval.images == len(cmp_labels)


def test_better_model_on_every_image_excludes_zero(cmp_labels):
  baseline = per_image(cmp_labels, [shifted(l, 25) for l in cmp_labels])
  variant = per_image(cmp_labels, [shifted(l, 5) for l in cmp_labels])
  interval = bootstrap.paired_difference(variant, baseline, samples=2000)
  expected = (metrics.mean_iou(variant.sum(0)) -
              metrics.mean_iou(baseline.sum(0)))
  assert interval.estimate == pytest.approx(expected)
  assert 0 < interval.low <= interval.estimate <= interval.high
  assert interval.excludes_zero
  # Swapping the models mirrors the interval.
  mirrored = bootstrap.paired_difference(baseline, variant, samples=2000)
  assert mirrored.high == pytest.approx(-interval.low)
  assert mirrored.low == pytest.approx(-interval.high)


def test_pairing_narrows_the_interval(cmp_labels):
  """Resampling the same images for both models cancels how hard each image
  is: the paired interval is much narrower than an unpaired one."""
  baseline = per_image(cmp_labels, [shifted(l, 10 + 3 * k)
                                    for k, l in enumerate(cmp_labels)])
  variant = per_image(cmp_labels, [shifted(l, 8 + 3 * k)
                                   for k, l in enumerate(cmp_labels)])
  paired = bootstrap.paired_difference(variant, baseline, samples=4000)
  n = len(cmp_labels)

  def resampled(matrices, seed):
    counts = bootstrap.resample_counts(n, 4000, seed)
    return metrics.mean_iou(
        (counts @ matrices.reshape(n, -1)).reshape(-1, C, C))

  unpaired = resampled(variant, 1) - resampled(baseline, 2)
  low, high = np.percentile(unpaired, [2.5, 97.5])
  assert paired.high - paired.low < (high - low) / 3
  assert paired.low <= paired.estimate <= paired.high


def test_seeds_average_and_spread(cmp_labels):
  baseline = per_image(cmp_labels, [shifted(l, 20) for l in cmp_labels])
  seeds = [per_image(cmp_labels, [shifted(l, s) for l in cmp_labels])
           for s in (4, 12)]
  pooled = bootstrap.paired_difference(seeds, [baseline, baseline],
                                       samples=1000)
  one = [bootstrap.paired_difference(v, baseline, samples=1000).estimate
         for v in seeds]
  assert pooled.estimate == pytest.approx(np.mean(one))
  spread = bootstrap.difference_spread(seeds, [baseline, baseline])
  assert spread.values == pytest.approx(tuple(one))
  assert spread.std == pytest.approx(np.std(one, ddof=1))
  assert bootstrap.Spread.of([0.5]).std == 0.0


def test_same_seed_same_interval_and_shape_errors(cmp_labels):
  a = per_image(cmp_labels, [shifted(l, 3) for l in cmp_labels])
  b = per_image(cmp_labels, [shifted(l, 7) for l in cmp_labels])
  assert (bootstrap.paired_difference(a, b, samples=500, seed=3) ==
          bootstrap.paired_difference(a, b, samples=500, seed=3))
  with pytest.raises(ValueError, match="must all be"):
    bootstrap.paired_difference(a, b[:-1])
  with pytest.raises(ValueError, match="baseline runs"):
    bootstrap.paired_difference([a, a], [b])


def test_format_points():
  assert bootstrap.format_points(0.01234) == "+1.23"
  assert bootstrap.format_points(-0.00001) == "0.00"
  assert bootstrap.format_points(float("nan")) == "n/a"
