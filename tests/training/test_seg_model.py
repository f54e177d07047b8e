"""Stage 2: what is frozen stays frozen, and the GAN terms reach DeepLabv3."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from conftest import cmp_raw_dataset
from official.core import exp_factory

from segwgan.configs import data as data_config
from segwgan.configs import experiments
from segwgan import losses
from segwgan.configs import gan as gan_config
from segwgan.configs import models
from segwgan import labels
from segwgan import variants
from segwgan.data import pipeline
from segwgan.modeling import critic as critic_lib
from segwgan.modeling import generator as generator_lib
from segwgan.modeling import segmenter as segmenter_lib
from segwgan.training import frozen
from segwgan.training import maps
from segwgan.training import runner
from segwgan.training import seg_model

NUM_CLASSES = 12
PRESET = "tf_deeplab_mnv2_dm05_os8"


@pytest.fixture(scope="module")
def batch(shared_data):
  config = data_config.DataConfig(
      is_training=True, output_size=[64, 64], global_batch_size=2,
      resize_long_side=128, shuffle_buffer_size=1, seed=1)
  config.image_feature.mean, config.image_feature.stddev = (
      models.input_normalization(PRESET))
  return next(iter(pipeline.build(cmp_raw_dataset(shared_data, 2), config)))


@pytest.fixture(scope="module")
def make_trainer(converted_dm05):
  """Builds a stage-2 trainer from the converted Google-trained DeepLab
  (a random-init MobileNet with frozen BN has ~1e-12 early gradients)."""
  return lambda variant, divisor=1: build_trainer(variant, converted_dm05,
                                                  divisor=divisor)


def build_trainer(variant, checkpoint, seed=0, divisor=1, sync_bn=False,
                  critic_normalization="instance"):
  """`sync_bn=False`: the plain batch norm of the stage-2 experiments."""
  tf_keras.utils.set_random_seed(seed)
  model_config = models.model_config(PRESET, "cmp_facades")
  model_config.norm_activation.use_sync_bn = sync_bn
  segmenter = segmenter_lib.build_segmenter(model_config)
  segmenter_lib.init_from_checkpoint(segmenter, checkpoint)
  generator = critic = None
  variant = variants.get(variant)
  if variant.gan_loss is not None:
    generator = generator_lib.build_generator(
        gan_config.GeneratorConfig(base_filters=8,
                                   resolution_divisor=divisor), NUM_CLASSES)
    critic = critic_lib.build_critic(
        gan_config.CriticConfig(base_filters=8, resolution_divisor=divisor,
                                normalization=critic_normalization),
        NUM_CLASSES)
  trainer = seg_model.SegTrainer(
      segmenter, generator, critic, variant=variant,
      palette=labels.CMP_FACADES.palette())
  trainer.compile(tf_keras.optimizers.legacy.Adam(5e-4))
  return trainer


def snapshot(variables):
  """Values by position (variable names need not be unique)."""
  return {i: v.numpy().copy() for i, v in enumerate(variables)}


def frozen_variables(trainer):
  return trainer.generator.variables + trainer.critic.variables


def batch_norm_statistics(model):
  return [v for v in model.variables
          if "moving_mean" in v.name or "moving_variance" in v.name]


@pytest.mark.parametrize("variant,divisor", [
    ("seggan", 1), ("segwgan", 1), ("segwgan", 2)])
def test_only_segmenter_weights_change(batch, make_trainer, variant, divisor):
  trainer = make_trainer(variant, divisor)
  frozen = snapshot(frozen_variables(trainer))
  statistics = snapshot(batch_norm_statistics(trainer.segmenter))
  weights = snapshot(trainer.segmenter.trainable_variables)
  assert statistics, "the segmenter should have batch-norm statistics"
  for _ in range(2):
    logs = trainer.train_step(batch)
  assert all(np.isfinite(float(v)) for v in logs.values())
  for name, value in snapshot(frozen_variables(trainer)).items():
    np.testing.assert_array_equal(value, frozen[name], err_msg=name)
  for name, value in snapshot(batch_norm_statistics(trainer.segmenter)).items():
    np.testing.assert_array_equal(value, statistics[name], err_msg=name)
  changed = {n for n, v in snapshot(trainer.segmenter.trainable_variables
                                    ).items() if not np.array_equal(v,
                                                                    weights[n])}
  assert changed == on_loss_path(trainer, batch)


def on_loss_path(trainer, batch):
  """Names of the segmenter weights the stage-2 loss has a gradient for
  (the Model Garden MobileNet's unused 1280-channel head has none)."""
  features, _ = batch
  variables = trainer.segmenter.trainable_variables
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(trainer.segmenter(features["image"], training=False))
  grads = tape.gradient(loss, variables)
  return {i for i, g in enumerate(grads) if g is not None}


@pytest.mark.parametrize("divisor", [1, 2])
def test_content_and_adversarial_gradients_reach_segmenter(batch, make_trainer,
                                                           divisor):
  trainer = make_trainer("segwgan", divisor)
  features, labels_ = batch
  variables = trainer.segmenter.trainable_variables
  for term in ("content", "adversarial"):
    with tf.GradientTape() as tape:
      logits = trainer.segmenter(features["image"], training=False)
      probabilities = maps.prediction_map(logits, labels_["valid_masks"])
      reconstruction = trainer.generator(probabilities, training=False)
      if term == "content":
        loss = tf.reduce_mean(tf.abs(reconstruction - features["image_gan"]))
      else:
        loss = -tf.reduce_mean(
            trainer.critic([probabilities, reconstruction], training=False))
    grads = tape.gradient(loss, variables)
    norms = [float(tf.norm(g)) for g in grads if g is not None]
    assert len(norms) == len(on_loss_path(trainer, batch)), term
    assert sum(norms) > 0 and all(np.isfinite(norms)), term


def test_baseline_has_no_gan_terms(batch, make_trainer):
  trainer = make_trainer("deeplabv3")
  logs = trainer.train_step(batch)
  assert set(logs) == {"segloss", "loss"}
  assert float(logs["loss"]) == pytest.approx(float(logs["segloss"]))


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_step_runs_on_cpu(batch, make_trainer, precision):
  """The traced step under a mixed policy (float16 with dynamic loss
  scaling): finite, the weights move, and the sampled gradient shares
  (measured with the step's loss scale) are finite and non-zero."""
  runner.set_precision(precision)
  try:
    trainer = make_trainer("segwgan")
    trainer.diagnostics_interval = 1
    trainer.compile(runner.wrap_optimizer(
        tf_keras.optimizers.legacy.Adam(5e-4), precision))
    step = tf.function(trainer.train_step)
    weights = snapshot(trainer.segmenter.trainable_variables)
    logs = [step(batch) for _ in range(2)][-1]
  finally:
    runner.set_precision("float32")
  assert trainer.segmenter.compute_dtype == precision
  assert all(np.isfinite(float(v)) for v in logs.values())
  moved = [not np.array_equal(v, weights[i]) for i, v in
           snapshot(trainer.segmenter.trainable_variables).items()]
  assert sum(moved) >= 150
  # float16: the dynamic scale's first step (2^15) may overflow; its update
  # and its sample are both dropped.
  samples = int(trainer.grad_share_samples.numpy())
  assert samples == 2 if precision == "bfloat16" else samples in (1, 2)
  shares = trainer.grad_share_last.numpy()
  assert np.all(np.isfinite(shares)) and np.all(shares > 0), shares


def test_stage2_experiments_use_the_plain_batch_norm():
  names = [n for n in experiments.EXPERIMENTS if n.startswith("stage2_")]
  assert len(names) >= 10, names  # 5 datasets x (paper, cpu)
  for name in names:
    config = exp_factory.get_exp_config(name)
    assert not config.task.fine_tune_batch_norm, name
    assert not config.task.model.norm_activation.use_sync_bn, name


def test_frozen_batch_norm_is_the_same_unsynchronized(batch, converted_dm05):
  """With statistics frozen, the plain (fused) batch norm that the stage-2
  experiments use gives the synchronized one's loss and gradients, and a
  train step leaves its statistics alone."""
  features, labels_ = batch
  results = []
  for sync_bn in (True, False):
    trainer = build_trainer("segwgan", converted_dm05, sync_bn=sync_bn)
    segmenter = trainer.segmenter
    norms = [layer for layer in segmenter.submodules
             if isinstance(layer, tf_keras.layers.BatchNormalization)]
    assert len(norms) >= 50
    assert all(layer.synchronized == sync_bn for layer in norms)

    @tf.function
    def gradients():
      with tf.GradientTape() as tape:
        logits = segmenter(features["image"], training=False)
        loss = tf.reduce_mean(losses.segmentation_loss(labels_["masks"],
                                                       logits))
      return loss, tape.gradient(loss, segmenter.trainable_variables)

    loss, grads = gradients()
    results.append((loss.numpy(), [None if g is None else g.numpy()
                                   for g in grads]))
    statistics = snapshot(batch_norm_statistics(segmenter))
    tf.function(trainer.train_step)(batch)
    after = snapshot(batch_norm_statistics(segmenter))
    assert all(np.array_equal(after[i], statistics[i]) for i in statistics)
  (sync_loss, sync_grads), (plain_loss, plain_grads) = results
  np.testing.assert_allclose(plain_loss, sync_loss, rtol=1e-5)
  gammas = 0
  errors = {}
  for sync_grad, plain_grad, variable in zip(
      sync_grads, plain_grads, trainer.segmenter.trainable_variables):
    assert (plain_grad is None) == (sync_grad is None), variable.name
    if sync_grad is None:  # The MobileNetV2 head conv the model skips.
      continue
    gammas += "gamma" in variable.name
    errors[variable.name] = (np.abs(plain_grad - sync_grad).max() /
                             (np.abs(sync_grad).max() + 1e-12))
  assert gammas >= 50  # Batch norm's own gradients are compared too.
  # They agree to float rounding, but for those of the first blocks (the
  # first third of the variables, in the model's order): at the highest
  # resolution, they come back through every ReLU6, whose clipping turns on
  # rounding, up to 4 % off on an Intel Xeon with AMX (1e-6 on others).
  later = list(errors.items())[len(errors) // 3:]
  assert max(error for _, error in later) < 1e-4, later
  assert max(errors.values()) < 0.1, errors


@pytest.mark.parametrize("fine_tune_batch_norm", [False, True])
def test_segment_is_the_plain_keras_call(batch, converted_dm05,
                                         fine_tune_batch_norm):
  """p_seg is the segmenter's own call, no layer patching: inference-mode
  batch norm (statistics untouched by a step) unless fine-tuned."""
  trainer = build_trainer("deeplabv3", converted_dm05)
  trainer.fine_tune_batch_norm = fine_tune_batch_norm
  features, _ = batch
  np.testing.assert_array_equal(
      trainer.segment(features["image"]),
      trainer.segmenter(features["image"], training=fine_tune_batch_norm))
  statistics = snapshot(batch_norm_statistics(trainer.segmenter))
  tf.function(trainer.train_step)(batch)
  unchanged = [np.array_equal(v, statistics[i]) for i, v in
               snapshot(batch_norm_statistics(trainer.segmenter)).items()]
  assert all(unchanged) != fine_tune_batch_norm


def test_l2_weight_decay_is_added_to_the_loss(batch, converted_dm05):
  """SegTask.l2_weight_decay w: the step's loss grows by w / 2 times the
  sum of the squared kernels the Model Garden regularizes (its
  convolutions; depthwise kernels are left out by its builders), once per
  step."""
  weight_decay = 4e-3
  results = {}
  for decay in (0.0, weight_decay):
    tf_keras.utils.set_random_seed(0)
    config = models.model_config(PRESET, "cmp_facades")
    config.norm_activation.use_sync_bn = False
    segmenter = segmenter_lib.build_segmenter(config, l2_weight_decay=decay)
    segmenter_lib.init_from_checkpoint(segmenter, converted_dm05)
    trainer = seg_model.SegTrainer(segmenter, variant=variants.get(
        "deeplabv3"), palette=labels.CMP_FACADES.palette())
    trainer.compile(tf_keras.optimizers.legacy.Adam(5e-4))
    regularized = [layer.kernel for layer in segmenter.submodules
                   if isinstance(layer, tf_keras.layers.Conv2D)
                   and layer.kernel_regularizer is not None and layer.built]
    squares = sum(float(tf.reduce_sum(tf.square(v))) for v in regularized)
    results[decay] = (float(trainer.train_step(batch)["loss"]), squares)
  (plain, _), (decayed, squares) = results[0.0], results[weight_decay]
  assert squares > 0 and len(regularized) >= 30
  np.testing.assert_allclose(decayed - plain, weight_decay / 2 * squares,
                             rtol=1e-3)


def test_a_throwaway_variant_trains_without_other_edits(batch, converted_dm05,
                                                        monkeypatch):
  """A variant and a stage-1 loss registered in `variants` only: the step
  uses that loss's l_A (here least squares) on the frozen D's output."""
  least_squares = variants.GanLoss(
      "lsgan", adversarial=lambda score: tf.square(score - 1.0),
      critic=lambda real, fake: tf.square(real - 1.0) + tf.square(fake),
      clip=False, gradient_penalty=False)
  monkeypatch.setitem(variants.GAN_LOSSES, "lsgan", least_squares)
  monkeypatch.setitem(variants.VARIANTS, "seglsgan", variants.Variant(
      "seglsgan", "SegLSGAN", "lsgan", ("lsgan",)))
  trainer = build_trainer("seglsgan", converted_dm05)
  features, labels_ = batch
  generator_lib.reset_noise(trainer.generator, 7)
  probabilities = maps.prediction_map(
      trainer.segmenter(features["image"], training=False),
      labels_["valid_masks"])
  score = trainer.critic(
      [probabilities, trainer.generator(probabilities, training=False)],
      training=False)
  generator_lib.reset_noise(trainer.generator, 7)
  weights = snapshot(trainer.segmenter.trainable_variables)
  logs = trainer.train_step(batch)
  np.testing.assert_allclose(float(logs["aloss"]),
                             float(tf.reduce_mean(tf.square(score - 1.0))),
                             rtol=1e-4)
  assert any(not np.array_equal(v, weights[i]) for i, v in
             snapshot(trainer.segmenter.trainable_variables).items())


@pytest.mark.parametrize("normalization", ["instance", "batch"])
def test_stage2_critic_is_the_critic_stage1_trained(batch, converted_dm05,
                                                    normalization, caplog):
  """The frozen D as stage 2 calls it gives, on the same inputs, what D
  gave in stage 1's mode (trainable, training=True, real and fake in
  separate calls) with the default instance norm; a batch-norm D does not,
  and building the trainer says so."""
  with caplog.at_level("WARNING"):
    trainer = build_trainer("segwgan", converted_dm05,
                            critic_normalization=normalization)
  assert ("moving statistics" in caplog.text) == (normalization == "batch")
  rng = np.random.default_rng(0)
  for variable in trainer.critic.trainable_weights:  # As stage 1 leaves them.
    variable.assign(variable + rng.normal(0.0, 0.1, variable.shape))
  stage1 = critic_lib.build_critic(trainer.critic.config, NUM_CLASSES)
  trained_values = {v.name: v for v in trainer.critic.variables}
  for variable in stage1.variables:
    variable.assign(trained_values[variable.name])
  features, labels_ = batch
  label_maps = maps.ground_truth_map(labels_["masks"], NUM_CLASSES)
  fake = frozen.reconstruct(trainer.generator, label_maps)
  for images in (features["image_gan"], fake):
    trained = stage1([label_maps, images], training=True).numpy()
    judged = frozen.judge(trainer.critic, label_maps, images).numpy()
    if normalization == "instance":
      np.testing.assert_allclose(judged, trained, rtol=1e-5, atol=1e-6)
    else:
      assert np.abs(judged - trained).max() > 1e-3


def term_gradient_norm(trainer, batch, term):
  """||grad(term)|| on the segmenter's weights, computed apart from the
  step: 'segmentation' (l_S), 'content' (lambda_1 l_C), 'adversarial'
  (lambda_2 l_A), each scaled by 1/B as in the step."""
  features, labels_ = batch
  variables = trainer.segmenter.trainable_variables
  with tf.GradientTape() as tape:
    logits = trainer.segmenter(features["image"], training=False)
    if term == "segmentation":
      value = losses.segmentation_loss(labels_["masks"], logits)
    else:
      probabilities = maps.prediction_map(logits, labels_["valid_masks"])
      fake = trainer.generator(probabilities, training=False)
      if term == "content":
        value = trainer.lambda_content * losses.content_loss(
            features["image_gan"], fake, labels_["valid_masks"])
      else:
        value = trainer.lambda_adversarial * losses.adversarial_loss_wgan(
            trainer.critic([probabilities, fake], training=False))
    value = tf.reduce_mean(value)
  return float(tf.linalg.global_norm(tape.gradient(value, variables)))


def test_grad_shares_are_sampled_every_interval(batch, converted_dm05):
  trainer = build_trainer("segwgan", converted_dm05)
  trainer.diagnostics_interval = 2
  step = tf.function(trainer.train_step)
  generator_lib.reset_noise(trainer.generator, 3)
  step(batch)
  assert int(trainer.grad_share_samples.numpy()) == 0
  generator_lib.reset_noise(trainer.generator, 5)
  base = term_gradient_norm(trainer, batch, "segmentation")
  expected = []
  for term in ("content", "adversarial"):
    generator_lib.reset_noise(trainer.generator, 5)
    expected.append(term_gradient_norm(trainer, batch, term) / base)
  generator_lib.reset_noise(trainer.generator, 5)
  step(batch)
  assert int(trainer.grad_share_samples.numpy()) == 1
  np.testing.assert_allclose(trainer.grad_share_last.numpy(), expected,
                             rtol=1e-3)
  np.testing.assert_allclose(trainer.grad_share_sums.numpy(), expected,
                             rtol=1e-3)
  assert all(e > 0 for e in expected)
  step(batch)
  assert int(trainer.grad_share_samples.numpy()) == 1


def test_integer_lambdas_train_with_diagnostics(batch, converted_dm05):
  """A YAML override such as `lambda_content: 1` gives ints: the sampled
  step (which weighs the gradients by the lambdas) still runs."""
  trainer = build_trainer("segwgan", converted_dm05)
  trainer = seg_model.SegTrainer(
      trainer.segmenter, trainer.generator, trainer.critic,
      variant=variants.get("segwgan"), palette=labels.CMP_FACADES.palette(),
      lambda_content=1, lambda_adversarial=2, diagnostics_interval=1)
  trainer.compile(tf_keras.optimizers.legacy.Adam(5e-4))
  tf.function(trainer.train_step)(batch)
  assert int(trainer.grad_share_samples.numpy()) == 1
  assert np.all(trainer.grad_share_last.numpy() > 0)


def test_a_non_finite_grad_share_sample_is_not_counted(batch,
                                                        converted_dm05):
  trainer = build_trainer("segwgan", converted_dm05)
  trainer = seg_model.SegTrainer(
      trainer.segmenter, trainer.generator, trainer.critic,
      variant=variants.get("segwgan"), palette=labels.CMP_FACADES.palette(),
      lambda_content=float("inf"), diagnostics_interval=1)
  trainer.compile(tf_keras.optimizers.legacy.Adam(5e-4))
  tf.function(trainer.train_step)(batch)
  assert int(trainer.grad_share_samples.numpy()) == 0
  assert np.all(trainer.grad_share_sums.numpy() == 0)


def test_train_step_is_equation_2(batch, converted_dm05):
  """The real step's loss is l_S + lambda_1 l_C + lambda_2 l_A computed
  apart (other lambdas than the paper's, so a swap shows), each term has a
  non-zero gradient on the segmenter, and the update is the gradient of
  that sum (plain SGD: the weights move by -lr x it)."""
  trainer = build_trainer("segwgan", converted_dm05)
  trainer.lambda_content, trainer.lambda_adversarial = 0.3, 0.7
  learning_rate = 1e-2
  trainer.compile(tf_keras.optimizers.legacy.SGD(learning_rate))
  features, labels_ = batch
  variables = trainer.segmenter.trainable_variables
  generator_lib.reset_noise(trainer.generator, 11)
  with tf.GradientTape() as tape:
    logits = trainer.segmenter(features["image"], training=False)
    l_s = tf.reduce_mean(losses.segmentation_loss(labels_["masks"], logits))
    probabilities = tf.nn.softmax(logits) * tf.cast(labels_["valid_masks"],
                                                    tf.float32)
    fake = trainer.generator(probabilities, training=False)
    mask = tf.cast(labels_["valid_masks"], tf.float32)
    l_c = tf.reduce_mean(
        tf.reduce_sum(tf.abs(features["image_gan"] - fake) * mask, [1, 2, 3])
        / (3.0 * tf.reduce_sum(mask, [1, 2, 3])))
    l_a = -tf.reduce_mean(trainer.critic([probabilities, fake],
                                         training=False))
    expected = l_s + 0.3 * l_c + 0.7 * l_a
  gradients = tape.gradient(expected, variables)
  before = [v.numpy().copy() for v in variables]
  generator_lib.reset_noise(trainer.generator, 11)
  logs = {k: float(v) for k, v in trainer.train_step(batch).items()}
  np.testing.assert_allclose(
      [logs["segloss"], logs["closs"], logs["aloss"], logs["loss"]],
      [float(l_s), float(l_c), float(l_a), float(expected)], rtol=1e-4)
  for term in ("segmentation", "content", "adversarial"):
    generator_lib.reset_noise(trainer.generator, 11)
    trainer_copy_norm = term_gradient_norm_at(trainer, batch, term, before)
    assert trainer_copy_norm > 0, term
  compared = 0
  for old, variable, gradient in zip(before, variables, gradients):
    if gradient is None:
      continue
    compared += 1
    np.testing.assert_allclose(variable.numpy(),
                               old - learning_rate * gradient.numpy(),
                               rtol=1e-4, atol=1e-7, err_msg=variable.name)
  assert compared >= 150


def term_gradient_norm_at(trainer, batch, term, weights):
  """`term_gradient_norm` with the segmenter's weights set to `weights`."""
  variables = trainer.segmenter.trainable_variables
  current = [v.numpy().copy() for v in variables]
  for variable, value in zip(variables, weights):
    variable.assign(value)
  try:
    return term_gradient_norm(trainer, batch, term)
  finally:
    for variable, value in zip(variables, current):
      variable.assign(value)
