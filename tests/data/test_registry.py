"""`load_raw`: the element contract, and prepared data keyed by the source."""
import fcntl
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

import datacopies
from segwgan.configs import data as data_config
from segwgan.data import builder
from segwgan.data import cmp_facades
from segwgan.data import decode
from segwgan.data import pipeline
from segwgan.data import registry

NAME = "cmp_facades"


def versions(tfds_dir) -> list:
  """The prepared variants (config dirs holding a complete 1.0.0)."""
  return sorted(p.parent.name for p in pathlib.Path(tfds_dir).rglob("1.0.0"))


def test_elements_follow_the_pipeline_contract(shared_data, tmp_path,
                                               caplog):
  root = datacopies.cmp_copy(shared_data, tmp_path / "cmp", base=(1, 2, 3))
  with caplog.at_level(logging.WARNING):
    ds = registry.load_raw(NAME, "all", source_dir=root,
                           tfds_dir=str(tmp_path / "tfds"))
    registry.load_raw(NAME, "all", source_dir=root,
                      tfds_dir=str(tmp_path / "tfds"))
  # The source-named config is custom by design: no warning on each read.
  assert "custom data configuration" not in caplog.text
  assert ds.element_spec == {
      "image": tf.TensorSpec([None, None, 3], tf.uint8),
      "label": tf.TensorSpec([None, None, 1], tf.uint8),
      "id": tf.TensorSpec([], tf.string)}
  assert int(ds.cardinality()) == 3
  assert not ds.options().autotune.enabled  # see pipeline._options
  config = data_config.DataConfig(is_training=True, global_batch_size=3,
                                  output_size=[64, 64], dataset=NAME)
  features, labels = next(iter(pipeline.build(ds, config)))
  assert features["image"].shape[0] == 3
  assert set(np.unique(labels["masks"])) <= set(range(12)) | {255}


def test_builders_are_registered_tfds_datasets():
  names = tfds.list_builders(with_community_datasets=False)
  for name in registry.MODULES:
    assert f"segwgan_{name}" in names


def test_another_copy_is_never_served_stale_data(shared_data, tmp_path):
  tfds_dir = str(tmp_path / "tfds")
  first = datacopies.cmp_copy(shared_data, tmp_path / "a", base=(1, 2))
  second = datacopies.cmp_copy(shared_data, tmp_path / "b", base=(3, 4, 5))
  ids = lambda ds: sorted(datacopies.decoded(ds))
  assert ids(registry.load_raw(NAME, "all", source_dir=first,
                               tfds_dir=tfds_dir)) == ["cmp_b0001",
                                                       "cmp_b0002"]
  assert ids(registry.load_raw(NAME, "all", source_dir=second,
                               tfds_dir=tfds_dir)) == [
                                   "cmp_b0003", "cmp_b0004", "cmp_b0005"]
  assert len(versions(tfds_dir)) == 2
  # The same copy again reuses its data; a changed file is prepared afresh.
  registry.load_raw(NAME, "all", source_dir=first, tfds_dir=tfds_dir)
  assert len(versions(tfds_dir)) == 2
  shutil.copyfile(second / "base" / "cmp_b0003.jpg",
                  first / "base" / "cmp_b0001.jpg")
  shutil.copyfile(second / "base" / "cmp_b0003.png",
                  first / "base" / "cmp_b0001.png")
  image, _ = datacopies.decoded(registry.load_raw(
      NAME, "all", source_dir=first, tfds_dir=tfds_dir))["cmp_b0001"]
  np.testing.assert_array_equal(image, registry.read_image(
      second / "base" / "cmp_b0003.jpg"))
  assert len(versions(tfds_dir)) == 3


def test_a_moved_copy_is_prepared_again(shared_data, tmp_path):
  tfds_dir = str(tmp_path / "tfds")
  root = datacopies.cmp_copy(shared_data, tmp_path / "a", base=(1,))
  registry.load_raw(NAME, "all", source_dir=root, tfds_dir=tfds_dir)
  os.rename(root, tmp_path / "b")
  registry.load_raw(NAME, "all", source_dir=tmp_path / "b",
                    tfds_dir=tfds_dir)
  assert len(versions(tfds_dir)) == 2


def test_split_seed_selects_its_own_prepared_split(shared_data, tmp_path):
  tfds_dir = str(tmp_path / "tfds")
  root = datacopies.cmp_copy(shared_data, tmp_path / "cmp",
                             base=range(1, 11))
  for seed in (0, 1):
    ds = registry.load_raw(NAME, "val", source_dir=root, tfds_dir=tfds_dir,
                           split_seed=seed, val_fraction=0.3)
    assert sorted(datacopies.decoded(ds)) == [
        e.id for e in registry.list_examples(NAME, root, "val",
                                             split_seed=seed,
                                             val_fraction=0.3)]
  assert len(versions(tfds_dir)) == 2


class Interrupted(Exception):
  pass


def test_interrupted_preparation_is_redone(shared_data, tmp_path,
                                           monkeypatch):
  tfds_dir = tmp_path / "tfds"
  root = datacopies.cmp_copy(shared_data, tmp_path / "cmp", base=range(1, 7))
  calls = []
  exact_bytes = decode.exact_bytes

  def crash_after_three(path, pixels):
    calls.append(path)
    if len(calls) > 3:
      raise Interrupted()
    return exact_bytes(path, pixels)

  monkeypatch.setattr(decode, "exact_bytes", crash_after_three)
  with pytest.raises(Interrupted):
    registry.load_raw(NAME, "all", source_dir=root, tfds_dir=str(tfds_dir))
  assert not versions(tfds_dir)
  # A process killed mid-way leaves its temporary dir: it is ignored.
  (config_dir,) = [p for p in (tfds_dir / "segwgan_cmp_facades").iterdir()
                   if p.is_dir()]
  (config_dir / "incomplete.KILLED_1.0.0").mkdir()
  (config_dir / "incomplete.KILLED_1.0.0" / "dataset_info.json").write_text(
      "{}")
  monkeypatch.setattr(decode, "exact_bytes", exact_bytes)
  ds = registry.load_raw(NAME, "all", source_dir=root, tfds_dir=str(tfds_dir))
  assert int(ds.cardinality()) == 6
  assert sorted(datacopies.decoded(ds)) == [f"cmp_b{k:04d}"
                                            for k in range(1, 7)]


def test_concurrent_preparations_take_turns(shared_data, tmp_path):
  """A second process waits on the lock while the variant is being
  prepared, then reuses it instead of preparing it again."""
  root = datacopies.cmp_copy(shared_data, tmp_path / "cmp", base=(1, 2, 3))
  tfds_dir = tmp_path / "tfds"
  config = builder.source_config(root, cmp_facades.parts(root), True, 0, 0.2,
                                  0.2)
  lock_path = tfds_dir / "segwgan_cmp_facades" / f".{config.name}.lock"
  lock_path.parent.mkdir(parents=True)
  script = (
      "from segwgan.data import registry\n"
      f"ds = registry.load_raw('{NAME}', 'all', source_dir='{root}', "
      f"tfds_dir='{tfds_dir}')\n"
      "print(sorted(x['id'].decode() for x in ds.as_numpy_iterator()))\n")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
  with open(lock_path, "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # As a process preparing it would.
    worker = subprocess.Popen([sys.executable, "-c", script], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    deadline = time.time() + 240
    while f"-> FLOCK  ADVISORY  WRITE {worker.pid} " not in pathlib.Path(
        "/proc/locks").read_text():
      assert worker.poll() is None, worker.communicate()
      assert time.time() < deadline
      time.sleep(0.2)
    cmp_facades.CmpFacades(data_dir=str(tfds_dir), config=config
                           ).download_and_prepare(
                               download_config=tfds.download.DownloadConfig(
                                   manual_dir=str(root)))
  out, err = worker.communicate(timeout=300)
  assert worker.returncode == 0, err[-3000:]
  assert "Downloading and preparing" not in out + err
  assert out.strip().splitlines()[-1] == (
      "['cmp_b0001', 'cmp_b0002', 'cmp_b0003']")
  assert len(versions(tfds_dir)) == 1


@pytest.mark.parametrize("mode,ext,kept", [
    ("L", "jpg", True), ("CMYK", "jpg", True), ("RGBA", "png", True),
    ("P", "png", True), ("I;16", "png", False)])
def test_stored_bytes_decode_exactly_as_pil_reads(shared_data, tmp_path,
                                                  mode, ext, kept):
  """Original bytes where TF decodes them like PIL, else a lossless PNG."""
  photo = Image.open(shared_data / "cmp_facades" / "base" / "cmp_b0004.jpg")
  path = tmp_path / f"photo.{ext}"
  if mode == "I;16":
    # Not multiples of 257: TF's 16 -> 8 bits drops the low byte, the reader
    # rounds v / 257, so the bytes cannot be kept.
    grey = np.asarray(photo.convert("L"), np.uint32) * 257 + 100
    Image.fromarray(np.minimum(grey, 65535).astype(np.uint16)).save(path)
  else:
    photo.convert(mode).save(path)
  pixels = registry.read_image(path)
  data = decode.exact_bytes(path, pixels)
  assert (data == path.read_bytes()) == kept
  np.testing.assert_array_equal(decode.decode_bytes(tf.constant(data)),
                                pixels)
