"""segwgan: SegGAN / SegWGAN semantic segmentation on TF 2 and legacy Keras."""
import os

# segwgan and the Model Garden build on legacy Keras (`tf_keras`). Set before
# TensorFlow loads, this makes `tf.keras` that same Keras and spares TF its
# import of Keras 3 (2-3 s of every process's start-up). An explicit value,
# or a process that loaded TensorFlow first, is left alone.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
