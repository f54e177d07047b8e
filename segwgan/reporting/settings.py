"""The protocol's YAML: overrides for both stages and the report's settings.

A protocol file (``experiments/*.yaml``, `--protocol_file`
of `tools/reproduce.py`) and `--protocol_override` have up to five sections::

  common:   # applied to every training config (e.g. data, runtime)
    task: {train_data: {output_size: [256, 256]}}
  stage1:   # the stage-1 experiment (G and D), after `common`
    trainer: {train_steps: 100}
    task: {generator: {base_filters: 16}}
  ce:       # the cross-entropy DeepLabv3 every compared row starts from
    trainer: {train_steps: 300}
  stage2:   # the compared rows (DeepLabv3 continued, SegGAN, SegWGAN, ...)
    trainer: {train_steps: 200}
  report:   # how the runs are evaluated and reported (`ReportSettings`)
    figure_images: 4

Sections are merged key by key in the order given (files, then the
override). `common` + `stage1`, `common` + `ce` and `common` + `stage2` are
each written as one Model Garden override file that the tools read with
--config_file (`ce` and `stage2` both override the stage-2 experiment).
"""
import copy
import dataclasses
from typing import Iterable, Optional

import yaml

from segwgan import errors

SECTIONS = ("common", "stage1", "ce", "stage2", "report")
TRAININGS = ("stage1", "ce", "stage2")  # sections written as config files


class SettingsError(errors.UserError):
  """A protocol file or override that cannot be used."""


@dataclasses.dataclass(frozen=True)
class ReportSettings:
  """How the stage-2 runs are evaluated and reported.

  Attributes:
    eval_max_images: evaluate only the first N images of a split (0: all).
    figure_images: validation images shown in Figures 3 and 5 (the first by
      sorted id: a fixed choice, not picked by result).
    bootstrap_samples: resamples of the paired bootstrap.
    confidence: coverage of the bootstrap interval.
    bootstrap_seed: seed of the resampling.
    note: a remark printed at the top of the report (e.g. that a schedule
      is a short demonstration).
  """
  eval_max_images: int = 0
  figure_images: int = 4
  bootstrap_samples: int = 10000
  confidence: float = 0.95
  bootstrap_seed: int = 0
  note: str = ""


def deep_merge(base: dict, update: dict) -> dict:
  """`base` updated key by key with `update` (nested dicts merged)."""
  result = copy.deepcopy(base)
  for key, value in (update or {}).items():
    if isinstance(value, dict) and isinstance(result.get(key), dict):
      result[key] = deep_merge(result[key], value)
    else:
      result[key] = copy.deepcopy(value)
  return result


def _parse(text: str, origin: str) -> dict:
  try:
    value = yaml.safe_load(text)
  except yaml.YAMLError as e:
    raise SettingsError(f"{origin}: not valid YAML: {e}") from None
  if value is None:
    return {}
  if not isinstance(value, dict):
    raise SettingsError(f"{origin}: expected a mapping with sections "
                        f"{', '.join(SECTIONS)}")
  unknown = sorted(set(value) - set(SECTIONS))
  if unknown:
    raise SettingsError(f"{origin}: unknown section(s) {unknown}; a protocol "
                        f"file has only {', '.join(SECTIONS)} (e.g. 'stage2: "
                        "{trainer: {train_steps: 100}}')")
  for name, section in value.items():
    if section is not None and not isinstance(section, dict):
      raise SettingsError(f"{origin}: section {name!r} must be a mapping")
  return {k: v or {} for k, v in value.items()}


def load(protocol_files: Iterable[str] = (),
         protocol_override: Optional[str] = None) -> dict:
  """The merged sections of `protocol_files`, then `protocol_override`."""
  merged = {}
  for path in protocol_files or ():
    try:
      with open(path) as f:
        text = f.read()
    except OSError as e:
      raise SettingsError(f"--protocol_file={path}: {e.strerror}") from None
    merged = deep_merge(merged, _parse(text, f"--protocol_file={path}"))
  if protocol_override:
    merged = deep_merge(merged, _parse(protocol_override,
                                       "--protocol_override"))
  return merged


def stage_override(sections: dict, stage: str) -> dict:
  """The Model Garden override dict of `stage` (one of TRAININGS)."""
  return deep_merge(sections.get("common", {}), sections.get(stage, {}))


def report_settings(sections: dict) -> ReportSettings:
  values = sections.get("report", {})
  fields = {f.name: f.type for f in dataclasses.fields(ReportSettings)}
  unknown = sorted(set(values) - set(fields))
  if unknown:
    raise SettingsError(f"report: unknown setting(s) {unknown}; known: "
                        f"{', '.join(fields)}")
  try:
    settings = ReportSettings(**{
        k: fields[k](v) for k, v in values.items()})
  except (TypeError, ValueError) as e:
    raise SettingsError(f"report: {e}") from None
  if settings.figure_images < 0 or settings.eval_max_images < 0:
    raise SettingsError("report: figure_images and eval_max_images must be "
                        ">= 0")
  if settings.bootstrap_samples < 100:
    raise SettingsError("report: bootstrap_samples must be >= 100")
  if not 0.5 <= settings.confidence < 1.0:
    raise SettingsError("report: confidence must be in [0.5, 1)")
  return settings


def dump(override: dict) -> str:
  """YAML text of an override dict (stable key order)."""
  return yaml.safe_dump(override, sort_keys=True, default_flow_style=False)
