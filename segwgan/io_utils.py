"""Atomic file and directory writes: a crash never leaves half an artifact."""
import contextlib
import io
import os
import pathlib
import shutil
import tempfile


def atomic_write_bytes(path, data: bytes) -> None:
  """Writes `data` to a temporary file beside `path`, then renames it (the
  file is readable by all, 0644, like any other artifact)."""
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


def atomic_write_text(path, text: str) -> None:
  """Writes `text` (UTF-8) atomically, as `atomic_write_bytes`."""
  atomic_write_bytes(path, text.encode())


def png_bytes(image, **options) -> bytes:
  """The PNG encoding of a PIL image (`options`: PIL's, e.g. optimize)."""
  buffer = io.BytesIO()
  image.save(buffer, format="PNG", **options)
  return buffer.getvalue()


@contextlib.contextmanager
def atomic_directory(path):
  """Yields a temporary directory that replaces `path` only on success.

  The previous `path` (if any) stays in place until the new one is complete;
  on failure the temporary directory is removed and `path` is untouched.
  """
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
  tmp.chmod(0o755)  # mkdtemp makes it private; an artifact is not.
  try:
    yield tmp
    old = None
    if path.exists():
      old = path.with_name(f".{path.name}.old")
      shutil.rmtree(old, ignore_errors=True)
      os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
      shutil.rmtree(old, ignore_errors=True)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise


def check_writable_dir(path, flag: str, create: bool = True) -> None:
  """Raises PermissionError naming `flag` if `path` cannot be written.

  Checked before any work so a long job never fails at its last write. The
  directory is created if missing (parents too); with `create=False` the
  directories this made are removed again (for a tool whose writers create
  them, so that a run refused later leaves nothing behind).
  """
  path = pathlib.Path(path)
  missing = [p for p in (path, *path.parents) if not p.exists()]
  try:
    path.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".write-test.", dir=path)
    os.close(fd)
    os.unlink(tmp)
  except OSError as e:
    raise PermissionError(f"{flag}={path} is not a writable directory: "
                          f"{e.strerror or e}") from None
  finally:
    for made in missing if not create else ():
      try:
        made.rmdir()
      except OSError:
        break
