"""tools/evaluate.py, predict.py and export.py end to end on real VOC files
with the converted Google-trained DeepLabv3-MobileNetV2 0.5."""
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import toolrunner
from segwgan import labels
from segwgan.evaluation import metrics

REPO = pathlib.Path(__file__).resolve().parents[2]
VOC = "pascal_voc2012/VOCdevkit/VOC2012"


def tool(name, *args, onednn=None):
  """Runs tools/`name`; `onednn` True/False sets TF_ENABLE_ONEDNN_OPTS."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  if onednn is not None:
    env["TF_ENABLE_ONEDNN_OPTS"] = "1" if onednn else "0"
  return toolrunner.run(REPO / "tools" / name, *args, cwd=REPO, env=env)


def tree_digest(root: pathlib.Path) -> str:
  digest = hashlib.sha256()
  for path in sorted(root.rglob("*")):
    if path.is_file():
      digest.update(str(path.relative_to(root)).encode())
      digest.update(path.read_bytes())
  return digest.hexdigest()


@pytest.fixture(scope="module")
def voc_images(shared_data, tmp_path_factory):
  """Four real VOC val JPEGs in a folder."""
  root = tmp_path_factory.mktemp("voc_images")
  ids = (shared_data / VOC / "ImageSets/Segmentation/val.txt"
         ).read_text().split()[:4]
  for i in ids:
    shutil.copy(shared_data / VOC / "JPEGImages" / f"{i}.jpg", root)
  return root


@pytest.fixture(scope="module")
def tool_export(converted_dm05, tmp_path_factory):
  """A VOC SavedModel made by tools/export.py, the tool under test."""
  export_dir = tmp_path_factory.mktemp("export") / "voc"
  result = tool("export.py", f"--checkpoint={converted_dm05}",
                "--dataset=pascal_voc2012", f"--export_dir={export_dir}")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "exported pascal_voc2012" in result.stdout
  return export_dir


def test_export_refuses_to_overwrite_and_keeps_the_old_one(tool_export,
                                                           converted_dm05):
  before = tree_digest(tool_export)
  result = tool("export.py", f"--checkpoint={converted_dm05}",
                "--dataset=pascal_voc2012", f"--export_dir={tool_export}")
  assert result.returncode == 2
  assert "already exists" in result.stderr and str(tool_export) in result.stderr
  assert "Traceback" not in result.stderr
  assert tree_digest(tool_export) == before


def saved_op_types(export_dir: pathlib.Path) -> set:
  """The op types in an export's saved functions."""
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  proto = saved_model_pb2.SavedModel()
  proto.ParseFromString((export_dir / "saved_model.pb").read_bytes())
  return {node.op for function in proto.meta_graphs[0].graph_def.library.function
          for node in function.node_def}


# Predictions of two exports on one image, in a process of its own.
_AGREEMENT = """
import sys
import numpy as np
from PIL import Image
from segwgan.serving import predictor
image = np.asarray(Image.open(sys.argv[3]))
a, b = (predictor.Predictor.from_saved_model(d).predict(image)
        for d in sys.argv[1:3])
print(np.mean(a == b))
"""


def test_export_with_native_dilations_predicts_the_same(tool_export, voc_images,
                                                        converted_dm05,
                                                        tmp_path):
  """With oneDNN on, whatever this machine's default; refused without."""
  native = tmp_path / "native"
  args = ("export.py", f"--checkpoint={converted_dm05}",
          "--dataset=pascal_voc2012", "--native_dilations",
          f"--export_dir={native}")
  refused = tool(*args, onednn=False)
  assert refused.returncode == 2, refused.stderr[-3000:]
  assert "--native_dilations" in refused.stderr
  assert "TF_ENABLE_ONEDNN_OPTS" in refused.stderr
  assert "Traceback" not in refused.stderr and not native.exists()
  result = tool(*args, onednn=True)
  if result.returncode == 2 and "--native_dilations" in result.stderr:
    pytest.skip("TF_ENABLE_ONEDNN_OPTS=1 does not turn oneDNN on in this "
                "TensorFlow build")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "SpaceToBatchND" in saved_op_types(tool_export)
  assert "SpaceToBatchND" not in saved_op_types(native)
  image = sorted(voc_images.glob("*.jpg"))[0]
  compared = subprocess.run(
      [sys.executable, "-c", _AGREEMENT, str(tool_export), str(native),
       str(image)], cwd=REPO, capture_output=True, text=True, timeout=600,
      check=False, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                            TF_ENABLE_ONEDNN_OPTS="1"))
  assert compared.returncode == 0, compared.stderr[-3000:]
  assert float(compared.stdout.split()[-1]) >= 0.999
  # Loaded where oneDNN is off: one line naming the export, not TF's error.
  unusable = tool("predict.py", f"--saved_model={native}",
                  f"--input={image}", f"--output_dir={tmp_path / 'pred'}",
                  onednn=False)
  assert unusable.returncode == 2, unusable.stderr[-3000:]
  assert str(native) in unusable.stderr and "oneDNN" in unusable.stderr
  assert "Traceback" not in unusable.stderr


def test_export_of_a_missing_checkpoint_names_it(tmp_path):
  result = tool("export.py", f"--checkpoint={tmp_path / 'nope'}",
                "--dataset=pascal_voc2012", f"--export_dir={tmp_path / 'x'}")
  assert result.returncode == 2
  assert str(tmp_path / "nope") in result.stderr
  assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("flag, messages", [
    ("--tflite_size=257x257", ["--tflite_size must be HEIGHT,WIDTH",
                               "257x257"]),
    ("--tflite_outputs=labels,logits", [
        "--tflite_outputs=labels,logits",
        "some of ['labels', 'probabilities']"])], ids=["size", "outputs"])
def test_export_refuses_a_bad_tflite_flag_first(tmp_path, flag, messages):
  result = tool("export.py", f"--checkpoint={tmp_path / 'nope'}",
                "--dataset=pascal_voc2012", f"--export_dir={tmp_path / 'x'}",
                "--with_tflite", flag)
  assert result.returncode == 2
  for message in messages:
    assert message in result.stderr
  assert "Traceback" not in result.stderr
  assert not (tmp_path / "x").exists()


def test_predict_writes_labels_overlays_and_figures(tool_export, voc_images,
                                                    shared_data, tmp_path):
  out = tmp_path / "pred"
  result = tool("predict.py", f"--saved_model={tool_export}",
                f"--input={voc_images}", f"--output_dir={out}")
  assert result.returncode == 0, result.stderr[-3000:]
  voc = labels.get_info("pascal_voc2012")
  stems = sorted(p.stem for p in voc_images.glob("*.jpg"))
  total = metrics.ConfusionMatrix(voc.num_classes)
  for stem in stems:
    image = Image.open(voc_images / f"{stem}.jpg")
    label_png = Image.open(out / f"{stem}_labels.png")
    assert label_png.mode == "P" and label_png.size == image.size
    prediction = np.asarray(label_png)
    assert prediction.max() < voc.num_classes
    truth = np.asarray(Image.open(shared_data / VOC / "SegmentationClass" /
                                  f"{stem}.png"))
    total.update(truth, prediction)
    overlay = Image.open(out / f"{stem}_overlay.png")  # Legend below.
    assert overlay.width == image.width and overlay.height > image.height
    figure = Image.open(out / f"{stem}_figure.png")
    assert figure.size[0] > 2 * image.size[0]  # image | prediction
  # A VOC-trained model on VOC images: far better than chance.
  assert metrics.pixel_accuracy(total.matrix) > 0.7


def test_predict_glob_matching_nothing_is_a_clear_error(tool_export, tmp_path):
  result = tool("predict.py", f"--saved_model={tool_export}",
                f"--input={tmp_path}/*.jpg", f"--output_dir={tmp_path / 'o'}")
  assert result.returncode == 2
  assert "no image files" in result.stderr and "Traceback" not in result.stderr


def test_evaluate_writes_the_table_json_and_csv(converted_dm05, shared_data,
                                                tmp_path):
  out = tmp_path / "eval"
  result = tool("evaluate.py", f"--checkpoint={converted_dm05}",
                "--dataset=pascal_voc2012",
                f"--data_dir={shared_data / 'pascal_voc2012'}",
                f"--tfds_dir={tmp_path / 'tfds'}", "--split=val",
                "--max_images=6", f"--output_dir={out}")
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads((out / "metrics.json").read_text())
  assert report["num_images"] == 6
  cm = np.asarray(report["confusion_matrix"])
  assert report["miou"] == pytest.approx(metrics.mean_iou(cm))
  assert "aeroplane" in result.stdout and "mean (Eq. 17, 19)" in result.stdout
  csv_lines = (out / "metrics.csv").read_text().splitlines()
  assert csv_lines[0] == "class,iou,accuracy" and len(csv_lines) == 21 + 3


def test_evaluate_refuses_an_unwritable_output_dir(converted_dm05, tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("x")
  result = tool("evaluate.py", f"--checkpoint={converted_dm05}",
                "--dataset=pascal_voc2012", f"--output_dir={blocker / 'sub'}")
  assert result.returncode == 2
  assert "--output_dir" in result.stderr and "Traceback" not in result.stderr


def test_predict_with_the_tflite_backend_gives_the_same_labels(
    converted_dm05, voc_images, tmp_path):
  export_dir = tmp_path / "export"
  result = tool("export.py", f"--checkpoint={converted_dm05}",
                "--dataset=pascal_voc2012", f"--export_dir={export_dir}",
                "--with_tflite")
  assert result.returncode == 0, result.stderr[-3000:]
  for backend in ("savedmodel", "tflite"):
    result = tool("predict.py", f"--saved_model={export_dir}",
                  f"--backend={backend}", f"--input={voc_images}",
                  f"--output_dir={tmp_path / backend}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "XNNPACK" not in result.stderr  # TFLite's INFO line, hidden.
  for stem in sorted(p.stem for p in voc_images.glob("*.jpg")):
    saved, lite = (np.asarray(Image.open(tmp_path / b / f"{stem}_labels.png"))
                   for b in ("savedmodel", "tflite"))
    assert np.mean(saved == lite) >= 0.999
  refused = tool("predict.py", f"--saved_model={export_dir}",
                 "--backend=tflite", "--flip", f"--input={voc_images}",
                 f"--output_dir={tmp_path / 'flip'}")
  assert refused.returncode == 2 and "--backend=tflite" in refused.stderr


def test_predict_on_a_folder_keeps_going_past_bad_files(tool_export, voc_images,
                                                        tmp_path):
  folder = tmp_path / "in"
  shutil.copytree(voc_images, folder)
  (folder / "broken.jpg").write_text("not an image")
  Image.fromarray(np.ones((8, 8), np.float32)).save(folder / "float.tif")
  shutil.copy(folder / "float.tif", folder / "float.png")  # A TIFF inside.
  out = tmp_path / "out"
  result = tool("predict.py", f"--saved_model={tool_export}",
                f"--input={folder}",
                f"--output_dir={out}")
  assert result.returncode == 2, result.stderr[-3000:]
  assert "Traceback" not in result.stderr
  for bad in ("broken.jpg", "float.png"):
    assert bad in result.stderr
  assert "2 of 6 images failed" in result.stderr
  good = sorted(p.stem for p in voc_images.glob("*.jpg"))
  assert sorted(p.name for p in out.iterdir()) == sorted(
      f"{stem}_{kind}.png" for stem in good
      for kind in ("labels", "overlay", "figure"))


def test_predict_resizes_large_photos_and_guards_memory(tool_export,
                                                        shared_data,
                                                        tmp_path):
  folder = tmp_path / "in"
  folder.mkdir()
  with Image.open(shared_data / VOC / "JPEGImages" / "2007_000033.jpg") as im:
    im.save(folder / "small.jpg")
    large = im.resize((im.width * 4, im.height * 4))
  large.save(folder / "large.jpg")
  result = tool("predict.py", f"--saved_model={tool_export}",
                f"--input={folder}",
                f"--output_dir={tmp_path / 'policy'}")
  assert result.returncode == 0, result.stderr[-3000:]
  labels = Image.open(tmp_path / "policy" / "large_labels.png")
  assert labels.size == large.size
  result = tool("predict.py", f"--saved_model={tool_export}",
                f"--input={folder}",
                "--resize_long_side=0", "--max_pixels=1000000",
                f"--output_dir={tmp_path / 'guarded'}")
  assert result.returncode == 2 and "Traceback" not in result.stderr
  assert "large.jpg" in result.stderr and "--max_pixels" in result.stderr
  assert sorted(p.name for p in (tmp_path / "guarded").iterdir()) == [
      "small_figure.png", "small_labels.png", "small_overlay.png"]
