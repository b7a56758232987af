"""Convert step: rule-based questions, LLM prompt and output parsing."""
import pytest

from rlaifv.feedback.questions import convert_prompt, parse_questions, rule_question, with_yes_no_suffix
from rlaifv.world.vocab import OBJECTS, YESNO_TEMPLATE

pytestmark = pytest.mark.cpu


def test_world_claims_give_the_world_question_template():
    for obj in OBJECTS:
        assert rule_question(f"There is a {obj}.") == YESNO_TEMPLATE.format(obj=obj)
    assert rule_question("There is a red circle.") == "Is there a red circle in the image? Please answer yes or no."


@pytest.mark.parametrize(
    "claim, question",
    [
        ("There are two blue stars.", "Are there two blue stars in the image?"),
        ("There is no green square.", "Is there no green square in the image?"),
        ("There is a dog in the image.", "Is there a dog in the image?"),
        ("The circle is red.", "Is the circle red?"),
        ("The red circle is not large.", "Is the red circle not large?"),
        ("The stars are yellow", "Are the stars yellow?"),
        ("The image shows a red circle.", "Does the image show a red circle?"),
        ("I see a blue star.", "Do you see a blue star in the image?"),
        ("A man rides a horse.", "Is it true that a man rides a horse?"),
        ("The circle, which is red, is big.", "Is it true that the circle, which is red, is big?"),
        ("NASA launched it.", "Is it true that NASA launched it?"),
        ("  There   is a red circle  ", "Is there a red circle in the image?"),
    ],
)
def test_rule_question_forms(claim, question):
    assert rule_question(claim) == question + " Please answer yes or no."


@pytest.mark.parametrize("claim", ["", "  .  "])
def test_rule_question_rejects_empty_claim(claim):
    with pytest.raises(ValueError, match="claim"):
        rule_question(claim)


def test_suffix_appended_exactly_once():
    suffix = " Please answer yes or no."
    assert with_yes_no_suffix("Is it red?") == "Is it red?" + suffix
    assert with_yes_no_suffix("Is it red? Please answer yes or no.") == "Is it red?" + suffix
    assert with_yes_no_suffix("Is it red? please answer yes or no Please answer yes or no.") == "Is it red?" + suffix


def test_convert_prompt_lists_claims_and_keeps_negation_instruction():
    prompt = convert_prompt(["There is a red circle.", "The star is not\nblue."])
    assert prompt.endswith("### Declarative sentences:\n- There is a red circle.\n- The star is not blue.")
    assert "negative" in prompt and '"not"' in prompt and "### Questions:" in prompt
    with pytest.raises(ValueError, match=r"claims\[1\]"):
        convert_prompt(["ok.", "  "])
    with pytest.raises(ValueError, match="non-empty"):
        convert_prompt([])


def test_parse_questions_reference_and_variant_formats():
    out = "### Questions:\n- Is there a red circle?\n- Is the star not blue? Please answer yes or no.\n"
    assert parse_questions(out, 2) == (
        ["Is there a red circle? Please answer yes or no.", "Is the star not blue? Please answer yes or no."],
        None,
    )
    out = "### Modified sentences:\n1. Is it red?  \n\n2. Is it big?\n### Declarative sentences:\n- It is red.\n"
    assert parse_questions(out, 2)[0] == ["Is it red? Please answer yes or no.", "Is it big? Please answer yes or no."]


@pytest.mark.parametrize(
    "out, n, reason",
    [
        ("### Questions:\n- Is it red?", 2, "expected 2 questions, got 1"),
        ("### Questions:\n- {Question 1}\n- {Question 2}", 2, "placeholder"),
        ("### Questions:\n- It is red.", 1, "not a question"),
        ("nothing useful", 1, "expected 1 questions, got 0"),
        (None, 1, "not str"),
    ],
)
def test_parse_questions_errors_never_raise(out, n, reason):
    questions, error = parse_questions(out, n)  # type: ignore[arg-type]
    assert questions == [] and error is not None and reason in error


def test_parse_questions_rejects_bad_n_expected():
    with pytest.raises(ValueError, match="n_expected"):
        parse_questions("- Is it?", -1)
