import random

import pytest

from rlaifv.world.captions import biased_caption, caption, is_well_formed
from rlaifv.world.metrics import extract_mentions
from rlaifv.world.scenes import PARTNER, Scene, SceneObject, sample_scene

pytestmark = pytest.mark.cpu


def test_caption_exact_strings():
    assert caption(["red circle"]) == "There is a red circle."
    assert caption(["red circle", "blue star"]) == "There is a red circle and a blue star."
    assert caption(["red circle", "blue star", "green square"]) == (
        "There is a red circle, a blue star and a green square."
    )
    assert caption(["orange star", "red circle", "blue star", "green square"]) == (
        "There is a orange star, a red circle, a blue star and a green square."
    )


def test_caption_rejects_bad_objects():
    with pytest.raises(ValueError, match="at least one"):
        caption([])
    with pytest.raises(ValueError, match=r"objects\[1\] = 'pink star'"):
        caption(["red circle", "pink star"])


def test_round_trip_through_extract_mentions():
    for seed in range(200):
        names = sample_scene(random.Random(seed)).object_names
        text = caption(names)
        assert is_well_formed(text)
        assert extract_mentions(text) == names


@pytest.mark.parametrize("text", [
    "There is a red circle, a blue star.",
    "There is a small red circle.",
    "There are two red circles.",
    "There is a red circle and a blue star",
    "There is a pink circle.",
    "There is a red circle and a blue star and a green square.",
    "There is an orange star.",
    "there is a red circle.",
    "There is a red circle. There is a blue star.",
    "",
])
def test_malformed_text_is_rejected(text):
    assert not is_well_formed(text)


def test_well_formed_ignores_surrounding_whitespace_and_allows_repeats():
    assert is_well_formed(" There is a red circle and a red circle.\n")


def scene_of(*names):
    return Scene(tuple(SceneObject(*n.split(), "small", 5 + 10 * i, 10) for i, n in enumerate(names)))


@pytest.mark.parametrize("mode", ["substitute", "displace"])
def test_same_length_modes_name_one_absent_partner_in_place_of_a_real_object(mode):
    changed = 0
    for seed in range(300):
        rng = random.Random(seed)
        scene = sample_scene(rng)
        names = scene.object_names
        text, hallucinated = biased_caption(scene, rng, halluc_prob=1.0, mode=mode)
        mentions = extract_mentions(text)
        assert len(mentions) == len(names) and is_well_formed(text)  # never longer than the truth
        if not any(PARTNER[n] not in names for n in names[:-1]):
            assert (text, hallucinated) == (caption(names), [])
            continue
        changed += 1
        assert len(hallucinated) == 1 and hallucinated[0] not in names
        position = mentions.index(hallucinated[0])
        assert position >= 1 and PARTNER[mentions[position - 1]] == hallucinated[0]
        real = mentions[:position] + mentions[position + 1:]
        if mode == "substitute":  # the follower of the anchor is the one misnamed
            assert real == names[:position] + names[position + 1:]
        else:  # every real object in order, the rightmost left out
            assert real == names[:-1]
    assert changed > 100


def test_biased_caption_only_adds_absent_partners():
    added = 0
    for seed in range(300):
        rng = random.Random(seed)
        scene = sample_scene(rng)
        names = scene.object_names
        text, hallucinated = biased_caption(scene, rng, halluc_prob=1.0)
        mentions = extract_mentions(text)
        if all(PARTNER[n] in names for n in names):
            assert (text, hallucinated) == (caption(names), [])
            continue
        added += 1
        assert len(hallucinated) == 1 and hallucinated[0] not in names
        position = mentions.index(hallucinated[0])
        assert PARTNER[mentions[position - 1]] == hallucinated[0]  # right after its partner
        assert mentions[:position] + mentions[position + 1:] == names
        assert is_well_formed(text)
    assert added > 200


def test_biased_caption_hand_cases():
    both = scene_of("red circle", "green triangle")  # partners of each other
    assert biased_caption(both, random.Random(0), 1.0) == (caption(both.object_names), [])
    lone = scene_of("red circle", "blue star")
    text, extra = biased_caption(lone, random.Random(1), 1.0)
    assert (text, extra) in [
        ("There is a red circle, a green triangle and a blue star.", ["green triangle"]),
        ("There is a red circle, a blue star and a orange triangle.", ["orange triangle"]),
    ]
    assert biased_caption(lone, random.Random(1), 0.0) == ("There is a red circle and a blue star.", [])
    # the anchor is the red circle (partner: green triangle) with seed 1 in both modes
    three = scene_of("red circle", "blue star", "purple star")
    assert biased_caption(three, random.Random(1), 1.0, mode="substitute") == (
        "There is a red circle, a green triangle and a purple star.", ["green triangle"])  # blue star misnamed
    assert biased_caption(three, random.Random(1), 1.0, mode="displace") == (
        "There is a red circle, a green triangle and a blue star.", ["green triangle"])  # purple star left out
    single = scene_of("red circle")  # nothing to misname or displace
    for mode in ("substitute", "displace"):
        assert biased_caption(single, random.Random(1), 1.0, mode=mode) == ("There is a red circle.", [])
    with pytest.raises(ValueError, match="mode"):
        biased_caption(lone, random.Random(1), 1.0, mode="swap")


def test_biased_caption_rate_follows_halluc_prob():
    lone = scene_of("red circle")
    hits = sum(bool(biased_caption(lone, random.Random(s), 0.3)[1]) for s in range(1000))
    assert 240 <= hits <= 360
    with pytest.raises(ValueError, match="halluc_prob"):
        biased_caption(lone, random.Random(0), -0.1)
