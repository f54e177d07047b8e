"""segwgan: SegGAN / SegWGAN semantic segmentation on TF 2 and legacy Keras."""
import os
import platform
import sys

# Both settings are read when TensorFlow loads, so they are made before it
# does (and are inherited by the processes this one starts). An explicit
# value is kept; a process that loaded TensorFlow first is left as it is.
if "tensorflow" not in sys.modules:
  # segwgan and the Model Garden build on legacy Keras (`tf_keras`): this
  # makes `tf.keras` that same Keras and spares TF its import of Keras 3
  # (about 2 s of every process's start-up).
  os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
  # TF turns its oneDNN ops on by default only on x86-64 CPUs with AVX-512
  # VNNI/BF16, AVX-VNNI or AMX; on an AVX2 one they made our training steps
  # 1.2-1.6x faster (benchmarks/onednn.py).
  if platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
