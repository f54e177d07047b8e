"""The benchmarks' "before" patches (benchmarks/timing.py) still export the
converted DeepLab, change its graph and keep its outputs: a patch that no
longer fits the code it replaces fails here, not in a benchmark run."""
import sys

import numpy as np
import pytest
from PIL import Image

from segwgan.serving import export

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import timing  # pylint: disable=g-import-not-at-top,wrong-import-position

IMAGE = "pascal_voc2012/VOCdevkit/VOC2012/JPEGImages/2007_000033.jpg"


@pytest.fixture(scope="module")
def pixels(shared_data):
  image = np.asarray(Image.open(shared_data / IMAGE).convert("RGB"))
  return image[None].astype(np.float32)


def op_types(module) -> list:
  """The sorted op types of `module.logits`' graph and of the functions it
  calls."""
  graph_def = module.logits.get_concrete_function().graph.as_graph_def()
  nodes = list(graph_def.node)
  for function in graph_def.library.function:
    nodes += function.node_def
  return sorted(node.op for node in nodes)


def exported(loaded, export_dir):
  module, _ = export.load(export.export(loaded, export_dir))
  return module


@pytest.fixture(scope="module")
def final(loaded, pixels, tmp_path_factory):
  module = exported(loaded, tmp_path_factory.mktemp("final") / "export")
  return op_types(module), module.logits(pixels).numpy()


@pytest.mark.parametrize("patch", ["keras_kernels", "no_spp_rewrite",
                                   "variable_weights"])
def test_a_before_side_changes_the_graph_not_the_outputs(loaded, pixels,
                                                         final, patch,
                                                         tmp_path):
  with getattr(timing, patch)():
    module = exported(loaded, tmp_path / "export")
  ops, logits = final
  assert op_types(module) != ops
  before = module.logits(pixels).numpy()
  np.testing.assert_allclose(before, logits, atol=1e-3 * np.abs(logits).max())
  assert np.mean(before.argmax(-1) == logits.argmax(-1)) > 0.999
