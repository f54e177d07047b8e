"""The seeded train/val/test split of datasets without an official one.

StanfordBG and CMP Facades ship no split. Each image gets a number

    u = int(sha256(f"{split_seed}/{group}")[:16 hex digits], 16) / 2**64

and goes to ``val`` when ``u < val_fraction``, to ``test`` when
``val_fraction <= u < val_fraction + test_fraction``, else to ``train``.
``group`` is the image id (StanfordBG: the id without its first digit,
which names the source collection, so the near-duplicate pairs such as
``1000875``/``9000875`` land on the same side). ``val`` is the rule it
always was (``test_fraction`` only takes images from ``train``), and the
rule looks at one id at a time: an image's side never depends on which
other files exist, so adding CMP's ``extended/`` or the rest of StanfordBG
never moves an image between sides. The shares are the fractions in
expectation, not exactly (docs/datasets.md has the counts).
"""
import hashlib
from typing import Callable, Iterable

from segwgan.data import validate

SIDES = ("train", "val", "test")


def val_score(group: str, split_seed: int) -> float:
  """A uniform number in [0, 1) fixed by (split_seed, group)."""
  digest = hashlib.sha256(f"{split_seed}/{group}".encode("utf-8")).hexdigest()
  return int(digest[:16], 16) / 2.0**64


def side(group: str, split_seed: int, val_fraction: float,
         test_fraction: float) -> str:
  """'val', 'test' or 'train' of `group` (see the module docstring)."""
  score = val_score(group, split_seed)
  if score < val_fraction:
    return "val"
  return "test" if score < val_fraction + test_fraction else "train"


def seeded_split(ids: Iterable[str], split_seed: int, val_fraction: float,
                 test_fraction: float,
                 group: Callable[[str], str] = lambda i: i
                 ) -> dict[str, list[str]]:
  """{'train', 'val', 'test': ids, each sorted}; `group(id)` keeps ids
  together."""
  validate.check_split_setting(split_seed, val_fraction, test_fraction)
  out = {name: [] for name in SIDES}
  for i in sorted(ids):
    out[side(group(i), split_seed, val_fraction, test_fraction)].append(i)
  return out
