"""Progress output: redrawn on a terminal, whole lines into a log file."""
import io

from segwgan import progress


class Terminal(io.StringIO):

  def isatty(self):
    return True


def test_a_log_file_gets_about_ten_whole_lines():
  log = io.StringIO()
  bar = progress.ProgressBar(228, stream=log)
  for done in range(1, 229):
    bar.update(done)
  bar.close()
  text = log.getvalue()
  assert "\r" not in text
  lines = text.splitlines()
  assert 10 <= len(lines) <= 11
  assert lines[-1].startswith("228/228 images")


def test_a_terminal_gets_one_redrawn_line():
  terminal = Terminal()
  bar = progress.ProgressBar(3, stream=terminal)
  for done in range(1, 4):
    bar.update(done)
  bar.close()
  text = terminal.getvalue()
  assert text.count("\r") == 3 and text.endswith(", ETA 00:00:00\n")
  assert "[" + "=" * 30 + "]" in text
