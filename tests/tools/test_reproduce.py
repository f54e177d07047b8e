"""tools/reproduce.py end to end on 12 real CMP Facades images, tiny schedule.

Every part runs the real tool (TFLite conversion from ../shared/weights,
stage 1 per GAN loss, the cross-entropy DeepLabv3, the four rows, their
evaluations on val and test, the report); a second run of the same command
skips every part and rewrites the report; other settings are refused.
"""
import json
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from conftest import cmp_base_copy
from segwgan.reporting import ablation
from segwgan.reporting import recompute

REPO = pathlib.Path(__file__).resolve().parents[2]
SCHEDULE = ("trainer: {train_steps: 2, checkpoint_interval: 1, "
            "summary_interval: 1, validation_interval: 2}")
TINY = ("{common: {%s, task: {train_data: {global_batch_size: 2, "
        "output_size: [64, 64], resize_long_side: 128, shuffle_buffer_size: "
        "4}, validation_data: {resize_long_side: 128}}}, "
        "stage1: {task: {generator: {base_filters: 8}, critic: "
        "{base_filters: 8}}}, stage2: {task: {diagnostics_interval: 1}}, "
        "report: {figure_images: 2, bootstrap_samples: 500}}") % SCHEDULE
ROWS = ("deeplabv3", "seggan", "segwgan", ablation.ROW)
PARTS = (["pretrained", "seed0_stage1_gan", "seed0_stage1_wgan_gp",
          "seed0_ce"] + [f"seed0_{r}{s}" for r in ROWS
                         for s in ("", "_val", "_test")])
LINE = re.compile(r"^(grad_share variant=(seggan|segwgan) "
                  r"term=(content|adversarial)|critic_rank "
                  r"variant=(seggan|segwgan)) seed=0 value=\S+$")


def reproduce(workdir, override=TINY):
  return subprocess.run(
      [sys.executable, str(REPO / "tools" / "reproduce.py"),
       "--dataset=cmp_facades", "--seeds=1",
       f"--data_dir={workdir / 'cmp'}", f"--tfds_dir={workdir / 'tfds'}",
       f"--weights_dir={workdir / 'weights'}",
       f"--output_dir={workdir / 'out'}", f"--protocol_override={override}"],
      capture_output=True, text=True, cwd=REPO, timeout=1500)


@pytest.fixture(scope="module")
def runs(shared_data, shared_weights, tmp_path_factory):
  """12 real CMP base images, the one TFLite file, and two runs."""
  root = tmp_path_factory.mktemp("reproduce")
  cmp_base_copy(shared_data, root)
  tflite = "deeplabv3_mnv2_dm05_pascal_257_float/deeplabv3_257_mv_gpu.tflite"
  (root / "weights" / tflite).parent.mkdir(parents=True)
  shutil.copy(shared_weights / tflite, root / "weights" / tflite)
  first = reproduce(root)
  assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
  checkpoints = sorted(p.name for p in (root / "out").rglob("ckpt-*.index"))
  second = reproduce(root)
  assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
  return root / "out", first.stdout, second.stdout, checkpoints


def test_first_run_writes_the_report(runs):
  out, stdout, _, _ = runs
  report = out / "report"
  assert f"report: {report / 'report.md'}" in stdout
  for name in PARTS:
    assert f"] {name}: done in" in stdout
  text = (report / "report.md").read_text()
  assert "| 43.3 |" in text and "no verdict can be drawn" in text
  assert "One seed settles nothing" in text
  results = json.loads((report / "results.json").read_text())
  assert {r["name"]: r["paper_setting"] for r in results["rows"]} == {
      "deeplabv3": True, "seggan": True, "segwgan": True,
      ablation.ROW: False}
  assert set(results["metrics"]["test"]) == {f"0.{r}" for r in ROWS}
  assert recompute.recompute(report) == results["differences"]
  for name in ("fig4_loss_curves.png", "fig3_reconstructions.png",
               "fig5_qualitative.png"):
    assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_diagnostic_lines_are_printed(runs):
  _, stdout, _, _ = runs
  lines = [l for l in stdout.splitlines() if LINE.match(l)]
  assert len(lines) == 6, stdout[-2000:]


def test_rows_start_from_the_ce_model(runs):
  out, _, _, _ = runs
  for row in ROWS:
    log = (out / "logs" / f"seed0_{row}.log").read_text()
    assert f"--init_checkpoint={out / 'seed0' / 'ce'}" in log
  log = (out / "logs" / f"seed0_{ablation.ROW}.log").read_text()
  assert "--params_override=task: {lambda_adversarial:" in log


def test_rerun_skips_finished_parts(runs):
  out, _, stdout, checkpoints = runs
  for name in PARTS:
    assert f"] {name}: done before" in stdout
  assert sorted(p.name for p in out.rglob("ckpt-*.index")) == checkpoints
  assert len([l for l in stdout.splitlines() if LINE.match(l)]) == 6


def test_other_settings_are_refused(runs):
  out, _, _, _ = runs
  result = reproduce(out.parent, TINY.replace(
      "bootstrap_samples: 500}", "bootstrap_samples: 500}, ce: {trainer: "
      "{train_steps: 4}}"))
  assert result.returncode == 2
  assert "holds a reproduction made with other settings" in result.stderr


def test_a_diagnostics_interval_beyond_the_schedule_is_refused(tmp_path):
  result = reproduce(tmp_path, TINY.replace(
      "stage2: {task: {diagnostics_interval: 1}}",
      "stage2: {task: {diagnostics_interval: 5}}"))
  assert result.returncode == 2, result.stderr[-2000:]
  assert "task.diagnostics_interval (5)" in result.stderr
  assert not (tmp_path / "out").exists()


def test_a_schedule_a_tool_would_refuse_is_refused_before_any_work(tmp_path):
  result = reproduce(tmp_path, TINY.replace(
      "stage2: {task: {diagnostics_interval: 1}}",
      "stage2: {task: {diagnostics_interval: 1}, trainer: {train_steps: 3, "
      "checkpoint_interval: 2}}"))
  assert result.returncode == 2, result.stderr[-2000:]
  assert "the stage2 settings" in result.stderr
  assert "checkpoint_interval (2)" in result.stderr
  assert not (tmp_path / "out").exists()
