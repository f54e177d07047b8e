"""Evaluates a segmenter on a dataset split: Eq. 17-19 (+ 20-23 on Cityscapes).

  python tools/evaluate.py --checkpoint=runs/segwgan \
      --data_dir=PATH/cmp_facades --split=test --output_dir=runs/segwgan/eval \
      --keep_ids=cmp_b0010,cmp_b0042
  python tools/evaluate.py --checkpoint=checkpoints/tf_deeplab_mnv2_dm05_os8 \
      --dataset=pascal_voc2012 --data_dir=PATH/pascal_voc2012 \
      --output_dir=runs/eval_voc
  python tools/evaluate.py --saved_model=exports/cityscapes \
      --data_dir=PATH/cityscapes --scales=0.75,1.0,1.25 --flip ...

The model is a --checkpoint (described by --experiment, the run's
params.yaml, or --preset/its conversion.json with --dataset) or a
--saved_model from tools/export.py. A run's params.yaml also gives the
dataset, the evaluation resize and the split settings (seed, fractions) of
its validation data; --split picks the split. Each image is predicted at its
original size by the one inference path of training's validation
(`segwgan.evaluation.inference`: the model's evaluation resize, the
--scales/--flip/--window test-time augmentation, logits resized back).
Prints a table of per-class IoU and accuracy and writes to OUTPUT_DIR:
metrics.json (+ checkpoint, split, num_images, class_names), metrics.csv,
per_image.npz (ids and each image's confusion matrix,
`segwgan.evaluation.per_image`) and, for --keep_ids, predictions/<id>.png
(palette PNGs, pixel = class id, at the image's size).

Cityscapes: the predictions are also written as labelIds PNGs in the official
results layout (OUTPUT_DIR/cityscapes_results) and, where --data_dir has the
gtFine *_labelIds.png and *_instanceIds.png of every image, scored by
cityscapesscripts (IoU/iIoU of classes and categories, cityscapes.csv).
"""
import contextlib
import io
import pathlib

from absl import flags
import yaml

from segwgan import cli
from segwgan import errors
from segwgan import io_utils
from segwgan import progress
from segwgan.configs import data as data_config
from segwgan.data import registry
from segwgan.evaluation import metric_files
from segwgan.evaluation import split_eval
from segwgan.serving import checkpoints
from segwgan.serving import visualize

flags.DEFINE_list("keep_ids", [], "Image ids whose predictions are written "
                  "to OUTPUT_DIR/predictions/<id>.png.")
cli.define_model_flags()
cli.define_inference_flags()
cli.define_dataset_flag()
cli.define_data_flags()
cli.define_split_flag("val")
cli.define_max_images_flag()
cli.define_output_dir_flag("metrics.json, metrics.csv, per_image.npz, "
                           "predictions/ (and Cityscapes results)")
flags.mark_flag_as_required("output_dir")
flags.adopt_module_key_flags(cli)
FLAGS = flags.FLAGS

CITYSCAPES_RESULTS = "cityscapes_results"
PER_IMAGE_FILE = "per_image.npz"
PREDICTIONS_DIR = "predictions"


def evaluation_data(dataset: str) -> data_config.DataConfig:
  """The split to read: the run's validation data (params.yaml of
  --checkpoint, if any) with --split, --data_dir and --tfds_dir."""
  data = data_config.DataConfig(dataset=dataset, is_training=False)
  params = (checkpoints.find_params(FLAGS.checkpoint) if FLAGS.checkpoint
            else None)
  if params is not None:
    with open(params) as f:
      run = yaml.safe_load(f) or {}
    data.override(run.get("task", {}).get("validation_data", {}),
                  is_strict=False)
  return data.replace(split=FLAGS.split, dataset=dataset,
                      source_dir=FLAGS.data_dir or data.source_dir,
                      tfds_data_dir=FLAGS.tfds_dir or data.tfds_data_dir)


def write_predictions(output_dir: pathlib.Path, kept: dict, info) -> None:
  """predictions/<id>.png: palette PNGs whose pixels are class ids."""
  for image_id, prediction in kept.items():
    visualize.save_png(visualize.palette_image(prediction, info),
                       output_dir / PREDICTIONS_DIR / f"{image_id}.png")


def evaluate() -> None:
  output_dir = pathlib.Path(FLAGS.output_dir)
  io_utils.check_writable_dir(output_dir, "--output_dir", create=False)
  cli.check_max_images()
  config = cli.inference_config()
  model = cli.load_predictor(FLAGS.dataset, config)
  info = model.info
  data = evaluation_data(info.dataset)
  cli.check_data_source(data)
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
        keep_per_image=True, keep=set(FLAGS.keep_ids),
        cityscapes_results_dir=cityscapes_dir,
        cityscapes_source_dir=FLAGS.data_dir, split=FLAGS.split,
        on_image=bar.update)
    bar.close()
    missing = sorted(set(FLAGS.keep_ids) - set(result.kept))
    if missing:  # Raised inside: no cityscapes_results/ is left behind.
      raise errors.FlagError(
          f"--keep_ids: {', '.join(missing)} not among the {len(result.ids)} "
          f"evaluated images of {info.dataset} {FLAGS.split}")

  source = FLAGS.saved_model or info.source
  count = len(result.ids)
  print(f"{info.dataset} {FLAGS.split}, {count} images: {source}")
  print(f"inference: {cli.describe(config, info.resize_long_side)}\n")
  class_names = info.labels.class_names
  print(metric_files.metric_table(class_names, result.summary))
  header = {"dataset": info.dataset, "split": FLAGS.split,
            "num_images": count, "model": source, "checkpoint": info.source,
            "class_names": list(class_names),
            "inference": cli.describe_json(config,
                                                  info.resize_long_side)}
  if is_cityscapes:
    header["cityscapes"] = None
    if result.cityscapes_scores is not None:
      header["cityscapes"], text = metric_files.cityscapes_files(
          result.cityscapes_scores)
      io_utils.atomic_write_text(output_dir / "cityscapes.csv", text)
      print("\n" + metric_files.cityscapes_table(
          result.cityscapes_scores))
    else:
      print(f"\nCityscapes official metrics skipped: "
            f"{result.cityscapes_missing} of {count} images have no gtFine "
            "*_labelIds.png + *_instanceIds.png under --data_dir")
  json_text, csv_text = metric_files.metrics_files(
      class_names, result.summary, result.matrix, header)
  per_image = io.BytesIO()
  result.per_image.save(per_image)
  io_utils.atomic_write_bytes(output_dir / PER_IMAGE_FILE,
                              per_image.getvalue())
  write_predictions(output_dir, result.kept, info.labels)
  io_utils.atomic_write_text(output_dir / "metrics.csv", csv_text)
  io_utils.atomic_write_text(output_dir / "metrics.json", json_text)
  print(f"\nwrote {output_dir / 'metrics.json'}, metrics.csv, "
        f"{PER_IMAGE_FILE}" + (f" and {len(result.kept)} predictions"
                               if result.kept else ""))


if __name__ == "__main__":
  cli.start(evaluate)
