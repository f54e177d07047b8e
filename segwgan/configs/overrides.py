"""Experiment lookup and overrides, with errors that name the flag at fault.

Order, as in the Model Garden: registered experiment -> `presets` (what a
typed flag such as --gan_loss implies) -> each --config_file -> the typed
flags' own values -> --params_override.
"""
from typing import Iterable, Optional

import yaml
from official.core import config_definitions
from official.core import exp_factory
from official.modeling import hyperparams

from segwgan.configs import experiments


class ConfigError(ValueError):
  """A bad --experiment, --config_file or --params_override."""


def get_experiment(name: str) -> config_definitions.ExperimentConfig:
  """The registered experiment `name`; ConfigError lists segwgan's."""
  if name not in experiments.EXPERIMENTS:
    raise ConfigError(f"--experiment={name!r} is not a segwgan experiment; "
                      f"known: {', '.join(experiments.EXPERIMENTS)}")
  return exp_factory.get_exp_config(name)


def _override(params, override, flag: str):
  try:
    return hyperparams.override_params_dict(params, override, is_strict=True)
  except yaml.YAMLError as e:
    raise ConfigError(f"{flag}: not valid YAML/JSON: {e}") from None
  except (KeyError, AttributeError, ValueError, TypeError) as e:
    raise ConfigError(f"{flag}: {e}") from None
  except FileNotFoundError as e:
    raise ConfigError(f"{flag}: file not found: {e.filename}") from None


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
  try:
    params.validate()
  except (KeyError, ValueError) as e:
    raise ConfigError(f"invalid experiment config: {e}") from None
  params.lock()
  return params
