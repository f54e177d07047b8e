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
from absl import flags

from segwgan import cli
from segwgan.modeling import pretrained

cli.define_tflite_file_flag()
cli.define_output_dir_flag("the checkpoint (e.g. "
                           "checkpoints/tf_deeplab_mnv2_dm05_os8)")
flags.DEFINE_enum("width", None, ["0.5", "1.0"], "Expected MobileNetV2 "
                  "width (default: read from the file).")
flags.DEFINE_string("download_dir", "checkpoints/downloads", "Where named "
                    "files are downloaded.")
cli.define_overwrite_flag()
flags.mark_flags_as_required(["tflite", "output_dir"])
flags.adopt_module_key_flags(cli)
FLAGS = flags.FLAGS


def convert() -> None:
  path = FLAGS.tflite
  if path in pretrained.TFLITE_FILES:
    path = pretrained.fetch_tflite(path, FLAGS.download_dir)
  conversion = pretrained.convert_tflite(path, width=float(FLAGS.width or 0))
  prefix = pretrained.save_checkpoint(conversion, FLAGS.output_dir,
                                      source=path, overwrite=FLAGS.overwrite)
  print(f"{prefix}: preset {conversion.preset}, modules "
        f"{','.join(conversion.modules)}")


if __name__ == "__main__":
  cli.start(convert)
