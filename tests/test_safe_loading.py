"""No code path deserialises user files unsafely: no pickle, eval/exec or
yaml.load with a full loader anywhere in the package, tools or benchmarks."""
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[1]
UNSAFE = re.compile(r"\bimport pickle\b|\bpickle\.|\bcPickle\b|\bdill\b|"
                    r"(?<![\w.])eval\(|(?<![\w.])exec\(|yaml\.load\(|"
                    r"yaml\.unsafe_load|yaml\.full_load|allow_pickle=True")


def test_no_unsafe_deserialisation():
  offenders = []
  for folder in ("segwgan", "tools", "benchmarks"):
    for path in sorted((REPO / folder).rglob("*.py")):
      for number, line in enumerate(path.read_text().splitlines(), 1):
        if UNSAFE.search(line.split("#")[0]):
          offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
  assert not offenders, "\n".join(offenders)
