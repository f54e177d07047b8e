"""Runs a reproduction plan part by part, resumably, then writes the report.

Each part (`plan.Part`) runs as its own process, ``python -m
segwgan.reporting.worker ...``, rather than in this one with
`tf_keras.backend.clear_session()`, because a part changes process-wide state
that clear_session does not reset: the global mixed-precision policy, the
Python / NumPy / TF seeds and op determinism, the tf.distribute strategy (a
MultiWorkerMirroredStrategy can be created only once per process), and
memory that TF keeps after a model is gone. A separate process also makes a
part's command the exact record of what ran, and a crash or a kill loses
only that part. The cost is a few seconds of imports per part.

Stopping: Ctrl-C, SIGTERM or SIGHUP stops the running part's process (its
training resumes from its last checkpoint next time). If this process is
killed outright (SIGKILL), the part's process gets SIGTERM (Linux), and the
records below, written before a part starts and refreshed while it runs,
let the next run report the killed attempt and invocation.

One run at a time: a run holds an exclusive lock on the output directory
(`.lock`), shared with its parts' processes, so a second run on the same
directory is refused while either lives (`Busy`).

Resuming: a part that finished leaves a marker (`parts/<name>.json` with its
command and wall time), written only after its process exited cleanly; a
rerun skips it. A part that did not finish is run again with the same
command, and training resumes from its last checkpoint. A rerun with other
settings than the output directory was made with is refused
(`plan.PlanMismatch`), except for more or fewer seeds.

This process only plans, starts processes and renders the report; it never
builds a model.
"""
import ctypes
import datetime
import fcntl
import json
import os
import re
import resource
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Callable, List, Optional, Sequence, Tuple

from segwgan.reporting import environment
from segwgan.reporting import files
from segwgan.reporting import plan as plan_lib
from segwgan.reporting import report as report_lib

_STEP_LINE = re.compile(r"\] (step \d+/\d+.*)$")
_RELAY_EVERY = 30.0  # seconds between relayed training-progress lines


_HEARTBEAT_EVERY = 30.0  # seconds between refreshes of a running attempt
_LOCK_WAIT = 10.0  # seconds to wait for a dying earlier run's lock


class PartFailed(RuntimeError):
  """A part's process exited with an error; names its log."""


class Busy(RuntimeError):
  """Another run (or a part process it left) is using the output directory."""


def duration(seconds: float) -> str:
  """e.g. 1h02m03s, 4m05s, 12.3s."""
  if seconds < 60:
    return f"{seconds:.1f}s"
  minutes, secs = divmod(int(round(seconds)), 60)
  hours, minutes = divmod(minutes, 60)
  return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else (
      f"{minutes}m{secs:02d}s")


def _now() -> str:
  return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _write_if_changed(path, text: str) -> None:
  try:
    if path.read_text() == text:
      return
  except FileNotFoundError:
    pass
  files.write_text(path, text)


def _relay(line: str, state: dict, say: Callable[[str], None]) -> None:
  """Shows the worker's own lines, errors, and throttled training steps."""
  line = line.rstrip("\n")
  if line.startswith("| "):
    say(f"    {line[2:]}")
  elif line.startswith("error:"):
    say(f"    {line}")
  else:
    match = _STEP_LINE.search(line)
    if match and (time.time() - state.get("last", 0.0) >= _RELAY_EVERY or
                  "(100%)" in line):
      state["last"] = time.time()
      say(f"    {match.group(1)}")


def _children_cpu() -> float:
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  return usage.ru_utime + usage.ru_stime


def _die_with_parent() -> None:
  """In the part's process (Linux): SIGTERM when the run's process dies."""
  if sys.platform.startswith("linux"):
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PDEATHSIG


def run_part(part: plan_lib.Part, log_path, say: Callable[[str], None],
             python: str = sys.executable,
             heartbeat: Callable[[], None] = lambda: None,
             keep_fds: Sequence[int] = ()) -> Tuple[float, float]:
  """Runs one part's process, logging all its output.

  `heartbeat` is called every `_HEARTBEAT_EVERY` seconds of output while the
  process runs; `keep_fds` are passed to it (the output directory's lock).

  Returns:
    (wall seconds, CPU seconds of the process and its children).

  Raises:
    PartFailed: the process failed; `.seconds` and `.cpu_seconds` say how
      long it ran. A KeyboardInterrupt stops the process and is re-raised
      with the same two attributes.
  """
  command = part.command(python)
  log_path.parent.mkdir(parents=True, exist_ok=True)
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  start, cpu = time.time(), _children_cpu()
  state, beat = {}, start
  # Line-buffered: readable while the part runs.
  with open(log_path, "a", buffering=1) as log:
    log.write(f"\n# {_now()}\n$ {shlex.join(command)}\n")
    process = subprocess.Popen(command, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env,
                               pass_fds=tuple(keep_fds),
                               preexec_fn=_die_with_parent)
    try:
      for line in process.stdout:
        log.write(line)
        _relay(line, state, say)
        if time.time() - beat >= _HEARTBEAT_EVERY:
          beat = time.time()
          heartbeat()
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
      tail = f.readlines()[-15:]
    say("    " + "    ".join(tail).rstrip())
    error = PartFailed(f"part {part.name} failed (exit code {code}); its log "
                       f"is {log_path}; rerunning the same command resumes "
                       "it")
    error.seconds, error.cpu_seconds = seconds, cpu_seconds
    raise error
  return seconds, cpu_seconds


def _attempts_path(layout, part: str):
  return layout.marker(part).with_suffix(".attempts.json")


def _earlier_attempts(layout, part: str) -> List[dict]:
  """The part's unfinished attempts; one still marked running was killed:
  its wall time is taken until it was last seen running (to within
  `_HEARTBEAT_EVERY`), its CPU time is not known."""
  attempts = files.read_json(_attempts_path(layout, part)) or []
  for attempt in attempts:
    if attempt.get("outcome") == "running":
      started, seen = (datetime.datetime.fromisoformat(attempt[key])
                       for key in ("started", "last_seen"))
      attempt.update(outcome="killed", cpu_seconds=None,
                     seconds=(seen - started).total_seconds())
  return attempts


def _lock(layout) -> int:
  """The output directory's lock (a file descriptor); `Busy` if taken."""
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


def _save_invocation(layout, record: dict) -> None:
  """Writes `record` into invocations.jsonl, replacing its earlier state;
  an earlier invocation left `running` was killed."""
  try:
    lines = layout.invocations.read_text().splitlines()
  except FileNotFoundError:
    lines = []
  records = [json.loads(line) for line in lines if line.strip()]
  records = [r for r in records if r.get("id") != record["id"]]
  for old in records:
    if old.get("outcome") == "running":
      old["outcome"] = "killed"
  files.write_text(layout.invocations, "".join(
      json.dumps(r, sort_keys=True) + "\n" for r in records + [record]))


class Stopped(KeyboardInterrupt):
  """SIGTERM or SIGHUP: handled like Ctrl-C (the running part is stopped)."""


def _stop(signum, frame):
  del frame
  raise Stopped(f"signal {signum}")


def run(plan: plan_lib.Plan, argv: Sequence[str],
        say: Callable[[str], None] = print,
        only: Optional[List[str]] = None,
        python: str = sys.executable) -> str:
  """Runs the plan's unfinished parts and (re)writes the report.

  Args:
    plan: what to run.
    argv: the command line that asked for it (recorded in the report).
    say: where progress lines go.
    only: run only these parts (tests); the report needs all of them.
    python: the interpreter of the parts' processes.

  Returns:
    The report's path.
  """
  handlers = {}
  if threading.current_thread() is threading.main_thread():
    for signum in (signal.SIGTERM, signal.SIGHUP):
      handlers[signum] = signal.signal(signum, _stop)
  try:
    return _run(plan, argv, say, only, python)
  finally:
    for signum, handler in handlers.items():
      signal.signal(signum, handler)


def _attempt(layout, part, say, python, lock):
  """Runs one attempt of `part`, recorded as running (refreshed while it
  runs) until it ends; (seconds, cpu_seconds, started, earlier attempts)."""
  path = _attempts_path(layout, part.name)
  attempts = _earlier_attempts(layout, part.name)
  started = _now()

  def heartbeat():
    files.write_json(path, attempts + [{
        "started": started, "last_seen": _now(), "outcome": "running"}])

  heartbeat()
  try:
    seconds, cpu_seconds = run_part(part, layout.log(part.name), say, python,
                                    heartbeat=heartbeat, keep_fds=(lock,))
  except BaseException as e:
    files.write_json(path, attempts + [{
        "started": started, "outcome": type(e).__name__,
        "seconds": getattr(e, "seconds", None),
        "cpu_seconds": getattr(e, "cpu_seconds", None)}])
    raise
  return seconds, cpu_seconds, started, attempts


def _run(plan, argv, say, only, python) -> str:
  layout = plan.layout
  layout.root.mkdir(parents=True, exist_ok=True)
  lock = _lock(layout)
  try:
    return _run_locked(plan, argv, say, only, python, lock)
  finally:
    os.close(lock)


def _check_markers(layout, parts) -> None:
  """`PlanMismatch` if a finished part was run with another command."""
  for part in parts:
    marker = files.read_json(layout.marker(part.name))
    if marker is not None and marker.get("args") != list(part.args):
      raise plan_lib.PlanMismatch(
          f"part {part.name} in {layout.root} was done with another "
          f"command:\n  {shlex.join(marker.get('args', []))}\nnow:\n  "
          f"{shlex.join(part.args)}\nuse another --output_dir")


def _run_locked(plan, argv, say, only, python, lock) -> str:
  layout = plan.layout
  plan.check_compatible(files.read_json(layout.plan))
  parts = plan.parts()
  _check_markers(layout, parts)
  for stage in (1, 2):
    _write_if_changed(layout.stage_config(stage),
                      plan.stage_yaml(f"stage{stage}"))
  files.write_json(layout.plan, plan.to_json())
  start = time.time()
  record = {"command": list(argv), "cwd": os.getcwd(), "started": _now(),
            "id": uuid.uuid4().hex,
            "commit": environment.git_commit(report_lib.REPO),
            "ran": [], "skipped": [], "seconds": 0.0, "outcome": "running"}
  _save_invocation(layout, record)
  say(f"reproduction of {plan.dataset} ({plan.size}), seeds "
      f"{plan.seeds}: {len(parts)} parts in {layout.root}")
  current = ""
  try:
    for index, part in enumerate(parts, 1):
      if only is not None and part.name not in only:
        continue
      prefix = f"[{index}/{len(parts)}] {part.name}"
      marker = files.read_json(layout.marker(part.name))
      if marker is not None:
        say(f"{prefix}: done before ({duration(marker['seconds'])}), "
            "skipped")
        record["skipped"].append(part.name)
        continue
      current = part.name
      say(f"{prefix}: {part.title} (log: {layout.log(part.name)})")
      record.update(seconds=time.time() - start)
      _save_invocation(layout, record)
      seconds, cpu_seconds, started, attempts = _attempt(
          layout, part, say, python, lock)
      files.write_json(layout.marker(part.name), {
          "name": part.name, "args": list(part.args),
          "command": part.command(python), "started": started,
          "finished": _now(),
          "seconds": seconds, "cpu_seconds": cpu_seconds,
          "earlier_attempts": attempts})
      _attempts_path(layout, part.name).unlink(missing_ok=True)
      current = ""
      record["ran"].append(part.name)
      record.update(finished=_now(), seconds=time.time() - start)
      _save_invocation(layout, record)
      say(f"{prefix}: done in {duration(seconds)}, CPU "
          f"{duration(cpu_seconds)} (elapsed {duration(time.time() - start)})")
  except BaseException as e:
    record.update(finished=_now(), seconds=time.time() - start,
                  outcome=f"{current + ': ' if current else ''}"
                  f"{type(e).__name__}")
    _save_invocation(layout, record)
    raise
  record.update(finished=_now(), seconds=time.time() - start,
                outcome="completed")
  _save_invocation(layout, record)
  if only is not None:
    return ""
  say("report: bootstrap, tables and figures")
  report_path = str(report_lib.write(plan))
  say(f"done in {duration(time.time() - start)}; report: {report_path}")
  return report_path
