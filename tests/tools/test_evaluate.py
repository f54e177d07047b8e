"""tools/evaluate.py on a stage-2 MODEL_DIR and real CMP Facades files: the
same scores as training's validation, per-image matrices and kept label
PNGs as the protocol reads them."""
import json
import os
import pathlib
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import cmp_base_copy
import toolrunner
from segwgan.configs import overrides
from segwgan.data import registry
from segwgan.evaluation import metrics
from segwgan.evaluation import per_image
from segwgan.modeling import segmenter as segmenter_lib
from segwgan.training import tasks

REPO = pathlib.Path(__file__).resolve().parents[2]
IMAGES = 16


def evaluate_tool(*args):
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  return toolrunner.run(REPO / "tools" / "evaluate.py", *args, cwd=REPO,
                        env=env)


@pytest.fixture(scope="module")
def run(shared_data, converted_dm05, tmp_path_factory):
  """A stage-2 MODEL_DIR (params.yaml + a checkpoint of a segmenter
  started from the converted Google DeepLab), and training's validation
  scores of that segmenter."""
  root = tmp_path_factory.mktemp("evaluate")
  cmp_base_copy(shared_data, root, IMAGES)
  data = {"source_dir": str(root / "cmp"),
          "tfds_data_dir": str(root / "tfds"), "resize_long_side": 160,
          "split_seed": 3}
  params = overrides.build("stage2_cmp_facades_cpu", params_override=json.dumps(
      {"task": {"init_checkpoint": converted_dm05, "train_data": data,
                "validation_data": data}}))
  segmenter = segmenter_lib.build_segmenter(params.task.model)
  segmenter_lib.init_from_checkpoint(
      segmenter, converted_dm05,
      modules=tuple(params.task.init_checkpoint_modules))
  model_dir = root / "run"
  model_dir.mkdir()
  tasks.save_params(params, str(model_dir))
  tf.train.Checkpoint(trainer=tf.train.Checkpoint(segmenter=segmenter)).save(
      str(model_dir / "ckpt"))
  validation = tasks.evaluate_fn(segmenter, params.task.validation_data)()
  labels = {e["id"].decode(): e["label"][..., 0] for e in registry.read_split(
      params.task.validation_data).as_numpy_iterator()}
  return root, model_dir, validation, labels


def test_same_scores_as_training_validation(run):
  root, model_dir, validation, labels = run
  ids = list(labels)
  keep = ids[:2]
  out = root / "eval"
  result = evaluate_tool(f"--checkpoint={model_dir}", "--split=val",
                         f"--output_dir={out}", f"--keep_ids={','.join(keep)}")
  assert result.returncode == 0, result.stderr[-3000:]
  # Quiet: no library or TF C++ log lines; progress as whole lines.
  assert "oneDNN" not in result.stderr and "cuda" not in result.stderr.lower()
  assert not re.search(r"^[IW]\d{4} ", result.stderr, re.M), result.stderr
  assert "absl::InitializeLog" not in result.stderr
  assert "\r" not in result.stderr
  assert result.stderr.splitlines()[-1].startswith(f"{len(ids)}/{len(ids)} ")
  scores = json.loads((out / "metrics.json").read_text())
  # The tool predicts with the batch-norm-folded copy (modeling/folded.py),
  # training's validation with the Keras model: the logits differ by float
  # rounding, so a near-tie pixel may flip (not more than one in 1e5 here).
  assert scores["miou"] == pytest.approx(validation["miou"], abs=1e-5)
  assert scores["pixel_accuracy"] == pytest.approx(
      validation["pixel_accuracy"], abs=1e-5)
  assert scores["split"] == "val" and scores["num_images"] == len(ids)
  assert scores["class_names"][0] == "background"
  assert scores["checkpoint"].startswith(str(model_dir))
  matrices = per_image.PerImage.load(out / "per_image.npz")
  assert matrices.ids == ids
  np.testing.assert_array_equal(matrices.total(),
                                np.array(scores["confusion_matrix"]))
  for image_id in keep:
    with Image.open(out / "predictions" / f"{image_id}.png") as png:
      assert png.mode == "P"
      prediction = np.asarray(png)
    assert prediction.shape == labels[image_id].shape
    cm = metrics.ConfusionMatrix(12)
    cm.update(labels[image_id], prediction)
    np.testing.assert_array_equal(
        cm.matrix, matrices.matrices[matrices.ids.index(image_id)])


def test_unknown_keep_id_is_refused_and_nothing_written(run):
  root, model_dir, _, _ = run
  out = root / "refused"
  result = evaluate_tool(f"--checkpoint={model_dir}", "--split=val",
                         f"--output_dir={out}", "--keep_ids=cmp_b9999",
                         "--max_images=1")
  assert result.returncode == 2
  assert "--keep_ids: cmp_b9999" in result.stderr
  assert "Traceback" not in result.stderr
  assert not (out / "metrics.json").exists()


def test_verbose_brings_the_library_logs_back(run):
  root, model_dir, _, _ = run
  result = evaluate_tool(f"--checkpoint={model_dir}", "--split=val",
                         f"--output_dir={root / 'verbose'}", "--max_images=1",
                         "--verbose")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "oneDNN" in result.stderr or "cpu_feature_guard" in result.stderr


def test_truncated_checkpoint_is_one_line(run, tmp_path):
  _, model_dir, _, _ = run
  broken = tmp_path / "run"
  shutil.copytree(model_dir, broken)
  data = next(broken.glob("*.data-*"))
  data.write_bytes(data.read_bytes()[:data.stat().st_size // 2])
  result = evaluate_tool(f"--checkpoint={broken}", "--split=val",
                         f"--output_dir={tmp_path / 'out'}")
  assert result.returncode == 2, result.stderr[-3000:]
  assert "cannot be read" in result.stderr and str(broken) in result.stderr
  assert "Traceback" not in result.stderr
  assert not (tmp_path / "out" / "metrics.json").exists()
