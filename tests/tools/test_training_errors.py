"""Bad input to the training tools: one clear line naming the flag, file or
step at fault, exit code 2, and nothing already written is damaged."""
import hashlib
import pathlib
import resource
import shutil
import signal

import pytest
import tensorflow as tf

from conftest import cmp_base_copy
import toolrunner

REPO = pathlib.Path(__file__).resolve().parents[2]
SHORT = ("{trainer: {train_steps: %d, checkpoint_interval: 1, "
         "summary_interval: 1, validation_interval: 2}, "
         "task: {train_data: {global_batch_size: 2, output_size: [64, 64], "
         "resize_long_side: 96, shuffle_buffer_size: 4}, "
         "validation_data: {resize_long_side: 96}%s}}")
SMALL_GAN = ", generator: {base_filters: 8}, critic: {base_filters: 8}"


def run(tool, *args, preexec_fn=None):
  return toolrunner.run(REPO / "tools" / tool, *args, cwd=REPO,
                        preexec_fn=preexec_fn)


def digest(folder: pathlib.Path) -> dict:
  return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
          for p in sorted(folder.glob("ckpt-*")) + [folder / "checkpoint"]
          if p.is_file()}


def assert_user_error(result, *fragments):
  assert result.returncode == 2, result.stderr[-3000:]
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  for fragment in fragments:
    assert fragment in result.stderr, (fragment, result.stderr[-3000:])


@pytest.fixture(scope="module")
def data(shared_data, tmp_path_factory):
  root = tmp_path_factory.mktemp("errors")
  cmp_base_copy(shared_data, root, 8)
  return root


def stage1(data, model_dir, steps=2, extra="", preexec_fn=None):
  return run("train_gan.py", "--experiment=stage1_cmp_facades_cpu",
             f"--data_dir={data / 'cmp'}", f"--tfds_dir={data / 'tfds'}",
             f"--model_dir={model_dir}",
             f"--params_override={SHORT % (steps, SMALL_GAN + extra)}",
             preexec_fn=preexec_fn)


@pytest.fixture(scope="module")
def trained(data):
  """A stage-1 run of 4 steps stopped at step 2 (its checkpoints must
  survive what follows): trained for 2 steps, then its params.yaml
  records the 4-step settings, as if the 4-step command had been killed."""
  model_dir = data / "good"
  result = stage1(data, model_dir)
  assert result.returncode == 0, result.stderr[-3000:]
  params = model_dir / "params.yaml"
  params.write_text(params.read_text().replace("train_steps: 2",
                                               "train_steps: 4"))
  (model_dir / "stage1_validation.json").unlink()
  return model_dir


def test_unknown_experiment_lists_the_known_ones(tmp_path):
  result = run("train_gan.py", "--experiment=stage1_nope",
               f"--model_dir={tmp_path}")
  assert_user_error(result, "--experiment='stage1_nope'",
                    "stage1_cmp_facades_cpu")


@pytest.mark.parametrize("override,fragment", [
    ("trainer: {train_steps: [", "--params_override"),
    ("trainer: {no_such_field: 1}", "no_such_field"),
    ("task: {train_data: {output_size: [60, 60]}}", "multiple of 16"),
    ("trainer: {train_steps: six}", "trainer.train_steps must be an integer"),
    ("[1, 2]", "expected a YAML mapping"),
])
def test_malformed_or_impossible_overrides(tmp_path, override, fragment):
  result = run("train_gan.py", "--experiment=stage1_cmp_facades_cpu",
               f"--model_dir={tmp_path / 'run'}",
               f"--params_override={override}")
  assert_user_error(result, fragment)
  assert not (tmp_path / "run").exists()  # nothing written


def test_missing_init_checkpoint_is_named_before_any_work(tmp_path):
  missing = tmp_path / "no_such_ckpt"
  result = run("train_seg.py", "--experiment=stage2_cmp_facades_cpu",
               "--variant=deeplabv3", f"--model_dir={tmp_path / 'run'}",
               f"--init_checkpoint={missing}")
  assert_user_error(result, "task.init_checkpoint", str(missing))


def test_init_checkpoint_that_does_not_fit_is_named(data, trained, tmp_path):
  # A stage-1 (G and D) checkpoint holds no segmenter.
  result = run("train_seg.py", "--experiment=stage2_cmp_facades_cpu",
               "--variant=deeplabv3", f"--data_dir={data / 'cmp'}",
               f"--tfds_dir={data / 'tfds'}", f"--model_dir={tmp_path / 'r'}",
               f"--init_checkpoint={trained}",
               f"--params_override={SHORT % (2, '')}")
  assert_user_error(result, str(trained))
  assert not list((tmp_path / "r").glob("ckpt-*"))


def truncated_copy(checkpoint: str, folder: pathlib.Path) -> pathlib.Path:
  """A copy of a checkpoint directory whose data file lost its second half."""
  shutil.copytree(pathlib.Path(checkpoint).parent, folder)
  data = next(folder.glob("*.data-*"))
  data.write_bytes(data.read_bytes()[:data.stat().st_size // 2])
  return folder


def test_truncated_init_checkpoint_is_named(data, converted_dm05, tmp_path):
  broken = truncated_copy(converted_dm05, tmp_path / "truncated")
  result = run("train_seg.py", "--experiment=stage2_cmp_facades_cpu",
               "--variant=deeplabv3", f"--data_dir={data / 'cmp'}",
               f"--tfds_dir={data / 'tfds'}", f"--model_dir={tmp_path / 'r'}",
               f"--init_checkpoint={broken}",
               f"--params_override={SHORT % (2, '')}")
  assert_user_error(result, str(broken), "cannot be read")
  assert not list((tmp_path / "r").glob("ckpt-*"))


def test_unwritable_model_dir_is_named(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("x")
  result = run("train_gan.py", "--experiment=stage1_cmp_facades_cpu",
               f"--data_dir={tmp_path}", f"--model_dir={blocker / 'run'}")
  assert_user_error(result, "--model_dir", str(blocker / "run"))
  assert blocker.read_text() == "x"


def test_nan_loss_stops_naming_the_step_before_any_checkpoint(data, tmp_path):
  # A run resumed with other settings is refused (tasks.check_resumable),
  # so the NaN comes from a fresh run's first step.
  model_dir = tmp_path / "nan"
  result = stage1(data, model_dir, 4, ", l1_weight: .nan")
  assert_user_error(result, "non-finite at step 1")
  assert tf.train.latest_checkpoint(str(model_dir)) is None


def _limit_file_size():
  # Writes past 256 KiB fail with EFBIG, like a full disk (SIGXFSZ ignored).
  signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
  resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))


def test_full_disk_while_saving_keeps_the_last_checkpoint(data, trained,
                                                           tmp_path):
  model_dir = tmp_path / "run"
  shutil.copytree(trained, model_dir)
  before = digest(model_dir)
  result = stage1(data, model_dir, 4, "", _limit_file_size)
  assert_user_error(result, "step-3 checkpoint", str(model_dir))
  assert digest(model_dir) == before
  # With space again, the same command resumes from step 2 and finishes.
  again = stage1(data, model_dir, 4)
  assert again.returncode == 0, again.stderr[-3000:]
  assert tf.train.latest_checkpoint(str(model_dir)).endswith("ckpt-4")


def _break(case: str, base: pathlib.Path) -> str:
  """Breaks a copy of real CMP files the way `case` says; returns the name
  the error must mention."""
  if case == "truncated_jpeg":
    jpg = base / "cmp_b0002.jpg"
    jpg.write_bytes(jpg.read_bytes()[:2000])
    return "cmp_b0002"
  for path in base.iterdir():  # empty_dir
    path.unlink()
  return str(base.parent)


# One file-level and one layout-level case: each kind of DataError (the
# cases of tests/data/test_validate.py, checked in-process) reaches the
# user through the same path as these.
@pytest.mark.parametrize("case", ["truncated_jpeg", "empty_dir"])
def test_bad_data_is_named_and_checkpoints_survive(data, trained, tmp_path,
                                                   case):
  broken = tmp_path / "cmp"
  shutil.copytree(data / "cmp", broken)
  named = _break(case, broken / "base")
  model_dir = tmp_path / "run"
  shutil.copytree(trained, model_dir)
  before = digest(model_dir)
  result = run("train_gan.py", "--experiment=stage1_cmp_facades_cpu",
               f"--data_dir={broken}", f"--tfds_dir={tmp_path / 'tfds'}",
               f"--model_dir={model_dir}",
               f"--params_override={SHORT % (4, SMALL_GAN)}")
  assert_user_error(result, named)
  assert digest(model_dir) == before


def test_unknown_dataset_is_named(tmp_path):
  result = run("train_gan.py", "--experiment=stage1_cmp_facades_cpu",
               f"--model_dir={tmp_path / 'run'}", f"--data_dir={tmp_path}",
               "--params_override={task: {train_data: {dataset: nope}}}")
  assert_user_error(result, "'nope'", "cmp_facades")
