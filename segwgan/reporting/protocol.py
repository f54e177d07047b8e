"""Runs a plan's parts (tool commands) resumably, then writes the report.

Each part is one tool's process (`plan.Part.command`); the tools resume
their own training from their model_dir. What this module adds:

- One run at a time: a run holds an exclusive lock on OUTPUT/.lock, which it
  passes to the running part's process, so a second run is refused
  (`Busy`) while either lives (also a part left running by a killed run).
- Same plan: a rerun with other settings is refused (`plan.PlanMismatch`),
  except for more or fewer seeds and report-only settings; so is a part
  whose recorded command differs from its command now.
- A done-marker per part (`parts/<part>.json`: command, wall and CPU
  seconds, earlier attempts), written after its process exited cleanly; a
  rerun skips a part with a marker.
- An honest record of attempts that did not finish
  (`parts/<part>.attempts.json`): failed or interrupted, with wall and CPU
  time; or killed with this process (still marked running when the next
  run starts), with its wall time until its log was last written and its
  CPU time unknown.
"""
import datetime
import fcntl
import json
import os
import resource
import shlex
import signal
import subprocess
import sys
import threading
import time
from typing import Callable, List, Optional, Sequence

from segwgan import errors
from segwgan import io_utils
from segwgan.reporting import plan as plan_lib
from segwgan.reporting import report as report_lib

_LOCK_WAIT = 10.0  # seconds to wait for a dying earlier run's lock


class PartFailed(RuntimeError):
  """A part's process exited with an error; names its log."""


class Busy(errors.UserError):
  """Another run (or a part process it left) is using the output directory."""


def _now() -> str:
  return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _write_json(path, value) -> None:
  io_utils.atomic_write_text(path, json.dumps(value, indent=2,
                                              sort_keys=True) + "\n")


def _children_cpu() -> float:
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  return usage.ru_utime + usage.ru_stime


def run_part(part: plan_lib.Part, log_path, python: str, lock: int
             ) -> tuple:
  """Runs one part's process, its output appended to `log_path`.

  Returns:
    (wall seconds, CPU seconds of the process and its children).

  Raises:
    PartFailed (or the KeyboardInterrupt that stopped the process), with
    `.seconds` and `.cpu_seconds`.
  """
  command = part.command(python)
  log_path.parent.mkdir(parents=True, exist_ok=True)
  start, cpu = time.time(), _children_cpu()
  with open(log_path, "a") as log:
    log.write(f"\n# {_now()}\n$ {shlex.join(command)}\n")
    log.flush()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               pass_fds=(lock,))
    try:
      code = process.wait()
    except BaseException as e:
      process.terminate()
      try:
        process.wait(timeout=30)
      except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
      e.seconds, e.cpu_seconds = time.time() - start, _children_cpu() - cpu
      raise
  seconds, cpu_seconds = time.time() - start, _children_cpu() - cpu
  if code:
    with open(log_path) as f:
      tail = "".join(f.readlines()[-15:])
    error = PartFailed(f"part {part.name} failed (exit code {code}); the end "
                       f"of its log {log_path}:\n{tail}\nrerunning the same "
                       "command resumes it")
    error.seconds, error.cpu_seconds = seconds, cpu_seconds
    raise error
  return seconds, cpu_seconds


def _earlier_attempts(layout, part: str) -> List[dict]:
  """The part's unfinished attempts; one still marked running was killed."""
  attempts = plan_lib.read_json(layout.attempts(part)) or []
  for attempt in attempts:
    if attempt["outcome"] == "running":
      started = datetime.datetime.fromisoformat(attempt["started"]).timestamp()
      try:
        seen = layout.log(part).stat().st_mtime
      except FileNotFoundError:
        seen = started
      attempt.update(outcome="killed", cpu_seconds=None,
                     seconds=max(0.0, seen - started))
  return attempts


def _lock(layout) -> int:
  """The output directory's lock (a file descriptor); `Busy` if taken."""
  layout.root.mkdir(parents=True, exist_ok=True)
  fd = os.open(layout.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
  deadline = time.time() + _LOCK_WAIT
  while True:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      return fd
    except BlockingIOError:
      if time.time() > deadline:
        os.close(fd)
        raise Busy(f"{layout.root} is in use by another tools/reproduce.py "
                   "run, or by a part process one left running; wait for "
                   "it to end or stop it") from None
      time.sleep(0.2)


def _stop(signum, frame):
  del frame
  raise KeyboardInterrupt(f"signal {signum}")


def run(plan: plan_lib.Plan, argv: Sequence[str],
        say: Callable[[str], None] = print,
        only: Optional[List[str]] = None,
        python: str = sys.executable) -> str:
  """Runs the plan's unfinished parts and (re)writes the report.

  Args:
    plan: what to run.
    argv: the command line that asked for it (shown in the report).
    say: where progress lines go.
    only: run only these parts and write no report (tests).
    python: the interpreter of the parts' processes.

  Returns:
    The report's path ('' with `only`).
  """
  handlers = {}
  if threading.current_thread() is threading.main_thread():
    for signum in (signal.SIGTERM, signal.SIGHUP):
      handlers[signum] = signal.signal(signum, _stop)
  try:
    lock = _lock(plan.layout)
    try:
      return _run_locked(plan, argv, say, only, python, lock)
    finally:
      os.close(lock)
  finally:
    for signum, handler in handlers.items():
      signal.signal(signum, handler)


def _check_markers(layout, parts, python) -> None:
  """PlanMismatch if a finished part was run with another command."""
  for part in parts:
    marker = plan_lib.read_json(layout.marker(part.name))
    if marker is not None and marker["args"] != [part.tool, *part.args]:
      raise plan_lib.PlanMismatch(
          f"part {part.name} in {layout.root} was done with another "
          f"command:\n  {shlex.join(marker['args'])}\nnow:\n  "
          f"{shlex.join(part.command(python)[1:])}\nuse another --output_dir")


def _run_locked(plan, argv, say, only, python, lock) -> str:
  layout = plan.layout
  plan.check_compatible(plan_lib.read_json(layout.plan))
  names = [p.name for p in plan.parts()]
  _check_markers(layout, plan.parts(), python)
  for section in plan_lib.settings_lib.TRAININGS:
    io_utils.atomic_write_text(layout.config(section),
                               plan.config_yaml(section))
  _write_json(layout.plan, plan.to_json())
  start = time.time()
  say(f"reproduction of {plan.dataset} ({plan.size}), seeds {plan.seeds}: "
      f"{len(names)} parts in {layout.root}")
  for index, name in enumerate(names, 1):
    if only is not None and name not in only:
      continue
    # Asked again: a part's command may use files of the parts before it.
    part = next(p for p in plan.parts() if p.name == name)
    prefix = f"[{index}/{len(names)}] {name}"
    marker = plan_lib.read_json(layout.marker(name))
    if marker is not None:
      say(f"{prefix}: done before ({report_lib.duration(marker['seconds'])})")
      continue
    say(f"{prefix}: {part.title} (log: {layout.log(name)})")
    attempts = _earlier_attempts(layout, name)
    started = _now()
    _write_json(layout.attempts(name),
                attempts + [{"started": started, "outcome": "running"}])
    try:
      seconds, cpu_seconds = run_part(part, layout.log(name), python, lock)
    except BaseException as e:
      _write_json(layout.attempts(name), attempts + [{
          "started": started, "outcome": type(e).__name__,
          "seconds": getattr(e, "seconds", None),
          "cpu_seconds": getattr(e, "cpu_seconds", None)}])
      raise
    _write_json(layout.marker(name), {
        "args": [part.tool, *part.args], "started": started,
        "seconds": seconds, "cpu_seconds": cpu_seconds,
        "earlier_attempts": attempts})
    layout.attempts(name).unlink()
    say(f"{prefix}: done in {report_lib.duration(seconds)}, CPU "
        f"{report_lib.duration(cpu_seconds)} (elapsed "
        f"{report_lib.duration(time.time() - start)})")
  if only is not None:
    return ""
  say("report: bootstrap, tables and figures")
  path = report_lib.write(plan, argv)
  for line in report_lib.diagnostic_lines(plan):
    say(line)
  say(f"done in {report_lib.duration(time.time() - start)}; report: {path}")
  return str(path)
