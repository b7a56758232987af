"""Label and score step: labeler probabilities -> accepted claims -> response score.

RLAIF-V scores a response by `-(number of rejected claims)` (METHOD.md step 2). Our option
`repeat_as_rejected` also counts a claim that repeats an earlier one of the same response as
rejected: without it DPO learned to repeat objects it was sure of (PLATFORM_NOTES.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

YES_WORDS = ("yes", "Yes")
NO_WORDS = ("no", "No")


@dataclass(frozen=True)
class ScoredResponse:
    """Score of one response; `n_judged != n_claims` marks a labeling failure (never paired)."""

    score: float
    n_claims: int
    n_rejected: int
    n_repeats: int
    n_judged: int

    @property
    def complete(self) -> bool:
        return self.n_judged == self.n_claims


def p_yes_no(probs: Mapping[str, float]) -> tuple[float, float]:
    """(P(yes)+P(Yes), P(no)+P(No)) from the labeler's first-step probabilities.

    Keys are compared after stripping whitespace, so a tokenizer's " yes" counts as "yes";
    missing words count 0.
    """
    p_yes = p_no = 0.0
    for word, p in probs.items():
        if not isinstance(p, (int, float)) or not math.isfinite(p) or not 0.0 <= p <= 1.0:
            raise ValueError(f"probability of {word!r} must be in [0, 1], got {p!r}")
        key = word.strip()
        if key in YES_WORDS:
            p_yes += p
        elif key in NO_WORDS:
            p_no += p
    return p_yes, p_no


def claim_accepted(p_yes: float, p_no: float) -> bool:
    """The labeler accepts a claim iff it prefers yes (ties reject)."""
    return p_yes > p_no


def normalize_claim(claim: str) -> str:
    """Text used to detect repeats: case, spacing and end punctuation do not matter."""
    return " ".join(claim.lower().split()).rstrip(" .!?")


def score_response(
    claims: Sequence[str], accepted: Sequence[bool], *, repeat_as_rejected: bool = False
) -> ScoredResponse:
    """score = -(rejected claims). `accepted[i]` judges `claims[i]`; a shorter/longer
    `accepted` is recorded as `n_judged` (labeling failure) and scored on the judged claims."""
    if isinstance(claims, str):
        raise TypeError("claims must be a list of sentences, not one str")
    seen: set[str] = set()
    n_rejected = n_repeats = 0
    for i, claim in enumerate(claims):
        key = normalize_claim(claim)
        is_repeat = key in seen
        seen.add(key)
        n_repeats += is_repeat
        rejected = i < len(accepted) and not accepted[i]
        if rejected or (repeat_as_rejected and is_repeat):
            n_rejected += 1
    return ScoredResponse(
        score=-float(n_rejected),
        n_claims=len(claims),
        n_rejected=n_rejected,
        n_repeats=n_repeats,
        n_judged=len(accepted),
    )

