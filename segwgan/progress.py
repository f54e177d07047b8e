"""Progress of per-image loops (evaluate, predict) on stderr.

On a terminal, one line redrawn in place:
`[=====     ] 12/40 images, 0.31 s/image, ETA 00:00:09`. Into a file or a
pipe, whole lines instead, about every tenth of the work (and the last),
so a log holds a few readable lines rather than hundreds of redraws.
"""
import sys
import time


class ProgressBar:
  """Reports `done` of `total` items (`update`), then `close`."""

  def __init__(self, total: int, what: str = "images", stream=None):
    self.total, self.what = total, what
    self.stream = stream or sys.stderr
    self.start = time.time()
    isatty = getattr(self.stream, "isatty", None)
    self.redraw = bool(isatty and isatty())
    self._reported = 0

  def _text(self, done: int) -> str:
    rate = (time.time() - self.start) / max(done, 1)
    if self.total > 0:
      filled = int(30 * done / self.total)
      count = f"{done}/{self.total}"
      if self.redraw:
        count = f"[{'=' * filled}{' ' * (30 - filled)}] {count}"
      eta = time.strftime("%H:%M:%S", time.gmtime(rate * (self.total - done)))
      tail = f", ETA {eta}"
    else:
      count, tail = f"{done}", ""
    return f"{count} {self.what}, {rate:.2f} s/image{tail}"

  def update(self, done: int) -> None:
    if self.redraw:
      self.stream.write(f"\r{self._text(done)}")
    elif (done == self.total or
          done - self._reported >= max(1, self.total // 10)):
      self.stream.write(self._text(done) + "\n")
      self._reported = done
    else:
      return
    self.stream.flush()

  def close(self) -> None:
    if self.redraw:
      self.stream.write("\n")
      self.stream.flush()
