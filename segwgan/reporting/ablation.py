"""The ablation row: lambdas chosen from the measured gradient shares.

The paper sets lambda_1 = lambda_2 = 0.1 (Eq. 2). If a term's gradient on
the segmenter is tiny next to l_S's, that setting cannot show whether the
term helps (issue 25). The ablation row trains `VARIANT` again with each
lambda scaled so that its term carries about `TARGET_SHARE` of l_S's
gradient norm, from the grad_share measured on seed 0's `VARIANT` run with
the paper's lambdas (a training diagnostic: never a validation or test
score), and the same lambdas for every seed. One variant only, by cost (a
row adds a stage-2 run per seed): SegWGAN, the paper's headline, whose
terms were the inert ones.
"""
from typing import Dict

VARIANT = "segwgan"
ROW = f"{VARIANT}_scaled"
TARGET_SHARE = 0.2
MIN_FACTOR, MAX_FACTOR = 0.1, 1000.0
TERMS = {"content": "lambda_content", "adversarial": "lambda_adversarial"}
RULE = (f"lambda_i' = lambda_i x {TARGET_SHARE} / grad_share_i, clipped to "
        f"[{MIN_FACTOR} lambda_i, {MAX_FACTOR:g} lambda_i], where "
        "grad_share_i = |grad(lambda_i term_i)| / |grad(l_S)| on the "
        f"segmenter's weights, the mean over seed 0's {VARIANT} run with the "
        "paper's lambdas; the same lambdas for every seed")


def choose(grad_share: Dict[str, float], lambdas: Dict[str, float]
           ) -> Dict[str, float]:
  """{'lambda_content': x, 'lambda_adversarial': y} by `RULE`.

  Args:
    grad_share: {'content': s, 'adversarial': s} measured with `lambdas`.
    lambdas: {'lambda_content': l, 'lambda_adversarial': l} of that run.
  """
  chosen = {}
  for term, key in TERMS.items():
    share = grad_share[term]
    factor = TARGET_SHARE / share if share > 0 else MAX_FACTOR
    chosen[key] = lambdas[key] * min(max(factor, MIN_FACTOR), MAX_FACTOR)
  return chosen


def _decimal(value: float) -> str:
  """e.g. 100.0, 2.5, 0.012346: always a float to YAML (which reads 100 as
  an int)."""
  text = f"{value:.6f}".rstrip("0")
  return text + "0" if text.endswith(".") else text


def override(chosen: Dict[str, float]) -> str:
  """The --params_override of tools/train_seg.py setting `chosen`."""
  values = ", ".join(f"{k}: {_decimal(v)}" for k, v in sorted(chosen.items()))
  return f"task: {{{values}}}"
