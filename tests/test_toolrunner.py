"""The tests' forked tool runs behave as new processes do."""
import os
import pathlib
import re
import subprocess
import sys

import toolrunner

REPO = pathlib.Path(__file__).resolve().parents[1]
TOOL = REPO / "tools" / "train_gan.py"


# A TF C++ log line: its timestamp differs between any two processes.
CPP_LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] .*\n",
                     re.M)


def test_a_forked_tool_gives_a_new_processs_exit_code_and_output(tmp_path):
  env = {k: v for k, v in os.environ.items()
         if k not in toolrunner.IMPORT_TIME}
  for args in (["--experiment=stage1_nope", f"--model_dir={tmp_path}"],
               ["--help"], ["--no_such_flag"]):
    forked = toolrunner.run(TOOL, *args, cwd=REPO, env=env)
    new = subprocess.run([sys.executable, str(TOOL), *args], cwd=REPO,
                         env=env, capture_output=True, text=True, check=False)
    assert (forked.returncode, forked.stdout,
            CPP_LOG.sub("", forked.stderr)) == (
                new.returncode, new.stdout, CPP_LOG.sub("", new.stderr)), args


def test_import_time_settings_run_a_new_process():
  """--verbose, and a variable read at import set otherwise than the
  server had it, cannot be forked."""
  _, imported = toolrunner._start()  # pylint: disable=protected-access
  forkable = toolrunner._forkable  # pylint: disable=protected-access
  assert imported["TF_CPP_MIN_LOG_LEVEL"] == "3"
  assert not forkable([], {"TF_CPP_MIN_LOG_LEVEL": "0"}, imported)
  assert not forkable(["--verbose"], {}, imported)
  assert forkable(["--x=1"], {"HOME": "/", "TF_CPP_MIN_LOG_LEVEL": "3"},
                  imported)
