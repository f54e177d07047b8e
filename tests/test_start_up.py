"""Start-up: before TensorFlow loads, segwgan makes `tf.keras` legacy Keras,
so no process of ours imports Keras 3 (about 2 s each), and turns TF's
oneDNN ops on on x86-64; every tool imports segwgan before anything that
loads TensorFlow."""
import ast
import os
import pathlib
import platform
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
LOADS_TENSORFLOW = ("tensorflow", "tf_keras", "official", "orbit",
                    "tensorflow_datasets")
SETTINGS = ("TF_USE_LEGACY_KERAS", "TF_ENABLE_ONEDNN_OPTS")
CHECK = ("import sys, segwgan.cli, tensorflow as tf, tf_keras; "
         "print('keras' in sys.modules, tf.keras.Model is tf_keras.Model)")
ONEDNN_CHECK = ("import segwgan, tensorflow; "
                "from tensorflow.python.util import _pywrap_util_port; "
                "print(_pywrap_util_port.IsMklEnabled())")
X86_64 = platform.machine().lower() in ("x86_64", "amd64")


def top_level_imports(path: pathlib.Path):
  for node in ast.parse(path.read_text()).body:
    if isinstance(node, ast.Import):
      yield from (alias.name.split(".")[0] for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      yield node.module.split(".")[0]


def test_the_tools_import_segwgan_before_tensorflow():
  late = []
  for path in sorted((REPO / "tools").glob("*.py")):
    names = list(top_level_imports(path))
    first_tf = next((i for i, n in enumerate(names)
                     if n in LOADS_TENSORFLOW), len(names))
    if "segwgan" not in names[:first_tf]:
      late.append(path.name)
  assert not late, late


def fresh_process(code: str, **env) -> str:
  """The output of `code` in a fresh Python, `SETTINGS` unset unless given
  in `env`."""
  base = {k: v for k, v in os.environ.items() if k not in SETTINGS}
  result = subprocess.run([sys.executable, "-c", code], cwd=REPO,
                          env={**base, **env}, capture_output=True, text=True,
                          timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  return result.stdout


def setting_after(code: str, name: str = "TF_USE_LEGACY_KERAS", **env) -> str:
  """The variable `name` after `code` runs in a fresh process."""
  return fresh_process(code + "; import os; print(os.environ.get("
                       f"'{name}', 'unset'))", **env).split()[-1]


def test_a_process_importing_segwgan_loads_no_keras_3():
  assert fresh_process(CHECK).split() == ["False", "True"]


@pytest.mark.parametrize("name", SETTINGS)
def test_an_explicit_setting_is_kept(name):
  assert setting_after("import segwgan", name, **{name: "0"}) == "0"


@pytest.mark.parametrize("name", SETTINGS)
def test_a_process_that_loaded_tensorflow_first_is_left_alone(name):
  assert setting_after("import tensorflow, segwgan", name) == "unset"


@pytest.mark.skipif(not X86_64, reason="oneDNN is turned on on x86-64 only")
def test_onednn_ops_run_on_x86_64_unless_turned_off():
  if fresh_process(ONEDNN_CHECK,
                   TF_ENABLE_ONEDNN_OPTS="1").split()[-1] != "True":
    pytest.skip("this TensorFlow build has no oneDNN ops")
  assert fresh_process(ONEDNN_CHECK).split()[-1] == "True"
  assert fresh_process(ONEDNN_CHECK,
                       TF_ENABLE_ONEDNN_OPTS="0").split()[-1] == "False"
