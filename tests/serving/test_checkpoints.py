"""Loading segmenters from converted checkpoints and stage-2 runs."""
import numpy as np
import pytest

from segwgan.configs import overrides
from segwgan import labels
from segwgan import variants
from segwgan.serving import checkpoints
from segwgan.training import runner
from segwgan.training import seg_model
from segwgan.training import tasks

VOC = "pascal_voc2012"


@pytest.fixture(scope="module")
def converted(converted_dm05):
  return checkpoints.load(converted_dm05, dataset=VOC)


def _logits(loaded, seed=0):
  images = np.random.default_rng(seed).uniform(-1, 1, (1, 48, 64, 3))
  return loaded.segmenter(images.astype(np.float32)).numpy()


def assert_same_logits(loaded, reference):
  """The same weights: a stage-2 experiment's model and the preset's may
  compute batch norm in different ops, whose rounding differs with oneDNN
  on some CPUs (6e-5 of logits up to 21 on an Intel Xeon with AMX)."""
  expected = _logits(reference)
  np.testing.assert_allclose(_logits(loaded), expected, rtol=1e-5,
                             atol=1e-5 * np.abs(expected).max())


def test_converted_checkpoint_takes_preset_from_conversion_json(converted):
  info = converted.info
  assert (info.dataset, info.num_classes, info.resize_long_side) == (VOC, 21, 0)
  assert info.mean == info.stddev == (127.5, 127.5, 127.5)
  assert info.source.endswith("ckpt-1")
  assert checkpoints.ModelInfo.from_json(info.to_json()) == info


def test_what_cannot_be_loaded_is_a_clear_error(converted_dm05):
  with pytest.raises(ValueError, match="cannot tell which model"):
    checkpoints.load(converted_dm05)
  with pytest.raises(ValueError, match="does not fit the model.*12"):
    checkpoints.load(converted_dm05, dataset="cmp_facades")
  with pytest.raises(ValueError, match="not a stage-2"):
    checkpoints.load(converted_dm05, experiment="stage1_pascal_voc2012_cpu")
  with pytest.raises(ValueError, match="not cityscapes"):
    checkpoints.load(converted_dm05, experiment="stage2_pascal_voc2012_cpu",
                     dataset="cityscapes")
  with pytest.raises(overrides.ConfigError, match="not a segwgan experiment"):
    checkpoints.load(converted_dm05, experiment="nope")


def test_experiment_gives_the_evaluation_size(converted_dm05, converted):
  loaded = checkpoints.load(converted_dm05,
                            experiment="stage2_pascal_voc2012_cpu")
  assert loaded.info.resize_long_side == 512
  assert_same_logits(loaded, converted)


def test_stage2_run_best_and_latest(converted, tmp_path):
  params = overrides.build("stage2_pascal_voc2012_cpu",
                           flag_values={"task": {"variant": "deeplabv3"}})
  trainer = seg_model.SegTrainer(converted.segmenter,
                                 variant=variants.get("deeplabv3"),
                                 palette=labels.get_info(VOC).palette())
  tasks.save_params(params, str(tmp_path))
  runner.best_manager(trainer, str(tmp_path)).save(checkpoint_number=7)
  for path in (tmp_path / "best", tmp_path / "best" / "ckpt-7"):
    loaded = checkpoints.load(str(path))
    assert loaded.info.resize_long_side == 512
    assert loaded.info.source == str(tmp_path / "best" / "ckpt-7")
    assert_same_logits(loaded, converted)
  with pytest.raises(ValueError, match="no checkpoint found"):
    checkpoints.load(str(tmp_path))
