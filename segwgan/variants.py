"""The compared variants and the stage-1 GAN losses, each defined once.

A stage-1 loss (`GanLoss`) is the pair of paper equations G and D minimise,
how the critic is kept Lipschitz (WGAN: clipping; WGAN-GP: a gradient
penalty) and the stage-1 settings choosing it implies. A stage-2 variant
(`Variant`) names the stage-1 loss the protocol trains for it; its
adversarial term l_A is that loss's. Trainers, the configs, the protocol,
the report and the tools read these objects; adding a variant is one entry
in `VARIANTS`.
"""
import dataclasses
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from segwgan import losses


@dataclasses.dataclass(frozen=True)
class GanLoss:
  """A stage-1 loss.

  Attributes:
    name: 'gan' | 'wgan' | 'wgan_gp' (the `--gan_loss` value).
    adversarial: l_A from D's output, per example: Eq. 5 or Eq. 6.
    critic: D's loss from its real and fake outputs: Eq. 7 or Eq. 8.
    clip: clip the critic's weights after each critic step (WGAN).
    gradient_penalty: add the WGAN-GP penalty to the critic's loss.
    preset: the stage-1 task settings (`GanTask` fields) `--gan_loss`
      implies besides `gan_loss` itself, applied before config files and
      overrides (`configs.experiments.gan_loss_preset`).
  """
  name: str
  adversarial: Callable
  critic: Callable
  clip: bool
  gradient_penalty: bool
  preset: Mapping[str, Any] = dataclasses.field(default_factory=dict,
                                                compare=False)

  @property
  def wasserstein(self) -> bool:
    """Whether D's real - fake gap estimates a Wasserstein distance."""
    return self.critic is losses.critic_loss_wgan


# WGAN follows Arjovsky et al.: 5 critic steps, clipping, RMSprop 5e-5 for the
# critic; WGAN-GP follows Gulrajani et al.: Adam(1e-4, 0.5, 0.9), no clipping.
GAN_LOSSES: Dict[str, GanLoss] = {
    "gan": GanLoss("gan", losses.adversarial_loss_gan,
                   losses.critic_loss_gan, clip=False,
                   gradient_penalty=False, preset={"critic_steps": 1}),
    "wgan": GanLoss("wgan", losses.adversarial_loss_wgan,
                    losses.critic_loss_wgan, clip=True,
                    gradient_penalty=False, preset={
                        "critic_steps": 5, "clip_value": 0.01,
                        "critic_optimizer": {
                            "optimizer": {"type": "rmsprop"},
                            "learning_rate": {
                                "type": "constant",
                                "constant": {"learning_rate": 5e-5}}}}),
    "wgan_gp": GanLoss("wgan_gp", losses.adversarial_loss_wgan,
                       losses.critic_loss_wgan, clip=False,
                       gradient_penalty=True, preset={
                           "critic_steps": 5,
                           "critic_optimizer": {
                               "optimizer": {
                                   "type": "adam",
                                   "adam": {"beta_1": 0.5, "beta_2": 0.9}},
                               "learning_rate": {
                                   "type": "constant",
                                   "constant": {"learning_rate": 1e-4}}}}),
}


@dataclasses.dataclass(frozen=True)
class Variant:
  """A stage-2 variant.

  Attributes:
    name: 'deeplabv3' | 'seggan' | 'segwgan' (the `--variant` value).
    display_name: as tables print it.
    gan_loss: the stage-1 loss the protocol trains for it; None: no G and
      D, cross-entropy only.
    accepted_gan_losses: the stage-1 losses of the runs it may load.
  """
  name: str
  display_name: str
  gan_loss: Optional[str]
  accepted_gan_losses: Tuple[str, ...]


# SegWGAN's stage 1 is WGAN-GP, not the paper's clipping ('wgan', still
# accepted): clipping keeps the critic's scores, and so l_A's gradient,
# near zero (docs/networks.md, "Which WGAN").
VARIANTS: Dict[str, Variant] = {
    "deeplabv3": Variant("deeplabv3", "DeepLabv3", None, ()),
    "seggan": Variant("seggan", "SegGAN", "gan", ("gan",)),
    "segwgan": Variant("segwgan", "SegWGAN", "wgan_gp", ("wgan_gp", "wgan")),
}
# The cross-entropy baseline the GAN variants are compared with.
BASELINE = VARIANTS["deeplabv3"]


def _lookup(table: dict, what: str, name: str):
  try:
    return table[name]
  except KeyError:
    raise ValueError(f"unknown {what} {name!r}; known: "
                     f"{', '.join(table)}") from None


def get(name: str) -> Variant:
  """The variant `name`; a ValueError lists the known ones."""
  return _lookup(VARIANTS, "variant", name)


def gan_loss(name: str) -> GanLoss:
  """The stage-1 loss `name`; a ValueError lists the known ones."""
  return _lookup(GAN_LOSSES, "gan_loss", name)
