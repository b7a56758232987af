"""Pair construction (METHOD.md step 3): candidates of one instruction -> (chosen, rejected).

`build_pairs` works per instruction; `length_balance` runs once over the pairs of the whole
round, so DPO does not learn "shorter = better" from the data.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, NamedTuple, Sequence

from rlaifv.feedback.scoring import ScoredResponse


@dataclass(frozen=True)
class Candidate:
    """One sampled response with its feedback; `sample_index` is its sample id in the group."""

    text: str
    score: float
    n_claims: int
    n_judged: int
    n_rejected: int
    n_repeats: int
    sample_index: int

    @classmethod
    def from_scored(cls, text: str, scored: ScoredResponse, sample_index: int) -> "Candidate":
        return cls(
            text=text,
            score=scored.score,
            n_claims=scored.n_claims,
            n_judged=scored.n_judged,
            n_rejected=scored.n_rejected,
            n_repeats=scored.n_repeats,
            sample_index=sample_index,
        )


class Pair(NamedTuple):
    chosen: Candidate
    rejected: Candidate
    gap: float


@dataclass(frozen=True)
class PairStats:
    """Length balancing summary: pair counts and mean word lengths before/after."""

    n_before: int
    n_after: int
    ratio: float
    mean_chosen_len_before: float
    mean_rejected_len_before: float
    mean_chosen_len_after: float
    mean_rejected_len_after: float


def word_length(text: str) -> int:
    """Response length as the authors measure it: whitespace-separated words."""
    return len(text.split())


def _check_candidate(i: int, c: Candidate) -> None:
    if not isinstance(c.text, str):
        raise ValueError(f"candidates[{i}].text must be a str, got {type(c.text).__name__}")
    if not isinstance(c.score, (int, float)) or not math.isfinite(c.score):
        raise ValueError(f"candidates[{i}].score must be a finite number, got {c.score!r}")
    for name in ("n_claims", "n_judged", "n_rejected", "n_repeats"):
        value = getattr(c, name)
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"candidates[{i}].{name} must be an int >= 0, got {value!r}")


def usable(c: Candidate) -> bool:
    """A candidate can be paired only if every claim was judged and it has claims at all
    (in the authors' code a response without claims is never labeled, so never paired)."""
    return c.n_claims > 0 and c.n_judged == c.n_claims


def build_pairs(
    candidates: Sequence[Candidate],
    *,
    max_pairs: int,
    rng: random.Random,
    min_gap: float = 1,
    require_clean_chosen: bool = False,
    well_formed: Callable[[str], bool] | None = None,
) -> list[Pair]:
    """All (higher, lower) pairs of one instruction with score gap >= min_gap, at most
    `max_pairs` of them sampled with `rng`; deterministic given rng's state.

    Dropped: ties, identical texts (whitespace-insensitive), labeling failures. Options (ours):
    `require_clean_chosen` (chosen has no rejected and no repeated claim) and `well_formed`
    (a predicate the chosen text must pass).
    """
    if not isinstance(max_pairs, int) or max_pairs < 0:
        raise ValueError(f"max_pairs must be an int >= 0, got {max_pairs!r}")
    if not min_gap > 0:
        raise ValueError(f"min_gap must be > 0 (ties are never pairs), got {min_gap!r}")
    seen_index: set[int] = set()
    for i, c in enumerate(candidates):
        _check_candidate(i, c)
        if c.sample_index in seen_index:
            raise ValueError(f"candidates[{i}].sample_index {c.sample_index} is duplicated")
        seen_index.add(c.sample_index)

    pool = sorted((c for c in candidates if usable(c)), key=lambda c: c.sample_index)
    eligible: list[Pair] = []
    for i, a in enumerate(pool):
        for b in pool[i + 1:]:
            chosen, rejected = (a, b) if a.score > b.score else (b, a)
            gap = chosen.score - rejected.score
            if gap < min_gap or " ".join(a.text.split()) == " ".join(b.text.split()):
                continue
            if require_clean_chosen and (chosen.n_rejected or chosen.n_repeats):
                continue
            if well_formed is not None and not well_formed(chosen.text):
                continue
            eligible.append(Pair(chosen, rejected, gap))
    if len(eligible) <= max_pairs:
        return eligible
    keep = sorted(rng.sample(range(len(eligible)), max_pairs))
    return [eligible[k] for k in keep]


def _shortening(pair: Pair) -> float:
    """(len_rejected - len_chosen) / len_rejected; an empty rejected text never counts as longer."""
    len_c, len_r = word_length(pair.chosen.text), word_length(pair.rejected.text)
    return (len_r - len_c) / len_r if len_r else 0.0


def _length_gap(pairs: Sequence[Pair]) -> Fraction:
    total = sum(word_length(p.chosen.text) - word_length(p.rejected.text) for p in pairs)
    return abs(Fraction(total, len(pairs)))


def length_balance(pairs: Sequence[Pair], step: float = 0.02) -> tuple[list[Pair], float]:
    """Drop pairs whose chosen is much shorter than rejected: search r in [0, 1] by `step`,
    keep pairs with shortening <= r, choose the r whose kept pairs have mean chosen length
    closest to mean rejected length (ties -> larger r, which keeps more). Returns (kept, r)."""
    if not 0 < step <= 1:
        raise ValueError(f"step must be in (0, 1], got {step!r}")
    if not pairs:
        return [], 1.0
    shortening = [_shortening(p) for p in pairs]
    n_steps = int(math.floor(1 / step + 1e-9))
    grid = [round(k * step, 12) for k in range(n_steps + 1)]
    if grid[-1] < 1.0:
        grid.append(1.0)
    best_r, best_gap = 1.0, None
    for r in grid:
        kept = [p for p, s in zip(pairs, shortening) if s <= r]
        if not kept:
            continue
        gap = _length_gap(kept)
        if best_gap is None or gap <= best_gap:
            best_r, best_gap = r, gap
    return [p for p, s in zip(pairs, shortening) if s <= best_r], best_r


def _mean_lengths(pairs: Sequence[Pair]) -> tuple[float, float]:
    if not pairs:
        return math.nan, math.nan
    n = len(pairs)
    return (
        sum(word_length(p.chosen.text) for p in pairs) / n,
        sum(word_length(p.rejected.text) for p in pairs) / n,
    )


def pair_stats(before: Sequence[Pair], after: Sequence[Pair], ratio: float) -> PairStats:
    """Summary of one length-balancing pass (means are NaN for an empty list)."""
    chosen_before, rejected_before = _mean_lengths(before)
    chosen_after, rejected_after = _mean_lengths(after)
    return PairStats(
        n_before=len(before),
        n_after=len(after),
        ratio=ratio,
        mean_chosen_len_before=chosen_before,
        mean_rejected_len_before=rejected_before,
        mean_chosen_len_after=chosen_after,
        mean_rejected_len_after=rejected_after,
    )
