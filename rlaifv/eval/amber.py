"""AMBER (Wang et al. 2023, arXiv 2311.07397) scoring, as its official inference.py computes it.

Discriminative (yes/no): accuracy, and precision/recall/F1 with "no" as the positive class
(inference.py: precision = answered "No" and truth "no" / answered "No"; recall = the same /
truth "no"). inference.py accepts only the exact strings "Yes"/"No" (strict=True); by default
the first word is parsed case-insensitively. It rounds P and R to 0.1% and adds 1e-4 to F1's
denominator; here F1 is exact (differences stay below 0.1 point).

Generative: the response's nouns that are in AMBER's vocabulary (relation.json's keys and
values) are checked against the image's annotated objects ("truth"), the words related to them
(relation.json), and the annotated hallucination targets ("hallu"):
- CHAIR = hallucinated nouns / vocabulary nouns (repeats counted; safe_words.txt nouns count in
  the denominator only); a noun is hallucinated unless it is a safe word, a truth object or a
  word related to one;
- Cover = annotated truth objects mentioned / annotated truth objects;
- Hal = responses with >= 1 hallucinated noun / responses;
- Cog = hallu targets mentioned / hallu targets (inference.py divides by the number of targets,
  not by the nouns mentioned).
A noun marks only the first object it matches, related words of all objects searched before the
objects themselves (inference.py's order, kept so numbers compare). Values are fractions, not
percentages. Not reproduced here (they need nltk/spaCy data): POS tagging -- nouns are found by
vocabulary lookup with a plural lemmatiser, and the modal "can" / adjective "hot" are skipped as
the tagger would, but verbs like "watches" still count -- and spaCy's word-vector similarity
(> 0.8), which can only add matches; pass noun_extractor / similar to plug them in. Text is
lower-cased (inference.py is case-sensitive, so it misses capitalised nouns).
"""
from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from rlaifv.eval.synonyms import singular_candidates
from rlaifv.eval.yesno import yes_no_truth
from rlaifv.world.metrics import parse_yesno

AMBER_SAFE_WORDS = ("orange", "snack", "line", "camera", "light", "shoe", "sign", "range",
                    "individual")  # AMBER's data/safe_words.txt
DIMENSIONS = {  # annotation "type" -> reported dimension (inference.py's branches)
    "discriminative-hallucination": "existence",
    "discriminative-attribute-state": "attribute",
    "discriminative-attribute-number": "attribute",
    "discriminative-attribute-action": "attribute",
    "discriminative-relation": "relation",
}
TOKEN = re.compile(r"\w+(?:-\w+)*")  # nltk keeps hyphenated words ("air-conditioning") whole
NEVER_NOUNS = frozenset({"hot"})
DETERMINERS = frozenset({"a", "an", "the", "this", "that", "these", "those", "each", "every",
                         "one", "its", "his", "her", "their", "my", "your", "our", "trash",
                         "garbage", "soda", "beer", "tin", "paint", "metal", "watering"})


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def parse_answer(prediction: object, strict: bool = False) -> str | None:
    """"yes"/"no" from a prediction, else None; strict accepts only "Yes"/"No" (inference.py)."""
    if strict:
        return {"Yes": "yes", "No": "no"}.get(prediction) if isinstance(prediction, str) else None
    return parse_yesno(prediction) if isinstance(prediction, str) else None


def _binary(parsed: Sequence[str | None], truth: Sequence[str]) -> dict:
    n = len(parsed)
    true_no = sum(p == "no" and t == "no" for p, t in zip(parsed, truth))
    precision, recall = _ratio(true_no, parsed.count("no")), _ratio(true_no, truth.count("no"))
    return {
        "n": n,
        "accuracy": sum(p == t for p, t in zip(parsed, truth)) / n,
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "yes_rate": parsed.count("yes") / n,
        "invalid_rate": parsed.count(None) / n,
    }


def discriminative_metrics(predictions: Sequence[str], answers: Sequence[str],
                           types: Sequence[str] | None = None, *, strict: bool = False) -> dict:
    """AMBER's yes/no metrics ("no" positive); with types, also per dimension (by_dimension)."""
    truth = yes_no_truth(predictions, answers, "discriminative_metrics")
    parsed = [parse_answer(p, strict) for p in predictions]
    result = _binary(parsed, truth)
    if types is not None:
        if len(types) != len(answers):
            raise ValueError(f"{len(types)} types but {len(answers)} answers")
        for i, kind in enumerate(types):
            if kind not in DIMENSIONS:
                raise ValueError(f"row {i}: type {kind!r} is not one of {sorted(DIMENSIONS)}")
        result["by_dimension"] = {
            dim: _binary([p for p, k in zip(parsed, types) if DIMENSIONS[k] == dim],
                         [t for t, k in zip(truth, types) if DIMENSIONS[k] == dim])
            for dim in dict.fromkeys(DIMENSIONS.values()) if dim in {DIMENSIONS[k] for k in types}
        }
    return result


@dataclass(frozen=True)
class AmberVocabulary:
    """relation.json (object -> related words), its word set, and the global safe words."""

    association: Mapping[str, tuple[str, ...]]
    words: frozenset[str]
    safe_words: frozenset[str]


def amber_vocabulary(association: Mapping[str, Sequence[str]],
                     safe_words: Iterable[str] = AMBER_SAFE_WORDS) -> AmberVocabulary:
    """Vocabulary from AMBER's relation.json content (lower-cased) and safe words."""
    if not isinstance(association, Mapping) or not association:
        raise ValueError("association must be a non-empty mapping (AMBER's relation.json)")
    table: dict[str, tuple[str, ...]] = {}
    for key, related in association.items():
        if not isinstance(key, str) or isinstance(related, str) or not isinstance(related, Sequence):
            raise ValueError(f"relation entry {key!r}: expected a word and a list of words")
        if not all(isinstance(word, str) for word in related):
            raise ValueError(f"relation entry {key!r}: related words must be strings")
        table[key.lower()] = tuple(word.lower() for word in related)
    words = frozenset(table) | frozenset(w for related in table.values() for w in related)
    return AmberVocabulary(table, words, frozenset(w.lower() for w in safe_words))


def extract_nouns(text: str, vocabulary: AmberVocabulary) -> list[str]:
    """Vocabulary nouns of text in order, repeats kept, plurals lemmatised."""
    tokens = TOKEN.findall(text.lower())
    nouns = []
    for k, token in enumerate(tokens):
        lemma = next((c for c in singular_candidates(token) if c in vocabulary.words), None)
        if lemma is None or token in NEVER_NOUNS:
            continue
        if token == "can" and not (k and tokens[k - 1] in DETERMINERS):
            continue  # the modal verb
        nouns.append(lemma)
    return nouns


@dataclass(frozen=True)
class AmberJudgement:
    """One generative response: flags per noun, per truth object and per hallu target."""

    nouns: list[str]
    hallucinated: list[bool]
    truth_covered: list[bool]
    hallu_hit: list[bool]


def _search_order(objects: Sequence[str], vocabulary: AmberVocabulary,
                  where: str) -> list[tuple[str, int]]:
    """(word, object index): every object's related words first, then the objects themselves."""
    for obj in objects:
        if obj not in vocabulary.association:
            raise ValueError(f"{where} holds {obj!r}, which is not in AMBER's relation vocabulary")
    related = [(w, i) for i, obj in enumerate(objects) for w in vocabulary.association[obj]]
    return related + [(obj, i) for i, obj in enumerate(objects)]


def _owner(noun: str, order: list[tuple[str, int]], same: Callable[[str, str], bool]) -> int | None:
    return next((i for word, i in order if same(noun, word)), None)


def _objects(value: object, where: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{where} must be a list of objects, not {type(value).__name__}")
    if not all(isinstance(obj, str) for obj in value):
        raise ValueError(f"{where} must hold strings")
    return [obj.lower() for obj in value]


def judge_generative(response: str, truth: Sequence[str], hallu: Sequence[str],
                     vocabulary: AmberVocabulary, *,
                     noun_extractor: Callable[[str], list[str]] | None = None,
                     similar: Callable[[str, str], bool] | None = None) -> AmberJudgement:
    """Flags for one response, in inference.py's order of checks."""
    if not isinstance(response, str):
        raise ValueError(f"response must be a string (got {type(response).__name__})")
    truth, hallu = _objects(truth, "truth"), _objects(hallu, "hallu")
    safe, targets = _search_order(truth, vocabulary, "truth"), _search_order(hallu, vocabulary, "hallu")
    found = noun_extractor(response) if noun_extractor else extract_nouns(response, vocabulary)
    nouns = [n for n in found if n in vocabulary.words]
    covered, hit, flags = [False] * len(truth), [False] * len(hallu), []
    for noun in nouns:
        if noun in vocabulary.safe_words:
            flags.append(False)
            continue
        owner = _owner(noun, safe, operator.eq)
        if owner is not None:
            covered[owner] = True
            flags.append(False)
            continue
        for same in (operator.eq, similar) if similar else (operator.eq,):
            target = _owner(noun, targets, same)
            if target is not None:
                hit[target] = True
        owner = _owner(noun, safe, similar) if similar else None
        if owner is not None:
            covered[owner] = True
        flags.append(owner is None)
    return AmberJudgement(nouns, flags, covered, hit)


def generative_metrics(responses: Sequence[str], truths: Sequence[Sequence[str]],
                       hallus: Sequence[Sequence[str]], vocabulary: AmberVocabulary, *,
                       noun_extractor: Callable[[str], list[str]] | None = None,
                       similar: Callable[[str, str], bool] | None = None) -> dict:
    """AMBER's CHAIR, Cover, Hal and Cog over responses[i] with truths[i] / hallus[i]."""
    if not len(responses) == len(truths) == len(hallus):
        raise ValueError(f"{len(responses)} responses, {len(truths)} truth lists and "
                         f"{len(hallus)} hallu lists; they must match")
    if not responses:
        raise ValueError("generative_metrics needs at least one response")
    judged = []
    for i, (text, truth, hallu) in enumerate(zip(responses, truths, hallus)):
        try:
            judged.append(judge_generative(text, truth, hallu, vocabulary,
                                           noun_extractor=noun_extractor, similar=similar))
        except ValueError as error:
            raise ValueError(f"row {i}: {error}") from None
    n = len(judged)
    return {
        "n": n,
        "chair": _ratio(sum(sum(j.hallucinated) for j in judged), sum(len(j.nouns) for j in judged)),
        "cover": _ratio(sum(sum(j.truth_covered) for j in judged),
                        sum(len(j.truth_covered) for j in judged)),
        "hal": sum(any(j.hallucinated) for j in judged) / n,
        "cog": _ratio(sum(sum(j.hallu_hit) for j in judged), sum(len(j.hallu_hit) for j in judged)),
        "n_nouns": sum(len(j.nouns) for j in judged),
    }
