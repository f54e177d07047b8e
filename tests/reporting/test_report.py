"""The report rendered from an output directory built from real CMP labels.

Predictions are real label maps shifted sideways (more shift, more error),
so every number in the report can be checked against Eq. 17-19; the
confidence intervals are recomputed from the committed matrices.
"""
import json

import numpy as np
import pytest
import yaml
from official.core import exp_factory
from PIL import Image

from segwgan import labels as labels_lib
from segwgan import variants
from segwgan.configs import experiments  # pylint: disable=unused-import
from segwgan.evaluation import metrics
from segwgan.evaluation import per_image
from segwgan.reporting import ablation
from segwgan.reporting import plan as plan_lib
from segwgan.reporting import protocol
from segwgan.reporting import recompute
from segwgan.reporting import report
from segwgan.reporting import settings
from segwgan.serving import visualize

INFO = labels_lib.CMP_FACADES
# Shift (pixels) of each row's predictions, per seed: SegWGAN best.
SHIFTS = {"deeplabv3": (24, 22), "seggan": (16, 20), "segwgan": (6, 8),
          ablation.ROW: (10, 12), "segtest": (30, 30)}
LOSSES = {"seggan": "gan", "segwgan": "wgan_gp", ablation.ROW: "wgan_gp",
          "segtest": "wgan"}


@pytest.fixture(scope="module")
def examples(shared_data):
  base = shared_data / "cmp_facades" / "base"
  out = []
  for k in range(1, 9):
    label = (np.asarray(Image.open(base / f"cmp_b{k:04d}.png")) - 1
             ).astype(np.uint8)
    out.append((f"cmp_b{k:04d}", label[::4, ::4]))
  return out


def _write_json(path, value):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(value))


def build_output(root, examples, seeds):
  """A finished reproduction's output directory (no training)."""
  plan = plan_lib.build(
      "cmp_facades", "cpu", seeds, str(root / "out"), init_checkpoint="",
      data_dir=str(root / "cmp"),
      sections=settings.load((), "{report: {figure_images: 2, "
                             "bootstrap_samples: 2000, note: A test.}}"))
  layout = plan.layout
  ids = [i for i, _ in examples]
  params = exp_factory.get_exp_config("stage2_cmp_facades_cpu").as_dict()
  for seed in plan.seeds:
    for loss in plan_lib.stage1_losses():
      _write_json(layout.stage1(seed, loss) / "stage1_validation.json", {
          "curve": [{"step": s, "l1": 1 / s, "critic_rank": 0.8,
                     "separation": s / 10} for s in (10, 20, 30)],
          "stop": {"stopped_at": 30, "stop_rule": "train_steps reached"}})
      for i, label in examples[:2]:
        visualize.save_png(visualize.colourise(label, INFO), layout.stage1(
            seed, loss) / "reconstructions" / f"{i}.png")
    for row in plan_lib.rows():
      folder = layout.row(seed, row.name)
      folder.mkdir(parents=True)
      (folder / "params.yaml").write_text(yaml.safe_dump(params))
      if row.variant.gan_loss:
        _write_json(folder / "diagnostics.json", {
            "grad_share": {"content": 0.01 * (seed + 1), "adversarial": 1e-4},
            "grad_share_samples": 10, "critic_rank": 0.25 + seed / 10,
            "critic_rank_images": 8})
      for split in plan_lib.SPLITS:
        matrices = []
        for i, label in examples:
          prediction = np.roll(label, SHIFTS[row.name][seed], axis=1)
          cm = metrics.ConfusionMatrix(INFO.num_classes)
          cm.update(label, prediction)
          matrices.append(cm.matrix)
          if split == "val" and i in ids[:2]:
            visualize.save_png(visualize.palette_image(prediction, INFO),
                               layout.evaluation(seed, row.name, split) /
                               "predictions" / f"{i}.png")
        layout.evaluation(seed, row.name, split).mkdir(exist_ok=True)
        per_image.PerImage(ids, np.stack(matrices)).save(
            layout.evaluation(seed, row.name, split) / "per_image.npz")
  for part in plan.parts():
    protocol._write_json(layout.marker(part.name), {  # pylint: disable=protected-access
        "args": [part.tool, *part.args], "seconds": 75.0,
        "cpu_seconds": 70.0, "started": "2026-01-01T00:00:00",
        "earlier_attempts": []})
  return plan, report.write(plan, ["tools/reproduce.py", "--seeds=2"])


def miou(label, shift):
  cm = metrics.ConfusionMatrix(INFO.num_classes)
  for _, l in label:
    cm.update(l, np.roll(l, shift, axis=1))
  return metrics.summary(cm.matrix)["miou"]


@pytest.fixture(scope="module")
def output(examples, tmp_path_factory):
  return build_output(tmp_path_factory.mktemp("report"), examples, 2)


def test_report_files(output):
  _, path = output
  names = {p.name for p in path.parent.iterdir()}
  assert names == {"report.md", "results.json", report.MATRICES,
                   report.FIG_CURVES, report.FIG_STAGE1, report.FIG_RECON,
                   report.FIG_PRED}
  for name in names - {"report.md", "results.json", report.MATRICES}:
    assert Image.open(path.parent / name).format == "PNG"
  assert (path.parent / report.MATRICES).stat().st_size < 300_000


def test_report_numbers(output, examples):
  _, path = output
  text = path.read_text()
  assert "Table 6" in text and "| 43.3 |" in text and "| 53.5 |" in text
  for row, shifts in SHIFTS.items():
    if row == "segtest":
      continue
    values = [miou(examples, s) for s in shifts]
    cell = f"{100 * np.mean(values):.2f} ± {100 * np.std(values, ddof=1):.2f}"
    assert cell in text, (row, cell)
  assert "> **Note.** A test." in text
  assert "SegWGAN, scaled lambdas (not the paper's)" in text
  result = json.loads((path.parent / "results.json").read_text())
  assert {r["name"]: r["paper_setting"] for r in result["rows"]}[
      ablation.ROW] is False
  assert result["ablation"]["rule"] == ablation.RULE
  # content 0.1 x 0.2 / 0.01 = 2; adversarial 0.1 x 0.2 / 1e-4 = 200,
  # clipped to 1000 x 0.1 = 100.
  assert result["ablation"]["lambdas"] == pytest.approx(
      {"lambda_content": 2.0, "lambda_adversarial": 100.0})
  assert "lambda_adversarial: 100.0, lambda_content: 2.0" in text
  assert "Wall time of the dataset's protocol: **" in text


def test_differences_and_their_recomputation(output, examples):
  _, path = output
  result = json.loads((path.parent / "results.json").read_text())
  for row in ("seggan", "segwgan", ablation.ROW):
    diffs = [miou(examples, a) - miou(examples, b) for a, b in
             zip(SHIFTS[row], SHIFTS["deeplabv3"])]
    pooled = result["differences"][row]["pooled"]
    assert pooled["estimate"] == pytest.approx(np.mean(diffs))
    assert pooled["low"] <= pooled["estimate"] <= pooled["high"]
  segwgan = result["differences"]["segwgan"]["pooled"]
  assert segwgan["low"] > 0
  text = path.read_text()
  assert (f"SegWGAN - DeepLabv3: {100 * segwgan['estimate']:+.2f} mIoU "
          f"points, 95% CI [{100 * segwgan['low']:+.2f}, "
          f"{100 * segwgan['high']:+.2f}]") in text
  assert "the interval lies above 0" in text
  place = ("above the interval: a difference of that size is not seen here"
           if segwgan["high"] < 0.102 else
           "inside the interval" if segwgan["low"] <= 0.102 else
           "below the interval")
  assert f"The paper reports +10.2, {place}" in text
  # Each row says how hard its adversarial term pulled (1e-4 here: inert).
  assert ("Its adversarial term's gradient was 0.0001 of the "
          "cross-entropy's (grad_share): so small that this row cannot test "
          "the term.") in text
  # Only the intervals that include 0 leave differences open.
  titles = {"seggan": "SegGAN", "segwgan": "SegWGAN",
            ablation.ROW: "SegWGAN, scaled lambdas (not the paper's)"}
  open_rows = [
      f"{titles[row]} [{100 * d['pooled']['low']:+.2f}, "
      f"{100 * d['pooled']['high']:+.2f}]"
      for row, d in result["differences"].items()
      if d["pooled"]["low"] <= 0 <= d["pooled"]["high"]]
  assert "SegWGAN [" not in "; ".join(open_rows)  # It lies above 0.
  expected = (f"any difference inside the intervals that include 0 "
              f"({'; '.join(open_rows)}), and " if open_rows else "")
  assert (f"What these intervals cannot rule out: {expected}an effect that "
          "needs the paper's model") in text
  assert recompute.recompute(path.parent) == result["differences"]
  assert recompute.main(["recompute", str(path.parent)]) == 0
  result["differences"]["segwgan"]["pooled"]["low"] += 1e-9
  (path.parent / "results.json").write_text(json.dumps(result))
  assert recompute.main(["recompute", str(path.parent)]) == 1


def test_diagnostic_lines(output):
  plan, path = output
  lines = report.diagnostic_lines(plan)
  assert "grad_share variant=segwgan term=content seed=1 value=0.02" in lines
  assert "grad_share variant=seggan term=adversarial seed=0 value=0.0001" \
      in lines
  assert "critic_rank variant=segwgan seed=1 value=0.35" in lines
  assert len(lines) == 2 * 2 * 3  # 2 variants, 2 seeds, 3 lines
  assert "| SegWGAN | 1 | 0.02 | 0.0001 | 0.350 |" in path.read_text()


def test_one_seed_draws_no_verdict_and_a_new_variant_is_reported(
    examples, tmp_path, monkeypatch):
  monkeypatch.setitem(variants.VARIANTS, "segtest", variants.Variant(
      "segtest", "SegTest", "wgan", ("wgan",)))
  _, path = build_output(tmp_path, examples, 1)
  text = path.read_text()
  assert "no verdict can be drawn" in text and "One seed settles nothing" \
      in text
  assert "lies above" not in text and "lies below" not in text
  assert "SegTest - DeepLabv3" in text
  result = json.loads((path.parent / "results.json").read_text())
  assert "segtest" in result["differences"]


def test_optimizer_text_names_the_schedule():
  decay = {"optimizer": {"type": "adam"},
           "learning_rate": {"type": "polynomial", "polynomial": {
               "initial_learning_rate": 0.0005, "decay_steps": 1000,
               "end_learning_rate": 0.0, "power": 0.9}},
           "warmup": {"type": "linear", "linear": {"warmup_steps": 50}}}
  assert report.optimizer_text(decay) == (
      "adam 0.0005 after a 50-step linear warm-up, polynomial decay "
      "(power 0.9) to 0 at step 1000")


def test_shown_command_names_paths_relative_to_the_checkout():
  argv = ["/home/u/segwgan/.venv/bin/python", "--data_dir=/home/u/shared/d",
          "--tfds_dir=/opt/tfds", "--note=a b"]
  assert report.shown_command(argv, "/home/u/segwgan") == (
      ".venv/bin/python --data_dir=../shared/d --tfds_dir=/opt/tfds "
      "'--note=a b'")


COMMITTED = sorted(p.parent for p in (report.REPO / "experiments" / "results")
                   .glob("*/per_image.npz"))


@pytest.mark.parametrize("report_dir", COMMITTED, ids=lambda p: p.name)
def test_committed_intervals_recompute_from_committed_matrices(report_dir):
  stored = json.loads((report_dir / "results.json").read_text())
  assert recompute.recompute(report_dir) == stored["differences"]
