"""The reproduction report: Markdown, PNG figures and results.json.

Everything is read from the output directory (plan, part markers, run
configs, evaluations, TensorBoard events, figure inputs), so the report can
be rewritten at any time without TensorFlow models. Written into
`OUTPUT_DIR/report/` as a whole (a temporary directory renamed into place).
"""
import datetime
import json
import os
import pathlib
import shlex
from typing import Dict, List, Optional

import numpy as np
import yaml

from segwgan import io_utils
from segwgan import labels as labels_lib
from segwgan.reporting import bootstrap
from segwgan.reporting import environment
from segwgan.reporting import events
from segwgan.reporting import figures
from segwgan.reporting import files
from segwgan.reporting import paper
from segwgan.reporting import plan as plan_lib
from segwgan.reporting import results
from segwgan.reporting import tables

DATASET_NAMES = {"cmp_facades": "CMP Facades (base set)",
                 "stanford_background": "Stanford Background",
                 "pascal_voc2012": "PASCAL VOC 2012", "ade20k": "ADE20K",
                 "cityscapes": "Cityscapes"}
CURVE_FIGURES = {"cmp_facades": "Figure 10", "stanford_background": "Figure 9"}
COLOURS = {"deeplabv3": "tab:blue", "seggan": "tab:orange",
           "segwgan": "tab:green", "gan": "tab:orange", "wgan": "tab:green"}
FIG3, FIG4, FIG5 = ("fig3_reconstructions.png", "fig4_loss_curves.png",
                    "fig5_qualitative.png")
REPO = pathlib.Path(__file__).resolve().parents[2]


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


def _duration(seconds: Optional[float]) -> str:
  if seconds is None:
    return "-"
  minutes, secs = divmod(int(round(seconds)), 60)
  hours, minutes = divmod(minutes, 60)
  if hours:
    return f"{hours}h{minutes:02d}m{secs:02d}s"
  return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


# Setup ------------------------------------------------------------------------


def describe_model(model: dict) -> str:
  backbone = model.get("backbone", {})
  kind = backbone.get("type", "?")
  config = backbone.get(kind, {}) or {}
  if kind in ("tf_deeplab_mobilenet", "mobilenet"):
    net = (f"{config.get('model_id', 'MobileNet')} width "
           f"{config.get('filter_size_scale', 1.0):g}, output stride "
           f"{config.get('output_stride', '?')}")
  elif kind == "dilated_resnet":
    net = (f"dilated ResNet-{config.get('model_id', '?')}, output stride "
           f"{config.get('output_stride', '?')}")
  else:
    net = kind
  rates = _get(model, "decoder.aspp.dilation_rates") or []
  aspp = (f"ASPP rates {', '.join(str(r) for r in rates)} + image pooling"
          if rates else "ASPP-lite (1x1 conv + image pooling)")
  return f"DeepLabv3, {net}, {aspp}"


def optimizer_text(config: dict) -> str:
  """An optimizer_config as words: 'adam 0.0005', or with its schedule
  ('adam 0.0005 after a 50-step linear warm-up, polynomial decay (power
  0.9) to 0 at step 1000')."""
  kind = _get(config, "optimizer.type", "?")
  schedule = _get(config, "learning_rate.type")
  rate = _get(config, f"learning_rate.{schedule}") or {}
  start = rate.get("learning_rate", rate.get("initial_learning_rate"))
  text = f"{kind} {start:g}" if isinstance(start, (int, float)) else kind
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


def setup_rows(plan: plan_lib.Plan, num_images: Optional[int]) -> List[list]:
  """(item, the paper's setting, this run's) rows from the runs' configs."""
  stage1 = {loss: _params(plan.layout.stage1(loss)) for loss in ("gan",
                                                                 "wgan")}
  stage2 = _params(plan.layout.stage2(plan.seeds[0], "deeplabv3"))
  train = _get(stage2, "task.train_data", {})
  val = _get(stage2, "task.validation_data", {})
  crop = "x".join(str(v) for v in train.get("output_size", []))
  resize = train.get("resize_long_side", 0)
  g1 = stage1["gan"] or stage1["wgan"]
  wgan = stage1["wgan"]
  init = plan.init_checkpoint or "none (random initialisation)"
  if plan.tflite:
    where = pathlib.Path(plan.init_checkpoint).relative_to(plan.layout.root)
    init = (f"Google's TFLite `{plan.tflite}` (PASCAL VOC), converted to "
            f"`{where}`; a fresh "
            f"{_get(stage2, 'task.model.num_classes', '?')}-class head")
  rows = [
      ["segmenter", "DeepLabv3 [12] (backbone not named)",
       describe_model(_get(stage2, "task.model", {}))],
      ["starting weights", "TF DeepLab project checkpoints, batch norm "
       "trained", init],
      ["training input", "fixed-size random crops, flips, resizing (size "
       "not stated)",
       f"{crop} crops of images resized to long side {resize or 'original'}"
       f", scale {train.get('aug_scale_min')}-{train.get('aug_scale_max')}"
       f", flip {train.get('aug_rand_hflip')}"],
      ["batch size", "8", str(train.get("global_batch_size"))],
      ["stage 1 (G, D)", "pix2pix G/D, Adam for G, l_G = 100 l_C + l_A, "
       "trained until convergence",
       f"{_get(g1, 'trainer.train_steps')} steps each; G "
       f"{optimizer_text(_get(g1, 'trainer.optimizer_config', {}))}, "
       f"{_get(g1, 'task.generator.base_filters')} base filters (G and D); "
       f"WGAN: critic {optimizer_text(_get(wgan, 'task.critic_optimizer', {}))}"
       f", {_get(wgan, 'task.critic_steps')} critic steps, clip "
       f"{_get(wgan, 'task.clip_value')}"],
      ["stage 2", "Adam 5e-4, lambda_1 = lambda_2 = 0.1, batch norm frozen, "
       "G and D frozen, until convergence",
       f"{_get(stage2, 'trainer.train_steps')} steps, "
       f"{optimizer_text(_get(stage2, 'trainer.optimizer_config', {}))}, "
       f"lambda_1 = {_get(stage2, 'task.lambda_content')}, lambda_2 = "
       f"{_get(stage2, 'task.lambda_adversarial')}, fine_tune_batch_norm = "
       f"{_get(stage2, 'task.fine_tune_batch_norm')}"],
      ["evaluated on", "the validation set (split not published)",
       f"{num_images if num_images is not None else '?'} {val.get('split')} "
       f"images (seeded split: split_seed {val.get('split_seed')}, val "
       f"fraction {val.get('val_fraction')}); whole image at long side "
       f"{val.get('resize_long_side') or 'original'}, scored at the original "
       "size; the final checkpoint of each run"],
      ["precision, hardware", "not stated (GPU)",
       f"{_get(stage2, 'runtime.mixed_precision_dtype')}, "
       f"{environment.machine()['cores']} CPU cores"],
  ]
  return rows


# Figures ----------------------------------------------------------------------


def _curves(plan: plan_lib.Plan) -> bytes:
  layout = plan.layout
  stage1 = [figures.Series(f"stage 1 {loss.upper()}", COLOURS[loss],
                           events.read_scalars(layout.stage1(loss) / "train")
                           .get("gloss", []))
            for loss in ("gan", "wgan")]
  seg, gen = [], []
  for seed in plan.seeds:
    for variant in paper.VARIANTS:
      scalars = events.read_scalars(layout.stage2(seed, variant) / "train")
      name = paper.VARIANT_NAMES[variant]
      seg.append(figures.Series(name, COLOURS[variant],
                                scalars.get("segloss", [])))
      if variant != "deeplabv3":
        gen.append(figures.Series(name, COLOURS[variant],
                                  scalars.get("gloss", [])))
  return figures.loss_curves([
      ("stage 2 segloss (cross-entropy)", seg),
      ("stage 2 gloss (100 l_C + l_A of G(softmax))", gen),
      ("stage 1 gloss (G: 100 l_C + l_A)", stage1)])


def _figure_ids(plan: plan_lib.Plan) -> List[str]:
  return files.read_json(plan.layout.figure_inputs / "ids.json") or []


def _grids(plan: plan_lib.Plan, info: labels_lib.DatasetInfo) -> Dict:
  layout = plan.layout
  inputs = figures.FigureFiles(layout.figure_inputs)
  ids = _figure_ids(plan)

  def image(path):
    return lambda i: (figures.image_panel(path(i)), False)

  def label(path):
    return lambda i: (figures.label_panel(path(i), info), True)

  base = [("image", image(inputs.image)),
          ("ground truth", label(inputs.label))]
  fig3 = base + [(f"G(Y), {loss.upper()}", image(
      lambda i, loss=loss: layout.reconstructions(loss) / f"{i}.png"))
                 for loss in ("gan", "wgan")]
  seed = plan.seeds[0]
  fig5 = base + [(paper.VARIANT_NAMES[v], label(
      lambda i, v=v: layout.evaluation(seed, v) / "predictions" / f"{i}.png"))
                 for v in paper.VARIANTS]
  grids = {}
  for name, columns in ((FIG3, fig3), (FIG5, fig5)):
    rows = figures.grid_rows(ids, columns)
    if rows:
      width = figures.panel_grid(rows).shape[1]
      grids[name] = figures.panel_grid(rows,
                                       footer=figures.legend(info, width))
  return grids


# Text ---------------------------------------------------------------------


def _verdict(interval) -> str:
  if interval.low > 0:
    return "better than DeepLabv3: the interval lies above 0"
  if interval.high < 0:
    return "worse than DeepLabv3: the interval lies below 0"
  return ("no measurable difference from DeepLabv3: the interval includes 0")


def summary_lines(plan, table, summaries, comparisons, num_images) -> list:
  lines = []
  measured = ", ".join(
      f"{paper.VARIANT_NAMES[v]} {tables.spread(s.metrics['miou'])}"
      for v, s in summaries.items())
  claimed = (", ".join(f"{paper.VARIANT_NAMES[v]} "
                       f"{paper_value(table, v)}" for v in paper.VARIANTS)
             if table else "")
  seeds = (f"{len(plan.seeds)} seeds (mean ± std)" if len(plan.seeds) > 1
           else "one seed")
  lines.append(f"- Validation mIoU (%), {seeds}: "
               f"{measured}." + (f" The paper ({table.citation.split(',')[0]})"
                                 f": {claimed}." if table else ""))
  for variant, c in comparisons.items():
    i = c.pooled
    text = (f"- {paper.VARIANT_NAMES[variant]} - DeepLabv3: "
            f"{bootstrap.format_points(i.estimate)} mIoU points, 95% "
            f"CI [{bootstrap.format_points(i.low)}, "
            f"{bootstrap.format_points(i.high)}] (paired bootstrap "
            f"over {i.images} validation images"
            + (f", averaged over {len(c.seeds)} seeds" if len(c.seeds) > 1
               else ", one seed") + f"): {_verdict(i)}.")
    if table:
      expected = (table.value(variant, "miou") -
                  table.value("deeplabv3", "miou"))
      text += f" The paper reports {expected:+.1f}."
    lines.append(text)
  lines.append("- The model, input size and schedule differ from the "
               "paper's (see Setup), and so does the validation split, "
               "which the paper does not publish: the absolute numbers are "
               "not comparable with the paper's; the differences between "
               "variants, all trained alike here, are the test of its "
               "claim.")
  return lines


def paper_value(table, variant) -> str:
  value = table.value(variant, "miou")
  return "-" if value is None else f"{value:.1f}"


def _code(text: str, kind: str = "") -> str:
  return f"```{kind}\n{text.rstrip()}\n```"


def _timing_rows(plan: plan_lib.Plan) -> List[list]:
  layout = plan.layout
  rows = []
  for part in plan.parts():
    marker = files.read_json(layout.marker(part.name)) or {}
    detail = ""
    if part.name.startswith("stage1_"):
      timing = files.read_json(layout.reconstructions(
          part.name.split("_", 1)[1]) / "timing.json") or {}
      if timing:
        detail = (f"training {_duration(timing.get('train_seconds'))}, "
                  f"reconstructions "
                  f"{_duration(timing.get('reconstruct_seconds'))}")
    elif part.name.startswith("stage2_"):
      seed, variant = part.name[len("stage2_seed"):].split("_", 1)
      metrics = files.read_json(layout.evaluation(int(seed), variant) /
                                "metrics.json") or {}
      if metrics:
        detail = (f"training {_duration(metrics.get('train_seconds'))}, "
                  f"evaluation {_duration(metrics.get('eval_seconds'))}")
    wall, cpu = marker.get("seconds"), marker.get("cpu_seconds")
    earlier = marker.get("earlier_attempts") or []
    if earlier and wall is not None:
      wall += sum(a.get("seconds") or 0 for a in earlier)
      cpu = None if cpu is None else cpu + sum(a.get("cpu_seconds") or 0
                                              for a in earlier)
      killed = sum(a.get("outcome") == "killed" for a in earlier)
      detail = (detail + "; " if detail else "") + (
          f"incl. {len(earlier)} interrupted attempt"
          f"{'s' if len(earlier) > 1 else ''}") + (
              f" ({killed} killed)" if killed else "")
    rows.append([part.name, _duration(wall), _duration(cpu), detail or "-",
                 marker.get("started", "not run")])
  return rows


def shown_path(path: str, base: str) -> str:
  """`path` relative to `base` when it lies in `base` or beside it (e.g.
  `runs/x`, `../shared/data`), so a committed report names no machine's
  absolute paths; other paths are returned unchanged."""
  if not os.path.isabs(path):
    return path
  relative = os.path.relpath(path, base)
  return relative if not relative.startswith(os.path.join("..", "..")) \
      else path


def shown_command(argv: List[str], base: str) -> str:
  """The shell form of `argv` with `shown_path` applied to the program and
  to each `--flag=/absolute/path` value."""
  shown = []
  for arg in argv:
    flag, sep, value = arg.partition("=")
    shown.append(f"{flag}={shown_path(value, base)}" if sep and
                 arg.startswith("--") else shown_path(arg, base))
  return shlex.join(shown)


def _invocation_rows(layout) -> List[list]:
  rows = []
  try:
    lines = layout.invocations.read_text().splitlines()
  except FileNotFoundError:
    lines = []
  for line in lines:
    record = json.loads(line)
    command = shown_command(record["command"], record.get("cwd", str(REPO)))
    rows.append([f"`{command}`", record.get("commit") or "-",
                 record["started"],
                 _duration(record.get("seconds")),
                 ", ".join(record.get("ran", [])) or "-",
                 str(len(record.get("skipped", []))),
                 record.get("outcome", "-")])
  return rows


def render(plan: plan_lib.Plan, out_dir: pathlib.Path) -> tuple:
  """Writes the figures into `out_dir`; returns (Markdown text, the
  results.json value)."""
  layout = plan.layout
  settings = plan.report_settings
  info = labels_lib.get_info(plan.dataset)
  table = paper.table(plan.dataset)
  runs = results.load_runs(layout, plan.seeds)
  summaries = results.summarise(runs)
  comparisons = results.compare(runs, settings)
  num_images = (len(next(iter(runs.values())).result.ids) if runs else None)
  name = DATASET_NAMES.get(plan.dataset, plan.dataset)

  figures_written = []
  io_utils.atomic_write_bytes(out_dir / FIG4, _curves(plan))
  figures_written.append(FIG4)
  for filename, grid in _grids(plan, info).items():
    figures.write_png(out_dir / filename, figures.compact(grid))
    figures_written.append(filename)

  md = [f"# SegGAN / SegWGAN reproduction: {name}, `{plan.size}` "
        "configuration", "",
        f"Written by `tools/reproduce.py` on "
        f"{datetime.date.today().isoformat()} from the runs in "
        f"`{shown_path(str(layout.root), str(REPO))}` (segwgan "
        f"{environment.git_commit(REPO) or 'commit unknown'}).", ""]
  if settings.note:
    md += [f"> **Note.** {settings.note.strip()}", ""]
  md += ["## Summary", ""]
  if summaries:
    md += summary_lines(plan, table, summaries, comparisons, num_images)
  else:
    md.append("- No run has been evaluated yet.")
  md += ["", "## Setup, and what differs from the paper", "",
         tables.markdown(["", "paper (section 4.2)", "here"],
                         setup_rows(plan, num_images), align="lll"), ""]
  md += [f"## Results beside the paper's {table.citation.split(',')[0]}"
         if table else "## Results", ""]
  if table:
    md += [f"Paper: {table.citation}, {table.split}. Measured: "
           f"{num_images} validation images, final checkpoints, "
           + ("mean ± std over seeds " if len(plan.seeds) > 1 else "") +
           f"(seeds {', '.join(str(s) for s in plan.seeds)}); percent.", ""]
  md += [tables.paper_vs_measured(table, summaries), ""]
  for note in (table.notes if table else ()):
    md += [f"- The paper's own numbers: {note}"]
  md += ["", "Per seed:", "", _per_seed_table(runs), "",
         "## Per-class IoU (%)", "",
         "The paper gives no per-class numbers for this dataset.", "",
         tables.per_class(info.class_names, summaries), "",
         "## Differences to the DeepLabv3 baseline", ""]
  if comparisons:
    md += [f"Paired bootstrap over the validation images: "
           f"{settings.bootstrap_samples} resamples of the "
           f"{num_images} images (the same resamples for both models and "
           "all seeds); each resample's mIoU is computed from its summed "
           "confusion matrices (Eq. 17). The interval is the "
           f"{100 * (1 - settings.confidence) / 2:g}th-"
           f"{100 - 100 * (1 - settings.confidence) / 2:g}th percentile of "
           "the seed-averaged differences; it reflects the choice of "
           "validation images, not training randomness, which the per-seed "
           "spread shows.", "",
           tables.differences(comparisons, table), "", "Per seed:", "",
           tables.per_seed_intervals(comparisons), ""]
  else:
    md += ["Not available: a baseline and a GAN variant of the same seed are "
           "needed.", ""]
  md += ["## Figures", "",
         f"### Loss curves (the paper's Figure 4; "
         f"{CURVE_FIGURES.get(plan.dataset, 'its per-dataset figure')} for "
         "this dataset)", "",
         "TensorBoard scalars of the runs (thin: as logged; thick: running "
         "mean of 5 points). DeepLabv3 has no gloss: it runs no G.", "",
         f"![loss curves]({FIG4})", ""]
  if FIG3 in figures_written:
    md += ["### Reconstructions G(Y) from ground-truth masks (Figure 3)", "",
           "The first validation images by sorted id (a fixed choice), "
           "their ground truth, and the images the stage-1 generators make "
           "from it (at the training scale, dropout noise on).", "",
           f"![reconstructions]({FIG3})", ""]
  if FIG5 in figures_written:
    md += [f"### Predictions (Figure 5), seed {plan.seeds[0]}", "",
           "The same images: image | ground truth | DeepLabv3 | SegGAN | "
           "SegWGAN (final checkpoints).", "", f"![predictions]({FIG5})", ""]
  md += _provenance(plan)
  return "\n".join(md) + "\n", _results_json(plan, runs, summaries,
                                              comparisons)


def _per_seed_table(runs) -> str:
  rows = []
  for (seed, variant), run in sorted(runs.items(),
                                     key=lambda kv: (kv[0][0], paper.VARIANTS
                                                     .index(kv[0][1]))):
    rows.append([str(seed), paper.VARIANT_NAMES[variant],
                 tables.percent(run.value("miou")),
                 tables.percent(run.value("pixel_accuracy")),
                 tables.percent(run.value("class_accuracy")),
                 str(run.metrics.get("step", "?"))])
  return tables.markdown(["seed", "method", "mIoU", "Pix Acc", "Class Acc",
                          "steps"], rows, align="llrrrr")


def _provenance(plan: plan_lib.Plan) -> List[str]:
  layout = plan.layout
  settings = plan.report_settings
  md = ["## How this was produced", "", "### Commands", "",
        "Each invocation of `tools/reproduce.py` on this output directory "
        "(wall time until its last part finished, before the report was "
        "written; parts done before are skipped):", "",
        tables.markdown(["command", "segwgan commit", "started", "wall time",
                         "parts finished", "parts skipped", "outcome"],
                        _invocation_rows(layout), align="lllrlll"), "",
        "Each part is one process; its training half is what "
        "`tools/train_gan.py` / `tools/train_seg.py` run with the same flags "
        "(without `--job` and the figure/eval flags):", ""]
  for part in plan.parts():
    marker = files.read_json(layout.marker(part.name)) or {}
    command = marker.get("command") or part.command()
    md += [f"- `{part.name}`:", "", _code(shown_command(command, str(REPO)),
                                          "bash"), ""]
  md += ["### Wall time per part", "",
         "CPU time is user + system time of the part's processes (on a "
         "shared machine, wall time also counts waiting for the CPU); both "
         "include interrupted earlier attempts of a part, except the CPU "
         "time of a killed attempt, which is not known (its wall time is "
         "counted until it was last seen running, to within 30 s).", "",
         tables.markdown(["part", "wall time", "CPU time", "of which",
                          "started"], _timing_rows(plan), align="lrrll"), "",
         "### Seeds", "",
         f"- Stage 1 (G and D): seed {plan.stage1_seed}.",
         f"- Stage 2: seeds {', '.join(str(s) for s in plan.seeds)}; each "
         "seed sets weight initialisation (the fresh head) and the data "
         "order / augmentation, identically for the three variants.",
         f"- Bootstrap resampling: seed {settings.bootstrap_seed}.",
         "- The generator's dropout noise has its own seed "
         "(`task.generator.noise_seed`, in the stage-1 config).", "",
         "### Software and machine", ""]
  versions = environment.package_versions()
  machine = environment.machine()
  md += [tables.markdown(["", "version"], [[k, v] for k, v in
                                           {**{"python": machine["python"]},
                                            **versions}.items()],
                         align="ll"), "",
         f"Machine: {machine['cpu']}, {machine['cores']} cores, "
         f"{machine['platform']}; {machine['onednn']}.", "",
         "### Configuration", "",
         f"Experiments `{plan.stage1_experiment}` and "
         f"`{plan.stage2_experiment}` with these overrides "
         "(`configs/stage1.yaml`, `configs/stage2.yaml`, merged from the "
         "protocol files and `--params_override`):", ""]
  for stage in ("stage1", "stage2"):
    md += [f"`{stage}.yaml`:", "", _code(plan.stage_yaml(stage), "yaml"), ""]
  md += ["Report settings: " + ", ".join(
      f"{k} = {v}" for k, v in sorted(vars(settings).items())
      if k != "note") + ".", ""]
  return md


def _number(value):
  value = float(value)
  return None if not np.isfinite(value) else value


def _results_json(plan, runs, summaries, comparisons) -> dict:
  def interval(i):
    return {"estimate": i.estimate, "low": i.low, "high": i.high,
            "confidence": i.confidence, "samples": i.samples,
            "images": i.images}
  return {
      "dataset": plan.dataset, "size": plan.size, "seeds": plan.seeds,
      "runs": [{"seed": s, "variant": v,
                **{m: _number(r.value(m)) for m in paper.METRICS},
                "per_class_iou": [
                    None if x is None else _number(x)
                    for x in r.metrics.get("per_class_iou", [])],
                "num_images": len(r.result.ids),
                "step": r.metrics.get("step")}
               for (s, v), r in sorted(runs.items())],
      "summary": {v: {m: {"mean": s.metrics[m].mean, "std": s.metrics[m].std,
                          "values": list(s.metrics[m].values)}
                      for m in paper.METRICS}
                  for v, s in summaries.items()},
      "differences": {v: {"pooled": interval(c.pooled),
                          "per_seed": {str(k): interval(i)
                                       for k, i in c.per_seed.items()},
                          "spread": {"mean": c.spread.mean,
                                     "std": c.spread.std,
                                     "values": list(c.spread.values)}}
                      for v, c in comparisons.items()},
      "paper": (paper.table(plan.dataset).values
                if paper.table(plan.dataset) else None)}


def write(plan: plan_lib.Plan) -> pathlib.Path:
  """(Re)writes OUTPUT_DIR/report/ atomically; returns report.md's path."""
  layout = plan.layout
  with io_utils.atomic_directory(layout.report_dir) as tmp:
    text, result = render(plan, tmp)
    files.write_text(tmp / "report.md", text)
    files.write_json(tmp / "results.json", result)
  return layout.report
