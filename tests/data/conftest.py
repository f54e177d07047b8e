"""Fixtures of the dataset tests: one TFDS dir for the session."""
import pytest


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory):
  """Prepared data shared by the session (keyed by source fingerprint)."""
  return str(tmp_path_factory.mktemp("tfds"))
