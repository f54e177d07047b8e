"""The seeded train/val split of datasets without an official one.

StanfordBG and CMP Facades ship no split. An image goes to ``val`` when

    u = int(sha256(f"{split_seed}/{group}")[:16 hex digits], 16) / 2**64
    u < val_fraction

where ``group`` is the image id (StanfordBG: the id without its first digit,
which names the source collection, so the near-duplicate pairs such as
``1000875``/``9000875`` land on the same side). The rule looks at one id at a
time: an image's side never depends on which other files exist, so adding
CMP's ``extended/`` or the rest of StanfordBG never moves an image between
train and val. The val share is ``val_fraction`` in expectation (about 0.2 x
453 = 91 +- 9 images for StanfordBG), not exactly.
"""
import hashlib
from typing import Callable, Iterable

from segwgan.data import validate


def val_score(group: str, split_seed: int) -> float:
  """A uniform number in [0, 1) fixed by (split_seed, group)."""
  digest = hashlib.sha256(f"{split_seed}/{group}".encode("utf-8")).hexdigest()
  return int(digest[:16], 16) / 2.0**64


def is_val(group: str, split_seed: int, val_fraction: float) -> bool:
  return val_score(group, split_seed) < val_fraction


def seeded_split(ids: Iterable[str], split_seed: int, val_fraction: float,
                 group: Callable[[str], str] = lambda i: i
                 ) -> dict[str, list[str]]:
  """{'train': ids, 'val': ids}, each sorted; `group(id)` keeps ids together."""
  validate.check_split_setting(split_seed, val_fraction)
  out = {"train": [], "val": []}
  for i in sorted(ids):
    side = "val" if is_val(group(i), split_seed, val_fraction) else "train"
    out[side].append(i)
  return out
