"""Protocol YAML: sections, merge order, report settings, and the plan."""
import json
import pathlib

import pytest

from segwgan.reporting import plan as plan_lib
from segwgan.reporting import settings


def test_sections_merge_in_order(tmp_path):
  first = tmp_path / "a.yaml"
  first.write_text("common: {task: {train_data: {output_size: [256, 256], "
                   "global_batch_size: 8}}}\nstage2: {trainer: "
                   "{train_steps: 100}}\nreport: {figure_images: 2}\n")
  second = tmp_path / "b.yaml"
  second.write_text("stage2: {trainer: {train_steps: 200}, task: "
                    "{train_data: {global_batch_size: 4}}}\n")
  sections = settings.load([str(first), str(second)],
                           "{stage1: {trainer: {train_steps: 7}}}")
  stage2 = settings.stage_override(sections, "stage2")
  assert stage2 == {"task": {"train_data": {"output_size": [256, 256],
                                            "global_batch_size": 4}},
                    "trainer": {"train_steps": 200}}
  assert settings.stage_override(sections, "stage1") == {
      "task": {"train_data": {"output_size": [256, 256],
                              "global_batch_size": 8}},
      "trainer": {"train_steps": 7}}
  assert settings.report_settings(sections).figure_images == 2


@pytest.mark.parametrize("text, message", [
    ("trainer: {train_steps: 1}", "unknown section"),
    ("[1, 2]", "expected a mapping"),
    ("stage1: 3", "must be a mapping"),
    ("stage1: {a: [", "not valid YAML"),
    ("report: {figure_image: 3}", "unknown setting"),
    ("report: {confidence: 1.5}", "confidence"),
])
def test_bad_settings_are_named(text, message):
  with pytest.raises(settings.SettingsError, match=message):
    settings.report_settings(settings.load((), text))


def test_missing_file():
  with pytest.raises(settings.SettingsError, match="nope.yaml"):
    settings.load(["nope.yaml"])


def make_plan(tmp_path, seeds=1, override="", init=
              "checkpoints/tf_deeplab_mnv2_dm05_os8"):
  return plan_lib.build(
      "cmp_facades", "cpu", seeds, str(tmp_path / "out"),
      sections=settings.load((), override or None),
      stage2_init_checkpoint=init, data_dir=str(tmp_path / "data"),
      weights_dir=str(tmp_path / "weights"))


def test_plan_parts_and_commands(tmp_path):
  plan = make_plan(tmp_path, seeds=2)
  names = [p.name for p in plan.parts()]
  assert names == ["pretrained", "stage1_gan", "stage1_wgan",
                   "stage2_seed0_deeplabv3", "stage2_seed0_seggan",
                   "stage2_seed0_segwgan", "stage2_seed1_deeplabv3",
                   "stage2_seed1_seggan", "stage2_seed1_segwgan"]
  parts = {p.name: p for p in plan.parts()}
  out = tmp_path / "out"
  # The preset's default checkpoint becomes this output's own conversion.
  assert plan.init_checkpoint == str(out / "pretrained" /
                                     "tf_deeplab_mnv2_dm05_os8")
  segwgan = parts["stage2_seed1_segwgan"].args
  assert f"--gan_model_dir={out / 'stage1' / 'wgan'}" in segwgan
  assert "--seed=1" in segwgan and "--variant=segwgan" in segwgan
  assert f"--init_checkpoint={plan.init_checkpoint}" in segwgan
  assert not any(a.startswith("--gan_model_dir") for a in
                 parts["stage2_seed0_deeplabv3"].args)
  command = parts["stage1_gan"].command("python")
  assert command[:3] == ["python", "-m", "segwgan.reporting.worker"]
  json.dumps(plan.to_json())  # serialisable


def test_plan_without_conversion(tmp_path):
  plan = make_plan(tmp_path, init="")
  assert plan.tflite == "" and plan.parts()[0].name == "stage1_gan"
  gs = "gs://bucket/deeplab_resnet101_imagenet/ckpt-62400"
  assert make_plan(tmp_path, init=gs).init_checkpoint == gs
  local = tmp_path / "weights" / "deeplab_resnet101_imagenet" / "ckpt-62400"
  local.parent.mkdir(parents=True)
  pathlib.Path(f"{local}.index").write_bytes(b"")
  assert make_plan(tmp_path, init=gs).init_checkpoint == str(local)


def test_plan_compatibility(tmp_path):
  old = make_plan(tmp_path, seeds=1).to_json()
  make_plan(tmp_path, seeds=3).check_compatible(old)  # more seeds: fine
  make_plan(tmp_path, override="report: {bootstrap_samples: 500}"
            ).check_compatible(old)  # report-only: fine
  with pytest.raises(plan_lib.PlanMismatch, match="stage2.yaml"):
    make_plan(tmp_path, override="stage2: {trainer: {train_steps: 5}}"
              ).check_compatible(old)
  with pytest.raises(ValueError, match="--seeds"):
    make_plan(tmp_path, seeds=0)
