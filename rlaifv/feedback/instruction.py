"""Feedback for one instruction, end to end, as pure functions the Ray stages wrap.

candidates -> claims + yes/no questions (rule divide step) -> labeler probabilities ->
scores -> pairs. Each step keeps its inputs' order so nested lists stay aligned:
claims[k][c] is claim c of candidate k, and p_yes[k][c] its labeler probability.
"""
from __future__ import annotations

import hashlib
import random
from typing import Callable, Sequence

from rlaifv.feedback.claims import rule_split
from rlaifv.feedback.pairs import Candidate, Pair, build_pairs
from rlaifv.feedback.questions import rule_question
from rlaifv.feedback.scoring import claim_accepted, score_response

YES_NO_WORDS = ("yes", "Yes", "no", "No")


def instruction_seed(base_seed: int, instruction_id: str) -> int:
    """Stable per-instruction seed (same in every process and on resume)."""
    digest = hashlib.sha256(f"{base_seed}:{instruction_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def rule_claims(candidates: Sequence[str]) -> tuple[list[list[str]], list[list[str]]]:
    """Rule divide step: claims of each candidate and the yes/no question of each claim."""
    claims = [rule_split(text) for text in candidates]
    return claims, [[rule_question(c) for c in cs] for cs in claims]


def unique_questions(questions: Sequence[Sequence[str]]) -> list[str]:
    """Distinct questions of one instruction, first-seen order: candidates share many claims,
    and one label per (image, question) is all the labeler needs to give."""
    return list(dict.fromkeys(q for qs in questions for q in qs))


def spread_probs(questions: Sequence[Sequence[str]], probs: dict[str, tuple[float, float]]
                 ) -> tuple[list[list[float]], list[list[float]]]:
    """Map per-question (p_yes, p_no) back onto the nested claim layout."""
    p_yes = [[probs[q][0] for q in qs] for qs in questions]
    p_no = [[probs[q][1] for q in qs] for qs in questions]
    return p_yes, p_no


def score_candidates(candidates: Sequence[str], claims: Sequence[Sequence[str]],
                     p_yes: Sequence[Sequence[float]], p_no: Sequence[Sequence[float]],
                     *, repeat_as_rejected: bool) -> list[Candidate]:
    out = []
    for k, (text, cs, ys, ns) in enumerate(zip(candidates, claims, p_yes, p_no)):
        accepted = [claim_accepted(y, n) for y, n in zip(ys, ns)]
        out.append(Candidate.from_scored(text, score_response(cs, accepted, repeat_as_rejected=repeat_as_rejected), k))
    return out


def pairs_for_instruction(instruction_id: str, scored: Sequence[Candidate], *, max_pairs: int, seed: int,
                          require_clean_chosen: bool, well_formed: Callable[[str], bool] | None) -> list[Pair]:
    rng = random.Random(instruction_seed(seed, instruction_id))
    return build_pairs(list(scored), max_pairs=max_pairs, rng=rng,
                       require_clean_chosen=require_clean_chosen, well_formed=well_formed)
