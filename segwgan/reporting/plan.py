"""What one reproduction runs: its rows, its parts (tool commands), its files.

A plan is fixed by the dataset, the size (the registered experiments
`stage1_<dataset>_<size>` and `stage2_<dataset>_<size>`), the protocol
settings (`settings.py`), the data and weights locations and the seeds.
Its parts, each one command of a tool, in the paper's order (section 4.2):

1. ``pretrained``: tools/convert_tflite_checkpoint.py, when stage 2 starts
   from a converted preset;
2. per seed k:
   ``seed<k>_stage1_<loss>``: tools/train_gan.py for each stage-1 loss a
   variant needs (`variants.VARIANTS`; each seed trains its own G and D);
   ``seed<k>_ce``: tools/train_seg.py --variant=deeplabv3 from the
   pretrained checkpoint with the `ce` schedule: the cross-entropy
   DeepLabv3 every compared row starts from;
   ``seed<k>_<row>``: tools/train_seg.py for each row (`rows()`: every
   variant, DeepLabv3 continuing cross-entropy, then the ablation row) from
   that ce model_dir with the `stage2` schedule, without a validation of
   the final step (the next parts score it);
   ``seed<k>_<row>_val`` / ``_test``: tools/evaluate.py on each split.

A part's command may depend on files of parts before it (the figure ids
from stage 1's reconstructions, the ablation's lambdas from seed 0's
diagnostics), so `Plan.parts()` is asked again before each part runs.
"""
import dataclasses
import hashlib
import json
import os
import pathlib
import sys
from typing import Dict, List, Optional

import yaml

from segwgan import errors
from segwgan import variants
from segwgan.configs import experiments
from segwgan.modeling import pretrained
from segwgan.reporting import ablation
from segwgan.reporting import settings as settings_lib

SPLITS = ("val", "test")
TOOLS = pathlib.Path(__file__).resolve().parents[2] / "tools"


class PlanMismatch(errors.UserError):
  """The output directory holds a reproduction made with other settings."""


@dataclasses.dataclass(frozen=True)
class Row:
  """One compared model: a variant, with the paper's lambdas or not."""
  name: str
  variant: variants.Variant
  paper_setting: bool = True

  @property
  def title(self) -> str:
    if self.paper_setting:
      return self.variant.display_name
    return f"{self.variant.display_name}, scaled lambdas (not the paper's)"


def rows() -> List[Row]:
  """Every variant (the paper's rows), then the ablation row."""
  result = [Row(v.name, v) for v in variants.VARIANTS.values()]
  if ablation.VARIANT in variants.VARIANTS:
    result.append(Row(ablation.ROW, variants.get(ablation.VARIANT), False))
  return result


def stage1_losses() -> List[str]:
  """The stage-1 losses the variants need, in variant order."""
  return list(dict.fromkeys(v.gan_loss for v in variants.VARIANTS.values()
                            if v.gan_loss))


@dataclasses.dataclass(frozen=True)
class Part:
  """One resumable unit of work: `python tools/<tool> <args>`."""
  name: str
  title: str
  tool: str
  args: tuple

  def command(self, python: str = sys.executable) -> List[str]:
    return [python, str(TOOLS / self.tool), *self.args]


@dataclasses.dataclass(frozen=True)
class Layout:
  """The output directory's files."""
  root: pathlib.Path

  @property
  def plan(self) -> pathlib.Path:
    return self.root / "plan.json"

  @property
  def report_dir(self) -> pathlib.Path:
    return self.root / "report"

  @property
  def downloads(self) -> pathlib.Path:
    return self.pretrained_root / "downloads"

  def config(self, section: str) -> pathlib.Path:
    return self.root / "configs" / f"{section}.yaml"

  def marker(self, part: str) -> pathlib.Path:
    return self.root / "parts" / f"{part}.json"

  def attempts(self, part: str) -> pathlib.Path:
    return self.root / "parts" / f"{part}.attempts.json"

  def log(self, part: str) -> pathlib.Path:
    return self.root / "logs" / f"{part}.log"

  @property
  def pretrained_root(self) -> pathlib.Path:
    return self.root / "pretrained"

  def pretrained(self, preset: str) -> pathlib.Path:
    return self.pretrained_root / preset

  def stage1(self, seed: int, loss: str) -> pathlib.Path:
    return self.root / f"seed{seed}" / f"stage1_{loss}"

  def ce(self, seed: int) -> pathlib.Path:
    return self.root / f"seed{seed}" / "ce"

  def row(self, seed: int, row: str) -> pathlib.Path:
    return self.root / f"seed{seed}" / row

  def evaluation(self, seed: int, row: str, split: str) -> pathlib.Path:
    return self.row(seed, row) / f"eval_{split}"


def read_json(path) -> Optional[object]:
  """The JSON at `path`, or None if it is missing or unreadable."""
  try:
    return json.loads(pathlib.Path(path).read_text())
  except (FileNotFoundError, ValueError):
    return None


@dataclasses.dataclass
class Plan:
  """A reproduction of one dataset; paths are absolute.

  Attributes:
    dataset, size: select the registered experiments.
    seeds: 0 .. N-1.
    output_dir: where everything goes (see `Layout`).
    data_dir, tfds_dir: the tools' --data_dir / --tfds_dir ('': default).
    download: pass --download (no data_dir: the official archives).
    sections: the merged protocol settings (`settings.load`).
    init_checkpoint: the ce part's starting checkpoint after resolution.
    tflite: what the pretrained part converts (a path or a
      `pretrained.TFLITE_FILES` name), or ''.
  """
  dataset: str
  size: str
  seeds: List[int]
  output_dir: str
  data_dir: str = ""
  tfds_dir: str = ""
  download: bool = False
  sections: dict = dataclasses.field(default_factory=dict)
  init_checkpoint: str = ""
  tflite: str = ""

  @property
  def layout(self) -> Layout:
    return Layout(pathlib.Path(self.output_dir))

  @property
  def report_settings(self) -> settings_lib.ReportSettings:
    return settings_lib.report_settings(self.sections)

  def config_yaml(self, section: str) -> str:
    return settings_lib.dump(settings_lib.stage_override(self.sections,
                                                         section))

  def fingerprint(self) -> Dict[str, str]:
    """What finished parts depend on (seeds and report-only settings may
    change between invocations)."""
    report = self.report_settings
    value = {"dataset": self.dataset, "size": self.size,
             "data_dir": self.data_dir, "tfds_dir": self.tfds_dir,
             "download": str(self.download),
             "init_checkpoint": self.init_checkpoint, "tflite": self.tflite,
             "eval_max_images": str(report.eval_max_images),
             "figure_images": str(report.figure_images)}
    for section in settings_lib.TRAININGS:
      value[f"{section}.yaml"] = hashlib.sha256(
          self.config_yaml(section).encode()).hexdigest()[:16]
    return value

  def to_json(self) -> dict:
    return dict(dataclasses.asdict(self), fingerprint=self.fingerprint())

  def check_compatible(self, previous: Optional[dict]) -> None:
    """PlanMismatch if `previous` (a plan.json) has another fingerprint."""
    old = (previous or {}).get("fingerprint", {})
    new = self.fingerprint()
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if previous and changed:
      raise PlanMismatch(
          f"{self.output_dir} holds a reproduction made with other settings "
          f"({', '.join(changed)} differ); use another --output_dir, or the "
          "same flags and files as before (only --seeds and the report's "
          "bootstrap settings may change)")

  def figure_ids(self) -> List[str]:
    """The figure images: those stage 1 reconstructed for seed 0."""
    losses = stage1_losses()
    if not losses:
      return []
    folder = self.layout.stage1(0, losses[0]) / "reconstructions"
    return sorted(p.stem for p in folder.glob("*.png"))

  def ablation_lambdas(self) -> Optional[Dict[str, float]]:
    """The ablation row's lambdas (`ablation.RULE`), once seed 0's
    `ablation.VARIANT` run has written its diagnostics."""
    folder = self.layout.row(0, ablation.VARIANT)
    diagnostics = read_json(folder / "diagnostics.json")
    try:
      with open(folder / "params.yaml") as f:
        task = yaml.safe_load(f)["task"]
    except FileNotFoundError:
      return None
    if diagnostics is None or None in diagnostics["grad_share"].values():
      return None
    return ablation.choose(diagnostics["grad_share"],
                           {k: task[k] for k in ablation.TERMS.values()})

  def parts(self) -> List[Part]:
    layout, report = self.layout, self.report_settings
    data = [f"--data_dir={self.data_dir}"] if self.data_dir else []
    data += [f"--tfds_dir={self.tfds_dir}"] if self.tfds_dir else []
    data += ["--download"] if self.download else []
    parts = []
    if self.tflite:
      parts.append(Part("pretrained", "convert the pretrained TFLite model",
                        "convert_tflite_checkpoint.py", (
                            f"--tflite={self.tflite}",
                            f"--output_dir={self.init_checkpoint}",
                            f"--download_dir={layout.downloads}",
                            "--overwrite")))
    ids = ",".join(self.figure_ids())
    lambdas = self.ablation_lambdas()
    stage1 = f"--experiment=stage1_{self.dataset}_{self.size}"
    stage2 = f"--experiment=stage2_{self.dataset}_{self.size}"
    for seed in self.seeds:
      common = (*data, f"--seed={seed}")
      for loss in stage1_losses():
        parts.append(Part(
            f"seed{seed}_stage1_{loss}", f"stage 1 ({loss}): G and D",
            "train_gan.py", (
                stage1, f"--gan_loss={loss}",
                f"--config_file={layout.config('stage1')}", *common,
                f"--model_dir={layout.stage1(seed, loss)}",
                f"--figure_images={report.figure_images}")))
      init = ((f"--init_checkpoint={self.init_checkpoint}",)
              if self.init_checkpoint else ())
      parts.append(Part(
          f"seed{seed}_ce", "cross-entropy DeepLabv3 (the rows' start)",
          "train_seg.py", (stage2, f"--variant={variants.BASELINE.name}",
                           f"--config_file={layout.config('ce')}", *common,
                           *init, f"--model_dir={layout.ce(seed)}")))
      for row in rows():
        args = [stage2, f"--variant={row.variant.name}",
                f"--config_file={layout.config('stage2')}", *common,
                f"--init_checkpoint={layout.ce(seed)}",
                f"--model_dir={layout.row(seed, row.name)}",
                "--novalidate_final"]
        if row.variant.gan_loss:
          args.append(
              f"--gan_model_dir={layout.stage1(seed, row.variant.gan_loss)}")
        if not row.paper_setting:
          args.append("--params_override=" + (
              ablation.override(lambdas) if lambdas else
              f"<chosen after seed0_{ablation.VARIANT}>"))
        parts.append(Part(f"seed{seed}_{row.name}", f"stage 2: {row.title}",
                          "train_seg.py", tuple(args)))
        for split in SPLITS:
          args = [f"--checkpoint={layout.row(seed, row.name)}", *data,
                  f"--split={split}",
                  f"--output_dir={layout.evaluation(seed, row.name, split)}"]
          if report.eval_max_images:
            args.append(f"--max_images={report.eval_max_images}")
          # The figure images are the first by sorted id; --max_images
          # takes the first in the dataset's order, which may omit them.
          if split == "val" and ids and not report.eval_max_images:
            args.append(f"--keep_ids={ids}")
          parts.append(Part(f"seed{seed}_{row.name}_{split}",
                            f"evaluate {row.title} on {split}",
                            "evaluate.py", tuple(args)))
    return parts


def _absolute(path: Optional[str]) -> str:
  return os.path.abspath(os.path.expanduser(path)) if path else ""


def build(dataset: str, size: str, seeds: int, output_dir: str, *,
          sections: dict, init_checkpoint: str,
          data_dir: Optional[str] = None, tfds_dir: Optional[str] = None,
          download: bool = False, weights_dir: Optional[str] = None) -> Plan:
  """The plan of a reproduction (paths made absolute).

  Args:
    init_checkpoint: `task.init_checkpoint` of the ce part's config.
  """
  if size not in experiments.SIZES:
    raise errors.FlagError(f"--size must be one of {list(experiments.SIZES)}, "
                           f"got {size!r}")
  if seeds < 1:
    raise errors.FlagError(f"--seeds must be >= 1, got {seeds}")
  output_dir = _absolute(output_dir)
  init, tflite = pretrained.resolve_init(
      init_checkpoint, Layout(pathlib.Path(output_dir)).pretrained_root,
      _absolute(weights_dir))
  init = _absolute(init) if init and "://" not in init else init
  return Plan(dataset=dataset, size=size, seeds=list(range(seeds)),
              output_dir=output_dir, data_dir=_absolute(data_dir),
              tfds_dir=_absolute(tfds_dir), download=download,
              sections=sections,
              init_checkpoint=init, tflite=tflite)
