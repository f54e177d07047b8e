"""Shared fixtures: the real data and weights in ../shared (skipped if absent)."""
import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("SEGWGAN_SHARED_DIR", REPO.parent / "shared"))


def _require(path: pathlib.Path, what: str) -> pathlib.Path:
  if not path.exists():
    pytest.skip(f"{what} not found at {path} (set SEGWGAN_SHARED_DIR to the "
                "folder holding data/ and weights/)")
  return path


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
  """../shared/data: real files of the five datasets in official layouts."""
  return _require(SHARED / "data", "shared real data")


@pytest.fixture(scope="session")
def shared_weights() -> pathlib.Path:
  """../shared/weights: Google-trained TFLite DeepLab / MobileNetV2 models."""
  return _require(SHARED / "weights", "shared pretrained weights")
