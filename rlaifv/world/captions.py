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


HALLUC_MODES = ("insert", "substitute", "displace")


def biased_caption(
    scene: Scene, rng: random.Random, halluc_prob: float, mode: str = "insert"
) -> tuple[str, list[str]]:
    """Clean caption, or with prob halluc_prob an absent partner named right after its object.

    This is the biased annotator: like captions that mention a fork beside every table, it names
    an object the image does not show because it usually co-occurs with one that it does show.
    - "insert": the partner is an extra object, so the caption is one object longer than the
      truth (a shorter answer is then likelier clean: "say less" pays).
    - "substitute": the partner takes the name of the object after its anchor (a misnamed
      object); the caption keeps its length.
    - "displace": the partner is inserted after its anchor and the list stops one object
      early (the rightmost goes unnamed); every named real object keeps its true name and
      order, and the caption keeps its length.
    Returns (caption, hallucinated objects); draws exactly one rng.random() plus one choice when
    it hallucinates.
    """
    if not 0.0 <= halluc_prob <= 1.0:
        raise ValueError(f"halluc_prob must be in [0, 1] (got {halluc_prob})")
    if mode not in HALLUC_MODES:
        raise ValueError(f"mode must be one of {HALLUC_MODES} (got {mode!r})")
    names = scene.object_names
    if rng.random() >= halluc_prob:
        return caption(names), []
    # substitute needs a follower to misname, displace a rightmost object to leave out
    last = len(names) if mode == "insert" else len(names) - 1
    anchors = [i for i in range(last) if PARTNER[names[i]] not in names]
    if not anchors:
        return caption(names), []
    anchor = rng.choice(anchors)
    extra = PARTNER[names[anchor]]
    if mode == "substitute":
        return caption(names[: anchor + 1] + [extra] + names[anchor + 2:]), [extra]
    kept = names[:-1] if mode == "displace" else names
    return caption(kept[: anchor + 1] + [extra] + kept[anchor + 1:]), [extra]
