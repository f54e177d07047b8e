"""The paper's numbers for the datasets the protocol reproduces.

Typed in from Zhu et al. 2018 (`../shared/paper/segwgan-paper.txt`), in
percent. Only the rows of the paper's own methods are kept (the other rows
are results of earlier work the paper copies). Neither table has per-class
IoU (section 4.3.5 says "per-class mIoU scores are shown in Table 6", but
the table holds only the three means), so per-class cells are "not reported".
"""
import dataclasses
from typing import Dict, Optional, Tuple

@dataclasses.dataclass(frozen=True)
class PaperTable:
  """One table of the paper: {variant name: {metric: percent}}.

  Attributes:
    citation: where the numbers are, e.g. "Table 6".
    split: the split the paper reports on.
    values: percent per variant and metric.
    notes: discrepancies between the table and the paper's text.
  """
  citation: str
  split: str
  values: Dict[str, Dict[str, float]]
  notes: Tuple[str, ...] = ()

  def value(self, variant: str, metric: str) -> Optional[float]:
    return self.values.get(variant, {}).get(metric)


def _row(class_acc: float, pix_acc: float, miou: float) -> dict:
  return {"class_accuracy": class_acc, "pixel_accuracy": pix_acc,
          "miou": miou}


TABLES = {
    "cmp_facades": PaperTable(
        citation=("Table 6, \"The segmentation performance on CMP Facades "
                  "validation dataset\""),
        split="validation (split not published)",
        values={"deeplabv3": _row(67.9, 72.1, 43.3),
                "seggan": _row(71.7, 76.1, 49.6),
                "segwgan": _row(72.6, 77.8, 53.5)},
        notes=("Section 4.3.5 says SegWGAN's Pix Acc is 5.6 points above "
               "DeepLabv3's; Table 6 gives 77.8 - 72.1 = 5.7.",)),
    "stanford_background": PaperTable(
        citation=("Table 5, \"The segmentation performance on StanfordBG "
                  "dataset\""),
        split="not stated (no official split exists)",
        values={"deeplabv3": _row(76.5, 87.4, 73.2),
                "seggan": _row(76.8, 87.6, 73.8),
                "segwgan": _row(79.0, 87.7, 73.9)},
        notes=("Section 4.3.4 says SegGAN's mIoU improves 0.3 points and "
               "SegWGAN's 2.5 points over DeepLabv3; Table 5 gives "
               "73.8 - 73.2 = 0.6 and 73.9 - 73.2 = 0.7.",)),
}


def table(dataset: str) -> Optional[PaperTable]:
  """The paper's table for `dataset`, or None if it has none here."""
  return TABLES.get(dataset)
