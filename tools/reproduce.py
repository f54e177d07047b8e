"""The paper's protocol for one dataset, resumable, ending in a report.

  python tools/reproduce.py --dataset=cmp_facades --seeds=3 \
      --config_file=experiments/cmp_facades_cpu_tuned.yaml \
      --data_dir=PATH/cmp_facades --weights_dir=PATH/weights \
      --output_dir=runs/reproduce/cmp_facades_cpu_tuned

Runs the pretrained-checkpoint conversion, stage 1 (GAN and WGAN), then per
seed DeepLabv3, SegGAN and SegWGAN on the same data, schedule and seed, each
evaluated on the validation split, and writes OUTPUT_DIR/report/report.md
(+ PNG figures, results.json). Running the same command again skips the
finished parts and resumes the others; it prints where the report is.

--config_file and --params_override take protocol YAML with the sections
common / stage1 / stage2 / report (see segwgan/reporting/settings.py and
experiments/*.yaml); --experiment picks the registered experiments
stage1_<dataset>_<experiment> and stage2_<dataset>_<experiment>.
"""
import sys

from absl import app
from absl import flags

from segwgan import cli
from segwgan.configs import experiments
from segwgan.configs import overrides
from segwgan.reporting import plan as plan_lib
from segwgan.reporting import protocol
from segwgan.reporting import settings as settings_lib

flags.DEFINE_string("dataset", None, "cmp_facades, stanford_background, ...")
flags.DEFINE_integer("seeds", 1, "Stage-2 seeds (0 .. N-1).")
flags.DEFINE_enum("experiment", "cpu", list(plan_lib.SIZES),
                  "Which registered experiments: cpu or paper.")
flags.DEFINE_multi_string("config_file", None, "Protocol YAML files "
                          "(sections common/stage1/stage2/report), in order.")
flags.DEFINE_string("params_override", None, "Protocol YAML applied last, "
                    "e.g. '{stage2: {trainer: {train_steps: 100}}}'.")
flags.DEFINE_string("data_dir", None, "The dataset's official layout "
                    "(default: download the official archive).")
flags.DEFINE_string("tfds_dir", None, "Where prepared data is kept "
                    "(default: ~/tensorflow_datasets).")
flags.DEFINE_string("weights_dir", None, "A folder with the pretrained "
                    "TFLite file (default: the official download).")
flags.DEFINE_string("output_dir", None, "Everything goes here (default: "
                    "runs/reproduce/<dataset>_<experiment>).")
flags.DEFINE_enum("mixed_precision", None, ["float32", "bfloat16", "float16"],
                  "Compute precision of both stages (default: the "
                  "experiments').")
flags.DEFINE_enum("strategy", None, ["default", "mirrored", "multi_worker"],
                  "tf.distribute strategy of both stages.")
flags.mark_flag_as_required("dataset")
FLAGS = flags.FLAGS


def reproduce() -> None:
  sections = settings_lib.load(FLAGS.config_file, FLAGS.params_override)
  runtime = {}
  if FLAGS.mixed_precision:
    runtime["mixed_precision_dtype"] = FLAGS.mixed_precision
  if FLAGS.strategy:
    runtime["distribution_strategy"] = FLAGS.strategy
  if runtime:
    sections = settings_lib.deep_merge(sections,
                                       {"common": {"runtime": runtime}})
  if FLAGS.dataset not in experiments.DATASETS:
    raise ValueError(f"unknown --dataset={FLAGS.dataset!r}; known: "
                     f"{', '.join(experiments.DATASETS)}")
  # Both stages' configs and the report settings are checked before any work.
  settings_lib.report_settings(sections)
  params = {}
  for stage in ("stage1", "stage2"):
    try:
      params[stage] = overrides.build(
          f"{stage}_{FLAGS.dataset}_{FLAGS.experiment}",
          params_override=settings_lib.dump(
              settings_lib.stage_override(sections, stage)))
    except overrides.ConfigError as e:
      raise overrides.ConfigError(
          f"the {stage} settings (sections common + {stage} of "
          f"--config_file / --params_override): "
          f"{str(e).split(': ', 1)[-1]}") from None
  output_dir = (FLAGS.output_dir or
                f"runs/reproduce/{FLAGS.dataset}_{FLAGS.experiment}")
  plan = plan_lib.build(
      FLAGS.dataset, FLAGS.experiment, FLAGS.seeds, output_dir,
      sections=sections,
      stage2_init_checkpoint=params["stage2"].task.init_checkpoint,
      data_dir=FLAGS.data_dir, tfds_dir=FLAGS.tfds_dir,
      weights_dir=FLAGS.weights_dir)
  protocol.run(plan, sys.argv)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}")
  try:
    cli.run(reproduce)
  except protocol.PartFailed as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  except KeyboardInterrupt:
    print("interrupted: running the same command again resumes",
          file=sys.stderr)
    sys.exit(130)


if __name__ == "__main__":
  app.run(main)
