"""AMBER's discriminative and generative metrics, numbers worked out by hand."""
import json
from pathlib import Path

import pytest

from rlaifv.eval.amber import (
    amber_vocabulary, discriminative_metrics, extract_nouns, generative_metrics, judge_generative,
    parse_answer,
)

pytestmark = pytest.mark.cpu

AMBER = Path(__file__).parent / "fixtures" / "amber"
PREDICTIONS = ["Yes", "No.", "yes", "No", "Maybe", "no"]
ANSWERS = ["yes", "no", "no", "yes", "no", "no"]
TYPES = ["discriminative-hallucination", "discriminative-hallucination",
         "discriminative-attribute-state", "discriminative-attribute-number",
         "discriminative-relation", "discriminative-relation"]
RESPONSES = [
    "A man walks his dog on the grass. The ground is wet and a light shines.",
    "Trees under the sky. You can see cats and a bird.",
    "An empty road.",
]
TRUTHS = [["man", "grass", "ground"], ["tree", "sky"], ["car"]]
HALLUS = [["dog", "car"], ["cloud", "bird"], ["person"]]


def vocabulary():
    return amber_vocabulary(json.loads((AMBER / "relation.json").read_text()), ["light", "sign"])


def test_parse_answer():
    assert [parse_answer(p) for p in PREDICTIONS] == ["yes", "no", "yes", "no", None, "no"]
    assert [parse_answer(p, strict=True) for p in PREDICTIONS] == ["yes", None, None, "no", None, None]
    assert parse_answer(None) is None


def test_discriminative_by_hand_no_is_positive():
    m = discriminative_metrics(PREDICTIONS, ANSWERS, TYPES)
    # parsed: yes no yes no None no ; truth: yes no no yes no no -> correct: items 0, 1, 5
    assert m["n"] == 6 and m["accuracy"] == pytest.approx(3 / 6)
    assert m["precision"] == pytest.approx(2 / 3)  # answered no: 1, 3, 5; truly no: 1, 5
    assert m["recall"] == pytest.approx(2 / 4)  # truth no: 1, 2, 4, 5
    assert m["f1"] == pytest.approx(4 / 7)  # 2 * 2/3 * 1/2 / (2/3 + 1/2)
    assert m["yes_rate"] == pytest.approx(2 / 6) and m["invalid_rate"] == pytest.approx(1 / 6)
    existence, attribute, relation = (m["by_dimension"][d] for d in ("existence", "attribute", "relation"))
    assert (existence["accuracy"], existence["precision"], existence["recall"], existence["f1"]) == (1, 1, 1, 1)
    assert (attribute["accuracy"], attribute["precision"], attribute["recall"], attribute["f1"]) == (0, 0, 0, 0)
    # relation: parsed None, no; truth no, no -> P = 1/1, R = 1/2, F1 = 2 * 1 * 0.5 / 1.5
    assert relation["accuracy"] == pytest.approx(1 / 2) and relation["precision"] == 1.0
    assert relation["recall"] == pytest.approx(1 / 2) and relation["f1"] == pytest.approx(2 / 3)


def test_discriminative_strict_follows_inference_py():
    m = discriminative_metrics(PREDICTIONS, ANSWERS, strict=True)
    # only "Yes" (item 0, right) and "No" (item 3, truth yes) count
    assert m["accuracy"] == pytest.approx(1 / 6)
    assert (m["precision"], m["recall"], m["f1"]) == (0.0, 0.0, 0.0)
    assert "by_dimension" not in m


def test_discriminative_bad_input():
    with pytest.raises(ValueError, match="row 1: answer 'maybe'"):
        discriminative_metrics(["yes", "no"], ["yes", "maybe"])
    with pytest.raises(ValueError, match="row 0: type 'existence'"):
        discriminative_metrics(["yes"], ["yes"], ["existence"])
    with pytest.raises(ValueError, match="2 predictions but 1"):
        discriminative_metrics(["yes", "no"], ["yes"])


def test_extract_nouns_lemmatises_and_skips_modal_can():
    vocab = vocabulary()
    assert extract_nouns("Trees, a trash can; you can see Cats and clouds.", vocab) == [
        "tree", "can", "cat", "cloud",
    ]
    assert extract_nouns("An empty road.", vocab) == []


def test_judge_generative_first_match_rule():
    j = judge_generative(RESPONSES[0], TRUTHS[0], HALLUS[0], vocabulary())
    assert j.nouns == ["man", "dog", "grass", "ground", "light"]
    assert j.hallucinated == [False, True, False, False, False]  # light is a safe word
    # "ground" is first found among grass's related words, so grass is marked, not ground
    assert j.truth_covered == [True, True, False]
    assert j.hallu_hit == [True, False]


def test_generative_by_hand():
    m = generative_metrics(RESPONSES, TRUTHS, HALLUS, vocabulary())
    # nouns: 5 (1 hallucinated: dog) + 4 (tree sky cat bird: cat, bird hallucinated) + 0
    assert m["n"] == 3 and m["n_nouns"] == 9
    assert m["chair"] == pytest.approx(3 / 9)
    assert m["cover"] == pytest.approx(4 / 6)  # (2 + 2 + 0) / (3 + 2 + 1)
    assert m["hal"] == pytest.approx(2 / 3)  # responses 0 and 1
    assert m["cog"] == pytest.approx(2 / 5)  # dog, bird of (2 + 2 + 1) targets


def test_generative_hooks():
    vocab = vocabulary()
    alone = generative_metrics(["A puppy."], [["dog"]], [["cat"]], vocab)
    assert (alone["chair"], alone["cover"]) == (1.0, 0.0)
    similar = generative_metrics(["A puppy."], [["dog"]], [["cat"]], vocab,
                                 similar=lambda a, b: {a, b} == {"puppy", "dog"})
    assert (similar["chair"], similar["cover"], similar["cog"]) == (0.0, 1.0, 0.0)
    tagged = generative_metrics(["whatever"], [["dog"]], [["cat"]], vocab,
                                noun_extractor=lambda text: ["cat", "unicorn", "dog"])
    assert (tagged["n_nouns"], tagged["chair"], tagged["cog"]) == (2, 0.5, 1.0)  # unicorn: no vocab


def test_generative_bad_input():
    vocab = vocabulary()
    with pytest.raises(ValueError, match="row 0: truth holds 'unicorn'"):
        generative_metrics(["a dog"], [["unicorn"]], [[]], vocab)
    with pytest.raises(ValueError, match="row 0: hallu must be a list"):
        generative_metrics(["a dog"], [["dog"]], ["cat"], vocab)
    with pytest.raises(ValueError, match="must match"):
        generative_metrics(["a", "b"], [["dog"]], [[]], vocab)
    with pytest.raises(ValueError, match="relation entry 'dog'"):
        amber_vocabulary({"dog": "puppy"})
