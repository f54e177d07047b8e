"""Input configuration: the Model Garden segmentation DataConfig plus dataset fields."""
import dataclasses
from typing import List

from official.vision.configs import semantic_segmentation as mg_seg

# TF DeepLab (and the converted TFLite checkpoints) expect x / 127.5 - 1.
MINUS_ONE_ONE_MEAN = (127.5, 127.5, 127.5)
MINUS_ONE_ONE_STDDEV = (127.5, 127.5, 127.5)


@dataclasses.dataclass
class DataConfig(mg_seg.DataConfig):
  """Where the data comes from and how it is augmented.

  Inherited fields keep their Model Garden meaning: `output_size` is the
  training crop ([h, w]) or the eval padded size (empty: no padding),
  `aug_scale_min/max` and `aug_rand_hflip` the training augmentation,
  `image_feature.mean/stddev` the segmenter's input normalisation,
  `groundtruth_padded_size` the eval label padding (empty: batches are padded
  to their largest image), `tfds_data_dir` where prepared data is kept,
  `seed`, `cache`, `shuffle_buffer_size`, `deterministic`, `dtype`.

  Attributes:
    dataset: a name from `segwgan.labels.DATASETS`.
    source_dir: the dataset's official layout (TFDS manual dir); empty means
      download the official archive.
    split: train | val | test | all (and the dataset's own, e.g. base).
    resize_long_side: if > 0, every image is first resized so that its long
      side has this many pixels (training scale augmentation is relative to
      it; eval runs at this size and predictions are resized back).
    split_seed: seed of the documented train/val/test split of datasets
      without an official one (StanfordBG, CMP Facades).
    val_fraction: fraction of images in that split's `val` part.
    test_fraction: fraction of images in its `test` part (taken from
      `train`: `val` does not depend on it).
  """
  dataset: str = ''
  source_dir: str = ''
  split: str = 'train'
  resize_long_side: int = 0
  split_seed: int = 0
  val_fraction: float = 0.2
  test_fraction: float = 0.2
  aug_scale_min: float = 0.5
  aug_scale_max: float = 2.0
  output_size: List[int] = dataclasses.field(default_factory=list)
  seed: int = 0
