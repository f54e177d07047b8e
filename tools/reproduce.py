"""The paper's protocol for one dataset, resumable, ending in a report.

  python tools/reproduce.py --dataset=cmp_facades --seeds=3 \
      --protocol_file=experiments/cmp_facades_cpu_tuned.yaml \
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
parts and resumes the others. Exit codes: 2 for a bad flag or setting, a
changed plan or a busy --output_dir; 1 if a part failed (its log is named);
130 when interrupted.

--protocol_file and --protocol_override take protocol YAML with the
sections common / stage1 / ce / stage2 / report
(segwgan/reporting/settings.py); --size picks the registered experiments
stage1_<dataset>_<size> and stage2_<dataset>_<size>.
"""
import sys

from absl import flags

from segwgan import cli
from segwgan import errors
from segwgan.configs import experiments
from segwgan.configs import overrides
from segwgan.reporting import plan as plan_lib
from segwgan.reporting import protocol
from segwgan.reporting import settings as settings_lib

cli.define_dataset_flag()
cli.define_data_flags()
cli.define_output_dir_flag("everything (default: "
                           "runs/reproduce/<dataset>_<size>)")
flags.DEFINE_integer("seeds", 1, "Seeds 0 .. N-1 (each trains every part).")
flags.DEFINE_enum("size", "cpu", list(experiments.SIZES),
                  "Which registered experiments: cpu or paper.")
flags.DEFINE_multi_string("protocol_file", None, "Protocol YAML files "
                          "(sections common/stage1/ce/stage2/report).")
flags.DEFINE_string("protocol_override", None, "Protocol YAML applied "
                    "last, e.g. '{stage2: {trainer: {train_steps: 100}}}'.")
flags.DEFINE_string("weights_dir", None, "A folder with the pretrained "
                    "TFLite file (default: the official download).")
flags.mark_flag_as_required("dataset")
flags.adopt_module_key_flags(cli)
FLAGS = flags.FLAGS


def reproduce() -> None:
  if FLAGS.dataset not in experiments.DATASETS:
    raise errors.FlagError(f"unknown --dataset={FLAGS.dataset!r}; known: "
                           f"{', '.join(experiments.DATASETS)}")
  if not FLAGS.data_dir and not FLAGS.download:
    raise errors.FlagError(
        "no --data_dir: give the dataset's folder (docs/datasets.md), or "
        "--download to fetch its official archives into --tfds_dir")
  sections = settings_lib.load(FLAGS.protocol_file, FLAGS.protocol_override)
  settings_lib.report_settings(sections)
  params = {}  # Every training config is checked before any work.
  for section, stage in (("stage1", "stage1"), ("ce", "stage2"),
                         ("stage2", "stage2")):
    try:
      params[section] = overrides.build(
          f"{stage}_{FLAGS.dataset}_{FLAGS.size}",
          params_override=settings_lib.dump(
              settings_lib.stage_override(sections, section)))
      cli.check_training_config(params[section])
    except errors.UserError as e:
      raise settings_lib.SettingsError(
          f"the {section} settings (sections common + {section} of "
          f"--protocol_file / --protocol_override): "
          f"{str(e).split(': ', 1)[-1]}") from None
  stage2 = params["stage2"]
  if not 0 < stage2.task.diagnostics_interval <= stage2.trainer.train_steps:
    raise settings_lib.SettingsError(
        "the stage2 settings: task.diagnostics_interval "
        f"({stage2.task.diagnostics_interval}) must be between 1 and "
        f"trainer.train_steps ({stage2.trainer.train_steps}): the report's "
        "grad_share and the ablation row's lambdas come from its samples")
  plan = plan_lib.build(
      FLAGS.dataset, FLAGS.size, FLAGS.seeds,
      FLAGS.output_dir or f"runs/reproduce/{FLAGS.dataset}_{FLAGS.size}",
      sections=sections, init_checkpoint=params["ce"].task.init_checkpoint,
      data_dir=FLAGS.data_dir, tfds_dir=FLAGS.tfds_dir,
      download=FLAGS.download, weights_dir=FLAGS.weights_dir)
  try:
    protocol.run(plan, sys.argv)
  except protocol.PartFailed as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  except KeyboardInterrupt:
    print("interrupted: running the same command again resumes",
          file=sys.stderr)
    sys.exit(130)


if __name__ == "__main__":
  cli.start(reproduce)
