"""Atomic writes never leave half an artifact in place of a good one."""
import pytest

from segwgan import io_utils


def test_atomic_write_text_replaces_whole_file(tmp_path):
  path = tmp_path / "sub" / "result.json"
  io_utils.atomic_write_text(path, "first")
  io_utils.atomic_write_text(path, "second")
  assert path.read_text() == "second"
  assert [p.name for p in path.parent.iterdir()] == ["result.json"]


def test_failed_directory_write_keeps_the_old_one(tmp_path):
  target = tmp_path / "export"
  with io_utils.atomic_directory(target) as tmp:
    (tmp / "model.bin").write_bytes(b"good")
  with pytest.raises(RuntimeError):
    with io_utils.atomic_directory(target) as tmp:
      (tmp / "model.bin").write_bytes(b"half")
      raise RuntimeError("disk full")
  assert (target / "model.bin").read_bytes() == b"good"
  assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_successful_directory_write_replaces_the_old_one(tmp_path):
  target = tmp_path / "export"
  with io_utils.atomic_directory(target) as tmp:
    (tmp / "a").write_text("1")
  with io_utils.atomic_directory(target) as tmp:
    (tmp / "b").write_text("2")
  assert sorted(p.name for p in target.iterdir()) == ["b"]
  assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_a_checked_output_dir_can_be_left_uncreated(tmp_path):
  target = tmp_path / "a" / "b" / "out"
  io_utils.check_writable_dir(target, "--output_dir", create=False)
  assert list(tmp_path.iterdir()) == []
  io_utils.check_writable_dir(target, "--output_dir")
  assert target.is_dir() and list(target.iterdir()) == []
