"""`run`: a tool's command line as the tests need it, about 10 s cheaper.

Each test process keeps one `tool_server.py` (TensorFlow and segwgan
imported once) and has it fork the tool. A call whose outcome could depend
on what is read at import time (--verbose, an environment variable such as
TF_ENABLE_ONEDNN_OPTS set differently, a `preexec_fn`) runs as a plain
subprocess instead, as does every call if the server cannot start.
"""
import atexit
import json
import os
import pathlib
import select
import signal
import subprocess
import sys
import tempfile
from typing import Optional

SERVER = pathlib.Path(__file__).resolve().parent / "tool_server.py"
# Variables read when TensorFlow and segwgan are imported: a forked tool
# cannot change them.
IMPORT_TIME = ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS",
               "TF_USE_LEGACY_KERAS")
_server = None  # (Popen, {variable: value at the server's import})


def _start():
  global _server
  if _server is None:
    # Started without the variables read at import, whatever a test has set:
    # the server then holds segwgan's defaults, as a new tool process would.
    env = {k: v for k, v in os.environ.items() if k not in IMPORT_TIME}
    process = subprocess.Popen([sys.executable, str(SERVER)], env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    atexit.register(process.kill)
    _server = (process, json.loads(process.stdout.readline() or "null"))
  return _server


def _forkable(args, env: dict, imported: Optional[dict]) -> bool:
  """Whether a fork of the server runs `args` as a new process would: no
  --verbose, and each variable read at import set as the server had it (or
  left unset, so the tool sets the same default)."""
  if imported is None or any(a.startswith(("--verbose", "--noverbose"))
                             for a in args):
    return False
  return all(env[key] == value for key, value in imported.items()
             if key in env)


def _reply(process, timeout: float) -> dict:
  ready, _, _ = select.select([process.stdout], [], [], timeout)
  if not ready:
    raise subprocess.TimeoutExpired(str(SERVER), timeout)
  line = process.stdout.readline()
  if not line:
    raise RuntimeError("tests/tool_server.py ended")
  return json.loads(line)


def run(tool, *args, cwd, env: Optional[dict] = None, timeout: float = 600,
        preexec_fn=None) -> subprocess.CompletedProcess:
  """`python TOOL ARGS` in `cwd` with `env` (default: os.environ), output
  captured as text, whatever its exit code."""
  argv = [str(tool), *args]
  env = dict(os.environ if env is None else env)
  process, imported = _start()
  if preexec_fn is not None or not _forkable(args, env, imported):
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout,
                          check=False, preexec_fn=preexec_fn)
  with tempfile.TemporaryDirectory() as tmp:
    out, err = pathlib.Path(tmp, "stdout"), pathlib.Path(tmp, "stderr")
    process.stdin.write(json.dumps({
        "argv": argv, "cwd": str(cwd), "env": env, "stdout": str(out),
        "stderr": str(err)}) + "\n")
    process.stdin.flush()
    pid = _reply(process, 60)["pid"]
    try:
      code = _reply(process, timeout)["status"]
    except subprocess.TimeoutExpired:
      os.kill(pid, signal.SIGKILL)
      _reply(process, 60)
      raise
    return subprocess.CompletedProcess([sys.executable, *argv], code,
                                       out.read_text(), err.read_text())
