"""Experiment lookup and overrides, with errors that name the flag at fault.

Order, as in the Model Garden: registered experiment -> `presets` (what a
typed flag such as --gan_loss implies) -> each --config_file -> the typed
flags' own values -> --params_override.
"""
import os
from typing import Iterable, Optional

import yaml
from official.core import config_definitions
from official.core import exp_factory
from official.modeling import hyperparams

from segwgan import errors
from segwgan.configs import experiments


class ConfigError(errors.UserError):
  """A bad --experiment, --config_file or --params_override."""


def get_experiment(name: str) -> config_definitions.ExperimentConfig:
  """The registered experiment `name`; ConfigError lists segwgan's."""
  if name not in experiments.EXPERIMENTS:
    raise ConfigError(f"--experiment={name!r} is not a segwgan experiment; "
                      f"known: {', '.join(experiments.EXPERIMENTS)}")
  return exp_factory.get_exp_config(name)


def _mapping(override, flag: str) -> dict:
  """`override` (a dict, YAML/JSON text or a YAML file) as a dict."""
  if isinstance(override, dict):
    return override
  text = override
  if os.path.isfile(override):
    with open(override) as f:
      text = f.read()
  elif flag.startswith("--config_file"):
    raise ConfigError(f"{flag}: file not found")
  try:
    value = yaml.safe_load(text)
  except yaml.YAMLError as e:
    where = getattr(e, "problem_mark", None)
    raise ConfigError(
        f"{flag}: not valid YAML/JSON ({getattr(e, 'problem', None) or e}"
        + (f" at line {where.line + 1}, column {where.column + 1}"
           if where else "") + ")") from None
  if not isinstance(value, dict):
    raise ConfigError(f"{flag}: expected a YAML mapping such as "
                      f"'trainer: {{train_steps: 100}}' or a YAML file, got "
                      f"{override!r}")
  return value


def _override(params, override, flag: str):
  try:
    return hyperparams.override_params_dict(params, _mapping(override, flag),
                                            is_strict=True)
  except (KeyError, AttributeError, ValueError, TypeError) as e:
    if isinstance(e, ConfigError):
      raise
    raise ConfigError(f"{flag}: {e}") from None


def _check_types(default, value, name: str = "") -> None:
  """Refuses a value where the registered default is a number or a bool
  and the value is not (e.g. train_steps: six), naming the key."""
  if isinstance(default, dict) and isinstance(value, dict):
    for key, item in value.items():
      if key in default:
        _check_types(default[key], item, f"{name}.{key}" if name else key)
    return
  if default is None or value is None:
    return
  if isinstance(default, bool):
    kinds, what = (bool,), "true or false"
  elif isinstance(default, int):
    kinds, what = (int,), "an integer"
  elif isinstance(default, float):
    kinds, what = (int, float), "a number"
  elif isinstance(default, (list, tuple)) and default and isinstance(
      default[0], (int, float)) and isinstance(value, (list, tuple)):
    for item in value:
      _check_types(default[0], item, f"{name}[]")
    return
  else:
    return
  if isinstance(value, bool) and bool not in kinds or not isinstance(
      value, kinds):
    raise ConfigError(f"{name} must be {what}, got {value!r}")


def build(experiment: str, *, presets: Optional[dict] = None,
          config_files: Iterable[str] = (), flag_values: Optional[dict] = None,
          params_override: Optional[str] = None
          ) -> config_definitions.ExperimentConfig:
  """The final, validated and locked experiment config."""
  params = get_experiment(experiment)
  if presets:
    params = _override(params, presets, "preset")
  for path in config_files or ():
    params = _override(params, path, f"--config_file={path}")
  if flag_values:
    params = _override(params, flag_values, "flags")
  if params_override:
    params = _override(params, params_override, "--params_override")
  _check_types(get_experiment(experiment).as_dict(), params.as_dict())
  try:
    params.validate()
  except (KeyError, ValueError) as e:
    raise ConfigError(f"invalid experiment config: {e}") from None
  params.lock()
  return params
