"""Flag checks that need two replicas: a global batch the replicas cannot
share is refused before any work (two logical CPU devices, a subprocess)."""
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from segwgan import cli
    from segwgan.configs import overrides
    cli.define_experiment_flags()
    cli.FLAGS(["x", "--experiment=stage1_cmp_facades_cpu",
               "--model_dir=" + sys.argv[1]])
    params = overrides.build(cli.FLAGS.experiment, params_override=sys.argv[2])
    cli.run(lambda: cli.check_experiment(params))
    print("accepted")
""")


def check(tmp_path, override):
  return subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), override],
                        capture_output=True, text=True, timeout=300,
                        check=False)


def test_batch_not_divisible_by_replicas_is_refused(tmp_path):
  result = check(tmp_path, "{runtime: {distribution_strategy: mirrored}, "
                 "task: {train_data: {global_batch_size: 3}}}")
  assert result.returncode == 2, result.stderr[-2000:]
  assert "global_batch_size (3)" in result.stderr
  assert "2 replicas" in result.stderr


def test_divisible_batch_is_accepted(tmp_path):
  result = check(tmp_path, "{runtime: {distribution_strategy: mirrored}, "
                 "task: {train_data: {global_batch_size: 4}}}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "accepted" in result.stdout
