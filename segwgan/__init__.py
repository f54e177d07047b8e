"""segwgan: SegGAN / SegWGAN semantic segmentation on TF 2 and legacy Keras."""
import os
import sys

# segwgan and the Model Garden build on legacy Keras (`tf_keras`). Set before
# TensorFlow loads (and so inherited by the processes this one starts), this
# makes `tf.keras` that same Keras and spares TF its import of Keras 3 (about
# 2 s of every process's start-up). An explicit value is kept; a process that
# loaded TensorFlow first is left as it is.
if "tensorflow" not in sys.modules:
  os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
