"""What the benchmarks share: interleaved timing, FLOP counts, load, data.

Every benchmark compares two (or more) sides *in one run*: after warm-up,
the sides alternate rep by rep (A B, B A, A B, ... so neither always runs
first after the other), and each side's figure is the median of its reps.
The ratio printed is median(A) / median(B); the spread of the per-rep
ratios (each rep's A over the B next to it) is printed with it, so load
from other processes shows up as a wide spread rather than a wrong ratio.

FLOPs are counted from a traced graph (a `tf.function`'s concrete graph
with static shapes, the ops a call runs) with the per-op "flops" statistics
TF registers, which `tf.compat.v1.profiler` sums (Conv2D, MatMul,
element-wise ops, ...;
depthwise-conv backprops have none and count 0), except that both
convolution backprops count their forward convolution's multiply-adds (see
`flops_by_op`: the registered formulas over-count dilated convolutions).
"""
import os
import pathlib
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional
from unittest import mock

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python benchmarks/x.py` from a fresh clone.
  sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Before TensorFlow loads: see segwgan/__init__.py.
import segwgan  # pylint: disable=g-import-not-at-top,unused-import,wrong-import-position
from segwgan import environment  # pylint: disable=g-import-not-at-top,wrong-import-position

SHARED = pathlib.Path(os.environ.get("SEGWGAN_SHARED_DIR",
                                     REPO.parent / "shared"))
DM05_TFLITE = (SHARED / "weights" / "deeplabv3_mnv2_dm05_pascal_257_float" /
               "deeplabv3_257_mv_gpu.tflite")


def load() -> str:
  """The 1/5/15-minute load averages and the number of CPUs."""
  one, five, fifteen = os.getloadavg()
  return (f"load average {one:.2f} {five:.2f} {fifteen:.2f} on "
          f"{os.cpu_count()} CPUs")


def banner(name: str) -> None:
  """The benchmark's name, the machine (as reports name it) and the load."""
  print(f"== {name} ({load()} at start)\n   machine: "
        f"{environment.describe_machine()}", flush=True)


class Elapsed(float):
  """A side may return this: its own timing of the part that counts."""


def interleaved(sides: Dict[str, Callable[[], object]], *, reps: int,
                warmup: int = 2, budget_s: Optional[float] = None,
                min_reps: int = 5) -> Dict[str, List[float]]:
  """Wall times (s) of each side's calls, the sides alternating per rep.

  Args:
    sides: name -> a call to time (it must block until done, e.g. end in
      `.numpy()`). A call that returns an `Elapsed` is timed by that value
      (e.g. to leave out untimed preparation inside the call).
    reps: timed calls per side.
    warmup: untimed calls per side first (tracing, allocation).
    budget_s: if set, fewer reps (but at least `min_reps`) so that the
      timed part takes about this long, estimated from the last warm-up.
  """
  names = list(sides)
  last = {}
  for _ in range(warmup):
    for name in names:
      start = time.perf_counter()
      sides[name]()
      last[name] = time.perf_counter() - start
  if budget_s is not None and last:
    per_rep = sum(last.values())
    reps = max(min_reps, min(reps, int(budget_s / max(per_rep, 1e-9))))
  times = {name: [] for name in names}
  for rep in range(reps):
    for name in (names if rep % 2 == 0 else reversed(names)):
      start = time.perf_counter()
      result = sides[name]()
      elapsed = time.perf_counter() - start
      times[name].append(result if isinstance(result, Elapsed) else elapsed)
  return times


def median(values) -> float:
  return statistics.median(values)


def paired_ratios(times: Dict[str, List[float]], a: str, b: str
                  ) -> List[float]:
  return [x / y for x, y in zip(times[a], times[b])]


def report(times: Dict[str, List[float]], unit: str = "s", scale: float = 1.0,
           per: str = "call") -> None:
  """Prints median, min and max of each side."""
  for name, values in times.items():
    values = [v * scale for v in values]
    print(f"  {name:<34} median {median(values):9.4f} {unit}/{per}  "
          f"(min {min(values):.4f}, max {max(values):.4f}, n={len(values)})",
          flush=True)


def ratio_of(times: Dict[str, List[float]], a: str, b: str) -> float:
  """median(a) / median(b), printed with the spread of per-rep ratios."""
  ratio = median(times[a]) / median(times[b])
  pairs = sorted(paired_ratios(times, a, b))
  print(f"  {a} / {b}: {ratio:.3f} (per-rep ratios {pairs[0]:.3f} .. "
        f"{pairs[-1]:.3f}, median {median(pairs):.3f})", flush=True)
  return ratio


def final(name: str, ratio: float, target: str) -> None:
  """The last line every benchmark prints."""
  print(f"   ({load()} at end)")
  print(f"{name} ratio={ratio:.3f} target={target}", flush=True)


def _conv_backprop_flops(op) -> int:
  """2 x the forward convolution's multiply-adds: out_backprop elements x
  kernel height x width x input depth (both backprops do one MAC per
  forward MAC, whatever the padding)."""
  out_backprop = op.inputs[2].shape
  kernel = (op.inputs[1].shape if op.type == "Conv2DBackpropInput"
            else op.outputs[0].shape)
  out_backprop.assert_is_fully_defined()
  kernel.assert_is_fully_defined()
  return 2 * out_backprop.num_elements() * kernel[0] * kernel[1] * kernel[2]


def executed_ops(concrete_function) -> list:
  """The ops of a concrete function's graph that a call runs: those its
  outputs and control outputs (stateful ops, e.g. variable updates) depend
  on. TF prunes the others."""
  graph = concrete_function.graph
  stack = [t.op for t in concrete_function.outputs] + list(
      graph.control_outputs)
  reached = set()
  while stack:
    op = stack.pop()
    if op not in reached:
      reached.add(op)
      stack.extend(t.op for t in op.inputs)
      stack.extend(op.control_inputs)
  return [op for op in graph.get_operations() if op in reached]


def flops_by_op(concrete_function) -> Dict[str, int]:
  """{op type: float ops} of one call of a concrete function (its
  `executed_ops`).

  Each op's count is TF's registered "flops" statistic (what
  `tf.compat.v1.profiler` sums), except Conv2DBackpropInput/Filter: their
  registered formulas take the forward *input* size as if the convolution
  were SAME-padded, which over-counts the VALID convolutions a dilated
  convolution becomes after SpaceToBatchND (2.9x for ASPP's rate-18 branch
  on a 32x32 map); they count the forward convolution's MACs instead.
  """
  from tensorflow.python.framework import ops as ops_lib  # pylint: disable=g-import-not-at-top
  from tensorflow.python.profiler.internal import flops_registry  # pylint: disable=g-import-not-at-top,unused-import
  graph = concrete_function.graph
  totals = {}
  for op in executed_ops(concrete_function):
    if op.type in ("Conv2DBackpropInput", "Conv2DBackpropFilter"):
      value = _conv_backprop_flops(op)
    else:
      try:
        value = ops_lib.get_stats_for_node_def(graph, op.node_def,
                                               "flops").value
      except (ValueError, TypeError):
        value = None  # No statistic, or shapes not fully known.
    if value:
      totals[op.type] = totals.get(op.type, 0) + int(value)
  return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def cmp_batches(config, n_batches: int = 2):
  """`n_batches` real CMP Facades training batches (the pipeline's output for
  `config`, a training DataConfig), as tensors held in memory."""
  from segwgan.training import tasks  # pylint: disable=g-import-not-at-top
  config = config.replace(source_dir=str(SHARED / "data" / "cmp_facades"))
  data = tasks.dataset_fn(config)(None, 0)
  return [batch for batch, _ in zip(data, range(n_batches))]


def converted_dm05_checkpoint() -> str:
  """The converted Google DeepLabv3 MobileNetV2 0.5 checkpoint: the repo's
  `checkpoints/tf_deeplab_mnv2_dm05_os8` if present, else converted now into
  a temporary directory."""
  import tempfile  # pylint: disable=g-import-not-at-top
  local = REPO / "checkpoints" / "tf_deeplab_mnv2_dm05_os8"
  if (local / "checkpoint").exists():
    return str(local)
  from segwgan.modeling import pretrained  # pylint: disable=g-import-not-at-top
  conversion = pretrained.convert_tflite(DM05_TFLITE, width=0.5)
  return str(pretrained.save_checkpoint(
      conversion, pathlib.Path(tempfile.mkdtemp()) / "dm05"))


# The patches below are autospec'd: each accepts exactly the arguments of
# the function it replaces, whatever they become.
def unfolded_copies():
  """While open, `folded.FoldedSegmenter` leaves batch norms as they are
  (what exports run without the fold): the "before" side of the fold."""
  from segwgan.modeling import folded  # pylint: disable=g-import-not-at-top
  return mock.patch.object(folded, "fold_batch_norms", autospec=True,
                           side_effect=lambda graph_def: graph_def)


def op_time_by_type(call: Callable[[], object], calls: int = 3,
                    top: int = 12) -> List[tuple]:
  """[(op type, self time in ms per call, share)] of `calls` calls of `call`,
  from a TensorFlow profiler trace (`tf.profiler.experimental`, summarised
  by the profiler plugin's `framework_op_stats` tool), largest first."""
  import glob  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.python.profiler.internal import _pywrap_profiler_plugin  # pylint: disable=g-import-not-at-top
  logdir = tempfile.mkdtemp()
  tf.profiler.experimental.start(logdir)
  try:
    for _ in range(calls):
      call()
  finally:
    tf.profiler.experimental.stop()
  path = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[-1]
  data, ok = _pywrap_profiler_plugin.xspace_to_tools_data(
      [path], "framework_op_stats", {})
  if not ok:
    raise RuntimeError(data)
  table = json.loads(data)[0]
  columns = [c["id"] for c in table["cols"]]
  totals = {}
  for row in table["rows"]:
    values = dict(zip(columns, [cell["v"] if cell else None
                                for cell in row["c"]]))
    if values["type"] in ("IDLE",):
      continue
    totals[values["type"]] = (totals.get(values["type"], 0.0) +
                              float(values["total_self_time"]))
  everything = sum(totals.values())
  ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
  return [(op_type, us / 1000.0 / calls, us / everything)
          for op_type, us in ranked]


def print_op_times(title: str, rows: List[tuple]) -> None:
  print(f"   {title} (TF profiler, op self time per call):")
  for op_type, ms, share in rows:
    print(f"     {op_type:<34} {ms:9.2f} ms  {100 * share:5.1f}%")
