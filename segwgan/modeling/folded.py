"""An inference copy of a segmenter with its batch norms folded.

`FoldedSegmenter(segmenter)` traces `segmenter(images, training=False)`,
freezes its weights into graph constants and rewrites that graph: each
batch norm that takes a convolution's output (TF's fused op, or the
element-wise x * scale + shift of Keras' non-fused and synchronized batch
norms) becomes part of the convolution (its filter scaled per output
channel, the shift a bias added right after it), and ReLU6 becomes
min(ReLU(x), 6), the form TF fuses into a convolution on any CPU (the
TFLite converter fuses both). With `dilations_as_one_op`, Keras'
SpaceToBatchND / depthwise convolution / BatchToSpaceND becomes one
DepthwiseConv2dNative with dilations: what TFLite runs as one op (XNNPACK
splits its graph at run-time paddings), but TF's own CPU kernel refuses
dilations; only its oneDNN kernel runs them (`native_dilations_supported`).

The copy holds no variables and does not follow later changes of the
segmenter's weights: build it again after training. Nothing of the Keras
model is changed.
"""
import functools
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import convert_to_constants
from tensorflow.python.util import deprecation

ONEDNN_HINT = ("TensorFlow runs a depthwise convolution with dilations only "
               "with its oneDNN ops, which this process does not run "
               "(`import segwgan` before TensorFlow turns them on on x86-64 "
               "unless TF_ENABLE_ONEDNN_OPTS is set: unset it or set it to "
               "1; TensorFlow builds without oneDNN, such as macOS arm64's, "
               "cannot)")
_CONVOLUTIONS = ("Conv2D", "DepthwiseConv2dNative")
_FUSED_BATCH_NORMS = ("FusedBatchNorm", "FusedBatchNormV3")


@functools.lru_cache(maxsize=None)
def native_dilations_supported() -> bool:
  """Whether this process's TF runs a dilated DepthwiseConv2dNative right
  (oneDNN's kernel does; TF's own CPU kernel raises "does not support
  dilations"): checked once against the SpaceToBatchND form, eagerly."""
  with tf.init_scope():  # Run now, even when first asked while tracing.
    images = tf.random.stateless_uniform([1, 7, 7, 2], seed=[0, 1])
    kernel = tf.random.stateless_uniform([3, 3, 2, 1], seed=[2, 3])
    try:
      native = tf.raw_ops.DepthwiseConv2dNative(
          input=images, filter=kernel, strides=[1, 1, 1, 1], padding="SAME",
          dilations=[1, 2, 2, 1]).numpy()
    except tf.errors.OpError:
      return False
    portable = tf.nn.depthwise_conv2d(images, kernel, [1, 1, 1, 1], "SAME",
                                      dilations=[2, 2]).numpy()
  return bool(abs(native - portable).max() < 1e-5)


class FoldedSegmenter:
  """`segmenter`'s inference as a frozen, folded graph: images -> logits.

  Calls take float32 images [B, H, W, 3] (normalised as the segmenter's)
  and return what `segmenter(images, training=False)` returns, to float
  rounding. Inside a tf.function the graph is inlined into the caller's.
  """

  def __init__(self, segmenter, dilations_as_one_op: bool = False):
    function = tf.function(
        lambda images: segmenter(images, training=False),
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    frozen = convert_to_constants.convert_variables_to_constants_v2(
        function.get_concrete_function())
    self._input = frozen.inputs[0].name
    self._output = frozen.outputs[0].name
    graph_def = _without_control_inputs(frozen.graph.as_graph_def())
    if dilations_as_one_op:
      graph_def = dilated_convolutions_as_one_op(graph_def)
    graph_def = fold_batch_norms(graph_def)
    graph_def = relu6_as_minimum(graph_def)
    with deprecation.silence():  # The TF1 API is the one that does this.
      self.graph_def = tf.compat.v1.graph_util.extract_sub_graph(
          graph_def, [_node_name(self._output)])
    self._call = tf.function(self._import, input_signature=[
        tf.TensorSpec([None, None, None, 3], tf.float32)])

  def _import(self, images):
    return tf.graph_util.import_graph_def(
        self.graph_def, input_map={self._input: images},
        return_elements=[self._output], name="folded")[0]

  def __call__(self, images):
    return self._call(images)


def _node_name(tensor_name: str) -> str:
  return tensor_name.lstrip("^").split(":")[0]


def _output_index(tensor_name: str) -> int:
  parts = tensor_name.split(":")
  return int(parts[1]) if len(parts) > 1 else 0


class _Graph:
  """A GraphDef's top-level nodes with their consumers, for rewriting."""

  def __init__(self, graph_def):
    self.graph_def = graph_def
    self.nodes = {node.name: node for node in graph_def.node}
    self.consumers: Dict[str, List[Tuple[tf.compat.v1.NodeDef, int]]] = {}
    for node in graph_def.node:
      for index, name in enumerate(node.input):
        self.consumers.setdefault(_node_name(name), []).append((node, index))
    self.dynamic = self._reached_from_placeholders()

  def _reached_from_placeholders(self) -> set:
    reached = set()
    stack = [n.name for n in self.graph_def.node if n.op == "Placeholder"]
    while stack:
      name = stack.pop()
      if name not in reached:
        reached.add(name)
        stack.extend(node.name for node, _ in self.consumers.get(name, ()))
    return reached

  def sole_consumer(self, name: str) -> Optional[tf.compat.v1.NodeDef]:
    """The only node that takes `name`'s outputs (output 0 only), if one."""
    consumers = self.consumers.get(name, [])
    if len(consumers) != 1:
      return None
    node, index = consumers[0]
    return node if node.input[index] in (name, f"{name}:0") else None

  def is_constant(self, tensor_name: str) -> bool:
    return _node_name(tensor_name) not in self.dynamic

  def values(self, tensor_names) -> dict:
    """{name: numpy value} of tensors that do not depend on any input."""
    names = sorted(set(tensor_names))
    if not names:
      return {}
    names_with_index = [n if ":" in n else f"{n}:0" for n in names]
    graph = tf.Graph()
    with graph.as_default():
      tf.graph_util.import_graph_def(self.graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
      values = session.run(names_with_index)
    return dict(zip(names, values))

  def add_constant(self, name: str, value: np.ndarray) -> str:
    node = self.graph_def.node.add()
    node.name = name
    node.op = "Const"
    node.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
    self.nodes[name] = node
    return name

  def add_node(self, name: str, op: str, inputs, dtype_of) -> str:
    """A new node `op`(inputs), its attr T that of node `dtype_of`."""
    node = self.graph_def.node.add()
    node.name = name
    node.op = op
    node.input.extend(inputs)
    node.attr["T"].CopyFrom(dtype_of.attr["T"])
    self.nodes[name] = node
    return name

  def replace_uses(self, old: str, new: str) -> None:
    """Consumers of `old`'s output 0 take `new`'s instead."""
    for node, index in self.consumers.get(old, []):
      if node.input[index] in (old, f"{old}:0"):
        node.input[index] = new


def _unique(graph: _Graph, name: str) -> str:
  while name in graph.nodes:
    name += "_"
  return name


def _batch_norm_after(graph: _Graph, node) -> Optional[tuple]:
  """(last node, [tensors scale and shift are computed from], how) of a
  batch norm taking `node`'s output, if it is one with constant
  parameters; `how(values)` gives (scale, shift) from their values."""
  follower = graph.sole_consumer(node.name)
  if follower is None:
    return None
  if (follower.op in _FUSED_BATCH_NORMS and
      not follower.attr["is_training"].b and
      follower.attr["data_format"].s in (b"", b"NHWC") and
      all(graph.is_constant(name) for name in follower.input[1:5]) and
      all(_output_index(name) == 0
          for consumer, index in graph.consumers[follower.name]
          for name in [consumer.input[index]])):
    epsilon = follower.attr["epsilon"].f
    gamma, beta, mean, variance = follower.input[1:5]

    def fused(values):
      scale = values[gamma] / np.sqrt(values[variance].astype(np.float64) +
                                      epsilon)
      return scale, values[beta] - values[mean] * scale

    return follower, [gamma, beta, mean, variance], fused
  if follower.op != "Mul":
    return None
  scale = [name for name in follower.input if graph.is_constant(name)]
  adder = graph.sole_consumer(follower.name)
  if len(scale) != 1 or adder is None or adder.op not in ("Add", "AddV2"):
    return None
  shift = [name for name in adder.input if graph.is_constant(name)]
  if len(shift) != 1:
    return None
  return adder, [scale[0], shift[0]], lambda values: (values[scale[0]],
                                                      values[shift[0]])


def fold_batch_norms(graph_def):
  """A copy of a frozen `graph_def` whose batch norms that take a
  convolution's output (optionally through a BiasAdd and a
  BatchToSpaceND) are folded into its filter and one bias after it."""
  graph_def = _copy(graph_def)
  graph = _Graph(graph_def)
  folds = []
  for conv in list(graph_def.node):
    if conv.op not in _CONVOLUTIONS or not graph.is_constant(conv.input[1]):
      continue
    if conv.attr["data_format"].s not in (b"", b"NHWC"):
      continue
    # A BiasAdd and a BatchToSpaceND may come between, in either order
    # (Keras adds the bias after a dilated convolution's BatchToSpaceND).
    chain = []
    follower = graph.sole_consumer(conv.name)
    while (follower is not None and
           follower.op in ("BiasAdd", "BatchToSpaceND") and
           follower.op not in [node.op for node in chain] and
           graph.is_constant(follower.input[1])):
      chain.append(follower)
      follower = graph.sole_consumer(follower.name)
    bias = next((node for node in chain if node.op == "BiasAdd"), None)
    batch_norm = _batch_norm_after(graph, chain[-1] if chain else conv)
    if batch_norm is not None:
      folds.append((conv, bias, chain, *batch_norm))
  needed = [name for conv, bias, _, _, inputs, _ in folds
            for name in [conv.input[1], *inputs] +
            ([bias.input[1]] if bias is not None else [])]
  values = graph.values(needed)
  for conv, bias, chain, norm_end, _, how in folds:
    kernel = values[conv.input[1]]
    channels = (kernel.shape[3] if conv.op == "Conv2D"
                else kernel.shape[2] * kernel.shape[3])
    scale, shift = (np.asarray(v, np.float64) for v in how(values))
    if scale.size not in (1, channels) or shift.size not in (1, channels):
      continue
    scale = np.broadcast_to(scale.reshape(-1), [channels])
    shift = np.broadcast_to(shift.reshape(-1), [channels])
    if bias is not None:
      shift = shift + values[bias.input[1]].astype(np.float64) * scale
    # Output channel c * multiplier + m of a depthwise filter is
    # [:, :, c, m]'s; a Conv2D filter's are its last axis.
    scaled = kernel.astype(np.float64) * (
        scale.reshape(kernel.shape[2:]) if conv.op != "Conv2D" else scale)
    conv.input[1] = graph.add_constant(
        _unique(graph, f"{conv.name}/folded_filter"),
        scaled.astype(kernel.dtype))
    bias_value = graph.add_constant(
        _unique(graph, f"{conv.name}/folded_bias"), shift.astype(kernel.dtype))
    if bias is not None:
      bias.input[1] = bias_value
    else:  # A bias right after the convolution, where TF fuses it.
      biased = graph.add_node(_unique(graph, f"{conv.name}/folded"),
                              "BiasAdd", [conv.name, bias_value], conv)
      if chain:
        chain[0].input[0] = biased
      else:
        chain = [graph.nodes[biased]]
    graph.replace_uses(norm_end.name, chain[-1].name)
  return graph_def


def dilated_convolutions_as_one_op(graph_def):
  """A copy of a frozen `graph_def` whose SpaceToBatchND / depthwise
  convolution (VALID, optionally + BiasAdd) / BatchToSpaceND, Keras' SAME
  dilated depthwise convolution, are one DepthwiseConv2dNative with
  dilations (SAME)."""
  graph_def = _copy(graph_def)
  graph = _Graph(graph_def)
  block_shapes = []
  for to_batch in list(graph_def.node):
    if to_batch.op != "SpaceToBatchND":
      continue
    conv = graph.sole_consumer(to_batch.name)
    if (conv is None or conv.op != "DepthwiseConv2dNative" or
        conv.input[0] not in (to_batch.name, f"{to_batch.name}:0") or
        conv.attr["padding"].s != b"VALID" or
        list(conv.attr["strides"].list.i) != [1, 1, 1, 1] or
        conv.attr["data_format"].s not in (b"", b"NHWC") or
        not graph.is_constant(to_batch.input[1])):
      continue
    last = conv
    follower = graph.sole_consumer(conv.name)
    if follower is not None and follower.op == "BiasAdd":
      last, follower = follower, graph.sole_consumer(follower.name)
    if follower is None or follower.op != "BatchToSpaceND":
      continue
    block_shapes.append((to_batch, conv, last, follower))
  values = graph.values(b.input[1] for b, _, _, _ in block_shapes)
  for to_batch, conv, last, to_space in block_shapes:
    rates = [int(r) for r in values[to_batch.input[1]]]
    conv.input[0] = to_batch.input[0]
    conv.attr["padding"].s = b"SAME"
    del conv.attr["dilations"].list.i[:]
    conv.attr["dilations"].list.i.extend([1, *rates, 1])
    graph.replace_uses(to_space.name, last.name)
  removed = {to_space.name for _, _, _, to_space in block_shapes}
  kept = [node for node in graph_def.node if node.name not in removed]
  del graph_def.node[:]
  graph_def.node.extend(kept)
  return graph_def


def relu6_as_minimum(graph_def):
  """A copy of `graph_def` whose top-level Relu6 ops are min(ReLU(x), 6):
  TF fuses the ReLU into the convolution before it (on an AVX2 CPU, a 1x1
  convolution with bias, batch 1, took 2.8 ms with a fused ReLU6, 2.2 ms
  with ReLU + Minimum; with oneDNN 6.0 and 2.3 ms)."""
  graph_def = _copy(graph_def)
  graph = _Graph(graph_def)
  for node in list(graph_def.node):
    if node.op != "Relu6":
      continue
    relu = graph.add_node(_unique(graph, f"{node.name}/relu"), "Relu",
                          [node.input[0]], node)
    dtype = tf.as_dtype(node.attr["T"].type).as_numpy_dtype
    six = graph.add_constant(_unique(graph, f"{node.name}/six"),
                             np.asarray(6.0, dtype))
    node.op = "Minimum"
    del node.input[:]
    node.input.extend([relu, six])
  return graph_def


def _without_control_inputs(graph_def):
  """A copy of a frozen `graph_def` without control inputs at its top
  level (the freezing leaves the weights' reads as control inputs of the
  output: they would keep the unfolded weights)."""
  graph_def = _copy(graph_def)
  for node in graph_def.node:
    data_inputs = [name for name in node.input if not name.startswith("^")]
    del node.input[:]
    node.input.extend(data_inputs)
  return graph_def


def _copy(graph_def):
  copied = type(graph_def)()
  copied.CopyFrom(graph_def)
  return copied
