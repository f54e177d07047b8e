"""The TFDS builder the five datasets share, keyed by a source fingerprint.

Each dataset module subclasses `SourceBuilder` with its `_info`,
`_split_generators` (layout -> parts), official URLs and
`MANUAL_DOWNLOAD_INSTRUCTIONS`. Every prepared example is
``{'image', 'label', 'id'}``:

* ``image``: the photo's original bytes when TF decodes them exactly as PIL
  does, else a lossless PNG of PIL's pixels (`decode.exact_bytes`), decoded
  by `ExactImage` to the same uint8 [H, W, 3] as `registry.read_image`;
* ``label``: train ids (0..C-1, 255 ignore) as a single-channel PNG;
* ``id``: the image id.

The builder config is named after the source: ``src_<hash>`` of the source
directory's real path and every example file's part, name, size and mtime
(plus split_seed/val_fraction/test_fraction for seeded splits), or
``dl_<hash>`` of the archive URLs. A different or changed copy is therefore prepared afresh, never
served from another copy's data. TFDS writes into a temporary directory and
renames it when complete, so an interrupted preparation is redone, and
concurrent preparations of one variant wait for each other (a lock file).
"""
import dataclasses
import fcntl
import hashlib
import inspect
import io
import json
import os
import pathlib
from typing import Mapping, Optional

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

from segwgan import errors
from segwgan.data import decode
from segwgan.data import layout
from segwgan.data import validate

VERSION = tfds.core.Version("1.0.0")


@dataclasses.dataclass(eq=False)
class SourceConfig(tfds.core.BuilderConfig):
  """Which copy of the dataset a prepared variant holds.

  Attributes:
    manual: read the TFDS manual dir (the user's copy) rather than download.
    split_seed: seed of the seeded train/val/test split (StanfordBG, CMP).
    val_fraction: its val share.
    test_fraction: its test share.
  """
  manual: bool = True
  split_seed: int = 0
  val_fraction: float = 0.2
  test_fraction: float = 0.2


class ExactImage(tfds.features.Image):
  """An RGB image decoded bit-identically to `registry.read_image`."""

  def decode_example(self, example):
    return decode.decode_bytes(example)

  def decode_example_np(self, example: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(example)) as image:
      return np.asarray(image.convert("RGB"))


def features() -> tfds.features.FeaturesDict:
  return tfds.features.FeaturesDict({
      "image": ExactImage(shape=(None, None, 3)),
      "label": tfds.features.Image(shape=(None, None, 1),
                                   encoding_format="png"),
      "id": tfds.features.Text(),
  })


class SourceBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Base of the dataset builders: reads parts of a source layout.

  Subclasses set `URLS` and `MANUAL_DOWNLOAD_INSTRUCTIONS`,
  implement `_info` (with `dataset_info`) and `_split_generators` (with
  `source` and `generators`), and define `read_label(path)`.
  """
  VERSION = VERSION
  RELEASE_NOTES = {"1.0.0": "Original bytes or lossless pixels; train ids."}
  URLS: Mapping[str, str] = {}

  @staticmethod
  def read_label(path) -> np.ndarray:
    raise NotImplementedError

  def _create_builder_config(self, builder_config, version):
    """A `SourceConfig` is used as given: it is custom by design (named by
    its source), so TFDS's "Using custom data configuration" warning, which
    would show on every read, says nothing to a user."""
    if isinstance(builder_config, SourceConfig):
      return builder_config
    return super()._create_builder_config(builder_config, version)

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path:
    """The builder's file (TFDS 4.9.10's own lookup imports the missing
    `importlib_resources` backport on Python >= 3.9)."""
    return epath.Path(inspect.getfile(cls))

  def dataset_info(self, description: str, homepage: str,
                   citation: str) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self, description=description, features=features(),
        supervised_keys=("image", "label"), homepage=homepage,
        citation=citation)

  def source(self, dl_manager):
    """The user's copy (manual dir), or {url key: extracted dir}."""
    if self.builder_config.manual:
      return dl_manager.manual_dir
    return dl_manager.download_and_extract(dict(self.URLS))

  def generators(self, parts: layout.Parts) -> dict:
    return {name: self._generate_examples(examples)
            for name, examples in parts.items()}

  def _generate_examples(self, examples):
    """Validates and encodes each example (DataError on a bad file)."""
    for example in examples:
      image = decode.read_image(example.image_path)
      label = self.read_label(example.label_path)
      validate.check_same_size(image.shape, label.shape, example.image_path,
                               example.label_path)
      yield example.id, {
          "image": decode.exact_bytes(example.image_path, image),
          "label": decode.png_bytes(label),
          "id": example.id,
      }


def _hash(*items) -> str:
  return hashlib.sha256(json.dumps(items, sort_keys=True).encode()
                        ).hexdigest()[:16]


def source_config(source_dir, parts: layout.Parts, seeded: bool,
                  split_seed: int, val_fraction: float,
                  test_fraction: float) -> SourceConfig:
  """The config of a local copy, named by its fingerprint."""
  files = []
  for part in sorted(parts):
    for example in sorted(parts[part], key=lambda e: e.id):
      for path in (example.image_path, example.label_path):
        stat = os.stat(path)
        files.append((part, os.path.relpath(path, source_dir), stat.st_size,
                      stat.st_mtime_ns))
  seed = ([split_seed, float(val_fraction), float(test_fraction)] if seeded
          else None)
  root = os.path.realpath(source_dir)
  return SourceConfig(
      name=f"src_{_hash(root, seed, files)}", version=VERSION,
      description=f"{root} ({sum(len(p) for p in parts.values())} images)",
      manual=True, split_seed=split_seed, val_fraction=val_fraction,
      test_fraction=test_fraction)


def download_config(urls: Mapping[str, str], seeded: bool, split_seed: int,
                    val_fraction: float, test_fraction: float
                    ) -> SourceConfig:
  """The config of the official archives at `urls`."""
  seed = ([split_seed, float(val_fraction), float(test_fraction)] if seeded
          else None)
  return SourceConfig(
      name=f"dl_{_hash(dict(urls), seed)}", version=VERSION,
      description="official archives: " + ", ".join(urls.values()),
      manual=False, split_seed=split_seed, val_fraction=val_fraction,
      test_fraction=test_fraction)


def prepare(builder_cls, config: SourceConfig, tfds_dir: Optional[str],
            source_dir=None) -> tfds.core.DatasetBuilder:
  """The builder of `config`, prepared (validated) once into `tfds_dir`.

  Processes preparing the same variant at once (e.g. the workers of one
  multi-worker run) take turns on a lock file beside it; the later ones then
  find it prepared.
  """
  builder = builder_cls(data_dir=tfds_dir, config=config)
  if builder.is_prepared():
    return builder
  lock_path = pathlib.Path(os.fspath(builder.data_path)).parent.parent / (
      f".{config.name}.lock")
  lock_path.parent.mkdir(parents=True, exist_ok=True)
  with open(lock_path, "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    builder = builder_cls(data_dir=tfds_dir, config=config)  # Re-read.
    try:
      builder.download_and_prepare(
          download_config=tfds.download.DownloadConfig(
              manual_dir=os.fspath(source_dir) if source_dir else None,
              try_download_gcs=False))
    except (OSError, tf.errors.OpError) as e:
      # A failed download: requests' errors (OSErrors without errno) or, for
      # a file:// URL, TF's; local file errors keep their own type.
      if source_dir or getattr(e, "errno", None) is not None:
        raise
      raise errors.DownloadError(
          f"could not download {config.name}'s archives ({e}); download "
          "them by hand and pass --data_dir") from None
  return builder
