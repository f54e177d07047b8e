"""Eq. 17-19 against a plain numpy reference on real VOC labels."""
import numpy as np
import pytest
import tf_keras
from PIL import Image

from segwgan.evaluation import metrics

NUM_CLASSES = 21


@pytest.fixture(scope="module")
def label_pairs(shared_data):
  """Real VOC val labels, each with a 'prediction' made by shifting it."""
  root = shared_data / "pascal_voc2012" / "VOCdevkit" / "VOC2012"
  ids = (root / "ImageSets" / "Segmentation" / "val.txt").read_text().split()
  pairs = []
  for k, i in enumerate(ids[:6]):
    label = np.array(Image.open(root / "SegmentationClass" / f"{i}.png"))
    pred = np.roll(label, 7 * (k + 1), axis=1)
    pred[pred == 255] = 0  # predictions never say "ignore"
    pairs.append((label, pred))
  return pairs


def reference(pairs):
  """Per-class IoU / accuracy straight from boolean masks."""
  inter = np.zeros(NUM_CLASSES)
  union = np.zeros(NUM_CLASSES)
  truth = np.zeros(NUM_CLASSES)
  for label, pred in pairs:
    valid = label != 255
    for c in range(NUM_CLASSES):
      g, p = (label == c) & valid, (pred == c) & valid
      inter[c] += (g & p).sum()
      union[c] += (g | p).sum()
      truth[c] += g.sum()
  iou = np.array([i / u if u else np.nan for i, u in zip(inter, union)])
  acc = np.array([i / t if t else np.nan for i, t in zip(inter, truth)])
  return iou, acc, inter.sum() / truth.sum()


def test_metrics_equal_numpy_reference(label_pairs):
  cm = metrics.ConfusionMatrix(NUM_CLASSES)
  for label, pred in label_pairs:
    cm.update(label, pred)
  iou, acc, pix = reference(label_pairs)
  np.testing.assert_allclose(metrics.per_class_iou(cm.matrix), iou)
  np.testing.assert_allclose(metrics.per_class_accuracy(cm.matrix), acc)
  assert metrics.mean_iou(cm.matrix) == pytest.approx(np.nanmean(iou))
  assert metrics.class_accuracy(cm.matrix) == pytest.approx(np.nanmean(acc))
  assert metrics.pixel_accuracy(cm.matrix) == pytest.approx(pix)
  # Some classes are absent from these 6 images: they are left out (NaN).
  assert np.isnan(metrics.per_class_iou(cm.matrix)).any()


def test_mean_iou_matches_keras_mean_iou(label_pairs):
  cm = metrics.ConfusionMatrix(NUM_CLASSES)
  keras_miou = tf_keras.metrics.MeanIoU(NUM_CLASSES, ignore_class=255)
  for label, pred in label_pairs:
    cm.update(label, pred)
    keras_miou.update_state(label.astype(np.int64), pred.astype(np.int64))
  np.testing.assert_array_equal(cm.matrix, keras_miou.total_cm.numpy())
  assert metrics.mean_iou(cm.matrix) == pytest.approx(
      float(keras_miou.result()), rel=1e-6)


def test_tf_confusion_matrix_equals_numpy(label_pairs):
  cm = metrics.ConfusionMatrix(NUM_CLASSES)
  total = 0
  for label, pred in label_pairs:
    cm.update(label, pred)
    total += metrics.confusion_matrix_tf(label, pred, NUM_CLASSES).numpy()
  np.testing.assert_array_equal(cm.matrix, total)


def test_perfect_prediction_scores_one_and_bad_label_is_named():
  label = np.array([[0, 1], [2, 255]])
  cm = metrics.ConfusionMatrix(3)
  cm.update(label, np.where(label == 255, 0, label))
  assert metrics.mean_iou(cm.matrix) == 1.0
  assert metrics.pixel_accuracy(cm.matrix) == 1.0
  with pytest.raises(ValueError, match="label value 7"):
    cm.update(np.array([7]), np.array([0]))


def test_mean_iou_of_a_stack_is_each_matrix_eq17_with_absent_classes():
  rng = np.random.default_rng(0)
  cms = rng.integers(0, 50, size=(5, 12, 12))
  cms[:, 3, :] = 0  # class 3 never in the ground truth ...
  cms[:, :, 3] = 0  # ... nor predicted: left out of the mean
  cms[:, 5, 5] = 0  # class 5 never right: IoU 0, counted
  for cm in cms:
    tp = np.diag(cm).astype(float)
    union = cm.sum(0) + cm.sum(1) - tp
    expected = np.mean([t / u for t, u in zip(tp, union) if u > 0])
    assert metrics.mean_iou(cm) == pytest.approx(expected)
    assert isinstance(metrics.mean_iou(cm), float)
  np.testing.assert_allclose(metrics.mean_iou(cms),
                             [metrics.mean_iou(cm) for cm in cms])
  assert np.isnan(metrics.mean_iou(np.zeros((2, 12, 12)))).all()
