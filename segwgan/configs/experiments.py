"""Stage-1 and stage-2 task configs and the registered experiments.

One experiment per (stage, dataset, size): ``stage1_<dataset>_<size>`` trains
G and D, ``stage2_<dataset>_<size>`` fine-tunes DeepLabv3 (``task.variant``:
deeplabv3 | seggan | segwgan). Sizes:

* ``paper``: the paper's setting (section 4.2): dilated ResNet-101 DeepLabv3,
  output stride 16, 512 crops (513 in TF DeepLab; G needs a multiple of 16),
  batch 8, Adam 5e-4 in stage 2, batch norm frozen; eval on whole images.
* ``cpu``: what 2 CPU cores can train: TF DeepLab's MobileNetV2 width 0.5
  converted from the Google-trained TFLite model
  (`tools/convert_tflite_checkpoint.py`), images resized to a long side of
  512 (StanfordBG: 320), 256 crops (StanfordBG: 224), narrower G and D.
"""
import dataclasses
from typing import List, Union

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import optimization

from segwgan import variants
from segwgan.configs import data as data_config
from segwgan.configs import gan
from segwgan.configs import models

DATASETS = ("cmp_facades", "stanford_background", "pascal_voc2012", "ade20k",
            "cityscapes")
SIZES = ("paper", "cpu")
EXPERIMENTS: List[str] = []

# Where a run records its final experiment config: MODEL_DIR/params.yaml.
PARAMS_FILE = "params.yaml"


def gan_loss_preset(name: str) -> dict:
  """What `--gan_loss=name` implies for a stage-1 experiment (applied before
  config files and overrides): `variants.GanLoss.preset` and the name."""
  return {"task": {"gan_loss": name, **variants.gan_loss(name).preset}}


def adam(learning_rate: float, beta_1: float = 0.9
         ) -> optimization.OptimizationConfig:
  return optimization.OptimizationConfig({
      "optimizer": {"type": "adam", "adam": {"beta_1": beta_1}},
      "learning_rate": {"type": "constant",
                        "constant": {"learning_rate": learning_rate}}})


@dataclasses.dataclass
class TrainingTask(cfg.TaskConfig):
  """What both stages share.

  Attributes:
    seed: seeds weight initialisation (Python, NumPy and TF global seeds);
      the data order and augmentation follow `train_data.seed` (`--seed`
      sets both).
    deterministic: enables TF op determinism, so a run (and a killed and
      resumed run) gives bit-identical weights; slower.
  """
  seed: int = 0
  deterministic: bool = False


@dataclasses.dataclass
class GanTask(TrainingTask):
  """Stage 1 (Eq. 7-13, 16): G and D on ground-truth maps.

  Attributes:
    gan_loss: gan (log loss, Eq. 1/5/7) | wgan (Eq. 6/8, clipping) | wgan_gp.
    l1_weight: the 100 of Eq. 16.
    critic_steps: critic updates per generator update.
    clip_value: WGAN weight clipping bound.
    gp_weight: WGAN-GP gradient penalty weight.
    critic_optimizer: D's optimizer (G's is the trainer's optimizer_config).
    plateau_patience, plateau_min_delta: the stop rule. Every
      trainer.validation_interval steps G's L1 on the validation split is
      measured (MODEL_DIR/stage1_validation.json); stage 1 stops once
      `plateau_patience` evaluations in a row have not brought it below
      (1 - plateau_min_delta) x the best before them. trainer.train_steps
      is the budget cap; patience 0 disables the rule.
  """
  generator: gan.GeneratorConfig = dataclasses.field(
      default_factory=gan.GeneratorConfig)
  critic: gan.CriticConfig = dataclasses.field(default_factory=gan.CriticConfig)
  gan_loss: str = "gan"
  l1_weight: float = 100.0
  critic_steps: int = 1
  clip_value: float = 0.01
  gp_weight: float = 10.0
  critic_optimizer: optimization.OptimizationConfig = dataclasses.field(
      default_factory=lambda: adam(2e-4, beta_1=0.5))
  plateau_patience: int = 3
  plateau_min_delta: float = 0.01
  train_data: data_config.DataConfig = dataclasses.field(
      default_factory=data_config.DataConfig)
  validation_data: data_config.DataConfig = dataclasses.field(
      default_factory=data_config.DataConfig)


@dataclasses.dataclass
class SegTask(TrainingTask):
  """Stage 2 (Eq. 2-6, 14-15): DeepLabv3 with the frozen G and D.

  Attributes:
    model: the segmenter (a Model Garden segmentation model config). The
      registered experiments set `model.norm_activation.use_sync_bn`
      false: with statistics frozen, synchronizing them across replicas
      changes nothing, and the plain layer runs TF's fused batch-norm op
      (0.88x bfloat16 and 0.93-0.97x float32 step time;
      benchmarks/RESULTS.md). With fine_tune_batch_norm on several
      replicas, set it true.
    variant: deeplabv3 (CE only) | seggan (Eq. 5) | segwgan (Eq. 6).
    gan_model_dir: the stage-1 model_dir: its params.yaml gives G's and D's
      configs and its latest checkpoint their weights.
    lambda_content, lambda_adversarial: lambda_1 and lambda_2 of Eq. 2.
    fine_tune_batch_norm: False freezes batch-norm statistics (the paper).
    init_checkpoint_modules: 'all' or a subset of backbone, decoder.
    l2_weight_decay: the Model Garden's losses.l2_weight_decay: kernels
      get an l2 regularizer of half this factor, added to the stage-2 loss
      (0: none, the paper's).
    diagnostics_interval: every this many steps, seggan and segwgan
      measure the gradient norms of lambda_1 l_C and lambda_2 l_A on the
      segmenter's weights relative to l_S's (TensorBoard grad_share/*,
      MODEL_DIR/diagnostics.json); 0 disables.
  """
  model: models.SegmenterModel = dataclasses.field(
      default_factory=models.SegmenterModel)
  variant: str = "segwgan"
  gan_model_dir: str = ""
  lambda_content: float = 0.1
  lambda_adversarial: float = 0.1
  fine_tune_batch_norm: bool = False
  init_checkpoint_modules: Union[str, List[str]] = "all"
  l2_weight_decay: float = 0.0
  diagnostics_interval: int = 20
  train_data: data_config.DataConfig = dataclasses.field(
      default_factory=data_config.DataConfig)
  validation_data: data_config.DataConfig = dataclasses.field(
      default_factory=data_config.DataConfig)


def _size_settings(dataset: str, size: str) -> dict:
  """Crop, resize and network widths per (dataset, size)."""
  if size == "paper":
    crop = [768, 768] if dataset == "cityscapes" else [512, 512]
    return dict(preset="deeplabv3_resnet101", crop=crop, long_side=0,
                eval_batch=1, gan_filters=64, train_steps=30000)
  small = dataset == "stanford_background"
  return dict(preset="tf_deeplab_mnv2_dm05_os8",
              crop=[224, 224] if small else [256, 256],
              long_side=320 if small else 512, eval_batch=1, gan_filters=32,
              train_steps=2000)


def _data(dataset: str, settings: dict, preset: str, training: bool
          ) -> data_config.DataConfig:
  mean, stddev = models.input_normalization(preset)
  config = data_config.DataConfig(
      dataset=dataset, split="train" if training else "val",
      is_training=training, global_batch_size=8 if training else
      settings["eval_batch"], output_size=settings["crop"] if training else [],
      resize_long_side=settings["long_side"], drop_remainder=training)
  config.image_feature.mean = mean
  config.image_feature.stddev = stddev
  return config


def _trainer(settings: dict, optimizer: optimization.OptimizationConfig
             ) -> cfg.TrainerConfig:
  return cfg.TrainerConfig(
      optimizer_config=optimizer, train_steps=settings["train_steps"],
      checkpoint_interval=100, validation_interval=500, summary_interval=20,
      max_to_keep=3)


def stage1(dataset: str, size: str) -> cfg.ExperimentConfig:
  settings = _size_settings(dataset, size)
  preset = settings["preset"]
  filters = settings["gan_filters"]
  task = GanTask(
      generator=gan.GeneratorConfig(base_filters=filters),
      critic=gan.CriticConfig(base_filters=filters),
      train_data=_data(dataset, settings, preset, True),
      validation_data=_data(dataset, settings, preset, False))
  return cfg.ExperimentConfig(
      task=task, trainer=_trainer(settings, adam(2e-4, beta_1=0.5)),
      runtime=cfg.RuntimeConfig(mixed_precision_dtype="float32"))


def stage2(dataset: str, size: str) -> cfg.ExperimentConfig:
  settings = _size_settings(dataset, size)
  preset = settings["preset"]
  p = models.get_preset(preset)
  model = models.model_config(preset, dataset)
  model.norm_activation.use_sync_bn = False  # Statistics frozen: see SegTask.
  task = SegTask(
      model=model,
      init_checkpoint=p.init_checkpoint,
      init_checkpoint_modules=list(p.init_checkpoint_modules) or "all",
      train_data=_data(dataset, settings, preset, True),
      validation_data=_data(dataset, settings, preset, False))
  return cfg.ExperimentConfig(
      task=task, trainer=_trainer(settings, adam(5e-4)),
      runtime=cfg.RuntimeConfig(mixed_precision_dtype="float32"))


def _register(name: str, factory) -> None:
  exp_factory.register_config_factory(name)(factory)
  EXPERIMENTS.append(name)


for _dataset in DATASETS:
  for _size in SIZES:
    _register(f"stage1_{_dataset}_{_size}",
              lambda d=_dataset, s=_size: stage1(d, s))
    _register(f"stage2_{_dataset}_{_size}",
              lambda d=_dataset, s=_size: stage2(d, s))
