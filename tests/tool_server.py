"""Runs tools/*.py for the tests in processes forked from this one.

Importing TensorFlow, the Model Garden and segwgan takes about 10 s of CPU
on the 2-core machine, and the tests start about a hundred tool
processes. This server imports them once (without running any TF op, so a
fork is safe), then for each request line (JSON: argv, cwd, env, stdout and
stderr file paths) forks a child that runs the tool as `python TOOL ARGS`
would: `__main__`, its own flags, exit code from SystemExit, a traceback
and exit 1 for an uncaught exception. It answers each request with the
child's pid, then its exit code. `toolrunner.py` is the client.
"""
import atexit
import json
import os
import runpy
import sys
import traceback

import segwgan.cli  # Sets the import-time environment, then imports TF.
import segwgan.reporting.protocol  # pylint: disable=unused-import
import segwgan.serving.export  # pylint: disable=unused-import
import segwgan.training.tasks  # pylint: disable=unused-import

from toolrunner import IMPORT_TIME


def _child(request) -> None:
  for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(target, fd)
    os.close(target)
  null = os.open(os.devnull, os.O_RDONLY)
  os.dup2(null, 0)
  os.chdir(request["cwd"])
  imported = {k: os.environ[k] for k in IMPORT_TIME if k in os.environ}
  os.environ.clear()
  # What segwgan's import sets by default, as in a new process.
  os.environ.update(imported, **request["env"])
  tool = request["argv"][0]
  sys.argv = list(request["argv"])
  sys.path[0] = os.path.dirname(os.path.abspath(tool))
  code = 0
  try:
    runpy.run_path(tool, run_name="__main__")
  except SystemExit as e:
    if e.code is None or isinstance(e.code, int):
      code = e.code or 0
    else:
      print(e.code, file=sys.stderr)
      code = 1
  except BaseException:  # pylint: disable=broad-except
    traceback.print_exc()
    code = 1
  try:
    atexit._run_exitfuncs()  # pylint: disable=protected-access
  finally:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # pylint: disable=protected-access


def main() -> None:
  reply = sys.stdout
  print(json.dumps({k: os.environ.get(k) for k in IMPORT_TIME}), file=reply,
        flush=True)
  for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
      _child(request)
    print(json.dumps({"pid": pid}), file=reply, flush=True)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"status": os.waitstatus_to_exitcode(status)}),
          file=reply, flush=True)


if __name__ == "__main__":
  main()
