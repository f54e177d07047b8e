"""Stage 2: fine-tune DeepLabv3 alone or with the frozen G and D as a loss.

  python tools/train_seg.py --experiment=stage2_cmp_facades_cpu \
      --variant=segwgan --gan_model_dir=runs/gan_wgan \
      --data_dir=PATH/cmp_facades --model_dir=runs/segwgan

--variant=deeplabv3 is the cross-entropy baseline on the same schedule.
Running the same command again resumes from the last checkpoint; the best
checkpoint by validation mIoU is kept under MODEL_DIR/best.
"""
from absl import flags

from segwgan import cli
from segwgan import errors
from segwgan import variants
from segwgan.configs import overrides
from segwgan.training import tasks

flags.DEFINE_enum("variant", None, list(variants.VARIANTS),
                  "deeplabv3 (CE only), seggan or segwgan.")
flags.DEFINE_string("gan_model_dir", None, "The stage-1 --model_dir (needed "
                    "by seggan and segwgan).")
flags.DEFINE_string("init_checkpoint", None, "Segmenter checkpoint to start "
                    "from (default: the experiment's).")
flags.DEFINE_bool("validate_final", True, "Validate the final step (off for "
                  "a caller that scores the final checkpoint itself with "
                  "tools/evaluate.py, as tools/reproduce.py does).")
cli.define_experiment_flags()
flags.mark_flag_as_required("variant")
flags.adopt_module_key_flags(cli)
FLAGS = flags.FLAGS


def train() -> None:
  task = {"variant": FLAGS.variant}
  if FLAGS.gan_model_dir:
    task["gan_model_dir"] = FLAGS.gan_model_dir
  if FLAGS.init_checkpoint:
    task["init_checkpoint"] = FLAGS.init_checkpoint
  values = cli.flag_values()
  values.setdefault("task", {}).update(task)
  params = overrides.build(FLAGS.experiment, config_files=FLAGS.config_file,
                           flag_values=values,
                           params_override=FLAGS.params_override)
  if (variants.get(params.task.variant).gan_loss is not None
      and not params.task.gan_model_dir):
    raise errors.FlagError(f"--variant={params.task.variant} needs "
                           "--gan_model_dir (a stage-1 --model_dir)")
  cli.check_experiment(params)
  step = tasks.train_stage2(params, FLAGS.model_dir,
                            validate_last=FLAGS.validate_final)
  print(f"stage 2 ({params.task.variant}) at step {step}: {FLAGS.model_dir}")


if __name__ == "__main__":
  cli.start(train)
