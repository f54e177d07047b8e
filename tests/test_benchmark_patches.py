"""The benchmarks' "before" patches (benchmarks/timing.py) still fit the
code they replace: a patch that no longer does fails here, not in a
benchmark run."""
import collections
import sys

import numpy as np
from PIL import Image

from segwgan.modeling import folded

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import timing  # pylint: disable=g-import-not-at-top,wrong-import-position

IMAGE = "pascal_voc2012/VOCdevkit/VOC2012/JPEGImages/2007_000033.jpg"


def test_unfolded_copies_keep_batch_norms_and_outputs(loaded, shared_data):
  image = np.asarray(Image.open(shared_data / IMAGE).convert("RGB"))
  pixels = (image[None].astype(np.float32) - 127.5) / 127.5
  copy = folded.FoldedSegmenter(loaded.segmenter)
  with timing.unfolded_copies():
    unfolded = folded.FoldedSegmenter(loaded.segmenter)
  ops = collections.Counter(node.op for node in copy.graph_def.node)
  unfolded_ops = collections.Counter(node.op
                                     for node in unfolded.graph_def.node)
  assert ops["Mul"] == 0 and unfolded_ops["Mul"] >= 50
  logits = copy(pixels).numpy()
  before = unfolded(pixels).numpy()
  np.testing.assert_allclose(before, logits, atol=1e-3 * np.abs(logits).max())
  assert np.mean(before.argmax(-1) == logits.argmax(-1)) > 0.999
