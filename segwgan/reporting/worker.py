"""One part of a reproduction, in its own process (see `protocol.py`).

  python -m segwgan.reporting.worker --job=stage1 --experiment=... \
      --gan_loss=wgan --config_file=OUT/configs/stage1.yaml --seed=0 \
      --model_dir=OUT/stage1/wgan --figure_dir=OUT/figure_inputs ...
  python -m segwgan.reporting.worker --job=stage2 --experiment=... \
      --variant=segwgan --gan_model_dir=OUT/stage1/wgan --seed=1 \
      --model_dir=OUT/stage2/seed1/segwgan --eval_dir=.../eval ...
  python -m segwgan.reporting.worker --job=convert --experiment=... \
      --tflite=deeplabv3_mnv2_dm05_pascal_257_float \
      --model_dir=OUT/pretrained/tf_deeplab_mnv2_dm05_os8 ...

Jobs:
  convert: the TFLite file (found under --weights_dir, else the official
    download, checksum-verified) converted into --model_dir.
  stage1: `tools/train_gan.py` with the same flags, then G's reconstructions
    G(Y) of the figure images' ground truth (Figure 3).
  stage2: `tools/train_seg.py` with the same flags (but no validation of
    the final step during training), then the final checkpoint evaluated
    image by image on the validation split (per-image confusion matrices,
    metrics, the figure images' predictions).

Lines starting with "| " are progress meant for the protocol's console.
"""
import pathlib
import sys
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from segwgan import cli
from segwgan import io_utils
from segwgan.configs import experiments
from segwgan.configs import overrides
from segwgan import labels
from segwgan.data import registry
from segwgan.evaluation import split_eval
from segwgan.modeling import pretrained
from segwgan.reporting import figures
from segwgan.reporting import files
from segwgan.serving import checkpoints
from segwgan.serving import predictor
from segwgan.training import maps
from segwgan.training import runner
from segwgan.training import tasks

JOBS = ("convert", "stage1", "stage2")
VARIANT_OF_LOSS = {"gan": "seggan", "wgan": "segwgan", "wgan_gp": "segwgan"}
FIGURE_IDS = "ids.json"

flags.DEFINE_enum("job", None, list(JOBS), "What to run.")
flags.DEFINE_enum("gan_loss", "gan", list(experiments.GAN_LOSS_PRESETS),
                  "stage1: gan | wgan | wgan_gp.")
flags.DEFINE_string("variant", None, "stage2: deeplabv3 | seggan | segwgan.")
flags.DEFINE_string("gan_model_dir", None, "stage2: the stage-1 model_dir.")
flags.DEFINE_string("init_checkpoint", None, "stage2: the segmenter's "
                    "starting checkpoint.")
flags.DEFINE_string("eval_dir", None, "stage2: where the evaluation goes.")
flags.DEFINE_integer("eval_max_images", 0, "stage2: evaluate only the first "
                     "N validation images (0: all).")
flags.DEFINE_string("figure_dir", None, "Where the figure images' inputs "
                    "(image, ground truth) are kept.")
flags.DEFINE_integer("figure_images", 4, "How many validation images the "
                     "figures show (the first by sorted id).")
flags.DEFINE_string("tflite", None, "convert: a pretrained.TFLITE_FILES name.")
flags.DEFINE_string("weights_dir", None, "convert: a folder holding a copy "
                    "of the TFLite file (searched recursively).")
flags.DEFINE_string("download_dir", None, "convert: where the verified "
                    "TFLite copy is kept.")
cli.define_experiment_flags()  # incl. --seed (task.seed and train_data.seed)
flags.mark_flag_as_required("job")
FLAGS = flags.FLAGS


def say(message: str) -> None:
  print(f"| {message}", flush=True)


def _values(task: dict) -> dict:
  """cli.flag_values() (data, runtime, --seed) plus `task`."""
  values = cli.flag_values()
  values.setdefault("task", {}).update(task)
  return values


def _build(presets=None, task=None):
  params = overrides.build(FLAGS.experiment, presets=presets,
                           config_files=FLAGS.config_file,
                           flag_values=_values(task or {}),
                           params_override=FLAGS.params_override)
  cli.check_experiment(params)
  return params


# Figure images ------------------------------------------------------------


def _figure_ids(data, count: int, figure_dir: pathlib.Path) -> list:
  """The first `count` validation ids by sorted id (kept in figure_dir)."""
  known = files.read_json(figure_dir / FIGURE_IDS)
  if known is not None or count <= 0:
    return known or []
  if data.source_dir:
    ids = [e.id for e in registry.list_examples(
        data.dataset, data.source_dir, data.split,
        split_seed=data.split_seed, val_fraction=data.val_fraction)]
  else:
    ids = [i.decode() for i in tasks.raw_examples(data).map(
        lambda e: e["id"]).as_numpy_iterator()]
  return sorted(ids)[:count]


def _figure_examples(data, ids, figure_dir: pathlib.Path) -> dict:
  """{id: example} of `ids`; their image and ground-truth PNGs are saved in
  `figure_dir` (once)."""
  chosen, examples = set(ids), {}
  for example in tasks.raw_examples(data).as_numpy_iterator():
    if example["id"].decode() in chosen:
      examples[example["id"].decode()] = example
  info = labels.get_info(data.dataset)
  paths = figures.FigureFiles(figure_dir)
  for image_id, example in examples.items():
    size = figures.figure_size(*example["image"].shape[:2])
    if not paths.image(image_id).exists():
      figures.write_png(paths.image(image_id),
                        figures.resize_image(example["image"], size))
    if not paths.label(image_id).exists():
      figures.save_label_png(paths.label(image_id), figures.resize_labels(
          example["label"][..., 0], size), info)
  files.write_json(figure_dir / FIGURE_IDS, list(ids))
  return {i: examples[i] for i in ids if i in examples}


def _has_figure_inputs(ids, figure_dir: pathlib.Path) -> bool:
  paths = figures.FigureFiles(figure_dir)
  return (figure_dir / FIGURE_IDS).exists() and all(
      paths.image(i).exists() and paths.label(i).exists() for i in ids)


def _reconstruct(generator, example, num_classes: int, long_side: int):
  """G(Y) of one ground truth at the training scale ([-1, 1] -> uint8)."""
  label = tf.convert_to_tensor(example["label"])
  height, width = label.shape[:2]
  scale = long_side / max(height, width) if long_side else 1.0
  size = (max(16, round(height * scale)), max(16, round(width * scale)))
  label = tf.image.resize(label, size, method="nearest")
  pad = [(-s) % 16 for s in size]
  padded = tf.pad(tf.cast(label, tf.int32) - 255,
                  [[0, pad[0]], [0, pad[1]], [0, 0]]) + 255
  image = generator(maps.ground_truth_map(padded[None], num_classes),
                    training=False)[0, :size[0], :size[1]]
  return tf.cast(tf.clip_by_value((image + 1.0) * 127.5, 0, 255),
                 tf.uint8).numpy()


# Jobs -------------------------------------------------------------------------


def convert() -> None:
  if not (FLAGS.tflite and FLAGS.download_dir):
    raise ValueError("--job=convert needs --tflite and --download_dir")
  spec = pretrained.TFLITE_FILES[FLAGS.tflite]
  source = ""
  if FLAGS.weights_dir:
    found = sorted(pathlib.Path(FLAGS.weights_dir).rglob(spec.filename))
    if not found:
      raise FileNotFoundError(
          f"--weights_dir={FLAGS.weights_dir} holds no {spec.filename}; "
          f"leave --weights_dir out to download it from {spec.url}")
    source = str(found[0])
  say(f"TFLite {FLAGS.tflite} from {source or spec.url}")
  path = pretrained.fetch_tflite(FLAGS.tflite, FLAGS.download_dir, source)
  conversion = pretrained.convert_tflite(path)
  prefix = pretrained.save_checkpoint(conversion, FLAGS.model_dir,
                                      source=str(path), overwrite=True)
  say(f"converted (sha256 verified) to {prefix} (preset {conversion.preset})")


def stage1() -> None:
  params = _build(presets=experiments.GAN_LOSS_PRESETS[FLAGS.gan_loss])
  start = time.time()
  step = tasks.train_stage1(params, FLAGS.model_dir)
  train_seconds = time.time() - start
  say(f"stage 1 ({params.task.gan_loss}) at step {step} after "
      f"{train_seconds:.1f} s")
  start = time.time()
  data = params.task.validation_data
  info = labels.get_info(data.dataset)
  figure_dir = pathlib.Path(FLAGS.figure_dir)
  examples = _figure_examples(
      data, _figure_ids(data, FLAGS.figure_images, figure_dir), figure_dir)
  generator, _ = tasks.load_stage1(FLAGS.model_dir,
                                   VARIANT_OF_LOSS[params.task.gan_loss],
                                   info.num_classes)
  out = pathlib.Path(FLAGS.model_dir) / "reconstructions"
  with io_utils.atomic_directory(out) as tmp:
    for image_id, example in examples.items():
      image = _reconstruct(generator, example, info.num_classes,
                           params.task.train_data.resize_long_side)
      size = figures.figure_size(*example["image"].shape[:2])
      figures.write_png(tmp / f"{image_id}.png",
                        figures.resize_image(image, size))
    files.write_json(tmp / "timing.json", {
        "train_seconds": train_seconds, "step": step,
        "reconstruct_seconds": time.time() - start})
  say(f"{len(examples)} reconstructions in {out}")


def stage2() -> None:
  if not FLAGS.variant or not FLAGS.eval_dir:
    raise ValueError("--job=stage2 needs --variant and --eval_dir")
  task = {"variant": FLAGS.variant}
  if FLAGS.gan_model_dir:
    task["gan_model_dir"] = FLAGS.gan_model_dir
  if FLAGS.init_checkpoint:
    task["init_checkpoint"] = FLAGS.init_checkpoint
  params = _build(task=task)
  if params.task.variant != "deeplabv3" and not params.task.gan_model_dir:
    raise ValueError(f"--variant={params.task.variant} needs --gan_model_dir")
  start = time.time()
  # The final checkpoint is evaluated below, image by image: validating it
  # during training as well would score the same images twice.
  step = tasks.train_stage2(params, FLAGS.model_dir, validate_last=False)
  train_seconds = time.time() - start
  say(f"stage 2 ({params.task.variant}) at step {step} after "
      f"{train_seconds:.1f} s")

  start = time.time()
  data = params.task.validation_data
  info = labels.get_info(data.dataset)
  figure_dir = pathlib.Path(FLAGS.figure_dir or FLAGS.eval_dir)
  figure_ids = _figure_ids(data, FLAGS.figure_images, figure_dir)
  if not _has_figure_inputs(figure_ids, figure_dir):
    _figure_examples(data, figure_ids, figure_dir)
  latest = tf.train.latest_checkpoint(FLAGS.model_dir)
  runner.set_precision("float32")  # Scored as tools/evaluate.py scores it.
  loaded = checkpoints.load(latest)
  raw = tasks.raw_examples(data)
  if FLAGS.eval_max_images:
    raw = raw.take(FLAGS.eval_max_images)
  total = int(raw.cardinality())
  say(f"evaluating {latest} on {total} {data.split} images")

  def progress(done):
    if done % 20 == 0 or done == total:
      say(f"evaluated {done}/{total} images")

  evaluated = split_eval.evaluate_split(
      predictor.Predictor.from_loaded(loaded).predict, raw.as_numpy_iterator(),
      info.num_classes, keep_per_image=True, keep=set(figure_ids),
      on_image=progress)
  result = evaluated.per_image
  summary = evaluated.summary
  with io_utils.atomic_directory(FLAGS.eval_dir) as tmp:
    with open(tmp / "per_image.npz", "wb") as f:
      result.save(f)
    for image_id, prediction in evaluated.kept.items():
      size = figures.figure_size(*prediction.shape)
      figures.save_label_png(tmp / "predictions" / f"{image_id}.png",
                             figures.resize_labels(prediction, size), info)
    files.write_json(tmp / "metrics.json", {
        "checkpoint": latest, "step": step, "variant": params.task.variant,
        "seed": FLAGS.seed, "split": data.split,
        "num_images": len(result.ids), "class_names": list(info.class_names),
        "train_seconds": train_seconds, "eval_seconds": time.time() - start,
        **{k: _json_number(v) for k, v in summary.items()}})
  say(f"val mIoU {100 * summary['miou']:.2f}, pixel acc "
      f"{100 * summary['pixel_accuracy']:.2f}, class acc "
      f"{100 * summary['class_accuracy']:.2f} ({len(result.ids)} images, "
      f"{time.time() - start:.1f} s)")


def _json_number(value):
  """Floats (and lists of them) with NaN as None."""
  if isinstance(value, (list, tuple)):
    return [_json_number(v) for v in value]
  value = float(value)
  return None if np.isnan(value) else value


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}")
  cli.run({"convert": convert, "stage1": stage1, "stage2": stage2}[FLAGS.job])


if __name__ == "__main__":
  sys.exit(app.run(main))
