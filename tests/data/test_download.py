"""The download path (`source_dir=None`) on locally built official archives.

Each archive holds a few real files in the official archive's layout; the
builder's URLs are pointed at it with ``file://`` (no network).
"""
import tarfile
import zipfile

import numpy as np
import pytest

import datacopies
from segwgan import errors
from segwgan.data import ade20k
from segwgan.data import cmp_facades
from segwgan.data import pascal_voc2012
from segwgan.data import registry
from segwgan.data import stanford_background


def zip_dir(root, path):
  with zipfile.ZipFile(path, "w") as archive:
    for file in sorted(root.rglob("*")):
      archive.write(file, file.relative_to(root))
  return path


def tar_dir(root, path, mode):
  with tarfile.open(path, mode) as archive:
    for child in sorted(root.iterdir()):
      archive.add(child, child.name)
  return path


def check_against(name, ds, source, split="all"):
  """`ds` holds exactly the examples of `source`, pixel for pixel."""
  got = datacopies.decoded(ds)
  examples = registry.list_examples(name, source, split)
  assert sorted(got) == [e.id for e in examples]
  for example in examples:
    image, label = got[example.id]
    np.testing.assert_array_equal(image,
                                  registry.read_image(example.image_path))
    np.testing.assert_array_equal(label,
                                  registry.read_label(name, example.label_path))


def test_cmp_base_and_extended_archives(shared_data, tmp_path, monkeypatch):
  source = datacopies.cmp_copy(shared_data, tmp_path / "src", base=(1, 2, 3),
                               extended_from=(4, 5))
  archives = {}
  for part in ("base", "extended"):
    staging = tmp_path / f"staging_{part}"
    (staging / part).mkdir(parents=True)
    for file in (source / part).iterdir():
      datacopies.copy(file, staging / part / file.name)
    datacopies.copy(shared_data / "cmp_facades" / "label_names.txt",
                    staging / "label_names.txt")
    archives[part] = zip_dir(staging, tmp_path /
                             f"CMP_facade_DB_{part}.zip").as_uri()
  monkeypatch.setattr(cmp_facades.CmpFacades, "URLS", archives)
  tfds_dir = str(tmp_path / "tfds")
  ds = registry.load_raw("cmp_facades", "all", source_dir=None,
                         tfds_dir=tfds_dir)
  assert int(ds.cardinality()) == 5
  check_against("cmp_facades", ds, source)
  extended = registry.load_raw("cmp_facades", "extended", source_dir=None,
                               tfds_dir=tfds_dir)
  assert sorted(datacopies.decoded(extended)) == ["cmp_x0001", "cmp_x0002"]
  # Prepared once: the archives are no longer needed.
  for part in archives:
    (tmp_path / f"CMP_facade_DB_{part}.zip").unlink()
  again = registry.load_raw("cmp_facades", "base", source_dir=None,
                            tfds_dir=tfds_dir)
  assert int(again.cardinality()) == 3


def test_voc_tar(shared_data, tmp_path, monkeypatch):
  source = datacopies.voc_copy(shared_data, tmp_path / "src",
                               ["2007_000032", "2007_000042"],
                               ["2007_000033"])
  archive = tar_dir(source, tmp_path / "VOCtrainval_11-May-2012.tar", "w")
  monkeypatch.setattr(pascal_voc2012.PascalVoc2012, "URLS",
                      {"VOCtrainval": archive.as_uri()})
  ds = registry.load_raw("pascal_voc2012", "val", source_dir=None,
                         tfds_dir=str(tmp_path / "tfds"))
  check_against("pascal_voc2012", ds, source, "val")


def test_stanford_tar_gz(shared_data, tmp_path, monkeypatch):
  source = datacopies.stanford_copy(shared_data, tmp_path / "src",
                                    ["0000047", "1000875", "9000875"])
  archive = tar_dir(source, tmp_path / "iccv09Data.tar.gz", "w:gz")
  monkeypatch.setattr(stanford_background.StanfordBackground, "URLS",
                      {"iccv09Data": archive.as_uri()})
  ds = registry.load_raw("stanford_background", "all", source_dir=None,
                         tfds_dir=str(tmp_path / "tfds"))
  check_against("stanford_background", ds, source)


def test_ade_zip(shared_data, tmp_path, monkeypatch):
  source = datacopies.ade_copy(shared_data, tmp_path / "src",
                               ["ADE_train_00000001", "ADE_val_00000001"])
  archive = zip_dir(source, tmp_path / "ADEChallengeData2016.zip")
  monkeypatch.setattr(ade20k.Ade20k, "URLS",
                      {"ADEChallengeData2016": archive.as_uri()})
  ds = registry.load_raw("ade20k", "all", source_dir=None,
                         tfds_dir=str(tmp_path / "tfds"))
  check_against("ade20k", ds, source)


@pytest.mark.parametrize("builder,urls", [
    (pascal_voc2012.PascalVoc2012, {
        "VOCtrainval": "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/"
                       "VOCtrainval_11-May-2012.tar"}),
    (stanford_background.StanfordBackground, {
        "iccv09Data": "http://dags.stanford.edu/data/iccv09Data.tar.gz"}),
    (ade20k.Ade20k, {
        "ADEChallengeData2016": "http://data.csail.mit.edu/places/"
                                "ADEchallenge/ADEChallengeData2016.zip"})])
def test_official_urls(builder, urls):
  assert builder.URLS == urls


def test_an_unreachable_archive_is_a_download_error(tmp_path, monkeypatch):
  missing = (tmp_path / "iccv09Data.tar.gz").as_uri()
  monkeypatch.setattr(stanford_background.StanfordBackground, "URLS",
                      {"iccv09Data": missing})
  with pytest.raises(errors.DownloadError, match="could not download"):
    registry.load_raw("stanford_background", "all", source_dir=None,
                      tfds_dir=str(tmp_path / "tfds"))
