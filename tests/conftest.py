"""Shared fixtures: the real data and weights in ../shared (skipped if absent)."""
import os
import pathlib

import pytest

# Before TensorFlow loads: see segwgan/__init__.py.
import segwgan  # pylint: disable=unused-import

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("SEGWGAN_SHARED_DIR", REPO.parent / "shared"))


# CI sets this (.ci/run): missing real data or weights fail the tests that
# need them instead of skipping them.
REQUIRE_SHARED = os.environ.get("SEGWGAN_REQUIRE_SHARED") == "1"


# The slowest test files (`make test`'s --durations list, 2026-12-07), in
# descending time. They are collected first, so that the two xdist workers
# start them early instead of one worker running them alone at the end
# (--dist loadfile with --no-loadscope-reorder, in the Makefile, hands out
# files in collection order).
SLOWEST_FIRST = (
    "tools/test_reproduce.py", "tools/test_train_cli.py",
    "reliability/test_kill_resume.py", "tools/test_serving_tools.py",
    "training/test_seg_model.py", "tools/test_training_errors.py",
    "training/test_tasks.py", "tools/test_evaluate.py",
    "serving/test_export.py", "training/test_distribution.py",
)


def pytest_collection_modifyitems(items):
  tests = pathlib.Path(__file__).resolve().parent

  def rank(item):
    path = pathlib.Path(item.path).resolve()
    name = path.relative_to(tests).as_posix() if tests in path.parents else ""
    return (SLOWEST_FIRST.index(name) if name in SLOWEST_FIRST
            else len(SLOWEST_FIRST))

  items.sort(key=rank)  # Stable: each file keeps its own order.


def _require(path: pathlib.Path, what: str) -> pathlib.Path:
  if not path.exists():
    message = (f"{what} not found at {path} (set SEGWGAN_SHARED_DIR to the "
               "folder holding data/ and weights/)")
    if REQUIRE_SHARED:
      pytest.fail(f"{message}; SEGWGAN_REQUIRE_SHARED=1 requires it")
    pytest.skip(message)
  return path


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
  """../shared/data: real files of the five datasets in official layouts."""
  return _require(SHARED / "data", "shared real data")


@pytest.fixture(scope="session")
def shared_weights() -> pathlib.Path:
  """../shared/weights: Google-trained TFLite DeepLab / MobileNetV2 models."""
  return _require(SHARED / "weights", "shared pretrained weights")


def cmp_base_copy(shared_data_dir: pathlib.Path, root: pathlib.Path,
                  n: int = 12) -> pathlib.Path:
  """ROOT/cmp: the first `n` real CMP base images (jpg, png, xml) in the
  official layout, for tests that run the tools on a small copy."""
  import shutil

  base = root / "cmp" / "base"
  base.mkdir(parents=True, exist_ok=True)
  for k in range(1, n + 1):
    for ext in ("jpg", "png", "xml"):
      shutil.copy(shared_data_dir / "cmp_facades" / "base" /
                  f"cmp_b{k:04d}.{ext}", base)
  return root / "cmp"


def cmp_raw_dataset(shared_data_dir: pathlib.Path, n: int = 4):
  """A raw-example tf.data.Dataset of the first `n` real CMP Facades images,
  read with PIL (no TFDS preparation), in `registry.load_raw`'s format."""
  import numpy as np
  import tensorflow as tf
  from PIL import Image

  items = []
  for k in range(1, n + 1):
    base = shared_data_dir / "cmp_facades" / "base" / f"cmp_b{k:04d}"
    image = np.array(Image.open(f"{base}.jpg").convert("RGB"))
    label = (np.array(Image.open(f"{base}.png")) - 1).astype(np.uint8)
    items.append((image, label[..., None], base.name))

  def gen():
    for image, label, i in items:
      yield {"image": image, "label": label, "id": i}

  return tf.data.Dataset.from_generator(gen, output_signature={
      "image": tf.TensorSpec([None, None, 3], tf.uint8),
      "label": tf.TensorSpec([None, None, 1], tf.uint8),
      "id": tf.TensorSpec([], tf.string)})


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory):
  """Prepared data shared by the session, or the xdist worker (keyed by
  source fingerprint)."""
  return str(tmp_path_factory.mktemp("tfds"))


DM05_TFLITE = "deeplabv3_mnv2_dm05_pascal_257_float/deeplabv3_257_mv_gpu.tflite"


@pytest.fixture(scope="session")
def converted_dm05(shared_weights, tmp_path_factory) -> str:
  """The Google-trained DeepLabv3 MobileNetV2 0.5 (VOC) as a Model Garden
  checkpoint (preset tf_deeplab_mnv2_dm05_os8), converted once per session
  (per worker under pytest-xdist)."""
  from segwgan.modeling import pretrained  # pylint: disable=g-import-not-at-top
  conversion = pretrained.convert_tflite(shared_weights / DM05_TFLITE,
                                         width=0.5)
  return pretrained.save_checkpoint(
      conversion, tmp_path_factory.mktemp("converted") / "dm05")


@pytest.fixture(scope="module")
def loaded(converted_dm05):
  """`converted_dm05` loaded as a PASCAL VOC model (`checkpoints.Loaded`)."""
  from segwgan.serving import checkpoints  # pylint: disable=g-import-not-at-top
  return checkpoints.load(converted_dm05, dataset="pascal_voc2012")


@pytest.fixture(scope="session")
def exported(converted_dm05, tmp_path_factory) -> pathlib.Path:
  """`converted_dm05` exported as a VOC SavedModel with model.tflite, once
  per session (per worker under pytest-xdist); tests read it, never change
  it."""
  from segwgan.serving import checkpoints  # pylint: disable=g-import-not-at-top
  from segwgan.serving import export  # pylint: disable=g-import-not-at-top
  return export.export(
      checkpoints.load(converted_dm05, dataset="pascal_voc2012"),
      tmp_path_factory.mktemp("export") / "voc", tflite=True)
