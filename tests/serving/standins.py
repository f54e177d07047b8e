"""Stand-ins for `segwgan.data.registry` and `segwgan.data.validate`.

Installed by `install()` only while those modules do not exist yet (the
dataset layer is being written in parallel). They follow its contract for
the two datasets the serving tests read, with PIL: PASCAL VOC 2012 (official
VOCdevkit layout) and Cityscapes (gtFine labelIds, or labelTrainIds).
"""
import dataclasses
import importlib
import pathlib
import sys
import types
from typing import Optional

import numpy as np
from PIL import Image


@dataclasses.dataclass(frozen=True)
class Example:
  id: str
  image_path: str
  label_path: str
  instance_path: Optional[str] = None


def _voc_root(source_dir) -> pathlib.Path:
  root = pathlib.Path(source_dir)
  return root / "VOCdevkit" / "VOC2012" if (root / "VOCdevkit").is_dir() \
      else root


def list_examples(name, source_dir, split):
  if name == "pascal_voc2012":
    root = _voc_root(source_dir)
    ids = (root / "ImageSets" / "Segmentation" / f"{split}.txt"
           ).read_text().split()
    return [Example(i, str(root / "JPEGImages" / f"{i}.jpg"),
                    str(root / "SegmentationClass" / f"{i}.png"))
            for i in ids]
  if name == "cityscapes":
    examples = []
    root = pathlib.Path(source_dir)
    for image in sorted((root / "leftImg8bit" / split).glob("*/*.png")):
      frame = image.name.replace("_leftImg8bit.png", "")
      gt = root / "gtFine" / split / image.parent.name / frame
      label = pathlib.Path(f"{gt}_gtFine_labelIds.png")
      if not label.exists():
        label = pathlib.Path(f"{gt}_gtFine_labelTrainIds.png")
      instance = pathlib.Path(f"{gt}_gtFine_instanceIds.png")
      examples.append(Example(frame, str(image), str(label),
                              str(instance) if instance.exists() else None))
    return examples
  raise ValueError(f"stand-in registry: no {name}")


def read_image(path):
  return np.asarray(Image.open(path).convert("RGB"))


def read_label(name, path):
  label = np.asarray(Image.open(path))
  if name == "cityscapes" and "_labelIds" in str(path):
    from segwgan.data import labels  # pylint: disable=g-import-not-at-top
    return labels.cityscapes_label_id_to_train_id()[label]
  return label.astype(np.uint8)


def load_raw(name, split, *, source_dir, tfds_dir=None, **unused):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  del tfds_dir, unused
  examples = list_examples(name, source_dir, split)

  def generate():
    for example in examples:
      yield {"image": read_image(example.image_path),
             "label": read_label(name, example.label_path)[..., None],
             "id": example.id}

  return tf.data.Dataset.from_generator(generate, output_signature={
      "image": tf.TensorSpec([None, None, 3], tf.uint8),
      "label": tf.TensorSpec([None, None, 1], tf.uint8),
      "id": tf.TensorSpec([], tf.string)}).apply(
          tf.data.experimental.assert_cardinality(len(examples)))


class DataError(ValueError):
  pass


def install() -> list:
  """Registers the stand-ins whose real module is missing; returns them."""
  installed = []
  package = importlib.import_module("segwgan.data")
  this = sys.modules[__name__]
  for short, names in (("registry", ("list_examples", "read_image",
                                     "read_label", "load_raw")),
                       ("validate", ("DataError",))):
    full = f"segwgan.data.{short}"
    try:
      importlib.import_module(full)
    except ModuleNotFoundError as e:
      if e.name != full:
        raise
      module = types.ModuleType(full)
      for name in names:
        setattr(module, name, getattr(this, name))
      sys.modules[full] = module
      setattr(package, short, module)
      installed.append(full)
  return installed
