"""CI's entry point fails, rather than skips, without the real data."""
import os
import pathlib
import subprocess

import pytest

import conftest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("missing", ["data", "weights"])
def test_ci_run_refuses_a_shared_dir_without_data_or_weights(tmp_path,
                                                             missing):
  (tmp_path / "data").mkdir()
  (tmp_path / "weights").mkdir()
  (tmp_path / missing).rmdir()
  result = subprocess.run(
      [str(REPO / ".ci" / "run")], capture_output=True, text=True,
      env=dict(os.environ, SEGWGAN_SHARED_DIR=str(tmp_path)), timeout=60)
  assert result.returncode == 1
  assert f"needs the real {missing} at {tmp_path}/{missing}" in result.stderr


def test_required_shared_files_fail_instead_of_skipping(tmp_path,
                                                        monkeypatch):
  monkeypatch.setattr(conftest, "REQUIRE_SHARED", True)
  with pytest.raises(pytest.fail.Exception, match="SEGWGAN_REQUIRE_SHARED"):
    conftest._require(tmp_path / "absent", "shared real data")  # pylint: disable=protected-access


def test_missing_shared_files_skip_for_users(tmp_path, monkeypatch):
  monkeypatch.setattr(conftest, "REQUIRE_SHARED", False)
  with pytest.raises(pytest.skip.Exception, match="SEGWGAN_SHARED_DIR"):
    conftest._require(tmp_path / "absent", "shared real data")  # pylint: disable=protected-access
