"""The short form of the fault-injection script: one trial per stage, killed
once during training, must end with the reference's weights."""
import kill_resume


def test_killed_runs_resume_to_identical_weights(shared_data, tmp_path):
  results = kill_resume.run_trials(shared_data / "cmp_facades", tmp_path,
                                   trials=1, kills_per_trial=1, seed=3)
  assert [t.stage for t in results] == [1, 2]
  assert all(trial.kills for trial in results), results  # killed mid-run
  for trial in results:
    assert trial.identical, (trial.stage, trial.differing[:10])
