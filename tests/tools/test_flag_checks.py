"""Flags and failures shared by every tool (segwgan/cli.py): a global batch
the replicas cannot share, user errors against bugs, unknown flags, --help,
a missing --data_dir."""
import errno
import pathlib
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

import toolrunner
from segwgan import cli
from segwgan import errors
from segwgan.configs import overrides
from segwgan.training import runner

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = textwrap.dedent("""
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from segwgan import cli
    from segwgan.configs import overrides
    cli.define_experiment_flags()
    cli.FLAGS(["x", "--experiment=stage1_cmp_facades_cpu",
               "--model_dir=" + sys.argv[1], "--data_dir=" + sys.argv[1]])
    params = overrides.build(cli.FLAGS.experiment, params_override=sys.argv[2],
                             flag_values=cli.flag_values())
    cli.run(lambda: cli.check_experiment(params))
    print("accepted")
""")


def check(tmp_path, override):
  return subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), override],
                        capture_output=True, text=True, timeout=300,
                        check=False)


def tool(name, *args):
  return toolrunner.run(REPO / "tools" / name, *args, cwd=REPO, timeout=300)


def test_batch_not_divisible_by_replicas_is_refused(tmp_path):
  result = check(tmp_path, "{runtime: {distribution_strategy: mirrored}, "
                 "task: {train_data: {global_batch_size: 3}}}")
  assert result.returncode == 2, result.stderr[-2000:]
  assert "global_batch_size (3)" in result.stderr
  assert "2 replicas" in result.stderr


def test_divisible_batch_is_accepted(tmp_path):
  result = check(tmp_path, "{runtime: {distribution_strategy: mirrored}, "
                 "task: {train_data: {global_batch_size: 4}}}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "accepted" in result.stdout


def test_user_errors_are_one_line_with_exit_2(capsys):
  def bad_flag():
    raise errors.FlagError("--scales must be positive, got ['-1']")

  with pytest.raises(SystemExit) as stop:
    cli.run(bad_flag)
  assert stop.value.code == 2
  assert capsys.readouterr().err == (
      "error: --scales must be positive, got ['-1']\n")


@pytest.mark.parametrize("error", [
    FileNotFoundError("no file x.png"), PermissionError("x is read-only"),
    OSError(errno.ENOSPC, "No space left on device")])
def test_the_os_refusing_a_file_is_one_line_with_exit_2(error, capsys):
  def refused():
    raise error

  with pytest.raises(SystemExit) as stop:
    cli.run(refused)
  assert stop.value.code == 2
  assert capsys.readouterr().err == f"error: {error}\n"


@pytest.mark.parametrize("bug", [
    AssertionError("shapes differ"),
    ValueError("a plain ValueError from a bug"),
    TypeError("unsupported operand"),
    OSError(errno.ECONNREFUSED, "Connection refused")])
def test_bugs_keep_their_traceback(bug):
  def broken():
    raise bug

  with pytest.raises(type(bug)):
    cli.run(broken)


def test_a_valueerror_inside_a_check_is_a_bug_not_a_config_error(
    monkeypatch, capsys):
  """An unknown strategy is the config's fault (one line, exit 2); a
  ValueError from inside TF while checking it is a bug and keeps its
  traceback."""
  params = overrides.build(
      "stage1_cmp_facades_cpu",
      params_override="runtime: {distribution_strategy: nope}")
  with pytest.raises(SystemExit) as stop:
    cli.run(lambda: cli.check_training_config(params))
  assert stop.value.code == 2
  assert capsys.readouterr().err.startswith(
      "error: runtime.distribution_strategy: --strategy must be one of")

  def broken(unused_name):
    return tf.TensorShape([2]).merge_with([3])  # TF's own ValueError

  monkeypatch.setattr(runner, "get_strategy", broken)
  with pytest.raises(ValueError) as raised:
    cli.run(lambda: cli.check_training_config(params))
  assert not isinstance(raised.value, errors.UserError)


def test_unknown_flag_is_one_line_and_exit_2():
  result = tool("train_gan.py", "--no_such_flag=1")
  assert result.returncode == 2, result.stderr[-2000:]
  assert result.stderr.startswith("error: ") and "no_such_flag" in (
      result.stderr)
  assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name,wanted", [
    ("evaluate.py", ["--checkpoint", "--saved_model", "--scales", "--flip",
                     "--keep_ids", "--data_dir", "--tfds_dir", "--download",
                     "--split", "--output_dir", "--verbose"]),
    ("train_seg.py", ["--variant", "--experiment", "--config_file",
                      "--params_override", "--model_dir", "--data_dir",
                      "--seed", "--strategy", "--verbose"])])
def test_help_lists_the_tools_own_and_shared_flags(name, wanted):
  result = tool(name, "--help")
  for flag in wanted:
    assert f"  {flag}" in result.stdout or f"  --[no]{flag[2:]}" in (
        result.stdout), flag


def test_no_data_dir_is_refused_unless_download(tmp_path):
  result = tool("train_gan.py", "--experiment=stage1_cmp_facades_cpu",
                f"--model_dir={tmp_path / 'run'}")
  assert result.returncode == 2, result.stderr[-2000:]
  assert "--data_dir" in result.stderr and "--download" in result.stderr
  assert "Traceback" not in result.stderr
  assert not (tmp_path / "run").exists()


def test_quiet_mode_keeps_only_segwgans_own_info_records():
  """By path: segwgan's package and tools pass; a library installed under a
  folder named segwgan (a clone's .venv) does not; warnings always pass."""
  import logging  # pylint: disable=g-import-not-at-top
  own = cli._OnlySegwganInfo()  # pylint: disable=protected-access
  package = pathlib.Path(errors.__file__).parent

  def record(path, level=logging.INFO):
    return logging.LogRecord("x", level, str(path), 1, "message", (), None)

  library = (REPO.parent / "segwgan" / ".venv" / "lib" / "site-packages" /
             "official" / "core" / "train_lib.py")
  assert own.filter(record(package / "training" / "tasks.py"))
  assert own.filter(record(REPO / "tools" / "train_seg.py"))
  assert not own.filter(record(library))
  assert own.filter(record(library, logging.WARNING))


def test_verbose_is_read_as_absl_reads_it():
  verbose = cli._verbose_in  # pylint: disable=protected-access
  assert verbose(["x", "--verbose"]) and verbose(["x", "--verbose=true"])
  assert not verbose(["x"]) and not verbose(["x", "--verbose=false"])
  assert not verbose(["x", "--verbose", "--noverbose"])
  assert verbose(["x", "--noverbose", "--verbose=1"])
