"""Atomic writes of bytes and JSON, and tolerant JSON reads."""
import json
import pathlib
from typing import Any, Optional

from segwgan import io_utils


def write_text(path, text: str) -> None:
  """Writes `text` (UTF-8) atomically, readable by all (0644)."""
  io_utils.atomic_write_text(path, text)


def write_json(path, value: Any) -> None:
  write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def read_json(path) -> Optional[Any]:
  """The JSON at `path`, or None if it is missing or unreadable."""
  try:
    return json.loads(pathlib.Path(path).read_text())
  except (FileNotFoundError, ValueError):
    return None
