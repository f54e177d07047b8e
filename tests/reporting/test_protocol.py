"""Running parts: logs, failures, interrupted and killed attempts, skips,
the lock, a changed command.

The parts' interpreter is replaced by a small script, so these tests run no
tool (tests/tools/test_reproduce.py runs the real ones).
"""
import os
import signal
import stat
import subprocess
import sys

import pytest

from segwgan.reporting import plan as plan_lib
from segwgan.reporting import protocol
from segwgan.reporting import report
from segwgan.reporting import settings

FAKE = """#!/bin/sh
echo "ran $1"
if [ -n "$FAKE_FAIL" ]; then echo "error: it broke" >&2; exit 3; fi
exit 0
"""
FIRST = "seed0_stage1_gan"


@pytest.fixture
def fake_python(tmp_path):
  path = tmp_path / "python"
  path.write_text(FAKE)
  path.chmod(path.stat().st_mode | stat.S_IEXEC)
  return str(path)


def make_plan(tmp_path):
  return plan_lib.build("cmp_facades", "cpu", 1, str(tmp_path / "out"),
                        sections=settings.load(()), init_checkpoint="",
                        data_dir=str(tmp_path / "data"))


def run(plan, python, only=(FIRST,), say=lambda _: None):
  return protocol.run(plan, ["reproduce"], say=say, only=list(only),
                      python=python)


def test_a_part_runs_its_tool_and_leaves_a_marker(tmp_path, fake_python):
  plan = make_plan(tmp_path)
  run(plan, fake_python)
  log = plan.layout.log(FIRST).read_text()
  assert "ran " + str(plan_lib.TOOLS / "train_gan.py") in log
  marker = plan_lib.read_json(plan.layout.marker(FIRST))
  part = plan.parts()[0]
  assert marker["args"] == ["train_gan.py", *part.args]
  assert marker["seconds"] > 0 and marker["earlier_attempts"] == []
  assert not plan.layout.attempts(FIRST).exists()
  for section in settings.TRAININGS:
    assert plan.layout.config(section).exists()


def test_failures_are_recorded_and_a_done_part_is_skipped(
    tmp_path, fake_python, monkeypatch):
  plan = make_plan(tmp_path)
  monkeypatch.setenv("FAKE_FAIL", "1")
  with pytest.raises(protocol.PartFailed, match="(?s)exit code 3.*it broke"):
    run(plan, fake_python)
  assert not plan.layout.marker(FIRST).exists()
  monkeypatch.delenv("FAKE_FAIL")
  run(plan, fake_python)
  (attempt,) = plan_lib.read_json(
      plan.layout.marker(FIRST))["earlier_attempts"]
  assert attempt["outcome"] == "PartFailed" and attempt["seconds"] > 0
  said = []
  run(plan, fake_python, say=said.append)
  assert any(f"{FIRST}: done before" in line for line in said)
  rows, total = report._part_rows(plan)  # pylint: disable=protected-access
  assert dict((r[0], r[3]) for r in rows)[FIRST] == "PartFailed"
  assert total > attempt["seconds"]


def test_a_changed_command_or_plan_is_refused(tmp_path, fake_python):
  plan = make_plan(tmp_path)
  run(plan, fake_python)
  marker = plan_lib.read_json(plan.layout.marker(FIRST))
  marker["args"] = marker["args"][:-1]
  protocol._write_json(plan.layout.marker(FIRST), marker)  # pylint: disable=protected-access
  with pytest.raises(plan_lib.PlanMismatch, match="another command"):
    run(plan, fake_python)
  other = plan_lib.build(
      "cmp_facades", "cpu", 1, plan.output_dir, init_checkpoint="",
      sections=settings.load((), "{ce: {trainer: {train_steps: 5}}}"),
      data_dir=plan.data_dir)
  with pytest.raises(plan_lib.PlanMismatch, match="ce.yaml"):
    run(other, fake_python)


def test_a_busy_directory_is_refused(tmp_path, fake_python, monkeypatch):
  plan = make_plan(tmp_path)
  monkeypatch.setattr(protocol, "_LOCK_WAIT", 0.3)
  lock = protocol._lock(plan.layout)  # pylint: disable=protected-access
  try:
    with pytest.raises(protocol.Busy, match="in use"):
      run(plan, fake_python)
  finally:
    os.close(lock)
  run(plan, fake_python)
  assert plan.layout.marker(FIRST).exists()


KILLER = """#!/bin/sh
echo "step 1"
sleep 1.5
echo "step 2"
sleep 2
kill -9 $PPID
"""

RUN_PLAN = """
import sys
from segwgan.reporting import plan, protocol, settings
p = plan.build("cmp_facades", "cpu", 1, sys.argv[1] + "/out",
               sections=settings.load(()), init_checkpoint="",
               data_dir=sys.argv[1] + "/data")
protocol.run(p, ["reproduce"], say=lambda _: None, only=["%s"],
             python=sys.argv[2])
""" % FIRST


def test_a_killed_run_is_recorded_as_killed(tmp_path, fake_python):
  killer = tmp_path / "killer"
  killer.write_text(KILLER)
  killer.chmod(killer.stat().st_mode | stat.S_IEXEC)
  # The run's own process is killed (SIGKILL) by its part: nothing of it can
  # write a record after the kill.
  killed = subprocess.run([sys.executable, "-c", RUN_PLAN, str(tmp_path),
                           str(killer)], check=False, cwd=report.REPO)
  assert killed.returncode == -signal.SIGKILL
  plan = make_plan(tmp_path)
  assert not plan.layout.marker(FIRST).exists()
  run(plan, fake_python)
  (attempt,) = plan_lib.read_json(
      plan.layout.marker(FIRST))["earlier_attempts"]
  assert attempt["outcome"] == "killed" and attempt["cpu_seconds"] is None
  # Until its log was last written (1.5 s in; start times are whole
  # seconds), not until the kill 2 s later.
  assert 0.5 <= attempt["seconds"] <= 3.4
