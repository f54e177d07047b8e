"""Predicts label maps for images and writes PNGs a person can look at.

  python tools/predict.py --checkpoint=runs/segwgan/best \
      --input='photos/*.jpg' --output_dir=runs/segwgan/predictions
  python tools/predict.py --saved_model=exports/cmp \
      --data_dir=PATH/cmp_facades --split=val --max_images=8 \
      --output_dir=runs/figures        # with the ground truth beside

For each image: STEM_labels.png (palette PNG, pixel = class id),
STEM_overlay.png and STEM_figure.png (image | prediction | ground truth).
Images come from --input (a file, a folder or a glob) or from a dataset
split (--data_dir, --split), which adds the ground truth.

Photos (--input) are predicted at the scale the model was evaluated at
(`serving.photo_size`: its evaluation long side, or its dataset's image
size), a dataset split as evaluation predicts it; --resize_long_side
overrides both. The labels come back at each image's size. An image whose
model input would exceed --max_pixels is refused (reported; the others go
on).
"""
import pathlib
import sys

from absl import flags

from segwgan import cli
from segwgan import errors
from segwgan import io_utils
from segwgan import progress
from segwgan.configs import data as data_config
from segwgan.data import registry
from segwgan.serving import photo_size
from segwgan.serving import prediction_files

flags.DEFINE_string("input", None, "An image file, a folder of images or a "
                    "glob pattern (quoted); or else --data_dir and --split: "
                    "a dataset split, predicted with its ground truth.")
cli.define_model_flags()
cli.define_inference_flags()
cli.define_dataset_flag()
cli.define_data_flags(download=False)
cli.define_split_flag("val")
cli.define_max_images_flag()
cli.define_output_dir_flag("the PNGs")
flags.DEFINE_integer("resize_long_side", -1, "Resize each image to this "
                     "long side for the model (0: its own size; -1: the "
                     "model's scale, see serving/photo_size.py).")
flags.DEFINE_integer("max_pixels", photo_size.DEFAULT_MAX_PIXELS,
                     "Refuse images whose model input has more pixels "
                     "(memory: about 530 bytes per pixel).")
flags.mark_flag_as_required("output_dir")
flags.adopt_module_key_flags(cli)
FLAGS = flags.FLAGS


def _examples(dataset: str):
  """(count, iterator of (stem, image or its path, ground truth or
  None))."""
  if FLAGS.input:
    paths = prediction_files.find_images(FLAGS.input)
    if FLAGS.max_images:
      paths = paths[:FLAGS.max_images]
    return len(paths), ((stem, p, None) for stem, p in
                        zip(prediction_files.output_stems(paths), paths))
  data = data_config.DataConfig(
      dataset=dataset, split=FLAGS.split, source_dir=FLAGS.data_dir,
      tfds_data_dir=FLAGS.tfds_dir or "", is_training=False)
  raw = registry.read_split(data)
  if FLAGS.max_images:
    raw = raw.take(FLAGS.max_images)
  return int(raw.cardinality()), (
      (ex["id"].decode(), ex["image"], ex["label"][..., 0])
      for ex in raw.as_numpy_iterator())


def predict() -> None:
  if bool(FLAGS.input) == bool(FLAGS.data_dir):
    raise errors.FlagError("give exactly one of --input and --data_dir")
  cli.check_max_images()
  if FLAGS.max_pixels < 1:
    raise errors.FlagError(f"--max_pixels must be >= 1, got {FLAGS.max_pixels}")
  output_dir = pathlib.Path(FLAGS.output_dir)
  io_utils.check_writable_dir(output_dir, "--output_dir", create=False)
  model = cli.load_predictor(FLAGS.dataset, cli.inference_config())
  if FLAGS.input or FLAGS.resize_long_side >= 0:
    model = model.at_long_side(photo_size.long_side(
        model.info, FLAGS.resize_long_side))
  count, examples = _examples(model.info.dataset)
  bar = progress.ProgressBar(count)
  failed = []
  for done, (stem, image, truth) in enumerate(examples, 1):
    try:  # A bad image is reported; the others are still predicted.
      name = str(image) if isinstance(image, pathlib.Path) else stem
      if isinstance(image, pathlib.Path):
        image = prediction_files.read_rgb(image)
      photo_size.check(name, image.shape, model.long_side, FLAGS.max_pixels,
                       len(model.class_names))
      prediction_files.write_outputs(output_dir, stem, image,
                                     model.predict(image), model.info.labels,
                                     truth)
    except errors.UserError as e:
      failed.append(stem)
      print(f"skipped: {e}", file=sys.stderr, flush=True)
    bar.update(done)
  bar.close()
  written = count - len(failed)
  print(f"wrote {3 * written} PNGs for {written} images to {output_dir}")
  if failed:
    raise errors.UserError(f"{len(failed)} of {count} images failed (each "
                           f"named above): {', '.join(failed)}")


if __name__ == "__main__":
  cli.start(predict)
