"""Both stages end to end on real CMP Facades files (tiny runs): the files
stage 1 and stage 2 write, the stop rule, a stage 2 started from another
stage-2 run."""
import json
import pathlib
import shutil

import numpy as np
import pytest
import yaml
import tensorflow as tf
from PIL import Image

from conftest import cmp_base_copy
from segwgan.configs import experiments
from segwgan.configs import overrides
from segwgan.training import tasks

TINY = {"trainer": {"train_steps": 2, "checkpoint_interval": 1,
                    "summary_interval": 1, "validation_interval": 1},
        "task": {"train_data": {"global_batch_size": 2,
                                "output_size": [64, 64],
                                "resize_long_side": 128,
                                "shuffle_buffer_size": 4},
                 "validation_data": {"resize_long_side": 128}}}


@pytest.fixture(scope="module")
def data_dirs(shared_data, tmp_path_factory):
  """12 real CMP base images in the official layout, and a TFDS dir."""
  root = tmp_path_factory.mktemp("tasks")
  data = {"source_dir": str(cmp_base_copy(shared_data, root)), "tfds_data_dir": str(root / "tfds")}
  return {"task": {"train_data": dict(data), "validation_data": dict(data)}}


def params(experiment, data_dirs, task=None, presets=None):
  values = {"task": {**data_dirs["task"], **(task or {})}}
  return overrides.build(experiment, presets=presets, flag_values=values,
                         params_override=json.dumps(TINY))


@pytest.fixture(scope="module")
def stage1(data_dirs, tmp_path_factory):
  model_dir = tmp_path_factory.mktemp("stage1")
  config = params("stage1_cmp_facades_cpu", data_dirs,
                  task={"generator": {"base_filters": 8},
                        "critic": {"base_filters": 8}, "critic_steps": 1},
                  presets=experiments.gan_loss_preset("wgan_gp"))
  step = tasks.train_stage1(config, str(model_dir), figure_images=2)
  return model_dir, step


def test_stage1_writes_its_validation_curve_and_reconstructions(stage1):
  model_dir, step = stage1
  assert step == 2
  result = json.loads((model_dir / "stage1_validation.json").read_text())
  assert [e["step"] for e in result["curve"]] == [1, 2]
  for entry in result["curve"]:
    assert entry["l1"] > 0 and 0 <= entry["critic_rank"] <= 1
    assert np.isfinite(entry["separation"])
  assert result["stop"] == {"stopped_at": 2, "stop_rule": "train_steps reached"}
  pngs = sorted((model_dir / "reconstructions").glob("*.png"))
  assert len(pngs) == 2
  assert Image.open(pngs[0]).mode == "RGB"
  assert list((model_dir / "validation").glob("events.out.tfevents.*"))


@pytest.fixture(scope="module")
def deeplabv3_run(data_dirs, tmp_path_factory):
  """A tiny stage-2 DeepLabv3 run, with diagnostics asked for (DeepLabv3
  has no G and D to measure); (model_dir, its config)."""
  model_dir = tmp_path_factory.mktemp("deeplabv3")
  config = params("stage2_cmp_facades_cpu", data_dirs,
                  task={"init_checkpoint": "", "variant": "deeplabv3",
                        "diagnostics_interval": 1})
  tasks.train_stage2(config, str(model_dir), validate_last=False)
  return model_dir, config


def test_stage2_diagnostics_and_a_start_from_a_stage2_run(stage1, data_dirs,
                                                          deeplabv3_run,
                                                          tmp_path):
  gan_dir, _ = stage1
  first, _ = deeplabv3_run
  second = tmp_path / "segwgan"
  config = params("stage2_cmp_facades_cpu", data_dirs,
                  task={"diagnostics_interval": 1, "variant": "segwgan",
                        "gan_model_dir": str(gan_dir),
                        "init_checkpoint": str(first)})
  tasks.train_stage2(config, str(second), validate_last=False)
  result = json.loads((second / "diagnostics.json").read_text())
  assert result["grad_share_samples"] == 2
  assert result["grad_share"]["content"] > 0
  assert result["grad_share"]["adversarial"] > 0
  assert 0 <= result["critic_rank"] <= 1 and result["critic_rank_images"] >= 1
  assert not (first / "diagnostics.json").exists()


def test_init_segmenter_reads_a_stage2_model_dir(deeplabv3_run, tmp_path):
  """The segmenter started from a stage-2 model_dir has the weights the
  serving loader reads from that run's latest checkpoint."""
  from segwgan.modeling import segmenter as segmenter_lib  # pylint: disable=g-import-not-at-top
  from segwgan.serving import checkpoints  # pylint: disable=g-import-not-at-top
  run = tmp_path / "run"  # A copy: its checkpoint is truncated below.
  shutil.copytree(deeplabv3_run[0], run)
  config = deeplabv3_run[1]
  segmenter = segmenter_lib.build_segmenter(config.task.model)
  before = [v.numpy().copy() for v in segmenter.trainable_variables]
  tasks.init_segmenter(segmenter, str(run), "all")
  saved = checkpoints.load(str(run)).segmenter
  assert len(saved.variables) == len(segmenter.variables)
  for mine, theirs in zip(segmenter.variables, saved.variables):
    np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
  assert any(not np.array_equal(b, v.numpy()) for b, v in
             zip(before, segmenter.trainable_variables))
  # A truncated data file is a one-line ModelError, not a traceback.
  from segwgan import errors  # pylint: disable=g-import-not-at-top
  latest = tf.train.latest_checkpoint(str(run))
  data = pathlib.Path(latest + ".data-00000-of-00001")
  data.write_bytes(data.read_bytes()[:data.stat().st_size // 2])
  with pytest.raises(errors.ModelError, match="cannot be read"):
    tasks.init_segmenter(segmenter, str(run), "all")


def test_a_changed_setting_is_refused_naming_it(data_dirs, tmp_path):
  """A model_dir recorded with other result-changing settings is refused
  before anything in it changes; paths and logging may differ."""
  from segwgan import errors  # pylint: disable=g-import-not-at-top
  config = params("stage2_cmp_facades_cpu", data_dirs,
                  task={"init_checkpoint": "", "variant": "deeplabv3"})
  tasks.save_params(config, str(tmp_path))
  recorded = (tmp_path / "params.yaml").read_text()
  moved = {"task": {"train_data": {"source_dir": "/elsewhere"},
                    "validation_data": {"tfds_data_dir": "/other"}},
           "trainer": {"summary_interval": 7}}
  tasks.check_resumable(
      overrides.build("stage2_cmp_facades_cpu", flag_values={
          "task": {**data_dirs["task"], "init_checkpoint": "",
                   "variant": "deeplabv3"}},
          params_override=json.dumps(_merged(TINY, moved))), str(tmp_path))
  for change, key in (({"task": {"lambda_adversarial": 0.5}},
                       "task.lambda_adversarial"),
                      ({"task": {"seed": 3}}, "task.seed"),
                      ({"task": {"variant": "seggan"}}, "task.variant")):
    changed = overrides.build(
        "stage2_cmp_facades_cpu", flag_values={
            "task": {**data_dirs["task"], "init_checkpoint": "",
                     "variant": "deeplabv3"}},
        params_override=json.dumps(_merged(TINY, change)))
    with pytest.raises(errors.FlagError, match=key) as raised:
      tasks.check_resumable(changed, str(tmp_path))
    assert "another --model_dir" in str(raised.value)
    with pytest.raises(errors.FlagError):
      tasks.train_stage2(changed, str(tmp_path))
  assert (tmp_path / "params.yaml").read_text() == recorded
  assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def _merged(base, change):
  merged = json.loads(json.dumps(base))
  for key, value in change.items():
    if isinstance(value, dict):
      merged[key] = _merged(merged.get(key, {}), value)
    else:
      merged[key] = value
  return merged


def test_a_key_added_since_the_run_counts_only_if_not_default(data_dirs,
                                                               tmp_path):
  """A params.yaml written before a config key existed: the key is taken
  as unchanged when it has its default (test_fraction 0.2 here), and as a
  change when it has not (train_steps 2)."""
  from segwgan import errors  # pylint: disable=g-import-not-at-top
  config = params("stage2_cmp_facades_cpu", data_dirs,
                  task={"init_checkpoint": "", "variant": "deeplabv3"})
  recorded = config.as_dict()
  assert recorded["task"]["train_data"]["test_fraction"] == 0.2
  del recorded["task"]["train_data"]["test_fraction"]
  (tmp_path / "params.yaml").write_text(yaml.safe_dump(recorded))
  tasks.check_resumable(config, str(tmp_path))
  del recorded["trainer"]["train_steps"]
  (tmp_path / "params.yaml").write_text(yaml.safe_dump(recorded))
  with pytest.raises(errors.FlagError, match="trainer.train_steps"):
    tasks.check_resumable(config, str(tmp_path))
