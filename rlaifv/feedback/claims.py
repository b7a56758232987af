"""Divide step: cut a response into atomic, self-contained claims (METHOD.md step 2).

Two splitters share one output shape (a list of claim sentences):
- `rule_split`: deterministic, for the embedded shapes world and tests (no model needed);
- an LLM splitter: `split_prompt` builds the reference prompt, `parse_facts` reads the output.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from rlaifv.engine.base import SamplingSpec
from rlaifv.world.vocab import COLORS, SIZES

# Reference sampling of the LLM splitter (authors' code: temperature 0.2, top_p 0.9, 256 tokens).
SPLIT_TEMPERATURE = 0.2
SPLIT_TOP_P = 0.9
SPLIT_MAX_TOKENS = 256
SPLIT_SAMPLING = SamplingSpec(n=1, temperature=SPLIT_TEMPERATURE, top_p=SPLIT_TOP_P, max_tokens=SPLIT_MAX_TOKENS)
SPLIT_MAX_ANSWER_WORDS = 300

SPLIT_PROMPT_TEMPLATE = (
    "You are an expert in extracting facts from the given question-answer pair for an image. "
    "Your task is to extract and rewrite the facts mentioned in the question-answer pair into "
    "self-contained sentences. Exclude opinions or subjective statements.\n\n"
    "You should present your result in the following format:\n### Facts:\n"
    "- {Extracted fact 1}\n- {Extracted fact 2}\n- ...\n\n"
    "### Question-answer pair:\nQuestion: {question}\nAnswer: {answer}"
)

# Lead phrases whose enumerations are split into one claim per item (canonical spelling).
LEAD_PHRASES = ("There is", "There are", "I see", "The image shows")
_LEAD_RE = re.compile(r"^(there is|there are|i see|the image shows)\s+(.*)$", re.IGNORECASE | re.DOTALL)
_SENTENCE_BREAK_RE = re.compile(r"(?<=[.!?])\s+|\n+")
_ITEM_SEP_RE = re.compile(r"\s*,\s*and\s+|\s*,\s*|\s+and\s+")
_WORD_RE = re.compile(r"[A-Za-z]")
# A claim ending in one of these was cut off mid-phrase ("There is a red circle and a").
_FUNCTION_WORDS = frozenset(
    "a an the and or but of with to in on at by for from some one two three another its their "
    "is are was were this that these those".split()
)
# An enumerated item ending in an adjective lost its noun ("... and a small.").
_DANGLING_ITEM_WORDS = _FUNCTION_WORDS | frozenset(COLORS) | frozenset(SIZES)

_BULLET_RE = re.compile(r"^(?:[-*\u2022]|\d+[.)])\s+(.*)$")
_HEADER_RE = re.compile(r"^\s*#+\s*(.*?)\s*:?\s*$")
_PLACEHOLDER_RE = re.compile(r"\{[^{}]*\}")
_ELLIPSIS = frozenset({"...", "\u2026", ""})


@dataclass(frozen=True)
class FactParse:
    """What the LLM splitter produced: facts, or an error saying why the output is unusable."""

    facts: list[str] = field(default_factory=list)
    error: str | None = None


def _words(text: str) -> list[str]:
    return [w.strip(".,;:!?\"'()").lower() for w in text.split()]


def _is_complete(text: str, dangling: frozenset[str], min_words: int) -> bool:
    """True if `text` has enough alphabetic words and does not end in a cut-off word."""
    words = [w for w in _words(text) if _WORD_RE.search(w)]
    return len(words) >= min_words and words[-1] not in dangling


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_BREAK_RE.split(text) if s.strip()]


def _enumeration_claims(lead: str, body: str) -> list[str]:
    """'There is' + 'a red circle, a blue star and a' -> one claim per complete item."""
    claims = []
    for item in _ITEM_SEP_RE.split(body):
        item = item.strip(" ,;:")
        if not _is_complete(item, _DANGLING_ITEM_WORDS, min_words=1):
            continue
        item_lead = lead
        if lead == "There are" and item.split()[0].lower() in ("a", "an", "one"):
            item_lead = "There is"
        claims.append(f"{item_lead} {item}.")
    return claims


def rule_split(text: str) -> list[str]:
    """Deterministic splitter: sentences, then enumerations under a lead phrase, item by item.

    "There is a red circle, a blue star and a green square." -> three "There is ..." claims.
    Other sentences stay whole. Fragments cut off mid-phrase (truncated answers) and text
    without at least two words are dropped, so garbage yields [].
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    claims: list[str] = []
    for sentence in _sentences(text):
        body = sentence.rstrip(" .!?")
        match = _LEAD_RE.match(body)
        if match:
            lead = next(p for p in LEAD_PHRASES if p.lower() == match.group(1).lower())
            claims.extend(_enumeration_claims(lead, match.group(2)))
        elif _is_complete(body, _FUNCTION_WORDS, min_words=2):
            claims.append(sentence if sentence[-1] in ".!?" else body + ".")
    return claims


def _cut_words(text: str, max_words: int) -> str:
    """Keep the first `max_words` whitespace-separated words, original spacing intact."""
    ends = [m.end() for m in re.finditer(r"\S+", text)]
    return text if len(ends) <= max_words else text[: ends[max_words - 1]]


def split_prompt(question: str, answer: str) -> str:
    """The reference splitter prompt (METHOD.md), answer cut to 300 words."""
    for name, value in (("question", question), ("answer", answer)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    cut = _cut_words(answer, SPLIT_MAX_ANSWER_WORDS)
    return SPLIT_PROMPT_TEMPLATE.replace("{question}", question).replace("{answer}", cut)


def section_bullets(output: str, header_words: tuple[str, ...]) -> list[str]:
    """Bullet items ("- ", "* ", "1." ...) of the section whose "###" header names one of
    `header_words`; without such a header, the bullets before any other header."""
    lines = output.splitlines()
    start, stop = 0, len(lines)
    headers = [(i, m.group(1).lower()) for i, line in enumerate(lines) if (m := _HEADER_RE.match(line))]
    wanted = [i for i, name in headers if any(w in name for w in header_words)]
    if wanted:
        start = wanted[0] + 1
        stop = next((i for i, _ in headers if i > wanted[0]), len(lines))
    elif headers:
        stop = headers[0][0]
    items = []
    for line in lines[start:stop]:
        match = _BULLET_RE.match(line.strip())
        if match:
            items.append(match.group(1).strip())
    return items


def find_placeholder(items: list[str]) -> str | None:
    """The first item that is template text ("{Extracted fact 1}") rather than content."""
    return next((item for item in items if _PLACEHOLDER_RE.search(item)), None)


def parse_facts(output: str) -> FactParse:
    """Facts from the LLM splitter's output; never raises (bad output -> error set, no facts)."""
    if not isinstance(output, str):
        return FactParse([], f"splitter output is {type(output).__name__}, not str")
    items = section_bullets(output, ("fact",))
    placeholder = find_placeholder(items)
    if placeholder is not None:
        return FactParse([], f"splitter echoed template placeholder {placeholder!r}")
    facts = [item for item in items if item not in _ELLIPSIS]
    if not facts:
        return FactParse([], "no fact lines ('- ...') in splitter output")
    return FactParse(facts, None)
