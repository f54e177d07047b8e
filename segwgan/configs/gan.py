"""Generator and critic hyperparameters (Model Garden dataclass configs)."""
import dataclasses
from typing import Optional

from official.modeling import hyperparams


def check_divisor(divisor, what: str) -> int:
  """A `resolution_divisor` as a positive int (ValueError naming `what`)."""
  if (isinstance(divisor, bool) or not isinstance(divisor, (int, float)) or
      int(divisor) != divisor or divisor < 1):
    raise ValueError(f"{what} resolution_divisor must be a positive integer, "
                     f"got {divisor!r}")
  return int(divisor)


@dataclasses.dataclass
class GeneratorConfig(hyperparams.Config):
  """pix2pix U-Net G: 4 convolutions, 4 deconvolutions (paper 3.1).

  Attributes:
    base_filters: filters of the first convolution (doubled per level).
    dropout_rate: dropout used as the noise z, at training *and* inference.
    dropout_layers: how many of the first decoder layers apply it (pix2pix:
      the first three).
    noise_seed: seed of the dropout noise (None: nondeterministic).
    resolution_divisor: 1 (the paper): G runs at the map's resolution. k > 1
      (a speed option, not the paper's method): G runs on the map
      average-pooled by k (k x k blocks) and its image is repeated back to
      the input size (nearest neighbour), about k^2 times less work; H and
      W must then be multiples of 16 k. Stage 2 uses stage 1's setting.
  """
  base_filters: int = 64
  dropout_rate: float = 0.5
  dropout_layers: int = 3
  noise_seed: Optional[int] = 0
  resolution_divisor: int = 1


@dataclasses.dataclass
class CriticConfig(hyperparams.Config):
  """PatchGAN D / WGAN critic: 4 convolutions on the (map, image) pair.

  Attributes:
    base_filters: filters of the first convolution.
    activation: after every convolution but the last: relu (the paper) or
      leaky_relu (pix2pix).
    normalization: after the 2nd and 3rd convolutions: instance (over H
      and W, per example and channel: pix2pix's batch norm at batch size
      1, and the same at training and inference) | batch (pix2pix at
      batch size > 1, the paper-literal setting: stage 1 trains D with
      batch statistics, stage 2 calls it with moving ones) | layer (over
      channels, per position) | none. WGAN-GP must not use batch (its
      penalty is per example; `losses.gradient_penalty` rejects it).
    resolution_divisor: 1 (the paper): D sees the map and the image at their
      resolution, 34x34 patches. k > 1 (a speed option, not the paper's
      method): D sees both average-pooled by k, so each patch score covers
      34k x 34k input pixels and there are k^2 times fewer; with G's same
      k, D sees exactly G's low-resolution image for a fake. Stage 2 uses
      stage 1's setting.
  """
  base_filters: int = 64
  activation: str = "relu"
  normalization: str = "instance"
  resolution_divisor: int = 1
