"""Caption grammar of ShapesWorld, and the annotation bias that teaches a model to hallucinate.

Grammar (fixed, trivially parseable): "There is a red circle." / "There is a red circle and a
blue star." / "There is a red circle, a blue star and a green square." -- no size words, always
the article "a" (so "a orange ..." is the accepted convention), never plurals.
"""
from __future__ import annotations

import random
import re
from collections.abc import Sequence

from rlaifv.world.scenes import PARTNER, Scene
from rlaifv.world.vocab import OBJECTS

_OBJECT = "(?:" + "|".join(re.escape(o) for o in OBJECTS) + ")"
CAPTION_GRAMMAR = re.compile(rf"There is a {_OBJECT}(?:(?:, a {_OBJECT})* and a {_OBJECT})?\.")


def caption(objects: Sequence[str]) -> str:
    """Name the objects in the given (left-to-right) order with the fixed grammar."""
    if not objects:
        raise ValueError("caption needs at least one object")
    for position, obj in enumerate(objects):
        if obj not in OBJECTS:
            raise ValueError(f"objects[{position}] = {obj!r} is not a ShapesWorld object")
    phrases = [f"a {o}" for o in objects]
    if len(phrases) == 1:
        return f"There is {phrases[0]}."
    return f"There is {', '.join(phrases[:-1])} and {phrases[-1]}."


def is_well_formed(text: str) -> bool:
    """True iff text (surrounding whitespace ignored) follows the caption grammar exactly."""
    return CAPTION_GRAMMAR.fullmatch(text.strip()) is not None


def biased_caption(scene: Scene, rng: random.Random, halluc_prob: float) -> tuple[str, list[str]]:
    """Clean caption, or with prob halluc_prob one absent partner named right after its object.

    This is the biased annotator: like captions that mention a fork beside every table, it names
    an object the image does not show because it usually co-occurs with one that it does show.
    Returns (caption, hallucinated objects); draws exactly one rng.random() plus one choice when
    it hallucinates.
    """
    if not 0.0 <= halluc_prob <= 1.0:
        raise ValueError(f"halluc_prob must be in [0, 1] (got {halluc_prob})")
    names = scene.object_names
    if rng.random() >= halluc_prob:
        return caption(names), []
    anchors = [i for i, n in enumerate(names) if PARTNER[n] not in names]
    if not anchors:
        return caption(names), []
    anchor = rng.choice(anchors)
    extra = PARTNER[names[anchor]]
    return caption(names[: anchor + 1] + [extra] + names[anchor + 1 :]), [extra]
