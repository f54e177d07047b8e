"""tools/convert_tflite_checkpoint.py end to end (real TFLite file)."""
import json
import os
import pathlib

import numpy as np

import toolrunner
from segwgan.configs import models
from segwgan.modeling import pretrained
from segwgan.modeling import segmenter

REPO = pathlib.Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "convert_tflite_checkpoint.py"
FLOAT = "deeplabv3_mnv2_dm05_pascal_257_float/deeplabv3_257_mv_gpu.tflite"


def _run(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
  return toolrunner.run(TOOL, *args, cwd=REPO, env=env, timeout=300)


def test_converts_to_a_restorable_checkpoint(shared_weights, tmp_path):
  out = tmp_path / "converted"
  result = _run(f"--tflite={shared_weights / FLOAT}", f"--output_dir={out}",
                "--width=0.5")
  assert result.returncode == 0, result.stderr
  assert "preset tf_deeplab_mnv2_dm05_os8, modules all" in result.stdout
  assert "INFO" not in result.stderr, result.stderr  # No TFLite delegate log.
  info = json.loads((out / "conversion.json").read_text())
  assert info["preset"] == "tf_deeplab_mnv2_dm05_os8"
  assert info["source_sha256"] == pretrained.TFLITE_FILES[
      "deeplabv3_mnv2_dm05_pascal_257_float"].sha256
  assert [p.name for p in tmp_path.iterdir()] == ["converted"]  # No temp dir.

  model = segmenter.build_segmenter(
      models.model_config(info["preset"], "pascal_voc2012"))
  segmenter.init_from_checkpoint(model, str(out))
  expected = pretrained.convert_tflite(shared_weights / FLOAT).model
  images = np.random.default_rng(0).uniform(-1, 1, (1, 65, 65, 3))
  np.testing.assert_array_equal(model(images), expected(images))

  again = _run(f"--tflite={shared_weights / FLOAT}", f"--output_dir={out}")
  assert again.returncode == 2
  assert again.stderr.strip().splitlines()[-1] == f"error: {out} already exists"


def test_bad_file_is_one_line_error_and_no_output(tmp_path):
  junk = tmp_path / "model.tflite"
  junk.write_bytes(b"\0" * 64)
  out = tmp_path / "converted"
  result = _run(f"--tflite={junk}", f"--output_dir={out}")
  assert result.returncode == 2
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith(f"error: {junk} is not a valid TFLite file")
  assert not out.exists() and [p.name for p in tmp_path.iterdir()] == [
      "model.tflite"]


def test_flags_are_checked():
  result = _run("--tflite=x", "--width=0.75")
  assert result.returncode == 2
  assert result.stderr.startswith("error: ") and "--width" in result.stderr
  assert "Traceback" not in result.stderr
