"""The reproduction report: Markdown, PNG figures, results.json, matrices.

Everything is read from the output directory (plan, part markers, the runs'
params.yaml, evaluations, diagnostics, TensorBoard events), so the report
can be rewritten at any time without building a model. Written into
OUTPUT_DIR/report/ as a whole (a temporary directory renamed into place),
with per_image.npz: the per-image confusion matrices every interval is
computed from (`python -m segwgan.reporting.recompute REPORT_DIR`).
"""
import collections
import datetime
import json
import os
import pathlib
import shlex
from typing import Dict, List, Optional

import yaml

from segwgan import environment
from segwgan import io_utils
from segwgan import labels as labels_lib
from segwgan import variants
from segwgan.data import registry
from segwgan.data import validate
from segwgan.evaluation import bootstrap
from segwgan.reporting import ablation
from segwgan.reporting import events
from segwgan.reporting import figures
from segwgan.reporting import paper
from segwgan.reporting import plan as plan_lib
from segwgan.reporting import results
from segwgan.reporting import tables
from segwgan.serving import visualize

HEADLINE_SPLIT = "test"
COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple",
           "tab:brown", "tab:pink", "tab:olive")
FIG_STAGE1, FIG_CURVES, FIG_RECON, FIG_PRED = (
    "fig_stage1_validation.png", "fig4_loss_curves.png",
    "fig3_reconstructions.png", "fig5_qualitative.png")
MATRICES = "per_image.npz"
# Below this grad_share an adversarial term is called inert (issue 25: 1e-4
# to 1e-3 measured with the clipped critic).
INERT_SHARE = 0.01
REPO = pathlib.Path(__file__).resolve().parents[2]


def duration(seconds: Optional[float]) -> str:
  """e.g. 1h02m03s, 4m05s, 12.3s ('-' if unknown)."""
  if seconds is None:
    return "-"
  if seconds < 60:
    return f"{seconds:.1f}s"
  minutes, secs = divmod(int(round(seconds)), 60)
  hours, minutes = divmod(minutes, 60)
  return (f"{hours}h{minutes:02d}m{secs:02d}s" if hours
          else f"{minutes}m{secs:02d}s")


def _get(tree: dict, dotted: str, default=None):
  for key in dotted.split("."):
    if not isinstance(tree, dict) or key not in tree:
      return default
    tree = tree[key]
  return tree


def _params(model_dir) -> dict:
  try:
    with open(pathlib.Path(model_dir) / "params.yaml") as f:
      return yaml.safe_load(f) or {}
  except FileNotFoundError:
    return {}


def optimizer_text(config: dict) -> str:
  """An optimizer_config as words: 'adam 0.0005', or with its schedule
  ('adam 0.0005 after a 50-step linear warm-up, polynomial decay (power
  0.9) to 0 at step 1000')."""
  schedule = _get(config, "learning_rate.type")
  rate = _get(config, f"learning_rate.{schedule}") or {}
  start = rate.get("learning_rate", rate.get("initial_learning_rate"))
  text = _get(config, "optimizer.type", "?")
  if isinstance(start, (int, float)):
    text += f" {start:g}"
  warmup = _get(config, "warmup.type")
  steps = _get(config, f"warmup.{warmup}.warmup_steps")
  if warmup and steps:
    text += f" after a {steps}-step {warmup} warm-up"
  if schedule == "polynomial":
    text += (f", polynomial decay (power {rate.get('power', 1.0):g}) to "
             f"{rate.get('end_learning_rate', 0.0):g} at step "
             f"{rate.get('decay_steps', '?')}")
  elif schedule and schedule != "constant":
    text += f", {schedule} schedule"
  return text


def _schedule(params: dict) -> str:
  return (f"{_get(params, 'trainer.train_steps')} steps of batch "
          f"{_get(params, 'task.train_data.global_batch_size')}, "
          f"{optimizer_text(_get(params, 'trainer.optimizer_config', {}))}")


def setup_rows(plan: plan_lib.Plan) -> List[list]:
  """(item, the paper's setting, this run's) rows from the runs' configs."""
  layout = plan.layout
  rows = plan_lib.rows()
  ce, stage2 = _params(layout.ce(0)), _params(layout.row(0, rows[0].name))
  train = _get(stage2, "task.train_data", {})
  val = _get(stage2, "task.validation_data", {})
  stage1 = [f"{loss}: {_schedule(p)}, G "
            f"{_get(p, 'task.generator.base_filters')} / D "
            f"{_get(p, 'task.critic.base_filters')} base filters, critic "
            f"normalization {_get(p, 'task.critic.normalization')}"
            for loss in plan_lib.stage1_losses()
            for p in [_params(layout.stage1(0, loss))]]
  lambdas = plan.ablation_lambdas()
  return [
      ["segmenter", "DeepLabv3 [12] (backbone not named)",
       f"{_get(stage2, 'task.model.backbone.type')}, "
       f"{_get(stage2, 'task.model.num_classes')} classes"],
      ["starting weights", "TF DeepLab project checkpoints",
       f"`{shown_path(plan.tflite or plan.init_checkpoint, str(REPO))}`"
       if plan.tflite or plan.init_checkpoint else "none"],
      ["training input", "random crops, flips, resizing (size not stated)",
       f"{'x'.join(str(v) for v in train.get('output_size', []))} crops "
       f"of images resized to long side "
       f"{train.get('resize_long_side') or 'original'}"],
      ["stage 1 (G, D)", "pix2pix G/D, l_G = 100 l_C + l_A, until "
       "convergence", "; ".join(stage1) or "none"],
      ["cross-entropy DeepLabv3", "fine-tuned first (section 4.2), "
       "schedule not stated", _schedule(ce)],
      ["stage 2 (every row, from that model)", "Adam 5e-4, lambda_1 = "
       "lambda_2 = 0.1, batch norm frozen, G and D frozen",
       f"{_schedule(stage2)}, lambda_1 = "
       f"{_get(stage2, 'task.lambda_content')}, lambda_2 = "
       f"{_get(stage2, 'task.lambda_adversarial')}"],
      ["ablation row (not the paper's)", "-",
       f"{ablation.VARIANT} with {ablation.override(lambdas)}"
       if lambdas else "not chosen yet"],
      ["evaluated on", "the validation set (split not published)",
       f"headline: the {HEADLINE_SPLIT} split; choices on val (seeded "
       f"split: split_seed {val.get('split_seed')}); whole images at long "
       f"side {val.get('resize_long_side') or 'original'}, scored at the "
       "original size; each run's final checkpoint"],
      ["precision, hardware", "not stated (GPU)",
       f"{_get(stage2, 'runtime.mixed_precision_dtype')}; "
       f"{environment.describe_machine()}"],
  ]


# Figures ----------------------------------------------------------------------


def _stage1_validation(plan: plan_lib.Plan) -> Dict[tuple, dict]:
  """{(seed, loss): stage1_validation.json} of the stage-1 runs."""
  found = {}
  for seed in plan.seeds:
    for loss in plan_lib.stage1_losses():
      value = plan_lib.read_json(plan.layout.stage1(seed, loss) /
                                 "stage1_validation.json")
      if value:
        found[(seed, loss)] = value
  return found


def _stage1_figure(validation: Dict[tuple, dict]) -> bytes:
  colours = dict(zip(plan_lib.stage1_losses(), COLOURS))
  panels = []
  for key, title in (("l1", "G's validation L1 |G(Y) - I|"),
                     ("separation", "critic separation D(Y,I) - D(Y,G(Y))")):
    panels.append((title, [figures.Series(
        f"{loss}", colours[loss], [(p["step"], p[key]) for p in v["curve"]])
                           for (_, loss), v in sorted(validation.items())]))
  return figures.loss_curves(panels, smooth=1)


def _loss_figure(plan: plan_lib.Plan) -> bytes:
  layout = plan.layout
  stage1 = [figures.Series(f"stage 1 {loss}", colour, events.read_scalars(
      layout.stage1(seed, loss) / "train").get("gloss", []))
            for seed in plan.seeds for loss, colour in
            zip(plan_lib.stage1_losses(), COLOURS[1:])]
  seg, gen = [], []
  for seed in plan.seeds:
    for row, colour in zip(plan_lib.rows(), COLOURS):
      scalars = events.read_scalars(layout.row(seed, row.name) / "train")
      seg.append(figures.Series(row.title, colour, scalars.get("segloss", [])))
      if row.variant.gan_loss:
        gen.append(figures.Series(row.title, colour, scalars.get("gloss", [])))
  return figures.loss_curves([
      ("stage 2 segloss (cross-entropy)", seg),
      ("stage 2 gloss (100 l_C + l_A of G(softmax))", gen),
      ("stage 1 gloss (G: 100 l_C + l_A)", stage1)])


def _inputs(plan: plan_lib.Plan, ids: List[str]) -> dict:
  """{id: (image, label map)} read from --data_dir ({} without it)."""
  if not plan.data_dir:
    return {}
  try:
    examples = registry.list_examples(plan.dataset, plan.data_dir, "all")
    return {e.id: (registry.read_image(e.image_path),
                   registry.read_label(plan.dataset, e.label_path))
            for e in examples if e.id in ids}
  except validate.DataError:
    return {}


def _grids(plan: plan_lib.Plan, info: labels_lib.DatasetInfo) -> dict:
  layout, ids = plan.layout, plan.figure_ids()
  inputs = _inputs(plan, ids)

  def image(path):
    return lambda i: (figures.image_panel(path(i)), False)

  def label(path):
    return lambda i: (figures.label_panel(path(i), info), True)

  base = [("image", lambda i: (inputs.get(i, (None,))[0], False)),
          ("ground truth", lambda i: (
              visualize.colourise(inputs[i][1], info) if i in inputs
              else None,
              True))]
  recon = base + [(f"G(Y), {loss}", image(
      lambda i, loss=loss: layout.stage1(0, loss) / "reconstructions" /
      f"{i}.png")) for loss in plan_lib.stage1_losses()]
  pred = base + [(row.title, label(
      lambda i, r=row.name: layout.evaluation(0, r, "val") / "predictions" /
      f"{i}.png")) for row in plan_lib.rows()]
  grids = {}
  for name, columns in ((FIG_RECON, recon), (FIG_PRED, pred)):
    rows = figures.grid_rows(ids, columns)
    if rows:
      width = figures.panel_grid(rows).shape[1]
      key = visualize.legend(range(info.num_classes), info, width)
      grids[name] = figures.panel_grid(rows, footer=key)
  return grids


# Text -------------------------------------------------------------------------


def _verdict(comparison: results.Comparison) -> str:
  if len(comparison.seeds) < 2:
    return ("one seed: no verdict can be drawn (training randomness is not "
            "sampled; clean reruns of one seed have differed by several "
            "points)")
  interval = comparison.pooled
  if interval.low > 0:
    return "the interval lies above 0"
  if interval.high < 0:
    return "the interval lies below 0"
  return "the interval includes 0: no difference is shown"


def _paper_text(expected: float, comparison: results.Comparison) -> str:
  """The paper's difference (points) placed against the interval."""
  text = f" The paper reports {expected:+.1f}"
  interval = comparison.pooled
  if len(comparison.seeds) < 2:
    return text + "."
  if expected / 100 > interval.high:
    return (text + ", above the interval: a difference of that size is not "
            "seen here.")
  if expected / 100 < interval.low:
    return text + ", below the interval."
  return text + ", inside the interval: this run cannot tell them apart."


def _acting_text(shares: List[float]) -> str:
  """How hard a row's adversarial term pulled (grad_share, over seeds)."""
  if not shares:
    return ""
  low, high = f"{min(shares):.3g}", f"{max(shares):.3g}"
  text = (f" Its adversarial term's gradient was "
          f"{low if low == high else f'{low} to {high}'} of the "
          "cross-entropy's (grad_share)")
  if max(shares) < INERT_SHARE:
    text += ": so small that this row cannot test the term"
  return text + "."


def summary_lines(plan, table, summaries, comparisons,
                  diagnostics=None) -> List[str]:
  """The Summary's bullets: means, each difference with its verdict, where
  the paper's difference falls, how hard each adversarial term pulled, and
  what the intervals cannot rule out."""
  rows = {r.name: r for r in plan_lib.rows()}
  shares = collections.defaultdict(list)
  for (seed, row), value in sorted((diagnostics or {}).items()):
    if (value["grad_share"]["adversarial"] is not None and
        (row not in comparisons or seed in comparisons[row].seeds)):
      shares[row].append(value["grad_share"]["adversarial"])
  seeds = (f"{len(plan.seeds)} seeds (mean ± std)" if len(plan.seeds) > 1
           else "one seed")
  lines = [f"- {HEADLINE_SPLIT.capitalize()} mIoU (%), {seeds}: " + ", ".join(
      f"{rows[r].title} {tables.spread(s['miou'])}"
      for r, s in summaries.items()) + "."]
  for name, c in comparisons.items():
    i = c.pooled
    text = (f"- {rows[name].title} - DeepLabv3: "
            f"{bootstrap.format_points(i.estimate)} mIoU points, "
            f"{100 * i.confidence:g}% CI {tables.interval(i)} (bootstrap "
            f"over {len(c.seeds)} seed{'s' * (len(c.seeds) > 1)} and "
            f"{i.images} {HEADLINE_SPLIT} images): {_verdict(c)}.")
    expected = tables.paper_difference(table, rows[name])
    if expected is not None:
      text += _paper_text(expected, c)
    lines.append(text + _acting_text(shares[name]))
  if len(plan.seeds) < 2:
    lines.append("- **One seed settles nothing**: the intervals above cover "
                 "the choice of test images only. Run 3 or more seeds "
                 "(`--seeds=3`) before reading a difference as an effect.")
  elif comparisons:
    open_rows = [f"{rows[name].title} {tables.interval(c.pooled)}"
                 for name, c in comparisons.items()
                 if not c.pooled.excludes_zero]
    inside = (f"any difference inside the intervals that include 0 "
              f"({'; '.join(open_rows)}), and " if open_rows else "")
    lines.append(f"- What these intervals cannot rule out: {inside}an "
                 "effect that needs the paper's model, input size, schedule "
                 "or splits (see Setup).")
  lines.append("- The model, input size and schedule differ from the "
               "paper's (see Setup), and so do the splits, which the paper "
               "does not publish: the absolute numbers are not comparable "
               "with the paper's; the differences between rows, all trained "
               "alike from the same cross-entropy model, test its claim.")
  return lines


def _diagnostics(plan: plan_lib.Plan) -> Dict[tuple, dict]:
  """{(seed, row): diagnostics.json} of the rows with G and D."""
  found = {}
  for seed in plan.seeds:
    for row in plan_lib.rows():
      value = plan_lib.read_json(plan.layout.row(seed, row.name) /
                                 "diagnostics.json")
      if value is not None and row.variant.gan_loss:
        found[(seed, row.name)] = value
  return found


def diagnostic_lines(plan: plan_lib.Plan) -> List[str]:
  """The grad_share and critic_rank lines tools/reproduce.py prints (issue
  25 item 5), of the paper-setting rows."""
  lines = []
  paper_rows = {r.name: r.variant.name for r in plan_lib.rows()
                if r.paper_setting}
  for (seed, row), value in sorted(_diagnostics(plan).items()):
    if row in paper_rows:
      variant = paper_rows[row]
      lines += [f"grad_share variant={variant} term={term} seed={seed} "
                f"value={value['grad_share'][term]:.6g}"
                for term in ("content", "adversarial")
                if value["grad_share"][term] is not None]
      lines.append(f"critic_rank variant={variant} seed={seed} "
                   f"value={value['critic_rank']:.6g}")
  return lines


def _part_rows(plan: plan_lib.Plan) -> tuple:
  """The wall-time table's rows and the total wall time."""
  rows, total = [], 0.0
  for part in plan.parts():
    marker = plan_lib.read_json(plan.layout.marker(part.name)) or {}
    earlier = marker.get("earlier_attempts", [])
    wall, cpu = marker.get("seconds"), marker.get("cpu_seconds")
    if wall is not None:
      wall += sum(a.get("seconds") or 0 for a in earlier)
      total += wall
    if cpu is not None and any(a.get("cpu_seconds") is None for a in earlier):
      cpu = None
    elif cpu is not None:
      cpu += sum(a["cpu_seconds"] for a in earlier)
    outcomes = ", ".join(a["outcome"] for a in earlier) or "-"
    rows.append([part.name, duration(wall), duration(cpu), outcomes,
                 marker.get("started", "not run")])
  return rows, total


def shown_path(path: str, base: str) -> str:
  """`path` relative to `base` when it lies in `base` or beside it (e.g.
  `runs/x`, `../shared/data`), so a committed report names no machine's
  absolute paths; other paths are returned unchanged."""
  if not os.path.isabs(path):
    return path
  relative = os.path.relpath(path, base)
  return path if relative.startswith(os.path.join("..", "..")) else relative


def shown_command(argv: List[str], base: str) -> str:
  """The shell form of `argv` with `shown_path` applied to each argument
  and to each `--flag=/absolute/path` value."""
  shown = []
  for arg in argv:
    flag, sep, value = arg.partition("=")
    shown.append(f"{flag}={shown_path(value, base)}" if sep and
                 arg.startswith("--") else shown_path(arg, base))
  return shlex.join(shown)


def render(plan: plan_lib.Plan, argv: List[str], out_dir: pathlib.Path
           ) -> tuple:
  """Writes figures and matrices into `out_dir`; returns (Markdown,
  results.json value)."""
  layout, settings = plan.layout, plan.report_settings
  info = labels_lib.get_info(plan.dataset)
  table = paper.table(plan.dataset)
  row_names = [r.name for r in plan_lib.rows()]
  runs = {split: results.load_runs(layout, plan.seeds, row_names, split)
          for split in plan_lib.SPLITS}
  results.save(out_dir / MATRICES, runs)
  test = runs[HEADLINE_SPLIT]
  summaries = results.summarise(test, row_names)
  comparisons = results.compare(
      test, row_names, variants.BASELINE.name,
      samples=settings.bootstrap_samples, confidence=settings.confidence,
      seed=settings.bootstrap_seed)
  validation = _stage1_validation(plan)
  diagnostics = _diagnostics(plan)
  lambdas = plan.ablation_lambdas()
  num_images = len(next(iter(test.values())).ids) if test else 0
  titles = {r.name: r.title for r in plan_lib.rows()}

  written = {FIG_CURVES: _loss_figure(plan)}
  if validation:
    written[FIG_STAGE1] = _stage1_figure(validation)
  for name, grid in _grids(plan, info).items():
    written[name] = io_utils.png_bytes(figures.compact(grid), optimize=True)
  for name, data in written.items():
    io_utils.atomic_write_bytes(out_dir / name, data)

  md = [f"# SegGAN / SegWGAN reproduction: {plan.dataset}, `{plan.size}` "
        "configuration", "",
        f"Written by `tools/reproduce.py` on "
        f"{datetime.date.today().isoformat()} from "
        f"`{shown_path(str(layout.root), str(REPO))}` (segwgan "
        f"{environment.git_commit(REPO) or 'commit unknown'}).", ""]
  if settings.note:
    md += [f"> **Note.** {settings.note.strip()}", ""]
  md += ["## Summary", ""]
  md += (summary_lines(plan, table, summaries, comparisons, diagnostics)
         if summaries
         else ["- No run has been evaluated on the test split yet."])
  md += ["", "## Setup, and what differs from the paper", "",
         tables.markdown(["", "paper (section 4.2)", "here"],
                         setup_rows(plan), align="lll"), "",
         f"## Results on the {HEADLINE_SPLIT} split", "",
         f"{num_images} {HEADLINE_SPLIT} images, final checkpoints, seeds "
         f"{', '.join(str(s) for s in plan.seeds)}; percent"
         + (f". The paper: {table.citation}, {table.split}." if table
            else "."), "",
         tables.paper_vs_measured(table, plan_lib.rows(), summaries), ""]
  md += [f"- The paper's own numbers: {note}" for note in
         (table.notes if table else ())]
  md += ["", "Per seed (mIoU on test and on val; val is where choices are "
         "made):", "", tables.per_seed(runs, titles), "",
         "## Differences to the DeepLabv3 row", ""]
  if comparisons:
    md += [f"A bootstrap over seeds and {HEADLINE_SPLIT} images, "
           f"{settings.bootstrap_samples} resamples: each draws the seeds "
           "with replacement, then the images with replacement (the same "
           "images for every row and seed: paired), and averages the drawn "
           "seeds' mIoU differences, each mIoU computed from the summed "
           "confusion matrices (Eq. 17). Per seed: images resampled only. "
           f"The matrices are `{MATRICES}` beside this report; "
           "`python -m segwgan.reporting.recompute <this directory>` "
           "recomputes every interval.", "",
           tables.differences(comparisons, titles, settings.confidence), ""]
  else:
    md += ["Not available: the DeepLabv3 row and another row of the same "
           "seed are needed.", ""]
  md += ["## Ablation: lambdas scaled by the measured gradient share", "",
         f"Not the paper's setting. Rule (written before any result was "
         f"seen; never from validation or test scores): {ablation.RULE}.",
         "", f"Chosen: {ablation.override(lambdas)}." if lambdas else
         "Not chosen yet (seed 0's run has no diagnostics).", "",
         "## Diagnostics: do the adversarial terms act?", "",
         "grad_share = |grad(lambda x term)| / |grad(l_S)| on the "
         "segmenter's trainable weights, the mean over the stage-2 run; "
         "critic_rank = the fraction of validation images with D(Y, I) > "
         "D(Y, G(Y)), D called as stage 2 calls it (0.5: chance).", "",
         tables.diagnostics(diagnostics, titles), "",
         "## Stage 1: validation curves and stop points", ""]
  if validation:
    md += [f"![stage-1 validation curves]({FIG_STAGE1})", "",
           tables.stage1_stops(validation), ""]
  else:
    md += ["No stage-1 validation curve was recorded.", ""]
  md += ["## Figures", "", "### Loss curves (the paper's Figures 4, 9, 10)",
         "", "TensorBoard scalars of every run (thin: as logged; thick: "
         "running mean of 5 points).", "", f"![loss curves]({FIG_CURVES})", ""]
  if FIG_RECON in written:
    md += ["### Reconstructions G(Y) from ground truth (Figure 3), seed 0",
           "", "The first validation images by sorted id (a fixed choice).",
           "", f"![reconstructions]({FIG_RECON})", ""]
  if FIG_PRED in written:
    md += ["### Predictions on the same images (Figure 5), seed 0", "",
           f"![predictions]({FIG_PRED})", ""]
  parts, total = _part_rows(plan)
  md += ["## How this was produced", "",
         f"Command: `{shown_command(list(argv), os.getcwd())}`.", "",
         f"Wall time of the dataset's protocol: **{duration(total)}** (the "
         "parts' wall times, with their unfinished earlier attempts; CPU "
         "time is user + system of the parts' processes, unknown for an "
         "attempt killed with tools/reproduce.py).", "",
         tables.markdown(["part", "wall time", "CPU time",
                          "earlier attempts", "started"], parts,
                         align="lrrll"), "",
         "Each part is one tool command (seed 0's; another seed's differ "
         "in `--seed` and `seed<k>/`):", ""]
  md += [f"- `{part.name}`: `{shown_command(part.command(), str(REPO))}`"
         for part in plan.parts() if not part.name.startswith("seed") or
         part.name.startswith("seed0_")]
  md += ["", f"Seeds: {', '.join(str(s) for s in plan.seeds)}; seed k sets "
         "stage 1, the cross-entropy model and every row of that seed "
         "(weights, data order, augmentation). Bootstrap seed "
         f"{settings.bootstrap_seed}.", "",
         "Software: " + ", ".join(f"{k} {v}" for k, v in
                                  environment.package_versions().items()) +
         f". Machine: {environment.describe_machine()}.", ""]
  for section in plan_lib.settings_lib.TRAININGS:
    md += [f"`configs/{section}.yaml`:", "",
           f"```yaml\n{plan.config_yaml(section).rstrip()}\n```", ""]
  value = {
      "dataset": plan.dataset, "size": plan.size, "seeds": plan.seeds,
      "headline_split": HEADLINE_SPLIT,
      "rows": [{"name": r.name, "variant": r.variant.name,
                "paper_setting": r.paper_setting} for r in plan_lib.rows()],
      "metrics": {split: {f"{s}.{r}": {m: float(results.value(v, m))
                                       for m in results.METRICS}
                          for (s, r), v in split_runs.items()}
                  for split, split_runs in runs.items()},
      "summary": {split: {r: {m: vars(v) for m, v in s.items()}
                          for r, s in results.summarise(
                              split_runs, row_names).items()}
                  for split, split_runs in runs.items()},
      "bootstrap": {"samples": settings.bootstrap_samples,
                    "confidence": settings.confidence,
                    "seed": settings.bootstrap_seed,
                    "baseline": variants.BASELINE.name},
      "differences": results.comparisons_json(comparisons),
      "diagnostics": {f"{s}.{r}": v for (s, r), v in diagnostics.items()},
      "ablation": {"row": ablation.ROW, "rule": ablation.RULE,
                   "lambdas": lambdas, "paper_setting": False},
      "stage1_stops": {f"{s}.{loss}": v.get("stop")
                       for (s, loss), v in validation.items()},
      "wall_seconds": total,
      "paper": table.values if table else None}
  return "\n".join(md) + "\n", value


def write(plan: plan_lib.Plan, argv: List[str]) -> pathlib.Path:
  """(Re)writes OUTPUT_DIR/report/ atomically; returns report.md's path."""
  with io_utils.atomic_directory(plan.layout.report_dir) as tmp:
    text, value = render(plan, argv, tmp)
    io_utils.atomic_write_text(tmp / "report.md", text)
    io_utils.atomic_write_text(tmp / "results.json", json.dumps(
        value, indent=2, sort_keys=True) + "\n")
  return plan.layout.report_dir / "report.md"
