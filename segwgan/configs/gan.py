"""Generator and critic hyperparameters (Model Garden dataclass configs)."""
import dataclasses
from typing import Optional

from official.modeling import hyperparams


@dataclasses.dataclass
class GeneratorConfig(hyperparams.Config):
  """pix2pix U-Net G: 4 convolutions, 4 deconvolutions (paper 3.1).

  Attributes:
    base_filters: filters of the first convolution (doubled per level).
    dropout_rate: dropout used as the noise z, at training *and* inference.
    dropout_layers: how many of the first decoder layers apply it (pix2pix:
      the first three).
    noise_seed: seed of the dropout noise (None: nondeterministic).
  """
  base_filters: int = 64
  dropout_rate: float = 0.5
  dropout_layers: int = 3
  noise_seed: Optional[int] = 0


@dataclasses.dataclass
class CriticConfig(hyperparams.Config):
  """PatchGAN D / WGAN critic: 4 convolutions on the (map, image) pair.

  Attributes:
    base_filters: filters of the first convolution.
    activation: after every convolution but the last: relu (the paper) or
      leaky_relu (pix2pix).
    normalization: after the 2nd and 3rd convolutions: batch | layer (over
      channels, per position) | none. WGAN-GP must not use batch (its
      penalty is per example; `losses.gradient_penalty` rejects it).
  """
  base_filters: int = 64
  activation: str = "relu"
  normalization: str = "batch"
