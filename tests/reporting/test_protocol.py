"""Running parts: relayed progress, failures, interrupted attempts, skips.

The parts' interpreter is replaced by a small script, so these tests run no
training (tests/tools/test_reproduce.py runs the real thing).
"""
import json
import os
import signal
import stat
import subprocess
import sys

import pytest

from segwgan.reporting import environment
from segwgan.reporting import files
from segwgan.reporting import plan as plan_lib
from segwgan.reporting import protocol
from segwgan.reporting import report
from segwgan.reporting import settings

FAKE = """#!/bin/sh
echo "I1125 10:00:00.000000 1 callbacks.py:59] step 1/2 (50%) loss=1 | ETA"
echo "noise that is only logged"
echo "| a worker message"
echo "I1125 10:00:01.000000 1 callbacks.py:59] step 2/2 (100%) loss=1 | ETA"
if [ -n "$FAKE_FAIL" ]; then echo "error: it broke" >&2; exit 3; fi
exit 0
"""


@pytest.fixture
def fake_python(tmp_path):
  path = tmp_path / "python"
  path.write_text(FAKE)
  path.chmod(path.stat().st_mode | stat.S_IEXEC)
  return str(path)


def make_plan(tmp_path):
  return plan_lib.build("cmp_facades", "cpu", 1, str(tmp_path / "out"),
                        sections=settings.load(()), stage2_init_checkpoint="",
                        data_dir=str(tmp_path / "data"))


def test_run_part_relays_progress_and_logs_everything(tmp_path, fake_python):
  lines = []
  part = plan_lib.Part("p", "a part", ("--job=stage1",))
  seconds, cpu = protocol.run_part(part, tmp_path / "p.log", lines.append,
                                   fake_python)
  assert seconds > 0 and cpu >= 0
  assert lines == ["    step 1/2 (50%) loss=1 | ETA", "    a worker message",
                   "    step 2/2 (100%) loss=1 | ETA"]
  log = (tmp_path / "p.log").read_text()
  assert "noise that is only logged" in log
  assert "$ " + fake_python + " -m segwgan.reporting.worker --job=stage1" in log


def test_a_failed_part_names_its_log(tmp_path, fake_python, monkeypatch):
  monkeypatch.setenv("FAKE_FAIL", "1")
  lines = []
  part = plan_lib.Part("p", "a part", ())
  with pytest.raises(protocol.PartFailed, match="exit code 3.*p.log") as e:
    protocol.run_part(part, tmp_path / "p.log", lines.append, fake_python)
  assert e.value.seconds > 0
  assert any("error: it broke" in line for line in lines)


def test_markers_skip_and_attempts_are_counted(tmp_path, fake_python,
                                                monkeypatch):
  plan = make_plan(tmp_path)
  layout = plan.layout
  quiet = lambda _: None  # pylint: disable=unnecessary-lambda-assignment
  monkeypatch.setenv("FAKE_FAIL", "1")
  with pytest.raises(protocol.PartFailed):
    protocol.run(plan, ["reproduce"], say=quiet, only=["stage1_gan"],
                 python=fake_python)
  assert not layout.marker("stage1_gan").exists()
  record = json.loads(layout.invocations.read_text().splitlines()[-1])
  assert record["outcome"] == "stage1_gan: PartFailed"
  assert record["commit"] == environment.git_commit(report.REPO)

  monkeypatch.delenv("FAKE_FAIL")
  protocol.run(plan, ["reproduce"], say=quiet, only=["stage1_gan"],
               python=fake_python)
  done = files.read_json(layout.marker("stage1_gan"))
  assert done["args"] == list(plan.parts()[0].args)
  assert [a["outcome"] for a in done["earlier_attempts"]] == ["PartFailed"]
  assert done["earlier_attempts"][0]["seconds"] > 0

  said = []
  protocol.run(plan, ["reproduce"], say=said.append, only=["stage1_gan"],
               python=fake_python)
  assert any("stage1_gan: done before" in line for line in said)
  outcomes = [json.loads(line)["outcome"]
              for line in layout.invocations.read_text().splitlines()]
  assert outcomes == ["stage1_gan: PartFailed", "completed", "completed"]


def test_a_changed_part_command_is_refused(tmp_path, fake_python):
  plan = make_plan(tmp_path)
  protocol.run(plan, ["reproduce"], say=lambda _: None, only=["stage1_gan"],
               python=fake_python)
  marker = plan.layout.marker("stage1_gan")
  value = files.read_json(marker)
  value["args"] = value["args"][:-1]
  files.write_json(marker, value)
  with pytest.raises(plan_lib.PlanMismatch, match="another command"):
    protocol.run(plan, ["reproduce"], say=lambda _: None,
                 only=["stage1_gan"], python=fake_python)
  # A refused run ran nothing and is not recorded.
  outcomes = [json.loads(line)["outcome"]
              for line in plan.layout.invocations.read_text().splitlines()]
  assert outcomes == ["completed"]


def test_a_second_run_on_a_busy_directory_is_refused(tmp_path, fake_python,
                                                     monkeypatch):
  plan = make_plan(tmp_path)
  plan.layout.root.mkdir(parents=True)
  monkeypatch.setattr(protocol, "_LOCK_WAIT", 0.3)
  lock = protocol._lock(plan.layout)  # pylint: disable=protected-access
  try:
    with pytest.raises(protocol.Busy, match="in use"):
      protocol.run(plan, ["reproduce"], say=lambda _: None,
                   only=["stage1_gan"], python=fake_python)
  finally:
    os.close(lock)
  protocol.run(plan, ["reproduce"], say=lambda _: None, only=["stage1_gan"],
               python=fake_python)
  assert plan.layout.marker("stage1_gan").exists()


def test_duration():
  assert protocol.duration(12.34) == "12.3s"
  assert protocol.duration(245) == "4m05s"
  assert protocol.duration(3723) == "1h02m03s"


KILLER = """#!/bin/sh
echo "I1125 10:00:00.000000 1 callbacks.py:59] step 1/3 (33%) loss=1 | ETA"
sleep 1.2
echo "I1125 10:00:01.000000 1 callbacks.py:59] step 2/3 (66%) loss=1 | ETA"
sleep 3
kill -9 $PPID
exec sleep 30
"""

RUN_PLAN = """
import sys
from segwgan.reporting import plan, protocol, settings
protocol._HEARTBEAT_EVERY = 0.5
p = plan.build("cmp_facades", "cpu", 1, sys.argv[1] + "/out",
               sections=settings.load(()), stage2_init_checkpoint="",
               data_dir=sys.argv[1] + "/data")
protocol.run(p, ["reproduce"], say=lambda _: None, only=["stage1_gan"],
             python=sys.argv[2])
"""


def test_a_killed_run_is_recorded_as_killed(tmp_path, fake_python):
  killer = tmp_path / "killer"
  killer.write_text(KILLER)
  killer.chmod(killer.stat().st_mode | stat.S_IEXEC)
  # The run's own process is killed (SIGKILL) by its part: nothing of it can
  # write a record after the kill. The part, left sleeping, gets SIGTERM
  # (parent-death signal) and frees the output directory's lock.
  killed = subprocess.run([sys.executable, "-c", RUN_PLAN, str(tmp_path),
                           str(killer)], check=False, cwd=report.REPO)
  assert killed.returncode == -signal.SIGKILL
  plan = make_plan(tmp_path)
  layout = plan.layout
  assert not layout.marker("stage1_gan").exists()

  protocol.run(plan, ["reproduce"], say=lambda _: None, only=["stage1_gan"],
               python=fake_python)
  done = files.read_json(layout.marker("stage1_gan"))
  (attempt,) = done["earlier_attempts"]
  assert attempt["outcome"] == "killed"
  assert attempt["cpu_seconds"] is None
  # Last seen at its second line (1.2 s in; times are whole seconds), not
  # at the kill 3 s later: up to 1.8 s of slack for a loaded machine.
  assert 1 <= attempt["seconds"] <= 3
  records = [json.loads(line)
             for line in layout.invocations.read_text().splitlines()]
  assert [r["outcome"] for r in records] == ["killed", "completed"]
  assert records[0]["ran"] == []
  rows = report._timing_rows(plan)  # pylint: disable=protected-access
  assert "1 killed" in dict((r[0], r[3]) for r in rows)["stage1_gan"]
