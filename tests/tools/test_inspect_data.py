"""tools/inspect_data.py on the five real datasets and an extended-only CMP."""
import os
import pathlib
import shutil

import pytest
from PIL import Image

import toolrunner

REPO = pathlib.Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "inspect_data.py"


def run(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
  return toolrunner.run(TOOL, *args, cwd=REPO, env=env, timeout=300)


@pytest.mark.parametrize("name,folder,split,lines", [
    ("cmp_facades", "cmp_facades", "all",
     ["cmp_facades split all: 378 images",
      "image size: width 241..1024, height 207..1024", "window"]),
    ("stanford_background", "stanford_background", "val",
     ["stanford_background split val: 96 images", "foreground object",
      "(ignore)"]),
    ("pascal_voc2012", "pascal_voc2012", "train",
     ["pascal_voc2012 split train: 29 images", "tvmonitor"]),
    ("ade20k", "ade20k", "all", ["ade20k split all: 63 images", "flag"]),
    ("cityscapes", "cityscapes", "val",
     ["cityscapes split val: 8 images",
      "image size: width 2048..2048, height 1024..1024", "bicycle"])])
def test_prints_statistics_and_writes_a_grid(shared_data, tmp_path, name,
                                             folder, split, lines):
  result = run(f"--dataset={name}", f"--data_dir={shared_data / folder}",
               f"--split={split}", f"--output_dir={tmp_path}")
  assert result.returncode == 0, result.stderr[-3000:]
  for line in lines:
    assert line in result.stdout
  grid = tmp_path / f"{name}_{split}.png"
  assert f"grid: {grid}" in result.stdout
  with Image.open(grid) as image:
    assert image.format == "PNG" and image.width >= 768


def test_a_cmp_copy_holding_only_extended(shared_data, tmp_path):
  extended = tmp_path / "cmp" / "extended"
  extended.mkdir(parents=True)
  for n, k in enumerate((7, 8, 9), start=1):
    for ext in ("jpg", "png", "xml"):
      shutil.copyfile(shared_data / "cmp_facades" / "base" /
                      f"cmp_b{k:04d}.{ext}", extended / f"cmp_x{n:04d}.{ext}")
  result = run("--dataset=cmp_facades", f"--data_dir={tmp_path / 'cmp'}",
               f"--output_dir={tmp_path / 'out'}")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "cmp_facades split all: 3 images" in result.stdout
  assert (tmp_path / "out" / "cmp_facades_all.png").stat().st_size > 0


def test_unknown_dataset_is_one_error_line(shared_data, tmp_path):
  result = run("--dataset=facades",
               f"--data_dir={shared_data / 'cmp_facades'}",
               f"--output_dir={tmp_path}")
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1] == (
      "error: unknown dataset 'facades' (--dataset); known datasets: "
      "ade20k, cityscapes, cmp_facades, pascal_voc2012, stanford_background")
  assert not list(tmp_path.iterdir())


def test_a_bad_file_is_named(shared_data, tmp_path):
  base = tmp_path / "cmp" / "base"
  base.mkdir(parents=True)
  for k in (1, 2):
    for ext in ("jpg", "png"):
      shutil.copyfile(shared_data / "cmp_facades" / "base" /
                      f"cmp_b{k:04d}.{ext}", base / f"cmp_b{k:04d}.{ext}")
  (base / "cmp_b0002.jpg").write_text("not a photo")
  result = run("--dataset=cmp_facades", f"--data_dir={tmp_path / 'cmp'}",
               f"--output_dir={tmp_path / 'out'}")
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith(
      f"error: {base / 'cmp_b0002.jpg'} is not a readable image")
