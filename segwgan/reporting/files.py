"""Atomic writes of bytes and JSON, and tolerant JSON reads."""
import json
import os
import pathlib
import tempfile
from typing import Any, Optional



def atomic_write_bytes(path, data: bytes) -> None:
  """Writes `data` to a temporary file beside `path`, then renames it."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
  except BaseException:
    pathlib.Path(tmp).unlink(missing_ok=True)
    raise


def write_text(path, text: str) -> None:
  """Writes `text` (UTF-8) atomically, readable by all (0644)."""
  atomic_write_bytes(path, text.encode())


def write_json(path, value: Any) -> None:
  write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def read_json(path) -> Optional[Any]:
  """The JSON at `path`, or None if it is missing or unreadable."""
  try:
    return json.loads(pathlib.Path(path).read_text())
  except (FileNotFoundError, ValueError):
    return None
