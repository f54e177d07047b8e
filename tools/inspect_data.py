"""Looks at a dataset copy: image count, size range, class pixels, a grid PNG.

  python tools/inspect_data.py --dataset=cmp_facades \
      --data_dir=PATH/cmp_facades --split=val --output_dir=/tmp/inspect

Every image and label of the split is read and checked; a bad file or flag
is one `error: ...` line on stderr and exit code 2. The grid (a few images
beside their colourised labels) is written to
OUTPUT_DIR/<dataset>_<split>.png.
"""
from absl import app
from absl import flags

from segwgan import cli
from segwgan.data import inspect

flags.DEFINE_string("dataset", None, "cmp_facades, stanford_background, "
                    "pascal_voc2012, ade20k or cityscapes.")
flags.DEFINE_string("data_dir", None, "The dataset's official layout.")
flags.DEFINE_string("split", "all", "all, train, val (or base/extended, "
                    "trainval, test where the dataset has them).")
flags.DEFINE_string("output_dir", ".", "Where the grid PNG is written.")
flags.DEFINE_integer("split_seed", 0, "Seed of the StanfordBG/CMP "
                     "train/val/test split.")
flags.DEFINE_float("val_fraction", 0.2, "Val share of that split.")
flags.DEFINE_float("test_fraction", 0.2, "Test share of that split.")
flags.DEFINE_integer("num_images", 8, "Images in the grid.")
flags.mark_flags_as_required(["dataset", "data_dir"])
FLAGS = flags.FLAGS


def main(_):
  def run():
    summary = inspect.summarise(
        FLAGS.dataset, FLAGS.data_dir, FLAGS.split,
        split_seed=FLAGS.split_seed, val_fraction=FLAGS.val_fraction,
        test_fraction=FLAGS.test_fraction,
        num_samples=FLAGS.num_images)
    print(inspect.format_summary(summary))
    print(f"grid: {inspect.write_grid(summary, FLAGS.output_dir)}")
  cli.run(run)


if __name__ == "__main__":
  app.run(main)
