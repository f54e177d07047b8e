"""TFLite -> Model Garden conversion, its parity on VOC, and the downloads."""
import hashlib
import io
import pathlib

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from segwgan import errors
from segwgan.configs import models
from segwgan.modeling import pretrained
from segwgan.modeling import segmenter

FLOAT = "deeplabv3_mnv2_dm05_pascal_257_float/deeplabv3_257_mv_gpu.tflite"
QUANT = "deeplabv3_mnv2_pascal_quant/deeplabv3_mnv2_pascal_quant.tflite"
IMAGENET = ("mobilenet_v2_1.0_224_imagenet_quant/"
            "mobilenet_v2_1.0_224_quant.tflite")
VOC = "pascal_voc2012/VOCdevkit/VOC2012"
# The first, middle and last image of the val split.
VAL_IMAGES = ("2007_000033", "2007_000783", "2007_001594")


def _voc_images(shared_data):
  for image_id in VAL_IMAGES:
    yield np.asarray(Image.open(shared_data / VOC / "JPEGImages" /
                                f"{image_id}.jpg").convert("RGB"))


@pytest.mark.parametrize("name,file,min_agreement", [
    ("deeplabv3_mnv2_dm05_pascal_257_float", FLOAT, 0.99),
    ("deeplabv3_mnv2_pascal_quant", QUANT, 0.95),
])
def test_converted_model_matches_tflite_on_voc(shared_weights, shared_data,
                                               name, file, min_agreement):
  conversion = pretrained.convert_tflite(shared_weights / file)
  assert conversion.modules == ("all",)
  expected_preset = {"deeplabv3_mnv2_dm05_pascal_257_float":
                         "tf_deeplab_mnv2_dm05_os8",
                     "deeplabv3_mnv2_pascal_quant": "tf_deeplab_mnv2_os16"}
  assert conversion.preset == expected_preset[name]
  reference = pretrained.TfliteModel(shared_weights / file)
  mean, stddev = models.input_normalization(conversion.preset)
  agreements = []
  for image in _voc_images(shared_data):
    tflite_labels, labels, agreement = pretrained.compare(
        reference, conversion.model, mean, stddev, image)
    assert tflite_labels.shape == labels.shape == image.shape[:2]
    assert len(np.unique(tflite_labels)) > 1  # Not all background.
    agreements.append(agreement)
  assert np.mean(agreements) >= min_agreement, agreements


def test_saved_checkpoint_restores_the_conversion(shared_weights, tmp_path):
  conversion = pretrained.convert_tflite(shared_weights / FLOAT, width=0.5)
  prefix = pretrained.save_checkpoint(conversion, tmp_path / "ckpt",
                                      source=shared_weights / FLOAT)
  assert prefix.endswith("ckpt-1")
  model = segmenter.build_segmenter(
      models.model_config(conversion.preset, "pascal_voc2012"))
  segmenter.init_from_checkpoint(model, str(tmp_path / "ckpt"))
  for a, b in zip(model.weights, conversion.model.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  with pytest.raises(FileExistsError):
    pretrained.save_checkpoint(conversion, tmp_path / "ckpt")


def test_imagenet_classifier_gives_a_backbone(shared_weights, tmp_path):
  conversion = pretrained.convert_tflite(shared_weights / IMAGENET)
  assert (conversion.modules, conversion.width) == (("backbone",), 1.0)
  stem_kernel = pretrained.read_tflite_convs(
      shared_weights / IMAGENET)["MobilenetV2/Conv"][0]
  np.testing.assert_array_equal(conversion.model.backbone.weights[0],
                                stem_kernel)
  pretrained.save_checkpoint(conversion, tmp_path / "ckpt")
  # At width 1.0 it also fits the Model Garden's own MobileNetV2.
  model = segmenter.build_segmenter(
      models.model_config("deeplabv3_mnv2", "cityscapes"))
  segmenter.init_from_checkpoint(model, str(tmp_path / "ckpt"), ("backbone",))
  np.testing.assert_array_equal(model.backbone.weights[0], stem_kernel)
  with pytest.raises(ValueError, match="decoder/.*missing"):
    segmenter.init_from_checkpoint(model, str(tmp_path / "ckpt"), ("all",))


def test_conversion_errors(shared_weights, tmp_path):
  with pytest.raises(ValueError, match="width 1.0, not 0.5"):
    pretrained.convert_tflite(shared_weights / QUANT, width=0.5)
  with pytest.raises(ValueError, match="not in a TF-slim"):
    pretrained.convert_tflite(
        shared_weights / "mobilenet_v2_1.0_224_imagenet_tf2_ptq/"
        "tf2_mobilenet_v2_1.0_224_ptq.tflite")
  junk = tmp_path / "junk.tflite"
  junk.write_bytes(b"not a flatbuffer at all")
  with pytest.raises(ValueError, match="not a valid TFLite file"):
    pretrained.convert_tflite(junk)
  with pytest.raises(ValueError, match="no TFLite file"):
    pretrained.convert_tflite(tmp_path / "missing.tflite")


def test_official_checksums_match_the_shared_copies(shared_weights):
  for spec in pretrained.TFLITE_FILES.values():
    path = next(shared_weights.glob(f"*/{spec.filename}"))
    assert pretrained.sha256_of(path) == spec.sha256


def test_download_from_file_url_and_path(tmp_path):
  source = tmp_path / "source.bin"
  source.write_bytes(b"weights" * 1000)
  digest = hashlib.sha256(source.read_bytes()).hexdigest()
  for i, url in enumerate((source.as_uri(), str(source))):
    copied = pretrained.download(url, tmp_path / "out" / f"{i}.bin", digest)
    assert copied.read_bytes() == source.read_bytes()
  # A verified copy is kept: the (now missing) source is not read again.
  source.unlink()
  assert pretrained.download(source.as_uri(), tmp_path / "out" / "0.bin",
                             digest).exists()


def test_network_failures_are_download_errors_naming_the_url(
    tmp_path, monkeypatch):
  url = (tmp_path / "missing.tflite").as_uri()
  with pytest.raises(errors.DownloadError, match=f"could not download {url}"):
    pretrained.download(url, tmp_path / "out" / "model.tflite")
  assert not list((tmp_path / "out").iterdir())

  class Dropped(io.BytesIO):
    def read(self, size=-1):
      raise ConnectionResetError("reset by peer")

  monkeypatch.setattr(pretrained.urllib.request, "urlopen",
                      lambda *args, **kwargs: Dropped())
  with pytest.raises(errors.DownloadError,
                     match="download https://host/x.tflite: reset by peer"):
    pretrained.download("https://host/x.tflite", tmp_path / "out" / "x")
  assert not list((tmp_path / "out").iterdir())


def test_resolve_init_maps_a_preset_to_its_converted_copy(tmp_path):
  weights = tmp_path / "weights"
  tflite = weights / "deeplabv3_mnv2_dm05_pascal_257_float" / (
      "deeplabv3_257_mv_gpu.tflite")
  tflite.parent.mkdir(parents=True)
  tflite.write_bytes(b"x")
  root = tmp_path / "out" / "pretrained"
  dm05 = models.PRESETS["tf_deeplab_mnv2_dm05_os8"].init_checkpoint
  converted = str(root / "tf_deeplab_mnv2_dm05_os8")
  assert pretrained.resolve_init(dm05, root, str(weights)) == (
      converted, str(tflite))
  assert pretrained.resolve_init(dm05, root) == (
      converted, "deeplabv3_mnv2_dm05_pascal_257_float")
  with pytest.raises(FileNotFoundError,
                     match="holds no deeplabv3_mnv2_pascal_quant.tflite"):
    pretrained.resolve_init(
        models.PRESETS["tf_deeplab_mnv2_os16"].init_checkpoint, root,
        str(weights))
  (weights / "NAME").mkdir()
  (weights / "NAME" / "ckpt-5.index").write_bytes(b"")
  assert pretrained.resolve_init("gs://b/p/NAME/ckpt-5", root,
                                 str(weights)) == (
                                     str(weights / "NAME" / "ckpt-5"), "")
  for other in ("gs://b/p/OTHER/ckpt-1", "runs/ce", ""):
    assert pretrained.resolve_init(other, root, str(weights)) == (other, "")


def test_checksum_mismatch_leaves_nothing(tmp_path):
  source = tmp_path / "source.bin"
  source.write_bytes(b"tampered")
  out = tmp_path / "out"
  with pytest.raises(ValueError, match="checksum mismatch .* expected 00ff"):
    pretrained.download(source.as_uri(), out / "model.tflite", "00ff")
  assert not list(out.iterdir())
  with pytest.raises(ValueError, match="checksum mismatch"):
    pretrained.fetch_tflite("deeplabv3_mnv2_pascal_quant", out,
                            source=str(source))
  assert not list(out.iterdir())
  with pytest.raises(ValueError, match="unknown TFLite file"):
    pretrained.fetch_tflite("deeplabv4", out)


def test_fetch_tflite_from_a_local_mirror(shared_weights, tmp_path):
  path = pretrained.fetch_tflite("deeplabv3_mnv2_pascal_quant", tmp_path,
                                 source=str(shared_weights / QUANT))
  assert path == tmp_path / "deeplabv3_mnv2_pascal_quant.tflite"
  assert path.read_bytes() == (shared_weights / QUANT).read_bytes()


def test_download_checkpoint_copies_a_usable_checkpoint(tmp_path):
  variable = tf.Variable([1.0, 2.0, 3.0])
  prefix = tf.train.Checkpoint(v=variable).write(str(tmp_path / "src/ckpt-7"))
  local = pretrained.download_checkpoint(prefix, tmp_path / "copy")
  assert pathlib.Path(local).name == "ckpt-7"
  assert tf.train.latest_checkpoint(str(tmp_path / "copy")) == local
  restored = tf.Variable([0.0, 0.0, 0.0])
  tf.train.Checkpoint(v=restored).read(local).assert_consumed()
  np.testing.assert_array_equal(restored.numpy(), [1.0, 2.0, 3.0])
  with pytest.raises(FileExistsError):
    pretrained.download_checkpoint(prefix, tmp_path / "copy")


def test_model_garden_checkpoints_are_the_presets():
  assert set(pretrained.MODEL_GARDEN_CHECKPOINTS.values()) == {
      models.PRESETS["deeplabv3_resnet101"].init_checkpoint,
      models.PRESETS["deeplabv3_mnv2"].init_checkpoint}
