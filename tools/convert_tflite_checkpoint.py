"""Converts a Google TFLite DeepLab / MobileNetV2 file to a checkpoint.

  python tools/convert_tflite_checkpoint.py \
      --tflite=../shared/weights/deeplabv3_mnv2_dm05_pascal_257_float/deeplabv3_257_mv_gpu.tflite \
      --output_dir=checkpoints/tf_deeplab_mnv2_dm05_os8

--tflite may also name an entry of `segwgan.modeling.pretrained.TFLITE_FILES`
(e.g. deeplabv3_mnv2_pascal_quant): it is then downloaded into
--download_dir and its sha256 checked. OUTPUT_DIR gets `ckpt-1` (read it
with `init_from_checkpoint` or a Model Garden init_checkpoint) and
`conversion.json` (source, preset, modules); it is written to a temporary
directory and renamed, so a failed run leaves nothing behind. Errors are one
line on stderr and exit code 2.
"""
import sys

from absl import app
from absl import flags

from segwgan.modeling import pretrained

flags.DEFINE_string("tflite", None, "A .tflite file, or a name from "
                    "pretrained.TFLITE_FILES to download.")
flags.DEFINE_string("output_dir", None, "Where the checkpoint goes (e.g. "
                    "checkpoints/tf_deeplab_mnv2_dm05_os8).")
flags.DEFINE_enum("width", None, ["0.5", "1.0"], "Expected MobileNetV2 "
                  "width (default: read from the file).")
flags.DEFINE_string("download_dir", "checkpoints/downloads", "Where named "
                    "files are downloaded.")
flags.DEFINE_bool("overwrite", False, "Replace an existing --output_dir.")
flags.mark_flags_as_required(["tflite", "output_dir"])
FLAGS = flags.FLAGS


def main(_):
  try:
    path = FLAGS.tflite
    if path in pretrained.TFLITE_FILES:
      path = pretrained.fetch_tflite(path, FLAGS.download_dir)
    conversion = pretrained.convert_tflite(
        path, width=float(FLAGS.width or 0))
    prefix = pretrained.save_checkpoint(conversion, FLAGS.output_dir,
                                        source=path, overwrite=FLAGS.overwrite)
  except (ValueError, OSError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  print(f"{prefix}: preset {conversion.preset}, modules "
        f"{','.join(conversion.modules)}")


if __name__ == "__main__":
  app.run(main)
