"""tools/reproduce.py end to end on 12 real CMP Facades images, tiny schedule.

Every part runs for real (TFLite conversion from ../shared/weights, stage 1
GAN and WGAN, the three stage-2 variants, per-image evaluation, report); a
second run of the same command skips every part and rewrites the report.
"""
import json
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
TINY = ("{common: {trainer: {train_steps: 2, checkpoint_interval: 1, "
        "summary_interval: 1, validation_interval: 2}, task: {train_data: "
        "{global_batch_size: 2, output_size: [64, 64], resize_long_side: 128, "
        "shuffle_buffer_size: 4}, validation_data: {resize_long_side: 128}}}, "
        "stage1: {task: {generator: {base_filters: 8}, critic: "
        "{base_filters: 8}}}, report: {figure_images: 2, "
        "bootstrap_samples: 500}}")
PARTS = ["pretrained", "stage1_gan", "stage1_wgan", "stage2_seed0_deeplabv3",
         "stage2_seed0_seggan", "stage2_seed0_segwgan"]


def reproduce(workdir, *extra):
  return subprocess.run(
      [sys.executable, str(REPO / "tools" / "reproduce.py"),
       "--dataset=cmp_facades", "--seeds=1",
       f"--data_dir={workdir / 'cmp'}", f"--tfds_dir={workdir / 'tfds'}",
       f"--weights_dir={workdir / 'weights'}",
       f"--output_dir={workdir / 'out'}", f"--params_override={TINY}",
       *extra], capture_output=True, text=True, cwd=REPO, timeout=900)


@pytest.fixture(scope="module")
def runs(shared_data, shared_weights, tmp_path_factory):
  """12 real CMP base images, the one TFLite file, and two runs."""
  root = tmp_path_factory.mktemp("reproduce")
  base = root / "cmp" / "base"
  base.mkdir(parents=True)
  for k in range(1, 13):
    for ext in ("jpg", "png", "xml"):
      shutil.copy(shared_data / "cmp_facades" / "base" / f"cmp_b{k:04d}.{ext}",
                  base)
  tflite = "deeplabv3_mnv2_dm05_pascal_257_float/deeplabv3_257_mv_gpu.tflite"
  (root / "weights" / tflite).parent.mkdir(parents=True)
  shutil.copy(shared_weights / tflite, root / "weights" / tflite)
  first = reproduce(root)
  assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
  checkpoints = sorted(p.name for p in (root / "out").rglob("ckpt-*.index"))
  second = reproduce(root)
  assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
  return root / "out", first.stdout, second.stdout, checkpoints


def test_first_run_writes_report_and_figures(runs):
  out, stdout, _, _ = runs
  report = out / "report" / "report.md"
  assert f"report: {report}" in stdout
  for name in PARTS:
    assert f"] {name}: done in" in stdout
    assert (out / "parts" / f"{name}.json").exists()
  text = report.read_text()
  assert "| 43.3 |" in text and "| 53.5 |" in text  # the paper's Table 6
  assert "95% CI" in text and "SegWGAN - DeepLabv3" in text
  for png in ("fig3_reconstructions.png", "fig4_loss_curves.png",
              "fig5_qualitative.png"):
    path = out / "report" / png
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  results = json.loads((out / "report" / "results.json").read_text())
  assert {r["variant"] for r in results["runs"]} == {
      "deeplabv3", "seggan", "segwgan"}
  assert all(r["step"] == 2 for r in results["runs"])
  for variant in ("seggan", "segwgan"):
    pooled = results["differences"][variant]["pooled"]
    assert pooled["low"] <= pooled["estimate"] <= pooled["high"]


def test_stage2_does_not_validate_the_step_it_evaluates(runs):
  out, _, _, _ = runs
  for name in PARTS[3:]:
    log = (out / "logs" / f"{name}.log").read_text()
    assert "saved checkpoint" in log  # training's log lines are there
    assert "validation mIoU" not in log  # the tiny schedule's only one
    assert "| val mIoU" in log


def test_rerun_skips_finished_parts(runs):
  out, _, stdout, checkpoints = runs
  for name in PARTS:
    assert f"] {name}: done before" in stdout
  assert "done in" not in stdout.split("report:")[0].replace(
      "done before", "")
  assert sorted(p.name for p in out.rglob("ckpt-*.index")) == checkpoints
  invocations = (out / "invocations.jsonl").read_text().splitlines()
  assert [len(json.loads(i)["ran"]) for i in invocations] == [6, 0]
  assert f"report: {out / 'report' / 'report.md'}" in stdout


def test_other_settings_are_refused(runs):
  out, _, _, _ = runs
  result = reproduce(out.parent, "--mixed_precision=bfloat16")
  assert result.returncode == 2
  assert "holds a reproduction made with other settings" in result.stderr
