"""Offline best-of-N (RLAIF-V's inference-time self-feedback): pick one of N candidates per
prompt by a selector, then measure the picks with the ShapesWorld hallucination metrics.

A candidate record is {"text": str, "policy_logps": list[float] | None, "ref_logps": ...}:
per-token log-probs of the text under the aligned policy and its reference; None marks a
text the engines could not score (its rewards are -inf, so a reward selector never picks it
unless every candidate is unscorable). Pure: no Ray, no torch.

Selectors:
- self_reward: beta/T * sum(policy - ref), the length-normalised DPO reward (the method's);
- self_reward_sum: beta * sum(policy - ref), the plain DPO implicit reward (favours short answers);
- policy_loglik: mean policy token log-prob (the policy's own confidence, no reference);
- first: candidate 0, i.e. plain sampling (the best-of-1 baseline at every N);
- shortest: fewest words, a length-only control: a selector that does not beat it may be
  lowering hallucination only by saying less (in ShapesWorld a hallucination is an extra object);
- oracle: fewest hallucinated mentions by the ground truth (an upper bound on any selector).
Ties go to the earliest candidate, so every selector at N=1 picks candidate 0.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from rlaifv.reward import best_of_n, length_normalized_reward, summed_reward
from rlaifv.world.metrics import judge_response, response_metrics

SELECTORS = ("self_reward", "self_reward_sum", "policy_loglik", "first", "shortest", "oracle")


def hallucinated_mentions(text: str, objects: Sequence[str]) -> int:
    """Mentions (repeats counted) of objects absent from the image."""
    judged = judge_response(text, objects)
    absent = set(judged.hallucinated)
    return sum(m in absent for m in judged.mentions)


def _logps(record: Mapping) -> tuple[Sequence[float], Sequence[float]] | None:
    policy, ref = record.get("policy_logps"), record.get("ref_logps")
    if policy is None or ref is None:
        return None
    return policy, ref


def self_reward(record: Mapping, beta: float) -> float:
    logps = _logps(record)
    return -math.inf if logps is None else length_normalized_reward(*logps, beta)


def self_reward_sum(record: Mapping, beta: float) -> float:
    logps = _logps(record)
    return -math.inf if logps is None else summed_reward(*logps, beta)


def policy_loglik(record: Mapping, beta: float) -> float:
    logps = _logps(record)
    if logps is None or len(logps[0]) == 0:
        return -math.inf
    return math.fsum(logps[0]) / len(logps[0])


# per-candidate score, higher is better; "oracle" needs the ground truth, so it is separate
_SCORERS: dict[str, Callable[[Mapping, float], float]] = {
    "self_reward": self_reward,
    "self_reward_sum": self_reward_sum,
    "policy_loglik": policy_loglik,
    "first": lambda record, beta: 0.0,  # all tie -> candidate 0
    "shortest": lambda record, beta: -float(len(record["text"].split())),
}


def selector_scores(records: Sequence[Mapping], objects: Sequence[str], selector: str, beta: float) -> list[float]:
    """The selector's score of every candidate of one prompt (higher is better)."""
    if selector == "oracle":
        return [-float(hallucinated_mentions(r["text"], objects)) for r in records]
    if selector not in _SCORERS:
        raise ValueError(f"unknown selector {selector!r}; choose from {SELECTORS}")
    return [_SCORERS[selector](r, beta) for r in records]


def _check_ns(ns: Sequence[int], min_candidates: int) -> list[int]:
    if not ns:
        raise ValueError("ns is empty: give at least one N")
    for n in ns:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"every N must be an int >= 1, got {n!r}")
        if n > min_candidates:
            raise ValueError(f"N={n} is larger than the candidates of some prompt ({min_candidates})")
    return sorted(set(ns))


def _check_inputs(records_per_prompt, objects_per_prompt, selectors, beta) -> None:
    if not records_per_prompt:
        raise ValueError("best_of_n_curve needs at least one prompt")
    if len(records_per_prompt) != len(objects_per_prompt):
        raise ValueError(f"{len(records_per_prompt)} prompts but {len(objects_per_prompt)} ground-truth object lists")
    if not selectors:
        raise ValueError(f"no selectors given; choose from {SELECTORS}")
    unknown = [s for s in selectors if s not in SELECTORS]
    if unknown:
        raise ValueError(f"unknown selector(s) {unknown}; choose from {SELECTORS}")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
    for i, records in enumerate(records_per_prompt):
        if not records:
            raise ValueError(f"prompt {i} has no candidates")


def best_of_n_curve(records_per_prompt: Sequence[Sequence[Mapping]], objects_per_prompt: Sequence[Sequence[str]],
                    ns: Sequence[int], selectors: Sequence[str] = SELECTORS, beta: float = 1.0) -> dict:
    """{selector: {N: response_metrics of the pick among the first N candidates of each prompt}}.

    Candidates are scored once; best-of-N over the first N of them reuses those scores, so
    the N's are nested (best-of-4 sees the candidates best-of-2 saw, plus two more).
    """
    _check_inputs(records_per_prompt, objects_per_prompt, selectors, beta)
    ns = _check_ns(ns, min(len(r) for r in records_per_prompt))
    curve: dict[str, dict[int, dict]] = {}
    for selector in selectors:
        scores = [selector_scores(recs, objs, selector, beta)
                  for recs, objs in zip(records_per_prompt, objects_per_prompt)]
        curve[selector] = {}
        for n in ns:
            picks = [recs[best_of_n(s[:n])]["text"] for recs, s in zip(records_per_prompt, scores)]
            curve[selector][n] = response_metrics(picks, objects_per_prompt)
    return curve
