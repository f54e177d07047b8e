"""The variants and stage-1 losses: one definition, looked up by name."""
import pytest

from segwgan import losses
from segwgan import variants
from segwgan.configs import experiments
from segwgan.configs import overrides


def test_variants_in_the_protocols_order():
  assert list(variants.VARIANTS) == ["deeplabv3", "seggan", "segwgan"]
  assert [v.display_name for v in variants.VARIANTS.values()] == [
      "DeepLabv3", "SegGAN", "SegWGAN"]
  for name, variant in variants.VARIANTS.items():
    assert variant.name == name
    if variant.gan_loss is None:
      assert variant.accepted_gan_losses == ()
    else:
      assert variant.gan_loss in variant.accepted_gan_losses


def test_the_baseline_is_deeplabv3_without_g_and_d():
  assert variants.BASELINE is variants.get("deeplabv3")
  assert variants.BASELINE.gan_loss is None


def test_segwgan_trains_wgan_gp_and_accepts_clipping():
  segwgan = variants.get("segwgan")
  assert segwgan.gan_loss == "wgan_gp"
  assert segwgan.accepted_gan_losses == ("wgan_gp", "wgan")
  assert variants.get("seggan").accepted_gan_losses == ("gan",)


def test_gan_losses_are_the_papers_equations():
  gan, wgan, wgan_gp = (variants.gan_loss(n) for n in ("gan", "wgan",
                                                       "wgan_gp"))
  assert gan.adversarial is losses.adversarial_loss_gan  # Eq. 5
  assert gan.critic is losses.critic_loss_gan  # Eq. 7
  for loss in (wgan, wgan_gp):
    assert loss.adversarial is losses.adversarial_loss_wgan  # Eq. 6
    assert loss.critic is losses.critic_loss_wgan  # Eq. 8
    assert loss.wasserstein
  assert not gan.wasserstein
  assert (gan.clip, wgan.clip, wgan_gp.clip) == (False, True, False)
  assert [l.gradient_penalty for l in (gan, wgan, wgan_gp)] == [False, False,
                                                                True]


@pytest.mark.parametrize("name,steps,optimizer,learning_rate", [
    ("gan", 1, "adam", 2e-4), ("wgan", 5, "rmsprop", 5e-5),
    ("wgan_gp", 5, "adam", 1e-4)])
def test_gan_loss_preset_sets_the_stage1_config(name, steps, optimizer,
                                                learning_rate):
  """What tools/train_gan.py applies for --gan_loss (the registered
  experiment itself has gan, 1 critic step, Adam 2e-4)."""
  task = overrides.build("stage1_cmp_facades_cpu",
                         presets=experiments.gan_loss_preset(name)).task
  assert task.gan_loss == name and task.critic_steps == steps
  critic_optimizer = task.critic_optimizer
  assert critic_optimizer.optimizer.type == optimizer
  assert critic_optimizer.learning_rate.constant.learning_rate == (
      learning_rate)
  if name == "wgan_gp":
    assert (critic_optimizer.optimizer.adam.beta_1,
            critic_optimizer.optimizer.adam.beta_2) == (0.5, 0.9)


@pytest.mark.parametrize("lookup,name", [(variants.get, "segxgan"),
                                         (variants.gan_loss, "lsgan")])
def test_unknown_names_list_the_known_ones(lookup, name):
  with pytest.raises(ValueError, match=f"{name}.*known"):
    lookup(name)
