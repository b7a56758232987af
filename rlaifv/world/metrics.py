"""Exact hallucination metrics in ShapesWorld (Object HalBench / CHAIR definitions of METHOD.md).

The world's ground truth is known, so a mention "<color> <shape>" is hallucinated iff the
image lacks that object: no judge model is needed. Scoring runs through the same CHAIR code as
Object HalBench (rlaifv.eval.chair); the world's synonym table maps each object to itself (a
plural "red circles" counts as "red circle"). Repeats are reported beside the set-based rates
because DPO in this world learns to repeat objects it is sure of.
"""
from __future__ import annotations

import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rlaifv.eval.chair import judge_objects, summarize
from rlaifv.eval.synonyms import SynonymTable
from rlaifv.eval.yesno import yes_no_truth
from rlaifv.world.captions import is_well_formed
from rlaifv.world.vocab import OBJECTS

SHAPES_TABLE = SynonymTable({obj: [obj] for obj in OBJECTS})


def extract_mentions(text: str) -> list[str]:
    """Every "<color> <shape>" in order of appearance, repeats kept, lower-case and singular."""
    return [mention.category for mention in SHAPES_TABLE.find(text)]


@dataclass(frozen=True)
class Judgement:
    """One response judged against ground truth; lists keep order of first appearance."""

    mentions: list[str]
    hallucinated: list[str]  # unique mentioned objects absent from the image
    repeated: list[str]  # unique objects named two or more times
    covered: list[str]  # unique ground-truth objects that were mentioned (ground-truth order)
    well_formed: bool
    n_words: int


def _ground_truth(objects: Sequence[str], where: str) -> list[str]:
    if isinstance(objects, str):
        raise ValueError(f"{where} must be a list of objects, not a string")
    truth = []
    for obj in objects:
        name = obj.strip().lower() if isinstance(obj, str) else obj
        if name not in OBJECTS:
            raise ValueError(f"{where} holds {obj!r}, which is not a ShapesWorld object")
        if name not in truth:
            truth.append(name)
    return truth


def judge_response(text: str, objects: Sequence[str]) -> Judgement:
    """Compare the objects a response names with the image's ground-truth objects."""
    if not isinstance(text, str):
        raise ValueError(f"response must be a string (got {type(text).__name__})")
    truth = _ground_truth(objects, "objects")
    judged = judge_objects(text, truth, SHAPES_TABLE)
    counts = Counter(judged.mentions)
    return Judgement(
        mentions=judged.mentions,
        hallucinated=judged.hallucinated,
        repeated=[m for m in dict.fromkeys(judged.mentions) if counts[m] >= 2],
        covered=judged.covered,
        well_formed=is_well_formed(text),
        n_words=judged.n_words,
    )


def _ratio(numerator: float, denominator: float) -> float:
    """0.0 when nothing was counted (keeps results JSON-safe)."""
    return numerator / denominator if denominator else 0.0


def response_metrics(responses: Sequence[str], objects: Sequence[Sequence[str]]) -> dict:
    """Aggregate rates over responses; objects[i] is the ground truth of responses[i].

    hallucination_rate (response level) and strict_hallucination_rate (hallucinated OR repeated)
    are over responses that mention >= 1 object; mention_hallucination_rate is unique
    hallucinated / unique mentioned objects, summed over responses.
    """
    if len(responses) != len(objects):
        raise ValueError(f"{len(responses)} responses but {len(objects)} ground-truth object lists")
    if not responses:
        raise ValueError("response_metrics needs at least one response")
    judged = []
    for i, (text, truth) in enumerate(zip(responses, objects)):
        try:
            judged.append((judge_response(text, truth), len(_ground_truth(truth, f"objects[{i}]"))))
        except ValueError as error:
            raise ValueError(f"row {i}: {error}") from None
    chair = summarize([j for j, _ in judged], [t for _, t in judged])
    n = chair["n"]
    mentioning = [j for j, _ in judged if j.mentions]
    return {
        "n": n,
        "hallucination_rate": chair["chair_s"],
        "mention_hallucination_rate": chair["chair_i"],
        "coverage": chair["coverage"],
        "avg_words": chair["avg_length"],
        "repeat_rate": sum(bool(j.repeated) for j, _ in judged) / n,
        "strict_hallucination_rate": _ratio(
            sum(bool(j.hallucinated or j.repeated) for j in mentioning), len(mentioning)
        ),
        "well_formed_rate": sum(j.well_formed for j, _ in judged) / n,
        "no_mention_rate": (n - len(mentioning)) / n,
    }


def parse_yesno(prediction: str) -> str | None:
    """"yes"/"no" from the first word (case-insensitive, punctuation stripped), else None."""
    words = prediction.split()
    if not words:
        return None
    word = words[0].strip(string.punctuation).lower()
    return word if word in ("yes", "no") else None


def yesno_metrics(predictions: Sequence[str], answers: Sequence[str], kinds: Sequence[str] | None = None) -> dict:
    """Accuracy, precision/recall/F1 with "yes" as positive, yes_rate and invalid_rate.

    An unparseable prediction counts as wrong and as neither yes nor no. With `kinds` (the
    `kind` column of yesno_rows) it adds `accuracy_by_kind`, which shows a labeler that
    passes on average but fails one kind of question (e.g. colour/shape bindings).
    """
    truth = yes_no_truth(predictions, answers, "yesno_metrics")
    parsed = [parse_yesno(p) if isinstance(p, str) else None for p in predictions]
    n = len(parsed)
    true_pos = sum(p == "yes" and t == "yes" for p, t in zip(parsed, truth))
    predicted_yes = parsed.count("yes")
    precision = _ratio(true_pos, predicted_yes)
    recall = _ratio(true_pos, truth.count("yes"))
    metrics = {
        "n": n,
        "accuracy": sum(p == t for p, t in zip(parsed, truth)) / n,
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "yes_rate": predicted_yes / n,
        "invalid_rate": parsed.count(None) / n,
    }
    if kinds is not None:
        if len(kinds) != n:
            raise ValueError(f"{n} predictions but {len(kinds)} kinds")
        by_kind: dict[str, list[bool]] = {}
        for p, t, k in zip(parsed, truth, kinds):
            by_kind.setdefault(str(k), []).append(p == t)
        metrics["accuracy_by_kind"] = {k: sum(v) / len(v) for k, v in sorted(by_kind.items())}
    return metrics
