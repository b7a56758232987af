"""CHAIR / Object HalBench metrics (METHOD.md, "Evaluation used by the papers").

Objects named in a response are mapped through a SynonymTable to categories and compared with
the image's ground-truth categories. Rates:
- chair_s: responses with >= 1 hallucinated object / responses mentioning >= 1 object (the
  response-level rate RLHF-V/RLAIF-V report, "CHAIRs_refine" in their scorer);
- chair_s_all: the same numerator over all responses (Rohrbach et al.'s original CHAIR_s);
- chair_i: hallucinated / mentioned categories, each counted once per response, summed;
- chair_i_with_repeats: every mention counted (Rohrbach et al.'s original CHAIR_i);
- coverage: ground-truth categories mentioned / ground-truth categories (their "obj_rec");
- avg_length: mean whitespace-separated words per response.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rlaifv.eval.synonyms import SynonymTable


def extract_objects(text: str, table: SynonymTable) -> list[str]:
    """Categories named in text, in order of appearance, repeats kept."""
    return [mention.category for mention in table.find(text)]


def ground_truth(objects: Sequence[str], table: SynonymTable, where: str = "gt_objects") -> list[str]:
    """Unique categories of a ground-truth list (names or synonyms), in first-seen order."""
    if isinstance(objects, str) or not isinstance(objects, Sequence):
        raise ValueError(f"{where} must be a list of objects, not {type(objects).__name__}")
    truth: list[str] = []
    for obj in objects:
        category = table.category(obj) if isinstance(obj, str) else None
        if category is None:
            raise ValueError(f"{where} holds {obj!r}, which names no category of the synonym table")
        if category not in truth:
            truth.append(category)
    return truth


@dataclass(frozen=True)
class ObjectJudgement:
    """One response against its ground truth; lists keep order of first appearance."""

    mentions: list[str]  # categories, repeats kept
    hallucinated: list[str]  # unique mentioned categories absent from the ground truth
    covered: list[str]  # unique ground-truth categories that were mentioned (ground-truth order)
    n_words: int


def judge_objects(text: str, truth: Sequence[str], table: SynonymTable) -> ObjectJudgement:
    """Compare a response's objects with ground-truth categories (already normalised)."""
    if not isinstance(text, str):
        raise ValueError(f"response must be a string (got {type(text).__name__})")
    mentions = extract_objects(text, table)
    unique = list(dict.fromkeys(mentions))
    return ObjectJudgement(
        mentions=mentions,
        hallucinated=[m for m in unique if m not in truth],
        covered=[t for t in truth if t in unique],
        n_words=len(text.split()),
    )


class Judged(Protocol):
    """What summarize needs of a judgement (ObjectJudgement, ShapesWorld's Judgement)."""

    mentions: list[str]
    hallucinated: list[str]
    covered: list[str]
    n_words: int


def _ratio(numerator: float, denominator: float) -> float:
    """0.0 when nothing was counted (keeps results JSON-safe)."""
    return numerator / denominator if denominator else 0.0


def summarize(judgements: Sequence[Judged], truth_sizes: Sequence[int]) -> dict:
    """Aggregate CHAIR rates; truth_sizes[i] = number of unique ground-truth categories of row i."""
    if len(judgements) != len(truth_sizes):
        raise ValueError(f"{len(judgements)} judgements but {len(truth_sizes)} truth sizes")
    if not judgements:
        raise ValueError("CHAIR metrics need at least one response")
    n = len(judgements)
    mentioning = [j for j in judgements if j.mentions]
    hallucinating = sum(bool(j.hallucinated) for j in judgements)
    hallucinated_mentions = sum(m in j.hallucinated for j in judgements for m in j.mentions)
    return {
        "n": n,
        "n_mentioning": len(mentioning),
        "chair_s": _ratio(sum(bool(j.hallucinated) for j in mentioning), len(mentioning)),
        "chair_s_all": hallucinating / n,
        "chair_i": _ratio(sum(len(j.hallucinated) for j in judgements),
                          sum(len(set(j.mentions)) for j in judgements)),
        "chair_i_with_repeats": _ratio(hallucinated_mentions, sum(len(j.mentions) for j in judgements)),
        "coverage": _ratio(sum(len(j.covered) for j in judgements), sum(truth_sizes)),
        "avg_length": sum(j.n_words for j in judgements) / n,
    }


def chair_metrics(responses: Sequence[str], gt_objects: Sequence[Sequence[str]],
                  table: SynonymTable) -> dict:
    """CHAIR rates of responses[i] against gt_objects[i] (category names or synonyms)."""
    if len(responses) != len(gt_objects):
        raise ValueError(f"{len(responses)} responses but {len(gt_objects)} ground-truth object lists")
    judged, sizes = [], []
    for i, (text, objects) in enumerate(zip(responses, gt_objects)):
        try:
            truth = ground_truth(objects, table, f"gt_objects[{i}]")
            judged.append(judge_objects(text, truth, table))
        except ValueError as error:
            raise ValueError(f"row {i}: {error}") from None
        sizes.append(len(truth))
    return summarize(judged, sizes)
