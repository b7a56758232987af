import pytest

from rlaifv.world.metrics import (
    extract_mentions, judge_response, parse_yesno, response_metrics, yesno_metrics,
)

pytestmark = pytest.mark.cpu

RESPONSES = [
    "There is a red circle and a red circle.",
    "There is a red circle, a green square and a red circle.",
    "I see nothing.",
    "Two Orange Triangles, one blue star.",
]
TRUTH = [
    ["red circle", "blue star"],
    ["red circle", "blue star", "yellow triangle"],
    ["purple star"],
    ["orange triangle"],
]


def test_extract_mentions():
    assert extract_mentions("A RED circle; red circles, bluestar, green  stars.") == [
        "red circle", "red circle", "green star",
    ]
    assert extract_mentions("a large red square.") == ["red square"]
    assert extract_mentions("tired circle, red circlesque, red, circle, redcircle") == []
    assert extract_mentions("") == []


def test_judge_response_by_hand():
    j = judge_response(RESPONSES[1], TRUTH[1])
    assert j.mentions == ["red circle", "green square", "red circle"]
    assert j.hallucinated == ["green square"]
    assert j.repeated == ["red circle"]
    assert j.covered == ["red circle"]
    assert j.well_formed and j.n_words == 12
    j = judge_response(RESPONSES[3], TRUTH[3])
    assert (j.hallucinated, j.repeated, j.covered, j.well_formed, j.n_words) == (
        ["blue star"], [], ["orange triangle"], False, 6,
    )


def test_response_metrics_by_hand():
    m = response_metrics(RESPONSES, TRUTH)
    assert m["n"] == 4
    assert m["hallucination_rate"] == pytest.approx(2 / 3)  # responses 2 and 4 of 3 mentioning
    assert m["mention_hallucination_rate"] == pytest.approx(2 / 5)  # {gs}, {bs} of 1+2+0+2 unique
    assert m["coverage"] == pytest.approx(3 / 7)
    assert m["avg_words"] == pytest.approx((9 + 12 + 3 + 6) / 4)
    assert m["repeat_rate"] == pytest.approx(2 / 4)
    assert m["strict_hallucination_rate"] == pytest.approx(3 / 3)
    assert m["well_formed_rate"] == pytest.approx(2 / 4)
    assert m["no_mention_rate"] == pytest.approx(1 / 4)


def test_response_metrics_clean_and_silent():
    m = response_metrics(["There is a red circle.", "..."], [["red circle"], ["blue star"]])
    assert m["hallucination_rate"] == 0.0 and m["coverage"] == 0.5 and m["no_mention_rate"] == 0.5
    silent = response_metrics(["nothing"], [["blue star"]])
    assert silent["hallucination_rate"] == 0.0 and silent["strict_hallucination_rate"] == 0.0


def test_response_metrics_bad_input():
    with pytest.raises(ValueError, match="2 responses but 1"):
        response_metrics(["a", "b"], [["red circle"]])
    with pytest.raises(ValueError, match="at least one"):
        response_metrics([], [])
    with pytest.raises(ValueError, match=r"row 1: .*'pink star'"):
        response_metrics(["a", "b"], [["red circle"], ["pink star"]])
    with pytest.raises(ValueError, match="not a string"):
        judge_response("x", "red circle")


def test_yesno_metrics_by_hand():
    assert [parse_yesno(p) for p in ["Yes.", " no", "YES, there is", "maybe", "No!", ""]] == [
        "yes", "no", "yes", None, "no", None,
    ]
    m = yesno_metrics(["Yes.", "no", "YES, there is", "maybe", "No!", ""],
                      ["yes", "yes", "no", "no", "no", "yes"])
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(2 / 6)
    assert m["precision"] == pytest.approx(1 / 2)
    assert m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(0.4)
    assert m["yes_rate"] == pytest.approx(2 / 6)
    assert m["invalid_rate"] == pytest.approx(2 / 6)


def test_yesno_metrics_degenerate_and_bad_input():
    m = yesno_metrics(["no", "no"], ["no", "no"])
    assert m["accuracy"] == 1.0 and m["precision"] == 0.0 and m["recall"] == 0.0 and m["f1"] == 0.0
    with pytest.raises(ValueError, match="row 1: answer 'maybe'"):
        yesno_metrics(["yes", "no"], ["yes", "maybe"])
    with pytest.raises(ValueError, match="2 predictions but 1"):
        yesno_metrics(["yes", "no"], ["yes"])


def test_yesno_metrics_by_kind():
    m = yesno_metrics(["yes", "yes", "no", "yes"], ["yes", "no", "no", "no"],
                      kinds=["present", "same_color", "same_color", "random"])
    assert m["accuracy_by_kind"] == {"present": 1.0, "random": 0.0, "same_color": 0.5}
    assert "accuracy_by_kind" not in yesno_metrics(["yes"], ["yes"])
    with pytest.raises(ValueError, match="1 kinds"):
        yesno_metrics(["yes", "no"], ["yes", "no"], kinds=["present"])
