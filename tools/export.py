"""Exports a segmenter as a SavedModel (uint8 images of any size) and TFLite.

  python tools/export.py --checkpoint=runs/segwgan/best \
      --export_dir=exports/cmp_segwgan --with_tflite
  python tools/export.py --checkpoint=runs/segwgan/best \
      --export_dir=exports/cmp_segwgan_512 --with_tflite --tflite_size=512
  python tools/export.py --checkpoint=checkpoints/tf_deeplab_mnv2_dm05_os8 \
      --dataset=pascal_voc2012 --export_dir=exports/voc

Signatures: serving_default (uint8 images -> labels, probabilities) and
logits (see segwgan/serving/export.py). The export is written to a
temporary directory and renamed when complete: an existing export is
replaced only with --overwrite and only by a complete new one.
"""
import pathlib

from absl import flags

from segwgan import cli
from segwgan import errors
from segwgan import io_utils
from segwgan.serving import export

flags.DEFINE_string("export_dir", None, "The SavedModel directory to write.")
flags.DEFINE_bool("with_tflite", False, "Also write EXPORT_DIR/model.tflite "
                  "(float32, builtin ops).")
flags.DEFINE_list("tflite_size", None, "HEIGHT,WIDTH (or one size for "
                  "both): model.tflite takes [1, HEIGHT, WIDTH, 3] images "
                  "only, with static shapes (0.86-0.91x the time in "
                  "XNNPACK at 257x257 on an AMD Zen 4, 0.98x on an Intel "
                  "CPU; benchmarks/RESULTS.md); default any size.")
flags.DEFINE_list("tflite_outputs", list(export.SERVING_OUTPUTS),
                  "model.tflite's outputs, of labels,probabilities: labels "
                  "alone skip the softmax over every pixel (0.95x the "
                  "Google DeepLab file's time at 257x257 with "
                  "--tflite_size=257 on an AMD Zen 4, against 1.12x with "
                  "probabilities; benchmarks/RESULTS.md).")
flags.DEFINE_bool("native_dilations", False, "Trace the SavedModel's dilated "
                  "depthwise convolutions as one op each: 1.2-1.3x faster "
                  "on CPUs, for inference only (no gradients), and it runs "
                  "only with TensorFlow's oneDNN ops, which segwgan turns on "
                  "on x86-64 unless TF_ENABLE_ONEDNN_OPTS is set (see "
                  "docs/evaluation.md).")
cli.define_overwrite_flag()
cli.define_model_flags(saved_model=False)
cli.define_dataset_flag()
flags.mark_flags_as_required(["export_dir", "checkpoint"])
flags.adopt_module_key_flags(cli)
FLAGS = flags.FLAGS


def tflite_size():
  """--tflite_size as (height, width), or None."""
  if FLAGS.tflite_size is None:
    return None
  typed = ",".join(FLAGS.tflite_size)
  if not FLAGS.with_tflite:
    raise errors.FlagError(f"--tflite_size={typed} is the size of "
                           "model.tflite's input: it needs --with_tflite")
  try:
    size = tuple(int(value) for value in FLAGS.tflite_size)
  except ValueError:
    size = ()
  size = size * 2 if len(size) == 1 else size
  if len(size) != 2 or min(size) < 1:
    raise errors.FlagError("--tflite_size must be HEIGHT,WIDTH (or one size "
                           f"for both), positive integers; got {typed}")
  return size


def tflite_outputs() -> tuple:
  """--tflite_outputs, checked as `export.checked_tflite_outputs` does."""
  try:
    return export.checked_tflite_outputs(FLAGS.tflite_outputs,
                                         FLAGS.with_tflite)
  except errors.FlagError as error:
    raise errors.FlagError(f"--tflite_outputs="
                           f"{','.join(FLAGS.tflite_outputs)}: {error}"
                           ) from None


def run_export() -> None:
  size = tflite_size()
  outputs = tflite_outputs()
  if FLAGS.native_dilations:
    export.check_native_dilations()
  parent = pathlib.Path(FLAGS.export_dir).resolve().parent
  io_utils.check_writable_dir(parent, "--export_dir", create=False)
  export.check_export_dir(FLAGS.export_dir, FLAGS.overwrite)
  loaded = cli.load_checkpoint(FLAGS.dataset)
  path = export.export(loaded, FLAGS.export_dir, tflite=FLAGS.with_tflite,
                       tflite_size=size, tflite_outputs=outputs,
                       native_dilations=FLAGS.native_dilations,
                       overwrite=FLAGS.overwrite)
  print(f"exported {loaded.info.dataset} segmenter from {loaded.info.source} "
        f"to {path}" + (" (+ model.tflite)" if FLAGS.with_tflite else ""))


if __name__ == "__main__":
  cli.start(run_export)
