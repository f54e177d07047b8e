"""Looks at a dataset copy: image count, size range, class pixels, a grid PNG.

  python tools/inspect_data.py --dataset=cmp_facades \
      --data_dir=PATH/cmp_facades --split=val --output_dir=/tmp/inspect

Every image and label of the split is read and checked; a bad file or flag
is one `error: ...` line on stderr and exit code 2. The grid (a few images
beside their colourised labels) is written to
OUTPUT_DIR/<dataset>_<split>.png.
"""
from absl import flags

from segwgan import cli
from segwgan.data import inspect

cli.define_dataset_flag()
cli.define_data_dir_flag()
cli.define_split_flag("all")
cli.define_output_dir_flag("the grid PNG (default: .)")
flags.DEFINE_integer("split_seed", 0, "Seed of the StanfordBG/CMP "
                     "train/val/test split.")
flags.DEFINE_float("val_fraction", 0.2, "Val share of that split.")
flags.DEFINE_float("test_fraction", 0.2, "Test share of that split.")
flags.DEFINE_integer("num_images", 8, "Images in the grid.")
flags.mark_flags_as_required(["dataset", "data_dir"])
flags.adopt_module_key_flags(cli)
FLAGS = flags.FLAGS


def inspect_data() -> None:
  summary = inspect.summarise(
      FLAGS.dataset, FLAGS.data_dir, FLAGS.split,
      split_seed=FLAGS.split_seed, val_fraction=FLAGS.val_fraction,
      test_fraction=FLAGS.test_fraction, num_samples=FLAGS.num_images)
  print(inspect.format_summary(summary))
  print(f"grid: {inspect.write_grid(summary, FLAGS.output_dir or '.')}")


if __name__ == "__main__":
  cli.start(inspect_data)
