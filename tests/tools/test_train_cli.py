"""Both stages from the command line on real CMP Facades files (short runs).

Stage 1 with `gan` and `wgan`, then stage 2 with the three variants; each
writes checkpoints, params.yaml and TensorBoard events with the named scalars;
running a finished stage-2 command again resumes and trains nothing.
"""
import pathlib

import pytest
import tensorflow as tf

from conftest import cmp_base_copy
import toolrunner

REPO = pathlib.Path(__file__).resolve().parents[2]
SHORT = ("{trainer: {train_steps: 2, checkpoint_interval: 1, "
         "summary_interval: 1, validation_interval: 2}, "
         "task: {train_data: {global_batch_size: 2, output_size: [64, 64], "
         "resize_long_side: 128, shuffle_buffer_size: 4}, "
         "validation_data: {resize_long_side: 128}%s}}")
GAN_SMALL = ", generator: {base_filters: 8}, critic: {base_filters: 8}"
SEG_SMALL = ", init_checkpoint: ''"


def tool(name, *args):
  result = toolrunner.run(REPO / "tools" / name, *args, cwd=REPO)
  assert result.returncode == 0, result.stderr[-4000:]
  return result


def scalar_tags(log_dir: pathlib.Path) -> set:
  tags = set()
  for path in log_dir.rglob("events.out.tfevents.*"):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      tags.update(v.tag for v in event.summary.value)
  return tags


def checkpoint_files(model_dir: pathlib.Path) -> dict:
  """{name: (bytes, mtime_ns)} of the checkpoints: training or saving again
  changes them."""
  return {p.name: (p.read_bytes(), p.stat().st_mtime_ns)
          for p in model_dir.iterdir()
          if p.name == "checkpoint" or p.name.startswith("ckpt-")}


@pytest.fixture(scope="module")
def workdir(shared_data, tmp_path_factory):
  """12 real CMP base images in the official layout, and a TFDS dir."""
  root = tmp_path_factory.mktemp("cli")
  cmp_base_copy(shared_data, root)
  return root


def common(workdir, model_dir):
  return [f"--data_dir={workdir / 'cmp'}", f"--tfds_dir={workdir / 'tfds'}",
          f"--model_dir={model_dir}"]


@pytest.fixture(scope="module")
def stage1_runs(workdir):
  runs = {}
  for loss in ("gan", "wgan"):
    model_dir = workdir / f"stage1_{loss}"
    tool("train_gan.py", "--experiment=stage1_cmp_facades_cpu",
         f"--gan_loss={loss}", *common(workdir, model_dir),
         f"--params_override={SHORT % GAN_SMALL}")
    runs[loss] = model_dir
  return runs


@pytest.mark.parametrize("loss", ["gan", "wgan"])
def test_stage1_writes_checkpoints_and_scalars(stage1_runs, loss):
  model_dir = stage1_runs[loss]
  assert tf.train.latest_checkpoint(str(model_dir)).endswith("ckpt-2")
  assert (model_dir / "params.yaml").exists()
  want = {"gloss", "closs", "aloss", "dloss", "lr"}
  if loss == "wgan":
    want.add("wdist")
  assert want <= scalar_tags(model_dir / "train")


@pytest.mark.parametrize("variant,gan", [("deeplabv3", None),
                                         ("seggan", "gan"),
                                         ("segwgan", "wgan")])
def test_stage2_variants_write_checkpoints_and_scalars(workdir, stage1_runs,
                                                       variant, gan):
  model_dir = workdir / f"stage2_{variant}"
  args = ["--experiment=stage2_cmp_facades_cpu", f"--variant={variant}",
          *common(workdir, model_dir), f"--params_override={SHORT % SEG_SMALL}"]
  if gan:
    args.append(f"--gan_model_dir={stage1_runs[gan]}")
  tool("train_seg.py", *args)
  assert tf.train.latest_checkpoint(str(model_dir)).endswith("ckpt-2")
  assert (model_dir / "best" / "metrics.json").exists()
  want = {"segloss", "loss", "lr", "val_miou"}
  if gan:
    want |= {"closs", "aloss", "gloss"}
  assert want <= scalar_tags(model_dir / "train")
  if variant == "segwgan":  # The same resume code serves every variant.
    before = checkpoint_files(model_dir)
    again = tool("train_seg.py", *args)
    assert "at step 2" in again.stdout
    assert checkpoint_files(model_dir) == before  # nothing trained or saved


def test_variant_must_match_the_stage1_loss(workdir, stage1_runs):
  result = toolrunner.run(
      REPO / "tools" / "train_seg.py", "--experiment=stage2_cmp_facades_cpu",
      "--variant=segwgan", f"--gan_model_dir={stage1_runs['gan']}",
      *common(workdir, workdir / "mismatch"),
      f"--params_override={SHORT % SEG_SMALL}", cwd=REPO)
  assert result.returncode == 2
  assert "gan_loss='gan'" in result.stderr
  assert "Traceback" not in result.stderr
