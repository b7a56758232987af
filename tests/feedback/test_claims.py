"""Divide step: rule splitter, LLM splitter prompt and output parsing."""
import pytest

from rlaifv.feedback.claims import (
    SPLIT_MAX_TOKENS,
    SPLIT_SAMPLING,
    SPLIT_TEMPERATURE,
    SPLIT_TOP_P,
    FactParse,
    parse_facts,
    rule_split,
    split_prompt,
)

pytestmark = pytest.mark.cpu


def test_world_caption_splits_into_one_claim_per_object():
    text = "There is a red circle, a blue star and a green square."
    assert rule_split(text) == ["There is a red circle.", "There is a blue star.", "There is a green square."]


def test_oxford_comma_and_sizes():
    text = "There is a small blue square, a large purple circle, and a small red star."
    assert rule_split(text) == [
        "There is a small blue square.",
        "There is a large purple circle.",
        "There is a small red star.",
    ]


def test_single_object_caption():
    assert rule_split("There is a yellow triangle.") == ["There is a yellow triangle."]


def test_plain_sentences_stay_whole():
    text = "The circle is red. It is next to the star!"
    assert rule_split(text) == ["The circle is red.", "It is next to the star!"]


@pytest.mark.parametrize("text", ["", "   ", "!!! ... ???", "asdf", "12 34.", "\n\n"])
def test_garbage_gives_no_claims(text):
    assert rule_split(text) == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("There is a red circle and a", ["There is a red circle."]),
        ("There is a red circle, a blue star and a small.", ["There is a red circle.", "There is a blue star."]),
        ("There is a red circle, a", ["There is a red circle."]),
        ("There is a", []),
        ("The circle is red. The star is", ["The circle is red."]),
    ],
)
def test_truncated_answers_drop_the_dangling_fragment(text, expected):
    assert rule_split(text) == expected


def test_other_lead_phrases_and_plural_lead():
    assert rule_split("I see a red circle and a blue star.") == ["I see a red circle.", "I see a blue star."]
    assert rule_split("The image shows a green star and a red square.") == [
        "The image shows a green star.",
        "The image shows a red square.",
    ]
    # items with "a" under "There are" become singular claims; real plurals keep "There are"
    assert rule_split("There are a red circle and two blue stars.") == [
        "There is a red circle.",
        "There are two blue stars.",
    ]


def test_multiple_sentences_and_lines_with_repeat_kept():
    text = "There is a red circle and a blue star.\nThere is a red circle. The sky is clear"
    assert rule_split(text) == [
        "There is a red circle.",
        "There is a blue star.",
        "There is a red circle.",
        "The sky is clear.",
    ]


def test_rule_split_rejects_non_text():
    with pytest.raises(TypeError, match="text"):
        rule_split(None)  # type: ignore[arg-type]


def test_split_prompt_is_the_reference_prompt():
    expected = (
        "You are an expert in extracting facts from the given question-answer pair for an image. "
        "Your task is to extract and rewrite the facts mentioned in the question-answer pair into "
        "self-contained sentences. Exclude opinions or subjective statements.\n\n"
        "You should present your result in the following format:\n"
        "### Facts:\n- {Extracted fact 1}\n- {Extracted fact 2}\n- ...\n\n"
        "### Question-answer pair:\nQuestion: Describe the image.\nAnswer: There is a {red} circle."
    )
    # braces in the answer are data, not template fields
    assert split_prompt("Describe the image.", "There is a {red} circle.") == expected


def test_split_prompt_cuts_answer_to_300_words():
    answer = " ".join(f"w{i}" for i in range(400))
    prompt = split_prompt("Q?", answer)
    tail = prompt.split("\nAnswer: ", 1)[1]
    assert tail.split() == [f"w{i}" for i in range(300)]
    assert split_prompt("Q?", "a  b\nc").endswith("Answer: a  b\nc")  # short answers untouched


def test_splitter_sampling_constants():
    assert (SPLIT_TEMPERATURE, SPLIT_TOP_P, SPLIT_MAX_TOKENS) == (0.2, 0.9, 256)
    assert (SPLIT_SAMPLING.temperature, SPLIT_SAMPLING.top_p, SPLIT_SAMPLING.max_tokens, SPLIT_SAMPLING.n) == (
        0.2, 0.9, 256, 1)


def test_parse_facts_reference_format():
    out = "### Facts:\n- There is a red circle.\n- There is a blue star.\n"
    assert parse_facts(out) == FactParse(["There is a red circle.", "There is a blue star."], None)


def test_parse_facts_tolerates_variants():
    out = (
        "Sure! Here you go.\n\n### Facts:\n\n"
        "1. The circle is red.   \n"
        "* The star is blue.\n"
        "\n"
        "2) The square is green.\n"
        "- ...\n"
        "### Question-answer pair:\n- Question: echo that must not count\n"
    )
    assert parse_facts(out) == FactParse(["The circle is red.", "The star is blue.", "The square is green."], None)


def test_parse_facts_without_header():
    assert parse_facts("- A fact.\n  - Another fact.  ").facts == ["A fact.", "Another fact."]


@pytest.mark.parametrize(
    "out, reason",
    [
        ("", "no fact lines"),
        ("I cannot see the image.", "no fact lines"),
        ("### Facts:\n", "no fact lines"),
        ("### Facts:\n- {Extracted fact 1}\n- {Extracted fact 2}\n- ...", "placeholder"),
        ("### Facts:\n- There is a red circle.\n- {Extracted fact 2}", "placeholder"),
        (None, "not str"),
    ],
)
def test_parse_facts_malformed_sets_error_never_raises(out, reason):
    result = parse_facts(out)  # type: ignore[arg-type]
    assert result.facts == []
    assert result.error is not None and reason in result.error
