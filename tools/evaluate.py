"""Evaluates a segmenter on a dataset split: Eq. 17-19 (+ 20-23 on Cityscapes).

  python tools/evaluate.py --checkpoint=runs/segwgan/best \
      --data_dir=PATH/cmp_facades --split=val --output_dir=runs/segwgan/eval
  python tools/evaluate.py --checkpoint=checkpoints/tf_deeplab_mnv2_dm05_os8 \
      --dataset=pascal_voc2012 --data_dir=PATH/pascal_voc2012 \
      --output_dir=runs/eval_voc
  python tools/evaluate.py --saved_model=exports/cityscapes \
      --data_dir=PATH/cityscapes --scales=0.75,1.0,1.25 --flip ...

The model is a --checkpoint (described by --experiment, the run's
params.yaml, or --preset/its conversion.json with --dataset) or a
--saved_model from tools/export.py. Each image is predicted at its original
size (after the model's evaluation resize, with the --scales/--flip/--window
test-time augmentation). Prints a table of per-class IoU and accuracy and
writes OUTPUT_DIR/metrics.json and metrics.csv.

Cityscapes: the predictions are also written as labelIds PNGs in the official
results layout (OUTPUT_DIR/cityscapes_results) and, where --data_dir has the
gtFine *_labelIds.png and *_instanceIds.png of every image, scored by
cityscapesscripts (IoU/iIoU of classes and categories, cityscapes.csv).
"""
import contextlib
import pathlib

from absl import app
from absl import flags

from segwgan import cli
from segwgan import io_utils
from segwgan import progress
from segwgan.configs import data as data_config
from segwgan.data import registry
from segwgan.evaluation import results
from segwgan.evaluation import split_eval
from segwgan.serving import tool_flags

flags.DEFINE_string("dataset", None, "The dataset (default: the model's).")
flags.DEFINE_string("data_dir", None, "The dataset's official layout "
                    "(default: download the official archive).")
flags.DEFINE_string("tfds_dir", None, "Where prepared TFDS data is kept "
                    "(default: ~/tensorflow_datasets).")
flags.DEFINE_string("split", "val", "The split to evaluate.")
flags.DEFINE_string("output_dir", None, "Where metrics.json / metrics.csv "
                    "(and Cityscapes results) are written.")
flags.DEFINE_integer("max_images", 0, "Evaluate only the first N images "
                     "(0: all).")
tool_flags.define_model_flags()
tool_flags.define_inference_flags()
flags.mark_flag_as_required("output_dir")
FLAGS = flags.FLAGS

CITYSCAPES_RESULTS = "cityscapes_results"


def evaluate() -> None:
  output_dir = pathlib.Path(FLAGS.output_dir)
  io_utils.check_writable_dir(output_dir, "--output_dir")
  if FLAGS.max_images < 0:
    raise ValueError(f"--max_images must be >= 0, got {FLAGS.max_images}")
  config = tool_flags.inference_config()
  model = tool_flags.load_predictor(FLAGS.dataset, config)
  info = model.info
  data = data_config.DataConfig(
      dataset=info.dataset, split=FLAGS.split, source_dir=FLAGS.data_dir or "",
      tfds_data_dir=FLAGS.tfds_dir or "", is_training=False)
  raw = registry.read_split(data)
  if FLAGS.max_images:
    raw = raw.take(FLAGS.max_images)
  bar = progress.ProgressBar(int(raw.cardinality()))
  is_cityscapes = info.dataset == "cityscapes"
  results_dir = (io_utils.atomic_directory(output_dir / CITYSCAPES_RESULTS)
                 if is_cityscapes else contextlib.nullcontext())
  with results_dir as cityscapes_dir:
    result = split_eval.evaluate_split(
        model.predict, raw.as_numpy_iterator(), info.num_classes,
        cityscapes_results_dir=cityscapes_dir,
        cityscapes_source_dir=FLAGS.data_dir, split=FLAGS.split,
        on_image=bar.update)
  bar.close()

  source = FLAGS.saved_model or info.source
  count = len(result.ids)
  print(f"{info.dataset} {FLAGS.split}, {count} images: {source}")
  print(f"inference: {tool_flags.describe(config, info.resize_long_side)}\n")
  class_names = info.labels.class_names
  print(results.metric_table(class_names, result.summary))
  header = {"dataset": info.dataset, "split": FLAGS.split,
            "num_images": count, "model": source,
            "inference": tool_flags.describe_json(config,
                                                  info.resize_long_side)}
  if is_cityscapes:
    header["cityscapes"] = None
    if result.cityscapes_scores is not None:
      header["cityscapes"], text = results.cityscapes_files(
          result.cityscapes_scores)
      io_utils.atomic_write_text(output_dir / "cityscapes.csv", text)
      print("\n" + results.cityscapes_table(result.cityscapes_scores))
    else:
      print(f"\nCityscapes official metrics skipped: "
            f"{result.cityscapes_missing} of {count} images have no gtFine "
            "*_labelIds.png + *_instanceIds.png under --data_dir")
  json_text, csv_text = results.metrics_files(class_names, result.summary,
                                              result.matrix, header)
  io_utils.atomic_write_text(output_dir / "metrics.csv", csv_text)
  io_utils.atomic_write_text(output_dir / "metrics.json", json_text)
  print(f"\nwrote {output_dir / 'metrics.json'} and metrics.csv")


def main(_):
  cli.run(evaluate)


if __name__ == "__main__":
  app.run(main)
