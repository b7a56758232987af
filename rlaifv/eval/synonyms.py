"""Synonym tables: which words of a response name which object category (CHAIR's vocabulary).

Why one generic table: Object HalBench/CHAIR (COCO's 80 categories) and ShapesWorld ("<color>
<shape>" objects) score responses the same way, only the vocabulary differs. A table maps
phrases to categories; matching is longest phrase first, left to right, on word tokens whose
phrase words are separated by whitespace only ("teddy bear", not "teddy-bear" or "teddy, bear").
Only the last word of a phrase may be plural ("teddy bears", "wine glasses"), resolved by a
small rule lemmatiser against the table's own words, so no nltk data is needed.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

WORD = re.compile(r"\w+")
COCO_SYNONYMS_FILE = Path(__file__).with_name("coco_synonyms.txt")

# Irregular plurals; regular ones are undone by rule in singular_candidates.
IRREGULAR_SINGULARS = {
    "men": "man", "women": "woman", "children": "child", "people": "person", "mice": "mouse",
    "geese": "goose", "teeth": "tooth", "feet": "foot", "oxen": "ox", "dice": "die",
}

# CHAIR's hard-coded special cases (Rohrbach et al.'s chair.py, as RLAIF-V's Object HalBench
# scorer keeps them): "baby bird" is a bird, not a person; "passenger jet" is no passenger.
CHAIR_ANIMAL_WORDS = ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra",
                      "giraffe", "animal", "cub")
CHAIR_VEHICLE_WORDS = ("jet", "train")
CHAIR_ALIASES = {
    **{f"{q} {w}": w for w in CHAIR_ANIMAL_WORDS for q in ("baby", "adult")},
    **{f"passenger {w}": w for w in CHAIR_VEHICLE_WORDS},
    "bow tie": "tie",
    "toilet seat": "toilet",
    "home plate": "home plate",  # consumed as one (non-object) phrase
    "train track": "train track",  # a track is not a train
}
CHAIR_DROP_IF_PRESENT = {"seat": "toilet"}  # "the seat of the toilet" is no chair

# RLHF-V/RLAIF-V's Object HalBench reads eval/data/synonyms_refine.txt: Rohrbach's list with
# exactly these four synonyms added (duplicates removed, which changes nothing).
OBJECT_HALBENCH_ADDITIONS = {
    "person": ("brother", "pedestrian"),
    "dining table": ("coffee table",),
    "remote": ("remote control",),
}


class Mention(NamedTuple):
    """One object mention: the table phrase matched (singular), its category, char span."""

    word: str
    category: str
    start: int
    end: int


def singular_candidates(word: str) -> list[str]:
    """The word itself, then the singulars English plural rules allow, most specific first.

    The caller keeps the first candidate its vocabulary knows, which settles ambiguous cases
    ("buses" -> "bus", "horses" -> "horse", "knives" -> "knife", "gloves" -> "glove").
    """
    forms = [word]
    if word in IRREGULAR_SINGULARS:
        forms.append(IRREGULAR_SINGULARS[word])
    if word.endswith("men") and len(word) > 3:
        forms.append(word[:-3] + "man")
    if word.endswith("ies") and len(word) > 4:
        forms.append(word[:-3] + "y")
    if word.endswith("ves") and len(word) > 3:
        forms += [word[:-3] + "f", word[:-3] + "fe"]
    if word.endswith("es") and word[:-2].endswith(("s", "x", "z", "ch", "sh", "o")):
        forms.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss") and len(word) > 1:
        forms.append(word[:-1])
    return forms


def _phrase_words(phrase: str, where: str) -> tuple[str, ...]:
    if not isinstance(phrase, str):
        raise ValueError(f"{where}: {phrase!r} is not a string")
    words = tuple(phrase.lower().split())
    if not words or any(WORD.fullmatch(w) is None for w in words):
        raise ValueError(f"{where}: {phrase!r} must be words separated by spaces")
    return words


class SynonymTable:
    """category -> synonyms, with a longest-match-first phrase matcher over response text.

    aliases map a phrase to the word it stands for ("baby bird" -> "bird"); an alias whose word
    is no synonym consumes its words without naming an object ("train track").
    drop_if_present drops mentions of a word when another word is mentioned ({"seat": "toilet"}).
    """

    def __init__(
        self,
        categories: Mapping[str, Iterable[str]],
        aliases: Mapping[str, str] | None = None,
        drop_if_present: Mapping[str, str] | None = None,
    ) -> None:
        if not categories:
            raise ValueError("a SynonymTable needs at least one category")
        self.categories: dict[str, tuple[str, ...]] = {}
        self._phrases: dict[tuple[str, ...], tuple[str, str | None]] = {}
        for category, synonyms in categories.items():
            name = " ".join(_phrase_words(category, "category"))
            if isinstance(synonyms, str):
                raise ValueError(f"synonyms of {category!r} must be a list, not a string")
            words = [_phrase_words(s, f"synonym of {category!r}") for s in [name, *synonyms]]
            self.categories[name] = tuple(dict.fromkeys(" ".join(w) for w in words))
            for key in words:
                known = self._phrases.get(key)
                if known is not None and known[1] != name:
                    raise ValueError(f"synonym {' '.join(key)!r} is listed under both "
                                     f"{known[1]!r} and {name!r}")
                self._phrases[key] = (" ".join(key), name)
        for phrase, target in (aliases or {}).items():
            target_words = _phrase_words(target, f"alias {phrase!r}")
            category = self._phrases.get(target_words, (None, None))[1]
            self._phrases[_phrase_words(phrase, "alias")] = (" ".join(target_words), category)
        self.drop_if_present = dict(drop_if_present or {})
        self._longest = max(len(key) for key in self._phrases)
        self._first_words = {key[0] for key in self._phrases if len(key) > 1}

    def _lookup(self, words: list[str]) -> tuple[str, str | None] | None:
        for last in singular_candidates(words[-1]):
            hit = self._phrases.get((*words[:-1], last))
            if hit is not None:
                return hit
        return None

    def find(self, text: str) -> list[Mention]:
        """Object mentions in order of appearance, repeats kept."""
        lowered = text.lower()
        tokens = list(WORD.finditer(lowered))
        words = [t.group() for t in tokens]
        found: list[tuple[str, str | None, int, int]] = []
        i = 0
        while i < len(tokens):
            longest = min(self._longest, len(tokens) - i) if words[i] in self._first_words else 1
            for length in range(longest, 0, -1):
                span = tokens[i : i + length]
                if any(not lowered[a.end() : b.start()].isspace() for a, b in zip(span, span[1:])):
                    continue
                hit = self._lookup(words[i : i + length])
                if hit is not None:
                    found.append((*hit, span[0].start(), span[-1].end()))
                    i += length
                    break
            else:
                i += 1
        matched = {word for word, *_ in found}
        dropped = {w for w, trigger in self.drop_if_present.items() if trigger in matched}
        return [Mention(w, c, s, e) for w, c, s, e in found if c is not None and w not in dropped]

    def category(self, name: str) -> str | None:
        """Category of a whole phrase (a category name or synonym, either number), else None."""
        words = name.lower().split() if isinstance(name, str) else []
        hit = self._lookup(words) if words else None
        return hit[1] if hit else None


def read_synonym_lines(path: Path) -> dict[str, list[str]]:
    """Parse "category, synonym, ..." lines (CHAIR's synonyms.txt format; '#' starts a comment)."""
    table: dict[str, list[str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        items = [item.strip() for item in line.split(",")]
        if any(not item for item in items):
            raise ValueError(f"{path}:{number}: empty synonym in {line!r}")
        table.setdefault(items[0].lower(), []).extend(item.lower() for item in items)
    return table


@functools.lru_cache(maxsize=2)
def coco_table(refined: bool = True) -> SynonymTable:
    """COCO's 80 categories with CHAIR's synonyms, aliases and toilet-seat rule.

    refined=True adds OBJECT_HALBENCH_ADDITIONS (what RLAIF-V's Object HalBench scorer uses);
    refined=False is Rohrbach et al.'s list alone.
    """
    synonyms = read_synonym_lines(COCO_SYNONYMS_FILE)
    if refined:
        for category, extra in OBJECT_HALBENCH_ADDITIONS.items():
            synonyms[category] = [*synonyms[category], *extra]
    return SynonymTable(synonyms, CHAIR_ALIASES, CHAIR_DROP_IF_PRESENT)
