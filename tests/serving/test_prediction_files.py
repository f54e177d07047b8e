"""Photos a user hands to tools/predict.py, in every image mode: a real VOC
photo converted to each mode reads as the pixels a viewer shows."""
import pathlib
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from segwgan import errors
from segwgan.serving import prediction_files

PHOTO = "pascal_voc2012/VOCdevkit/VOC2012/JPEGImages/2007_000033.jpg"


@pytest.fixture(scope="module")
def photo(shared_data):
  with Image.open(shared_data / PHOTO) as image:
    return image.convert("RGB")


def grey_rgb(photo) -> np.ndarray:
  return np.repeat(np.asarray(photo.convert("L"))[..., None], 3, axis=-1)


def png_16bit_rgb(pixels: np.ndarray) -> bytes:
  """A 16-bit RGB PNG (PIL cannot write one) of uint16 [H, W, 3]."""
  height, width, _ = pixels.shape
  rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes()
                  for y in range(height))

  def chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

  return (b"\x89PNG\r\n\x1a\n" +
          chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0,
                                     0)) +
          chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_eight_bit_modes(photo, tmp_path):
  rgb = np.asarray(photo)
  grey = grey_rgb(photo)
  cases = {
      "1.png": (photo.convert("1"), np.asarray(photo.convert("1").convert(
          "RGB"))),
      "l.png": (photo.convert("L"), grey),
      "la.png": (photo.convert("LA"), grey),
      "p.png": (photo.convert("P", palette=Image.Palette.ADAPTIVE),
                np.asarray(photo.convert(
                    "P", palette=Image.Palette.ADAPTIVE).convert("RGB"))),
      "rgba.png": (photo.convert("RGBA"), rgb)}
  for name, (image, expected) in cases.items():
    image.save(tmp_path / name)
    read = prediction_files.read_rgb(tmp_path / name)
    assert read.dtype == np.uint8 and read.shape == rgb.shape, name
    np.testing.assert_array_equal(read, expected, err_msg=name)
  photo.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
  cmyk = prediction_files.read_rgb(tmp_path / "cmyk.jpg").astype(float)
  assert np.abs(cmyk - rgb).mean() < 4.0


def test_sixteen_bit_grey_is_scaled_not_clipped(photo, tmp_path):
  grey = grey_rgb(photo)
  wide = grey[..., 0].astype(np.uint16) * 257
  Image.fromarray(wide).save(tmp_path / "grey16.png")
  with Image.open(tmp_path / "grey16.png") as image:
    assert image.mode.startswith("I")
  np.testing.assert_array_equal(
      prediction_files.read_rgb(tmp_path / "grey16.png"), grey)
  Image.fromarray(wide.astype(np.int32), "I").save(tmp_path / "grey32.tif")
  np.testing.assert_array_equal(
      prediction_files.read_rgb(tmp_path / "grey32.tif"), grey)
  # 8-bit values stored as 32-bit integers are kept as they are.
  Image.fromarray(grey[..., 0].astype(np.int32), "I").save(
      tmp_path / "grey8as32.tif")
  np.testing.assert_array_equal(
      prediction_files.read_rgb(tmp_path / "grey8as32.tif"), grey)


def test_sixteen_bit_rgb(photo, tmp_path):
  rgb = np.asarray(photo)
  (tmp_path / "rgb16.png").write_bytes(
      png_16bit_rgb(rgb.astype(np.uint16) * 257))
  read = prediction_files.read_rgb(tmp_path / "rgb16.png")
  assert np.abs(read.astype(int) - rgb).max() <= 1


def test_exif_rotated_jpeg_is_turned_upright(photo, tmp_path):
  exif = Image.Exif()
  exif[0x0112] = 6  # Orientation: the viewer turns it 90 degrees clockwise.
  photo.save(tmp_path / "turned.jpg", exif=exif, quality=95)
  with Image.open(tmp_path / "turned.jpg") as image:
    stored = np.asarray(image.convert("RGB"))
  read = prediction_files.read_rgb(tmp_path / "turned.jpg")
  np.testing.assert_array_equal(read, np.rot90(stored, k=-1))


@pytest.mark.parametrize("name,image", [
    ("float.tif", lambda grey: Image.fromarray(grey.astype(np.float32))),
    ("wide.tif", lambda grey: Image.fromarray(
        grey.astype(np.int32) * 65536, "I"))], ids=["F", "I beyond 16 bits"])
def test_modes_it_cannot_read_are_refused_naming_the_file(photo, tmp_path,
                                                         name, image):
  image(grey_rgb(photo)[..., 0]).save(tmp_path / name)
  with pytest.raises(errors.UserError, match=name):
    prediction_files.read_rgb(tmp_path / name)


def test_clashing_stems_get_names_of_their_own():
  paths = [pathlib.Path("photos/a.jpg"), pathlib.Path("photos/a.png"),
           pathlib.Path("photos/b.jpg"), pathlib.Path("more/b.jpg")]
  assert prediction_files.output_stems(paths) == [
      "photos_a_jpg", "photos_a_png", "photos_b_jpg", "more_b_jpg"]
  assert prediction_files.output_stems(paths[:1] + paths[2:3]) == ["a", "b"]
  assert prediction_files.output_stems(
      [pathlib.Path("a.b/x.jpg"), pathlib.Path("a_b/x.jpg")]) == [
          "a_b_x_jpg", "a_b_x_jpg_2"]
