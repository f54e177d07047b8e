"""Stage 1: train the generator G and critic D on ground-truth label maps.

  python tools/train_gan.py --experiment=stage1_cmp_facades_cpu \
      --gan_loss=wgan --data_dir=PATH/cmp_facades --model_dir=runs/gan_wgan

Running the same command again resumes from the last checkpoint.
"""
from absl import flags

from segwgan import cli
from segwgan import variants
from segwgan.configs import experiments
from segwgan.configs import overrides
from segwgan.training import tasks

flags.DEFINE_enum("gan_loss", "gan", list(variants.GAN_LOSSES),
                  "gan (log loss, Eq. 1/5/7), wgan (Eq. 6/8, weight clipping, "
                  "5 critic steps) or wgan_gp (gradient penalty).")
flags.DEFINE_integer("figure_images", 4, "G's reconstructions of this many "
                     "validation images (first by id) are written to "
                     "MODEL_DIR/reconstructions.")
cli.define_experiment_flags()
flags.adopt_module_key_flags(cli)
FLAGS = flags.FLAGS


def train() -> None:
  params = overrides.build(
      FLAGS.experiment, presets=experiments.gan_loss_preset(FLAGS.gan_loss),
      config_files=FLAGS.config_file, flag_values=cli.flag_values(),
      params_override=FLAGS.params_override)
  cli.check_experiment(params)
  step = tasks.train_stage1(params, FLAGS.model_dir, FLAGS.figure_images)
  print(f"stage 1 ({params.task.gan_loss}) at step {step}: {FLAGS.model_dir}")


if __name__ == "__main__":
  cli.start(train)
