"""Checks a converted checkpoint against its TFLite original on PASCAL VOC.

  python tools/check_tflite_parity.py \
      --tflite=../shared/weights/deeplabv3_mnv2_dm05_pascal_257_float/deeplabv3_257_mv_gpu.tflite \
      --checkpoint=checkpoints/tf_deeplab_mnv2_dm05_os8 \
      --voc_dir=../shared/data/pascal_voc2012/VOCdevkit/VOC2012

Builds the checkpoint's preset (from its conversion.json), restores it with
`init_from_checkpoint`, runs both models on every image of the split
(letterboxed to the TFLite input size) and prints the per-pixel argmax
agreement and both models' mIoU against the VOC labels (255 ignored).
"""
import json
import pathlib

from absl import flags
import numpy as np
from PIL import Image

from segwgan import cli
from segwgan.configs import models
from segwgan import labels
from segwgan.evaluation import metrics
from segwgan.modeling import pretrained
from segwgan.modeling import segmenter

cli.define_tflite_file_flag()
cli.define_checkpoint_flag()
flags.DEFINE_string("voc_dir", None, "VOCdevkit/VOC2012 (JPEGImages, "
                    "SegmentationClass, ImageSets/Segmentation).")
cli.define_split_flag("val")  # An official list: train, val or trainval.
flags.mark_flags_as_required(["tflite", "checkpoint", "voc_dir"])
flags.adopt_module_key_flags(cli)
FLAGS = flags.FLAGS


def check_parity() -> None:
  checkpoint = pathlib.Path(FLAGS.checkpoint)
  preset = json.loads((checkpoint / "conversion.json").read_text())["preset"]
  model = segmenter.build_segmenter(
      models.model_config(preset, "pascal_voc2012"))
  segmenter.init_from_checkpoint(model, str(checkpoint))
  reference = pretrained.TfliteModel(FLAGS.tflite)
  mean, stddev = models.input_normalization(preset)

  voc = pathlib.Path(FLAGS.voc_dir)
  ids = (voc / "ImageSets/Segmentation" / f"{FLAGS.split}.txt").read_text()
  num_classes = labels.PASCAL_VOC2012.num_classes
  cms = [metrics.ConfusionMatrix(num_classes) for _ in range(2)]
  agreements = []
  for image_id in ids.split():
    image = np.asarray(Image.open(voc / "JPEGImages" / f"{image_id}.jpg")
                       .convert("RGB"))
    label = np.asarray(
        Image.open(voc / "SegmentationClass" / f"{image_id}.png"))
    *predictions, agreement = pretrained.compare(reference, model, mean,
                                                 stddev, image)
    for cm, prediction in zip(cms, predictions):
      cm.update(label, prediction)
    agreements.append(agreement)
    print(f"{image_id}: agreement {agreement:.4f}")
  print(f"{len(agreements)} {FLAGS.split} images, preset {preset}, input "
        f"{reference.input_size}x{reference.input_size} (letterboxed)")
  print(f"argmax agreement: mean {np.mean(agreements):.4%}, "
        f"min {np.min(agreements):.4%}")
  for name, cm in zip(("TFLite", "converted"), cms):
    print(f"{name} mIoU: {metrics.mean_iou(cm.matrix):.2%}")


if __name__ == "__main__":
  cli.start(check_parity)
