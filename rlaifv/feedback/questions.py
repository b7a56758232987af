"""Convert step: each claim becomes a yes/no question for the labeler (METHOD.md step 2).

The labeler answers one token, so the question must be a general (yes/no) question that keeps
the claim's negations; every question ends with the suffix " Please answer yes or no." once.
"""
from __future__ import annotations

import re
from typing import Sequence

from rlaifv.feedback.claims import find_placeholder, section_bullets
from rlaifv.world.vocab import YESNO_SUFFIX

CONVERT_PROMPT_HEADER = (
    "You are an expert at rewriting declarative sentences as general questions, the kind "
    "answered with yes or no. Rewrite each of the given declarative sentences, one by one and "
    "in the same order, as one general question. Do not change the tense and do not add any "
    "content. If a sentence contains \"not\", \"no\" or another word with a negative meaning, "
    "the question must keep that word.\n\n"
    "Present your result in the following format, one question per line:\n### Questions:\n"
    "- {Question 1}\n- {Question 2}\n- ...\n\n### Declarative sentences:"
)

_SUFFIX_RE = re.compile(r"(?:\s*please answer (?:with )?yes or no\.?)+\s*$", re.IGNORECASE)
_THERE_RE = re.compile(r"^there (is|are)\s+(.+)$", re.IGNORECASE)
_SHOWS_RE = re.compile(r"^the (?:image|picture) shows\s+(.+)$", re.IGNORECASE)
_I_SEE_RE = re.compile(r"^i see\s+(.+)$", re.IGNORECASE)
_THE_X_IS_Y_RE = re.compile(r"^the (.+?) (is|are) (.+)$", re.IGNORECASE)
_IN_IMAGE_RE = re.compile(r"\b(?:in|on) (?:the|this) (?:image|picture|photo)$", re.IGNORECASE)
_CLAUSE_MARKERS = re.compile(r",|\b(?:which|that|who|whose|where)\b", re.IGNORECASE)


def with_yes_no_suffix(question: str) -> str:
    """`question` ending with " Please answer yes or no." exactly once."""
    return _SUFFIX_RE.sub("", question.strip()) + YESNO_SUFFIX


def _in_image(phrase: str) -> str:
    return phrase if _IN_IMAGE_RE.search(phrase) else f"{phrase} in the image"


def _lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is "I" or an acronym."""
    first = text.split()[0]
    if first == "I" or (len(first) > 1 and first[1].isupper()):
        return text
    return text[0].lower() + text[1:]


def rule_question(claim: str) -> str:
    """Deterministic convert: "There is a red circle." -> "Is there a red circle in the image?
    Please answer yes or no."; "The X is Y." -> "Is the X Y?"; else "Is it true that ...?"."""
    if not isinstance(claim, str):
        raise TypeError(f"claim must be a str, got {type(claim).__name__}")
    text = " ".join(claim.split()).rstrip(" .!")
    if not text:
        raise ValueError(f"claim {claim!r} is empty")
    if match := _THERE_RE.match(text):
        verb = match.group(1).lower().capitalize()
        question = f"{verb} there {_in_image(match.group(2))}?"
    elif match := _SHOWS_RE.match(text):
        question = f"Does the image show {match.group(1)}?"
    elif match := _I_SEE_RE.match(text):
        question = f"Do you see {_in_image(match.group(1))}?"
    elif (match := _THE_X_IS_Y_RE.match(text)) and not _CLAUSE_MARKERS.search(match.group(1)):
        verb = match.group(2).lower().capitalize()
        question = f"{verb} the {match.group(1)} {match.group(3)}?"
    else:
        question = f"Is it true that {_lower_first(text)}?"
    return with_yes_no_suffix(question)


def convert_prompt(claims: Sequence[str]) -> str:
    """LLM prompt turning each claim into a general question, one "- " line per claim."""
    if isinstance(claims, str) or not claims:
        raise ValueError("claims must be a non-empty list of sentences")
    lines = []
    for i, claim in enumerate(claims):
        if not isinstance(claim, str) or not claim.strip():
            raise ValueError(f"claims[{i}] is empty or not a str: {claim!r}")
        lines.append("- " + " ".join(claim.split()))
    return CONVERT_PROMPT_HEADER + "\n" + "\n".join(lines)


def parse_questions(output: str, n_expected: int) -> tuple[list[str], str | None]:
    """Questions from the converter's output, suffix appended; (questions, None) on success,
    ([], reason) when the output is unusable (wrong count, placeholder, not a question)."""
    if not isinstance(n_expected, int) or n_expected < 0:
        raise ValueError(f"n_expected must be an int >= 0, got {n_expected!r}")
    if not isinstance(output, str):
        return [], f"converter output is {type(output).__name__}, not str"
    items = [item for item in section_bullets(output, ("question", "modified")) if item not in ("...", "")]
    placeholder = find_placeholder(items)
    if placeholder is not None:
        return [], f"converter echoed template placeholder {placeholder!r}"
    if len(items) != n_expected:
        return [], f"expected {n_expected} questions, got {len(items)}"
    questions = []
    for i, item in enumerate(items):
        core = _SUFFIX_RE.sub("", item).strip()
        if not core.endswith("?"):
            return [], f"question {i} is not a question: {item!r}"
        questions.append(core + YESNO_SUFFIX)
    return questions, None
