"""Legends of prediction pictures, on real VOC ground truth."""
import numpy as np
from PIL import Image

from segwgan import labels
from segwgan.serving import prediction_files
from segwgan.serving import visualize

VOC = "pascal_voc2012/VOCdevkit/VOC2012"
VOC_INFO = labels.get_info("pascal_voc2012")


def swatch_pixels(picture: np.ndarray, colour) -> int:
  return int(np.all(picture == np.asarray(colour, np.uint8), axis=-1).sum())


def test_legend_names_the_classes_shown(shared_data):
  truth = np.asarray(Image.open(shared_data / VOC / "SegmentationClass" /
                                "2007_000033.png"))
  assert visualize.present_classes([truth], VOC_INFO) == [0, 1]  # Not 255.
  picture = visualize.colourise(truth, VOC_INFO)
  shown = visualize.with_legend(picture, [truth], VOC_INFO)
  np.testing.assert_array_equal(shown[:picture.shape[0]], picture)
  key = shown[picture.shape[0]:]
  assert key.shape[1] == picture.shape[1] and 10 < key.shape[0] < 40
  # A swatch of each class shown (aeroplane's is in no other class's
  # colour), none of a class not shown (person).
  assert swatch_pixels(key, VOC_INFO.colours[1]) >= 12 * 12
  assert swatch_pixels(key, VOC_INFO.colours[15]) == 0


def test_a_legend_of_many_classes_wraps_into_rows():
  one_row = visualize.legend([1], VOC_INFO, 200)
  all_classes = visualize.legend(range(21), VOC_INFO, 200)
  assert all_classes.shape[1] == 200
  assert all_classes.shape[0] >= 5 * one_row.shape[0] // 2
  for colour in VOC_INFO.colours[1:]:
    assert swatch_pixels(all_classes, colour) >= 12 * 12


def test_predict_outputs_carry_the_legend(shared_data, tmp_path):
  image = np.asarray(Image.open(shared_data / VOC / "JPEGImages" /
                                "2007_000033.jpg").convert("RGB"))
  truth = np.asarray(Image.open(shared_data / VOC / "SegmentationClass" /
                                "2007_000033.png"))
  prediction = np.where(truth == 255, 0, truth)
  paths = prediction_files.write_outputs(tmp_path, "x", image, prediction,
                                         VOC_INFO, truth)
  written = {p.name: np.asarray(Image.open(p)) for p in paths}
  np.testing.assert_array_equal(written["x_labels.png"], prediction)
  overlay = written["x_overlay.png"]
  assert overlay.shape[0] > image.shape[0]
  assert swatch_pixels(overlay[image.shape[0]:], VOC_INFO.colours[1]) >= 144
