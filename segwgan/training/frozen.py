"""How stage 2 calls the frozen G and D, and so how diagnostics measure them.

Both are called in inference mode (`training=False`): G with its moving
batch-norm statistics and its dropout noise on (the paper's z, "at both
training and test time"); D with its normalisation's inference mode, which
for the default instance norm is what stage 1 trained (a batch-norm D would
use moving statistics instead of the batch statistics it was trained with).
"""


def reconstruct(generator, label_maps):
  """I^R = G(Y, z) as stage 2 computes it (Eq. 10 on a class map)."""
  return generator(label_maps, training=False)


def judge(critic, label_maps, images):
  """D(Y, image), [B], as stage 2 computes it (Eq. 11)."""
  return critic([label_maps, images], training=False)
