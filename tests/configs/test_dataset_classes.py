"""The configs' class counts agree with the data layer's label tables."""
import pytest

from segwgan.configs import data as data_config
from segwgan.configs import models
from segwgan.data import labels


def test_class_counts_match_the_label_tables():
  assert set(data_config.NUM_CLASSES) == set(labels.DATASETS)
  for dataset, info in labels.DATASETS.items():
    assert data_config.num_classes(dataset) == info.num_classes
    assert info.num_classes == len(info.class_names)


def test_model_config_takes_the_count_and_names_unknown_datasets():
  config = models.model_config("tf_deeplab_mnv2_dm05_os8", "cmp_facades")
  assert config.num_classes == 12
  with pytest.raises(ValueError, match="unknown dataset 'voc'.*cmp_facades"):
    models.model_config("tf_deeplab_mnv2_dm05_os8", "voc")
