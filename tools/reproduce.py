"""The paper's protocol for one dataset, resumable, ending in a report.

  python tools/reproduce.py --dataset=cmp_facades --seeds=3 \
      --config_file=experiments/cmp_facades_cpu_tuned.yaml \
      --data_dir=PATH/cmp_facades --weights_dir=PATH/weights \
      --output_dir=runs/reproduce/cmp_facades_cpu_tuned

Runs the real tools as its parts (segwgan/reporting/plan.py): the
pretrained-checkpoint conversion, then per seed stage 1 for each GAN loss,
a cross-entropy DeepLabv3, every compared row from it (DeepLabv3
continued, SegGAN, SegWGAN, the ablation row) and each row's evaluation on
val and test. Writes OUTPUT_DIR/report/ (report.md, figures, results.json,
per_image.npz) and prints, one per line, the diagnostics

  grad_share variant=<v> term=<content|adversarial> seed=<s> value=<x>
  critic_rank variant=<v> seed=<s> value=<x>

then where the report is. Running the same command again skips finished
parts and resumes the others.

--config_file and --params_override take protocol YAML with the sections
common / stage1 / ce / stage2 / report (segwgan/reporting/settings.py);
--size picks the registered experiments stage1_<dataset>_<size> and
stage2_<dataset>_<size>.
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
flags.DEFINE_integer("seeds", 1, "Seeds 0 .. N-1 (each trains every part).")
flags.DEFINE_enum("size", "cpu", list(plan_lib.SIZES),
                  "Which registered experiments: cpu or paper.")
flags.DEFINE_multi_string("config_file", None, "Protocol YAML files "
                          "(sections common/stage1/ce/stage2/report).")
flags.DEFINE_string("params_override", None, "Protocol YAML applied last, "
                    "e.g. '{stage2: {trainer: {train_steps: 100}}}'.")
flags.DEFINE_string("data_dir", None, "The dataset's official layout "
                    "(default: download the official archive).")
flags.DEFINE_string("tfds_dir", None, "Where prepared data is kept "
                    "(default: ~/tensorflow_datasets).")
flags.DEFINE_string("weights_dir", None, "A folder with the pretrained "
                    "TFLite file (default: the official download).")
flags.DEFINE_string("output_dir", None, "Everything goes here (default: "
                    "runs/reproduce/<dataset>_<size>).")
flags.mark_flag_as_required("dataset")
FLAGS = flags.FLAGS


def reproduce() -> None:
  if FLAGS.dataset not in experiments.DATASETS:
    raise settings_lib.SettingsError(
        f"unknown --dataset={FLAGS.dataset!r}; known: "
        f"{', '.join(experiments.DATASETS)}")
  sections = settings_lib.load(FLAGS.config_file, FLAGS.params_override)
  settings_lib.report_settings(sections)
  params = {}  # Every training config is checked before any work.
  for section, stage in (("stage1", "stage1"), ("ce", "stage2"),
                         ("stage2", "stage2")):
    try:
      params[section] = overrides.build(
          f"{stage}_{FLAGS.dataset}_{FLAGS.size}",
          params_override=settings_lib.dump(
              settings_lib.stage_override(sections, section)))
    except overrides.ConfigError as e:
      raise overrides.ConfigError(
          f"the {section} settings (sections common + {section} of "
          f"--config_file / --params_override): "
          f"{str(e).split(': ', 1)[-1]}") from None
  plan = plan_lib.build(
      FLAGS.dataset, FLAGS.size, FLAGS.seeds,
      FLAGS.output_dir or f"runs/reproduce/{FLAGS.dataset}_{FLAGS.size}",
      sections=sections, init_checkpoint=params["ce"].task.init_checkpoint,
      data_dir=FLAGS.data_dir, tfds_dir=FLAGS.tfds_dir,
      weights_dir=FLAGS.weights_dir)
  protocol.run(plan, sys.argv)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}")
  try:
    cli.run(reproduce)
  except (plan_lib.PlanMismatch, protocol.Busy,
          settings_lib.SettingsError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except protocol.PartFailed as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  except KeyboardInterrupt:
    print("interrupted: running the same command again resumes",
          file=sys.stderr)
    sys.exit(130)


if __name__ == "__main__":
  app.run(main)
