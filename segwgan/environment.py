"""The software and machine a report or a benchmark was produced with."""
import importlib.metadata
import os
import platform
import subprocess
from typing import Dict

PACKAGES = ("tensorflow", "tf-keras", "tf-models-official",
            "tensorflow-datasets", "numpy", "absl-py", "pillow", "matplotlib",
            "PyYAML", "segwgan")


def package_versions() -> Dict[str, str]:
  """{package: installed version or 'not installed'}."""
  versions = {}
  for name in PACKAGES:
    try:
      versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      versions[name] = "not installed"
  return versions


def cpu_model() -> str:
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def git_commit(repo_dir) -> str:
  """The checkout's commit (+ '-dirty' with local changes), or ''."""
  try:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                            cwd=repo_dir, capture_output=True, text=True,
                            timeout=10, check=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain",
                            "--untracked-files=no"], cwd=repo_dir,
                           capture_output=True, text=True, timeout=10,
                           check=True).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return ""
  return commit + ("-dirty" if dirty else "")


def machine() -> Dict[str, str]:
  cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
      else os.cpu_count()
  # Which kernels TF runs: `import segwgan` sets this to 1 on x86-64 unless
  # set (see segwgan/__init__.py); the processes started inherit it.
  onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset")
  return {"python": platform.python_version(),
          "platform": platform.platform(), "cpu": cpu_model(),
          "cores": str(cores), "onednn": f"TF_ENABLE_ONEDNN_OPTS={onednn}"}


def describe_machine() -> str:
  """One line naming the machine, as reports and benchmarks print it."""
  m = machine()
  return (f"{m['cpu']}, {m['cores']} cores, {m['platform']}, Python "
          f"{m['python']}; {m['onednn']}")
