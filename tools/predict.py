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
"""
import pathlib
import sys

from absl import app
from absl import flags

from segwgan import cli
from segwgan import io_utils
from segwgan import progress
from segwgan.configs import data as data_config
from segwgan.data import registry
from segwgan.serving import prediction_files
from segwgan.serving import tool_flags

flags.DEFINE_string("input", None, "An image file, a folder of images or a "
                    "glob pattern (quoted).")
flags.DEFINE_string("data_dir", None, "Instead of --input: a dataset's "
                    "official layout, whose --split is predicted with its "
                    "ground truth.")
flags.DEFINE_string("split", "val", "The split of --data_dir.")
flags.DEFINE_string("dataset", None, "The dataset (default: the model's).")
flags.DEFINE_string("tfds_dir", None, "Where prepared TFDS data is kept.")
flags.DEFINE_integer("max_images", 0, "Predict only the first N images (0: "
                     "all).")
flags.DEFINE_string("output_dir", None, "Where the PNGs are written.")
tool_flags.define_model_flags()
tool_flags.define_inference_flags()
flags.mark_flag_as_required("output_dir")
FLAGS = flags.FLAGS


def _examples(dataset: str):
  """(count, iterator of (stem, image or its path, ground truth or
  None))."""
  if FLAGS.input:
    paths = prediction_files.find_images(FLAGS.input)
    if FLAGS.max_images:
      paths = paths[:FLAGS.max_images]
    return len(paths), ((p.stem, p, None) for p in paths)
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
    raise ValueError("give exactly one of --input and --data_dir")
  if FLAGS.max_images < 0:
    raise ValueError(f"--max_images must be >= 0, got {FLAGS.max_images}")
  output_dir = pathlib.Path(FLAGS.output_dir)
  io_utils.check_writable_dir(output_dir, "--output_dir")
  model = tool_flags.load_predictor(FLAGS.dataset,
                                    tool_flags.inference_config())
  count, examples = _examples(model.info.dataset)
  bar = progress.ProgressBar(count)
  failed = []
  for done, (stem, image, truth) in enumerate(examples, 1):
    try:  # A bad image is reported; the others are still predicted.
      if isinstance(image, pathlib.Path):
        image = prediction_files.read_rgb(image)
      prediction_files.write_outputs(output_dir, stem, image,
                                     model.predict(image), model.info.labels,
                                     truth)
    except ValueError as e:
      failed.append(stem)
      print(f"skipped: {e}", file=sys.stderr, flush=True)
    bar.update(done)
  bar.close()
  written = count - len(failed)
  print(f"wrote {3 * written} PNGs for {written} images to {output_dir}")
  if failed:
    raise ValueError(f"{len(failed)} of {count} images failed (each "
                     f"named above): {', '.join(failed)}")


def main(_):
  cli.run(predict)


if __name__ == "__main__":
  app.run(main)
