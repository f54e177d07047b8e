"""What one reproduction runs: the parts, their commands and their outputs.

A plan is fixed by the dataset, the experiment size (`stage1_<dataset>_<size>`
and `stage2_<dataset>_<size>`), the protocol settings (`settings.py`), the
data / weights locations and the seeds. Its parts, in order:

1. ``pretrained``: the segmenter's starting checkpoint, converted from
   Google's TFLite DeepLab (a local copy under --weights_dir, or the
   official download) when the experiment starts from a converted preset;
2. ``stage1_gan``, ``stage1_wgan``: G and D trained with the GAN and the WGAN
   loss (once; every seed's SegGAN / SegWGAN uses them);
3. per seed k: ``stage2_seed<k>_deeplabv3``, ``..._seggan``, ``..._segwgan``:
   the same data, schedule, initial weights and seed; each part trains, then
   evaluates its final checkpoint image by image on the validation split.

Every part is one command (`python -m segwgan.reporting.worker ...`), so the
report can list exactly what ran.
"""
import dataclasses
import hashlib
import os
import pathlib
import sys
from typing import Dict, List, Optional

from segwgan.configs import models
from segwgan.modeling import pretrained
from segwgan.reporting import settings as settings_lib

VARIANTS = ("deeplabv3", "seggan", "segwgan")
STAGE1_LOSSES = {"seggan": "gan", "segwgan": "wgan"}
SIZES = ("cpu", "paper")
# Presets whose starting checkpoint is converted from an official TFLite file.
PRESET_TFLITE = {
    "tf_deeplab_mnv2_dm05_os8": "deeplabv3_mnv2_dm05_pascal_257_float",
    "tf_deeplab_mnv2_os16": "deeplabv3_mnv2_pascal_quant",
}
WORKER = "segwgan.reporting.worker"


class PlanMismatch(ValueError):
  """The output directory holds a reproduction made with other settings."""


@dataclasses.dataclass(frozen=True)
class Part:
  """One resumable unit of work.

  Attributes:
    name: e.g. 'stage2_seed0_segwgan'.
    title: what it does, for progress output.
    args: the worker's arguments (the command is `python -m WORKER args`).
  """
  name: str
  title: str
  args: tuple

  def command(self, python: str = sys.executable) -> List[str]:
    return [python, "-m", WORKER, *self.args]


@dataclasses.dataclass
class Plan:
  """A reproduction of one dataset; paths are absolute.

  Attributes:
    dataset, size: select the registered experiments.
    seeds: stage-2 seeds (stage 1 runs once, with `stage1_seed`).
    output_dir: where everything goes (see `Layout`).
    data_dir: the dataset's official layout ('' = official download).
    tfds_dir: where prepared data is kept ('' = the tools' default).
    weights_dir: local TFLite copies ('' = official download).
    sections: the merged protocol settings (`settings.load`).
    init_checkpoint: the stage-2 starting checkpoint after resolution.
    tflite: the `pretrained.TFLITE_FILES` entry converted into it, or ''.
  """
  dataset: str
  size: str
  seeds: List[int]
  output_dir: str
  data_dir: str = ""
  tfds_dir: str = ""
  weights_dir: str = ""
  sections: dict = dataclasses.field(default_factory=dict)
  init_checkpoint: str = ""
  tflite: str = ""
  stage1_seed: int = 0

  @property
  def stage1_experiment(self) -> str:
    return f"stage1_{self.dataset}_{self.size}"

  @property
  def stage2_experiment(self) -> str:
    return f"stage2_{self.dataset}_{self.size}"

  @property
  def layout(self) -> "Layout":
    return Layout(pathlib.Path(self.output_dir))

  @property
  def report_settings(self) -> settings_lib.ReportSettings:
    return settings_lib.report_settings(self.sections)

  def stage_yaml(self, stage: str) -> str:
    return settings_lib.dump(settings_lib.stage_override(self.sections, stage))

  def fingerprint(self) -> Dict[str, str]:
    """What parts already done depend on (seeds and report-only settings
    may change between invocations)."""
    report = self.report_settings
    return {"dataset": self.dataset, "size": self.size,
            "data_dir": self.data_dir, "tfds_dir": self.tfds_dir,
            "init_checkpoint": self.init_checkpoint, "tflite": self.tflite,
            "stage1_seed": str(self.stage1_seed),
            "stage1.yaml": _digest(self.stage_yaml("stage1")),
            "stage2.yaml": _digest(self.stage_yaml("stage2")),
            "eval_max_images": str(report.eval_max_images),
            "figure_images": str(report.figure_images)}

  def to_json(self) -> dict:
    return dict(dataclasses.asdict(self), fingerprint=self.fingerprint())

  @classmethod
  def from_json(cls, value: dict) -> "Plan":
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in value.items() if k in names})

  def check_compatible(self, previous: Optional[dict]) -> None:
    """PlanMismatch if `previous` (a plan.json) has another fingerprint."""
    if not previous:
      return
    old = previous.get("fingerprint", {})
    new = self.fingerprint()
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if changed:
      raise PlanMismatch(
          f"{self.output_dir} holds a reproduction made with other settings "
          f"({', '.join(changed)} differ); use another --output_dir, or the "
          "same flags and files as before (only --seeds and the report's "
          "bootstrap settings may change)")

  def _data_flags(self) -> List[str]:
    flags = []
    if self.data_dir:
      flags.append(f"--data_dir={self.data_dir}")
    if self.tfds_dir:
      flags.append(f"--tfds_dir={self.tfds_dir}")
    return flags

  def parts(self) -> List[Part]:
    layout = self.layout
    report = self.report_settings
    parts = []
    if self.tflite:
      preset = _preset_of(self.tflite)
      args = ["--job=convert", f"--experiment={self.stage2_experiment}",
              f"--tflite={self.tflite}",
              f"--model_dir={layout.pretrained(preset)}",
              f"--download_dir={layout.downloads}"]
      if self.weights_dir:
        args.append(f"--weights_dir={self.weights_dir}")
      parts.append(Part("pretrained", f"convert {self.tflite} -> {preset}",
                        tuple(args)))
    for loss in ("gan", "wgan"):
      args = ["--job=stage1", f"--experiment={self.stage1_experiment}",
              f"--gan_loss={loss}", f"--config_file={layout.stage_config(1)}",
              *self._data_flags(), f"--seed={self.stage1_seed}",
              f"--model_dir={layout.stage1(loss)}",
              f"--figure_dir={layout.figure_inputs}",
              f"--figure_images={report.figure_images}"]
      parts.append(Part(f"stage1_{loss}",
                        f"stage 1 ({loss}): train G and D, reconstruct "
                        "figure images", tuple(args)))
    for seed in self.seeds:
      for variant in VARIANTS:
        args = ["--job=stage2", f"--experiment={self.stage2_experiment}",
                f"--variant={variant}",
                f"--config_file={layout.stage_config(2)}",
                *self._data_flags(), f"--seed={seed}"]
        if variant in STAGE1_LOSSES:
          args.append(
              f"--gan_model_dir={layout.stage1(STAGE1_LOSSES[variant])}")
        if self.init_checkpoint:
          args.append(f"--init_checkpoint={self.init_checkpoint}")
        args += [f"--model_dir={layout.stage2(seed, variant)}",
                 f"--eval_dir={layout.evaluation(seed, variant)}",
                 f"--eval_max_images={report.eval_max_images}",
                 f"--figure_dir={layout.figure_inputs}",
                 f"--figure_images={report.figure_images}"]
        parts.append(Part(f"stage2_seed{seed}_{variant}",
                          f"stage 2 ({variant}, seed {seed}): train, then "
                          "evaluate on val", tuple(args)))
    return parts


@dataclasses.dataclass(frozen=True)
class Layout:
  """The output directory's files."""
  root: pathlib.Path

  @property
  def plan(self) -> pathlib.Path:
    return self.root / "plan.json"

  @property
  def invocations(self) -> pathlib.Path:
    return self.root / "invocations.jsonl"

  def stage_config(self, stage: int) -> pathlib.Path:
    return self.root / "configs" / f"stage{stage}.yaml"

  def marker(self, part: str) -> pathlib.Path:
    return self.root / "parts" / f"{part}.json"

  def log(self, part: str) -> pathlib.Path:
    return self.root / "logs" / f"{part}.log"

  def pretrained(self, preset: str) -> pathlib.Path:
    return self.root / "pretrained" / preset

  @property
  def downloads(self) -> pathlib.Path:
    return self.root / "pretrained" / "downloads"

  def stage1(self, loss: str) -> pathlib.Path:
    return self.root / "stage1" / loss

  def reconstructions(self, loss: str) -> pathlib.Path:
    return self.stage1(loss) / "reconstructions"

  def stage2(self, seed: int, variant: str) -> pathlib.Path:
    return self.root / "stage2" / f"seed{seed}" / variant

  def evaluation(self, seed: int, variant: str) -> pathlib.Path:
    return self.stage2(seed, variant) / "eval"

  @property
  def figure_inputs(self) -> pathlib.Path:
    return self.root / "figure_inputs"

  @property
  def report_dir(self) -> pathlib.Path:
    return self.root / "report"

  @property
  def report(self) -> pathlib.Path:
    return self.report_dir / "report.md"


def _digest(text: str) -> str:
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def _preset_of(tflite: str) -> str:
  return next(p for p, t in PRESET_TFLITE.items() if t == tflite)


def _absolute(path: Optional[str]) -> str:
  return os.path.abspath(os.path.expanduser(path)) if path else ""


def resolve_init(init_checkpoint: str, output_dir: str,
                 weights_dir: str = "") -> tuple:
  """(init_checkpoint, tflite name or '') for a stage-2 `init_checkpoint`.

  A preset's default converted checkpoint (e.g.
  'checkpoints/tf_deeplab_mnv2_dm05_os8') becomes the output directory's own
  conversion of the official TFLite file. A Model Garden checkpoint
  (gs://.../NAME/ckpt-N) is read from WEIGHTS_DIR/NAME/ckpt-N when that
  local copy (`pretrained.download_checkpoint`) exists, in place otherwise.
  Anything else is kept.
  """
  for preset, tflite in PRESET_TFLITE.items():
    if init_checkpoint == models.PRESETS[preset].init_checkpoint:
      layout = Layout(pathlib.Path(output_dir))
      return str(layout.pretrained(preset)), tflite
  if init_checkpoint and "://" in init_checkpoint and weights_dir:
    parts = init_checkpoint.rstrip("/").split("/")
    local = pathlib.Path(weights_dir, *parts[-2:])
    if pathlib.Path(f"{local}.index").exists():
      return str(local), ""
  if init_checkpoint and "://" not in init_checkpoint:
    return _absolute(init_checkpoint), ""
  return init_checkpoint, ""


def build(dataset: str, size: str, seeds: int, output_dir: str, *,
          sections: dict, stage2_init_checkpoint: str,
          data_dir: Optional[str] = None, tfds_dir: Optional[str] = None,
          weights_dir: Optional[str] = None) -> Plan:
  """The plan of a reproduction (paths made absolute).

  Args:
    stage2_init_checkpoint: `task.init_checkpoint` of the stage-2
      experiment after the protocol settings.
  """
  if size not in SIZES:
    raise ValueError(f"--experiment must be one of {list(SIZES)}, got "
                     f"{size!r}")
  if seeds < 1:
    raise ValueError(f"--seeds must be >= 1, got {seeds}")
  output_dir = _absolute(output_dir)
  init, tflite = resolve_init(stage2_init_checkpoint, output_dir,
                              _absolute(weights_dir))
  if tflite and tflite not in pretrained.TFLITE_FILES:
    raise ValueError(f"unknown TFLite file {tflite}")
  return Plan(dataset=dataset, size=size, seeds=list(range(seeds)),
              output_dir=output_dir, data_dir=_absolute(data_dir),
              tfds_dir=_absolute(tfds_dir), weights_dir=_absolute(weights_dir),
              sections=sections, init_checkpoint=init, tflite=tflite)
