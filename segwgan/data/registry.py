"""The five datasets by name: listing, reading and loading through TFDS.

  examples = registry.list_examples("cmp_facades", "PATH/cmp_facades", "val")
  raw = registry.load_raw("cmp_facades", "train",
                          source_dir="PATH/cmp_facades", tfds_dir="~/tfds")
  raw = registry.read_split(data_config)  # the same, from a DataConfig

`load_raw` prepares the dataset once with its TFDS builder (every file is
validated then) and reads the split from the prepared copy:
``{'image': uint8 [H,W,3], 'label': uint8 [H,W,1] train ids, 'id': string}``
with known cardinality. ``source_dir=None`` downloads the official archives
(not possible for Cityscapes).
"""
import os
import types
from typing import Optional

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from segwgan.configs import data as data_config
from segwgan.data import ade20k
from segwgan.data import builder
from segwgan.data import cityscapes
from segwgan.data import cmp_facades
from segwgan.data import decode
from segwgan import labels
from segwgan.data import layout
from segwgan.data import pascal_voc2012
from segwgan.data import stanford_background
from segwgan.data import validate

Example = layout.Example

MODULES = {m.NAME: m for m in (cmp_facades, stanford_background,
                               pascal_voc2012, ade20k, cityscapes)}
BUILDERS = {
    cmp_facades.NAME: cmp_facades.CmpFacades,
    stanford_background.NAME: stanford_background.StanfordBackground,
    pascal_voc2012.NAME: pascal_voc2012.PascalVoc2012,
    ade20k.NAME: ade20k.Ade20k,
    cityscapes.NAME: cityscapes.Cityscapes,
}
assert set(MODULES) == set(labels.DATASETS) == set(BUILDERS)


def dataset_module(name: str) -> types.ModuleType:
  """The module of dataset `name`; a DataError lists the known names."""
  try:
    return MODULES[name]
  except (KeyError, TypeError):
    raise validate.DataError(
        f"unknown dataset {name!r} (--dataset); known datasets: "
        f"{', '.join(sorted(MODULES))}") from None


def splits(name: str) -> tuple[str, ...]:
  """The split names dataset `name` knows (a copy may lack some)."""
  return tuple(dataset_module(name).SPLITS)


def list_examples(name: str, source_dir, split: str, *, split_seed: int = 0,
                  val_fraction: float = 0.2, test_fraction: float = 0.2
                  ) -> list[Example]:
  """The examples of `split` in the copy at `source_dir`, sorted by id.

  The layout is checked (DataError naming what is missing); file contents
  are checked when they are read. `split_seed`, `val_fraction` and
  `test_fraction` choose the seeded train/val/test split of StanfordBG and
  CMP Facades.
  """
  module = dataset_module(name)
  parts = module.parts(source_dir, split_seed=split_seed,
                       val_fraction=val_fraction, test_fraction=test_fraction)
  return layout.examples_of(
      parts, layout.select(name, split, module.SPLITS, list(parts),
                           source_dir))


def read_image(path) -> np.ndarray:
  """The photo at `path` as uint8 [H, W, 3] RGB (DataError if unreadable)."""
  return decode.read_image(path)


def read_label(name: str, path) -> np.ndarray:
  """The label file at `path` of dataset `name` as uint8 [H, W] train ids
  (0..C-1, 255 ignore); DataError if unreadable or out of range."""
  return dataset_module(name).read_label(path)


def prepare(name: str, split: Optional[str] = None, *, source_dir=None,
            tfds_dir: Optional[str] = None, split_seed: int = 0,
            val_fraction: float = 0.2, test_fraction: float = 0.2):
  """The dataset's TFDS builder, prepared (and validated) once in `tfds_dir`.

  A local copy's layout (and `split`, if given) is checked before anything
  is prepared.

  Returns:
    (builder, where): the prepared builder and the source it holds.
  """
  module = dataset_module(name)
  builder_cls = BUILDERS[name]
  if split is not None and split not in module.SPLITS:
    layout.select(name, split, module.SPLITS, [], source_dir)  # Raises.
  if module.SEEDED:
    validate.check_split_setting(split_seed, val_fraction, test_fraction)
  if source_dir:
    parts = module.parts(source_dir, split_seed=split_seed,
                         val_fraction=val_fraction,
                         test_fraction=test_fraction)
    if split is not None:
      layout.select(name, split, module.SPLITS, list(parts), source_dir)
    config = builder.source_config(source_dir, parts, module.SEEDED,
                                   split_seed, val_fraction, test_fraction)
    where = source_dir
  elif builder_cls.URLS:
    config = builder.download_config(builder_cls.URLS, module.SEEDED,
                                     split_seed, val_fraction, test_fraction)
    where = ", ".join(builder_cls.URLS.values())
  else:
    how = " ".join(module.MANUAL_DOWNLOAD_INSTRUCTIONS.split())
    raise validate.DataError(f"{name} cannot be downloaded automatically; "
                             f"pass its directory (--data_dir). {how}")
  tfds_dir = os.path.expanduser(tfds_dir) if tfds_dir else None
  return builder.prepare(builder_cls, config, tfds_dir, source_dir), where


def load_raw(name: str, split: str, *, source_dir,
             tfds_dir: Optional[str] = None, split_seed: int = 0,
             val_fraction: float = 0.2, test_fraction: float = 0.2,
             decoded: bool = True) -> tf.data.Dataset:
  """The decoded examples of `split`, from the prepared TFDS copy.

  Args:
    name: a dataset of `labels.DATASETS`.
    split: one of `splits(name)`.
    source_dir: the copy in its official layout, or None to download the
      official archives.
    tfds_dir: where prepared data is kept (TFDS default if None).
    split_seed: the seeded split's seed (StanfordBG, CMP Facades).
    val_fraction: the seeded split's val share.
    test_fraction: the seeded split's test share.
    decoded: False keeps 'image' and 'label' as their stored bytes, for
      pipelines that skip or shuffle before decoding
      (`decode.decode_example` decodes them to the same pixels).

  Returns:
    ``{'image': uint8 [H,W,3], 'label': uint8 [H,W,1], 'id': string}``
    elements, with known cardinality.

  Raises:
    DataError: unknown name or split, bad layout or a bad file (named).
  """
  prepared, where = prepare(name, split, source_dir=source_dir,
                            tfds_dir=tfds_dir, split_seed=split_seed,
                            val_fraction=val_fraction,
                            test_fraction=test_fraction)
  parts = layout.select(name, split, dataset_module(name).SPLITS,
                        list(prepared.info.splits.keys()), where)
  skip = {} if decoded else {"decoders": {
      "image": tfds.decode.SkipDecoding(), "label": tfds.decode.SkipDecoding()}}
  ds = prepared.as_dataset(split="+".join(parts), shuffle_files=False, **skip)
  options = tf.data.Options()
  options.autotune.enabled = False  # No autotuning thread: pipeline._options.
  return ds.map(lambda ex: {"image": ex["image"], "label": ex["label"],
                            "id": ex["id"]}).with_options(options)


def read_split(data: data_config.DataConfig, decoded: bool = True
               ) -> tf.data.Dataset:
  """`load_raw` of the dataset, split and split settings of `data`."""
  return load_raw(
      data.dataset, data.split, source_dir=data.source_dir or None,
      tfds_dir=data.tfds_data_dir or os.path.expanduser(
          "~/tensorflow_datasets"),
      split_seed=data.split_seed, val_fraction=data.val_fraction,
      test_fraction=data.test_fraction, decoded=decoded)
