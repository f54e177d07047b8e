"""Every protocol file in experiments/ builds both stages' experiment configs
and the report settings, and its overrides reach the built configs."""
import pathlib

import pytest

from segwgan.configs import experiments  # pylint: disable=unused-import
from segwgan.configs import overrides
from segwgan.reporting import settings

EXPERIMENTS = pathlib.Path(__file__).resolve().parents[1] / "experiments"
FILES = sorted(EXPERIMENTS.glob("*.yaml"))
DATASETS = ("cmp_facades", "stanford_background")


def dataset_of(path: pathlib.Path) -> str:
  return next(d for d in DATASETS if path.name.startswith(d))


def test_there_are_protocol_files():
  assert len(FILES) >= 4


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_protocol_file_builds(path):
  sections = settings.load([str(path)])
  assert set(sections) <= set(settings.SECTIONS)
  settings.report_settings(sections)
  for section in settings.TRAININGS:
    override = settings.stage_override(sections, section)
    stage = "stage1" if section == "stage1" else "stage2"
    params = overrides.build(f"{stage}_{dataset_of(path)}_cpu",
                             params_override=settings.dump(override))
    wanted = override.get("trainer", {}).get("train_steps")
    if wanted is not None:
      assert params.trainer.train_steps == wanted
    resize = (override.get("task", {}).get("train_data", {})
              .get("resize_long_side"))
    if resize is not None:
      assert params.task.train_data.resize_long_side == resize
    schedule = (override.get("trainer", {}).get("optimizer_config", {})
                .get("learning_rate", {}).get("type"))
    if schedule is not None:
      assert params.trainer.optimizer_config.learning_rate.type == schedule
