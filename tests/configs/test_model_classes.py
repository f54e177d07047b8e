"""Model configs take their class count from the label tables."""
import pytest

from segwgan import labels
from segwgan.configs import models


@pytest.mark.parametrize("dataset", sorted(labels.DATASETS))
def test_model_config_takes_the_dataset_class_count(dataset):
  config = models.model_config("tf_deeplab_mnv2_dm05_os8", dataset)
  assert config.num_classes == len(labels.DATASETS[dataset].class_names)


def test_model_config_names_unknown_datasets():
  with pytest.raises(ValueError, match="unknown dataset 'voc'.*cmp_facades"):
    models.model_config("tf_deeplab_mnv2_dm05_os8", "voc")
