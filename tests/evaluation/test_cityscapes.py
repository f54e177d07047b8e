"""Official Cityscapes metrics on the real (downsampled) val sample."""
import math

import numpy as np
import pytest
from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as official
from cityscapesscripts.helpers import labels as cs_labels
from PIL import Image

from segwgan import errors
from segwgan import labels as labels_lib
from segwgan.evaluation import cityscapes
from segwgan.evaluation import metrics

FRAME = "frankfurt_000000_000294"


@pytest.fixture(scope="module")
def sample(shared_data):
  root = shared_data / "cityscapes_mmseg_sample"
  label_ids_path, instance_path = cityscapes.ground_truth_files(
      root, "val", FRAME)
  label_ids = np.array(Image.open(label_ids_path))
  train_ids = labels_lib.cityscapes_label_id_to_train_id()[label_ids]
  return dict(root=root, gt=label_ids_path, train_ids=train_ids,
              label_ids=label_ids,
              instances=np.array(Image.open(instance_path)).astype(np.int64))


def perturb(train_ids):
  """Shifted rows, a painted 'car' block and persons turned into riders."""
  prediction = np.roll(train_ids, 3, axis=0).copy()
  prediction[prediction == 255] = 0
  prediction[40:70, 100:160] = 13
  prediction[train_ids == 11] = 12
  prediction[:, :30][train_ids[:, :30] == 11] = 11
  return prediction


def test_frame_ids_and_layout(sample, tmp_path):
  assert cityscapes.frame_id(f"{FRAME}_leftImg8bit.png") == FRAME
  assert cityscapes.frame_id(f"x/{FRAME}") == FRAME
  with pytest.raises(ValueError, match="not a Cityscapes name"):
    cityscapes.frame_id("2007_000033x")
  path = cityscapes.write_prediction(tmp_path, FRAME, sample["train_ids"])
  assert path == tmp_path / "frankfurt" / f"{FRAME}_pred_labelIds.png"
  # The official search finds it, and the round trip restores trainIds.
  args = official.CArgs()
  args.predictionPath, args.predictionWalk = str(tmp_path), None
  assert official.getPrediction(args, str(sample["gt"])) == str(path)
  written = np.array(Image.open(path))
  evaluated = sample["train_ids"] != 255
  np.testing.assert_array_equal(written[evaluated],
                                sample["label_ids"][evaluated])


def test_ground_truth_as_prediction_scores_one(sample, tmp_path):
  path = cityscapes.write_prediction(tmp_path, FRAME, sample["train_ids"])
  scores = cityscapes.evaluate([(path, sample["gt"])])
  present = {labels_lib.CITYSCAPES.class_names[i]
             for i in np.unique(sample["train_ids"]) if i != 255}
  assert present == {"road", "sidewalk", "building", "fence", "pole",
                     "traffic sign", "vegetation", "sky", "person", "car"}
  for name, iou in scores.class_iou.items():
    assert iou == 1.0 if name in present else math.isnan(iou), name
  assert scores.class_iiou["person"] == scores.class_iiou["car"] == 1.0
  assert scores.category_iiou == pytest.approx(
      {"flat": math.nan, "construction": math.nan, "object": math.nan,
       "nature": math.nan, "sky": math.nan, "human": 1.0, "vehicle": 1.0},
      nan_ok=True)
  assert set(scores.category_iou.values()) == {1.0}
  assert (scores.iou_classes, scores.iiou_classes, scores.iou_categories,
          scores.iiou_categories) == (1.0, 1.0, 1.0, 1.0)


def reference_instance_iou(label_ids, instances, prediction, members):
  """Eq. 22/23 in numpy: instance-weighted TP and FN, plain FP."""
  ignored = {l.id for l in cs_labels.labels if l.ignoreInEval}
  evaluated = ~np.isin(label_ids, list(ignored))
  tp = fn = 0.0
  for instance in np.unique(instances[instances > 1000]):
    label = cs_labels.id2label[instance // 1000]
    if label.ignoreInEval or label.id not in members:
      continue
    mask = instances == instance
    weight = official.args.avgClassSize[label.name] / mask.sum()
    hits = np.isin(prediction[mask], members).sum()
    tp += hits * weight
    fn += (mask.sum() - hits) * weight
  fp = (np.isin(prediction, members) & evaluated &
        ~np.isin(label_ids, members)).sum()
  return tp / (tp + fn + fp) if tp + fn + fp else math.nan


def test_perturbed_prediction_matches_eq_17_and_numpy(sample, tmp_path):
  train_prediction = perturb(sample["train_ids"])
  path = cityscapes.write_prediction(tmp_path, FRAME, train_prediction)
  scores = cityscapes.evaluate([(path, sample["gt"])])

  cm = metrics.ConfusionMatrix(19)
  cm.update(sample["train_ids"], train_prediction)
  np.testing.assert_allclose(list(scores.class_iou.values()),
                             metrics.per_class_iou(cm.matrix), rtol=1e-12)
  assert scores.iou_classes == pytest.approx(metrics.mean_iou(cm.matrix))
  assert 0.3 < scores.iou_classes < 0.9

  label_prediction = cityscapes.to_label_ids(train_prediction)
  for name in ("person", "rider", "car"):
    expected = reference_instance_iou(
        sample["label_ids"], sample["instances"], label_prediction,
        [cs_labels.name2label[name].id])
    assert scores.class_iiou[name] == pytest.approx(expected, nan_ok=True)
  for category in ("human", "vehicle"):
    members = [l.id for l in cs_labels.category2labels[category]
               if l.hasInstances]
    expected = reference_instance_iou(
        sample["label_ids"], sample["instances"], label_prediction, members)
    assert scores.category_iiou[category] == pytest.approx(expected)
  assert scores.class_iiou["person"] < 1.0 and scores.class_iiou["rider"] == 0
  # Persons predicted as riders are still 'human': category IoU is higher.
  assert scores.category_iou["human"] > scores.class_iou["person"]


def test_missing_instances_and_size_mismatch_are_errors(sample, tmp_path):
  small = cityscapes.write_prediction(tmp_path / "a", FRAME,
                                      sample["train_ids"][:64])
  with pytest.raises(errors.UserError, match="prediction .* is 256x64"):
    cityscapes.evaluate([(small, sample["gt"])])
  small.write_bytes(b"not a png")
  with pytest.raises(errors.UserError, match=f"{small} is not a readable"):
    cityscapes.evaluate([(small, sample["gt"])])
  copy = tmp_path / "gt" / f"{FRAME}_gtFine_labelIds.png"
  copy.parent.mkdir()
  copy.write_bytes(sample["gt"].read_bytes())
  good = cityscapes.write_prediction(tmp_path / "b", FRAME,
                                     sample["train_ids"])
  with pytest.raises(FileNotFoundError, match="instanceIds"):
    cityscapes.evaluate([(good, copy)])
