"""A one-line progress bar on stderr for per-image loops (evaluate, predict)."""
import sys
import time


class ProgressBar:
  """`[=====     ] 12/40 images, 0.31 s/image, ETA 00:00:09` on one line."""

  def __init__(self, total: int, what: str = "images", stream=None):
    self.total, self.what = total, what
    self.stream = stream or sys.stderr
    self.start = time.time()

  def update(self, done: int) -> None:
    elapsed = time.time() - self.start
    rate = elapsed / max(done, 1)
    if self.total > 0:
      filled = int(30 * done / self.total)
      bar = (f"[{'=' * filled}{' ' * (30 - filled)}] {done}/{self.total}")
      eta = time.strftime("%H:%M:%S", time.gmtime(rate * (self.total - done)))
      tail = f", ETA {eta}"
    else:
      bar, tail = f"{done}", ""
    self.stream.write(f"\r{bar} {self.what}, {rate:.2f} s/image{tail}")
    self.stream.flush()

  def close(self) -> None:
    self.stream.write("\n")
    self.stream.flush()
