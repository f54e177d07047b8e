"""The report rendered from an output directory built from real CMP labels.

Predictions are real label maps shifted sideways (more shift, more error),
so every number in the report can be checked against Eq. 17-19.
"""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import yaml
from official.core import exp_factory
from PIL import Image

from segwgan.configs import experiments  # pylint: disable=unused-import
from segwgan import labels as labels_lib
from segwgan.evaluation import metrics
from segwgan.evaluation import per_image
from segwgan.reporting import figures
from segwgan.reporting import files
from segwgan.reporting import plan as plan_lib
from segwgan.reporting import report
from segwgan.reporting import settings

INFO = labels_lib.CMP_FACADES
# Shift (pixels) of each variant's predictions, per seed: SegWGAN best.
SHIFTS = {"deeplabv3": (24, 22), "seggan": (16, 20), "segwgan": (6, 8)}


@pytest.fixture(scope="module")
def examples(shared_data):
  base = shared_data / "cmp_facades" / "base"
  out = []
  for k in range(1, 9):
    image = np.asarray(Image.open(base / f"cmp_b{k:04d}.jpg").convert("RGB"))
    label = (np.asarray(Image.open(base / f"cmp_b{k:04d}.png")) - 1
             ).astype(np.uint8)
    out.append((f"cmp_b{k:04d}", image[::4, ::4], label[::4, ::4]))
  return out


def _params(name, steps):
  params = exp_factory.get_exp_config(name).as_dict()
  params["trainer"]["train_steps"] = steps
  return yaml.safe_dump(params)


def _scalars(log_dir, values):
  writer = tf.summary.create_file_writer(str(log_dir))
  with writer.as_default():
    for step in range(10, 110, 10):
      for name, value in values.items():
        tf.summary.scalar(name, value / (1 + step / 100), step=step)
  writer.close()


@pytest.fixture(scope="module")
def output(examples, tmp_path_factory):
  """A finished 2-seed reproduction's output directory (no training)."""
  root = tmp_path_factory.mktemp("report")
  plan = plan_lib.build(
      "cmp_facades", "cpu", 2, str(root / "out"),
      sections=settings.load((), "{report: {figure_images: 2, "
                             "bootstrap_samples: 2000, note: A test.}}"),
      stage2_init_checkpoint="checkpoints/tf_deeplab_mnv2_dm05_os8")
  layout = plan.layout
  ids = [i for i, _, _ in examples]
  inputs = figures.FigureFiles(layout.figure_inputs)
  for i, image, label in examples[:2]:
    figures.write_png(inputs.image(i), image)
    figures.save_label_png(inputs.label(i), label, INFO)
  files.write_json(layout.figure_inputs / "ids.json", ids[:2])
  for loss in ("gan", "wgan"):
    folder = layout.stage1(loss)
    folder.mkdir(parents=True)
    (folder / "params.yaml").write_text(_params("stage1_cmp_facades_cpu", 60))
    _scalars(folder / "train", {"gloss": 40.0})
    for i, image, _ in examples[:2]:
      figures.write_png(layout.reconstructions(loss) / f"{i}.png",
                        255 - image)
  expected = {}
  for seed in (0, 1):
    for variant, shifts in SHIFTS.items():
      model_dir = layout.stage2(seed, variant)
      model_dir.mkdir(parents=True)
      (model_dir / "params.yaml").write_text(
          _params("stage2_cmp_facades_cpu", 100))
      _scalars(model_dir / "train", {"segloss": 2.0, "gloss": 35.0})
      matrices = []
      for i, _, label in examples:
        prediction = np.roll(label, shifts[seed], axis=1)
        cm = metrics.ConfusionMatrix(INFO.num_classes)
        cm.update(label, prediction)
        matrices.append(cm.matrix)
        if i in ids[:2]:
          figures.save_label_png(layout.evaluation(seed, variant) /
                                 "predictions" / f"{i}.png", prediction, INFO)
      result = per_image.PerImage(ids, np.stack(matrices))
      with open(layout.evaluation(seed, variant) / "per_image.npz", "wb") as f:
        result.save(f)
      summary = metrics.summary(result.total())
      expected[(seed, variant)] = summary
      files.write_json(layout.evaluation(seed, variant) / "metrics.json",
                       {"step": 100, "train_seconds": 61.0,
                        "eval_seconds": 9.0,
                        "per_class_iou": [None if np.isnan(v) else v
                                          for v in summary["per_class_iou"]]})
  for part in plan.parts():
    files.write_json(layout.marker(part.name),
                     {"args": list(part.args), "command": part.command(),
                      "seconds": 75.0, "started": "2026-01-01T00:00:00"})
  files.write_text(layout.invocations, json.dumps(
      {"command": ["tools/reproduce.py", "--dataset=cmp_facades"],
       "started": "2026-01-01T00:00:00", "seconds": 700.0,
       "commit": "abc1234", "ran": ["stage1_gan"], "skipped": []}) + "\n")
  files.write_json(layout.plan, plan.to_json())
  return plan, expected, report.write(plan)


def test_report_files(output):
  plan, _, path = output
  names = {p.name for p in path.parent.iterdir()}
  assert names == {"report.md", "results.json", report.FIG3, report.FIG4,
                   report.FIG5}
  for name in (report.FIG3, report.FIG4, report.FIG5):
    image = Image.open(path.parent / name)
    assert image.format == "PNG"
    assert (path.parent / name).stat().st_size < 400_000
  assert not list(plan.layout.root.glob(".report*"))  # no temporary left


def test_report_numbers(output):
  _, expected, path = output
  text = path.read_text()
  # The paper's Table 6 beside the measured means over the two seeds.
  assert "Table 6" in text
  for value in ("67.9", "72.1", "43.3", "71.7", "76.1", "49.6", "72.6",
                "77.8", "53.5"):
    assert f"| {value} |" in text
  for variant in SHIFTS:
    mious = [expected[(s, variant)]["miou"] for s in (0, 1)]
    cell = f"{100 * np.mean(mious):.2f} ± {100 * np.std(mious, ddof=1):.2f}"
    assert cell in text, (variant, cell)
    for seed in (0, 1):
      assert f"{100 * expected[(seed, variant)]['miou']:.2f}" in text
  for name in INFO.class_names:
    assert f"| {name} | not reported |" in text
  assert "> **Note.** A test." in text


def test_report_differences(output):
  _, expected, path = output
  result = json.loads((path.parent / "results.json").read_text())
  for variant in ("seggan", "segwgan"):
    diffs = [expected[(s, variant)]["miou"] - expected[(s, "deeplabv3")]
             ["miou"] for s in (0, 1)]
    pooled = result["differences"][variant]["pooled"]
    assert pooled["estimate"] == pytest.approx(np.mean(diffs))
    assert pooled["low"] <= pooled["estimate"] <= pooled["high"]
    assert result["differences"][variant]["spread"]["values"] == (
        pytest.approx(diffs))
  text = path.read_text()
  segwgan = result["differences"]["segwgan"]["pooled"]
  assert segwgan["low"] > 0  # shifted far less on every image
  assert (f"SegWGAN - DeepLabv3: {100 * segwgan['estimate']:+.2f} mIoU "
          f"points, 95% CI [{100 * segwgan['low']:+.2f}, "
          f"{100 * segwgan['high']:+.2f}]") in text
  assert "better than DeepLabv3: the interval lies above 0" in text
  assert "The paper reports +10.2." in text


def test_report_provenance(output):
  plan, _, path = output
  text = path.read_text()
  for part in plan.parts():
    assert f"- `{part.name}`:" in text
  assert "python -m segwgan.reporting.worker --job=stage2" in text
  assert "| tensorflow | 2.20.0 |" in text
  assert "training 1m01s, evaluation 9.0s" in text
  assert "`tools/reproduce.py --dataset=cmp_facades` | abc1234 |" in text
  assert "Stage 2: seeds 0, 1" in text
  # Which kernels ran: segwgan turns TF's oneDNN ops on on x86-64.
  onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset")
  assert f"; TF_ENABLE_ONEDNN_OPTS={onednn}." in text


def test_shown_command_names_paths_relative_to_the_checkout():
  base = "/home/u/segwgan"
  argv = ["/home/u/segwgan/.venv/bin/python", "-m", "w",
          "--data_dir=/home/u/shared/data/cmp", "--model_dir=/home/u/segwgan/"
          "runs/x", "--tfds_dir=/opt/tfds", "--seeds=3", "--note=a b"]
  assert report.shown_command(argv, base) == (
      ".venv/bin/python -m w --data_dir=../shared/data/cmp "
      "--model_dir=runs/x --tfds_dir=/opt/tfds --seeds=3 '--note=a b'")
  assert report.shown_path("runs/x", base) == "runs/x"


def test_optimizer_text_names_the_schedule():
  constant = {"optimizer": {"type": "adam"},
              "learning_rate": {"type": "constant",
                                "constant": {"learning_rate": 0.0005}}}
  assert report.optimizer_text(constant) == "adam 0.0005"
  decay = {"optimizer": {"type": "adam"},
           "learning_rate": {"type": "polynomial", "polynomial": {
               "initial_learning_rate": 0.0005, "decay_steps": 1000,
               "end_learning_rate": 0.0, "power": 0.9}},
           "warmup": {"type": "linear", "linear": {"warmup_steps": 50}}}
  assert report.optimizer_text(decay) == (
      "adam 0.0005 after a 50-step linear warm-up, polynomial decay "
      "(power 0.9) to 0 at step 1000")
