"""Protocol YAML (sections, merge order, report settings) and the plan
(parts in the paper's order, commands, a throw-away variant)."""
import json
import pathlib

import pytest

from segwgan import variants
from segwgan.reporting import ablation
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
                           "{ce: {trainer: {train_steps: 7}}}")
  assert settings.stage_override(sections, "stage2") == {
      "task": {"train_data": {"output_size": [256, 256],
                              "global_batch_size": 4}},
      "trainer": {"train_steps": 200}}
  assert settings.stage_override(sections, "ce") == {
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


def make_plan(tmp_path, seeds=1, override="",
              init="checkpoints/tf_deeplab_mnv2_dm05_os8"):
  return plan_lib.build(
      "cmp_facades", "cpu", seeds, str(tmp_path / "out"),
      sections=settings.load((), override or None), init_checkpoint=init,
      data_dir=str(tmp_path / "data"))


def test_parts_follow_the_papers_order(tmp_path):
  plan = make_plan(tmp_path, seeds=2)
  names = [p.name for p in plan.parts()]
  rows = ["deeplabv3", "seggan", "segwgan", ablation.ROW]
  seed = ["stage1_gan", "stage1_wgan_gp", "ce"] + [
      f"{r}{s}" for r in rows for s in ("", "_val", "_test")]
  assert names == ["pretrained"] + [f"seed{k}_{n}" for k in (0, 1)
                                    for n in seed]
  parts = {p.name: p for p in plan.parts()}
  out = tmp_path / "out"
  assert plan.init_checkpoint == str(out / "pretrained" /
                                     "tf_deeplab_mnv2_dm05_os8")
  assert plan.tflite == "deeplabv3_mnv2_dm05_pascal_257_float"  # download
  ce = parts["seed1_ce"]
  assert ce.tool == "train_seg.py" and "--variant=deeplabv3" in ce.args
  assert f"--init_checkpoint={plan.init_checkpoint}" in ce.args
  assert f"--config_file={out / 'configs' / 'ce.yaml'}" in ce.args
  segwgan = parts["seed1_segwgan"].args
  assert f"--init_checkpoint={out / 'seed1' / 'ce'}" in segwgan
  assert f"--gan_model_dir={out / 'seed1' / 'stage1_wgan_gp'}" in segwgan
  assert "--seed=1" in segwgan
  assert not any(a.startswith("--gan_model_dir") for a in
                 parts["seed0_deeplabv3"].args)
  test = parts["seed0_segwgan_test"]
  assert test.tool == "evaluate.py" and "--split=test" in test.args
  assert f"--checkpoint={out / 'seed0' / 'segwgan'}" in test.args
  json.dumps(plan.to_json())  # serialisable


def test_later_parts_read_earlier_outputs(tmp_path):
  plan = make_plan(tmp_path)
  layout = plan.layout
  folder = layout.stage1(0, "gan") / "reconstructions"
  folder.mkdir(parents=True)
  for image_id in ("cmp_b0002", "cmp_b0001"):
    (folder / f"{image_id}.png").write_bytes(b"")
  source = layout.row(0, ablation.VARIANT)
  source.mkdir(parents=True)
  (source / "params.yaml").write_text(
      "task: {lambda_content: 0.1, lambda_adversarial: 0.1}\n")
  (source / "diagnostics.json").write_text(json.dumps(
      {"grad_share": {"content": 0.01, "adversarial": 1e-6},
       "critic_rank": 0.5}))
  parts = {p.name: p for p in plan.parts()}
  assert "--keep_ids=cmp_b0001,cmp_b0002" in parts["seed0_seggan_val"].args
  assert not any("keep_ids" in a for a in parts["seed0_seggan_test"].args)
  # content: 0.1 * 0.2 / 0.01 = 2; adversarial: factor 2e5, clipped to 1000.
  assert plan.ablation_lambdas() == pytest.approx(
      {"lambda_content": 2.0, "lambda_adversarial": 100.0})
  assert ("--params_override=task: {lambda_adversarial: 100.0, "
          "lambda_content: 2.0}") in parts[f"seed0_{ablation.ROW}"].args
  # A run without gradient-share samples (None) chooses nothing.
  (source / "diagnostics.json").write_text(json.dumps(
      {"grad_share": {"content": None, "adversarial": None},
       "critic_rank": 0.5}))
  assert plan.ablation_lambdas() is None


def test_figure_ids_are_not_kept_from_a_truncated_evaluation(tmp_path):
  plan = make_plan(tmp_path, override="report: {eval_max_images: 3}")
  folder = plan.layout.stage1(0, "gan") / "reconstructions"
  folder.mkdir(parents=True)
  (folder / "cmp_b0001.png").write_bytes(b"")
  parts = {p.name: p for p in plan.parts()}
  assert "--max_images=3" in parts["seed0_seggan_val"].args
  assert not any("keep_ids" in a for a in parts["seed0_seggan_val"].args)


def test_a_new_variant_needs_no_other_edit(tmp_path, monkeypatch):
  extra = variants.Variant("segtest", "SegTest", "wgan", ("wgan",))
  monkeypatch.setitem(variants.VARIANTS, "segtest", extra)
  names = [p.name for p in make_plan(tmp_path).parts()]
  assert "seed0_stage1_wgan" in names
  assert {"seed0_segtest", "seed0_segtest_val",
          "seed0_segtest_test"} <= set(names)


def test_plan_without_conversion(tmp_path):
  plan = make_plan(tmp_path, init="")
  assert plan.tflite == "" and plan.parts()[0].name == "seed0_stage1_gan"
  gs = "gs://bucket/deeplab_resnet101_imagenet/ckpt-62400"
  assert make_plan(tmp_path, init=gs).init_checkpoint == gs


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
