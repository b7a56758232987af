"""Self-feedback at inference (METHOD.md step 6): the DPO model and its reference as a reward.

r(y) = beta / T * sum_t [log pi_theta(y_t) - log pi_ref(y_t)]; the length normalisation
matters because the plain sum favours short answers. Best-of-N keeps the highest r.
"""
from __future__ import annotations

import math
from typing import Sequence


def _log_ratio_sum(policy_logps: Sequence[float], ref_logps: Sequence[float], beta: float) -> float:
    if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
    if len(policy_logps) != len(ref_logps):
        raise ValueError(
            f"policy_logps and ref_logps must cover the same tokens: {len(policy_logps)} != {len(ref_logps)}"
        )
    for name, values in (("policy_logps", policy_logps), ("ref_logps", ref_logps)):
        for t, v in enumerate(values):
            if not math.isfinite(v):
                raise ValueError(f"{name}[{t}] is not finite: {v!r}")
    return math.fsum(p - r for p, r in zip(policy_logps, ref_logps))


def length_normalized_reward(policy_logps: Sequence[float], ref_logps: Sequence[float], beta: float) -> float:
    """beta / T * sum(policy - ref) over the T response tokens; -inf for an empty response."""
    total = _log_ratio_sum(policy_logps, ref_logps, beta)
    if len(policy_logps) == 0:
        return -math.inf
    return beta * total / len(policy_logps)


def summed_reward(policy_logps: Sequence[float], ref_logps: Sequence[float], beta: float) -> float:
    """beta * sum(policy - ref): the DPO implicit reward, without length normalisation."""
    return beta * _log_ratio_sum(policy_logps, ref_logps, beta)


def best_of_n(rewards: Sequence[float]) -> int:
    """Index of the highest reward; the first one on ties."""
    if len(rewards) == 0:
        raise ValueError("rewards is empty: best-of-N needs at least one candidate")
    best = 0
    for i, r in enumerate(rewards):
        if math.isnan(r):
            raise ValueError(f"rewards[{i}] is NaN")
        if r > rewards[best]:
            best = i
    return best
