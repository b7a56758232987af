"""Label and score step: yes/no probabilities, acceptance, response score."""
import pytest

from rlaifv.feedback.scoring import ScoredResponse, claim_accepted, p_yes_no, score_response

pytestmark = pytest.mark.cpu


def test_p_yes_no_sums_cased_variants():
    probs = {"yes": 0.25, "Yes": 0.125, "no": 0.5, "No": 0.0625, "maybe": 0.0625}
    assert p_yes_no(probs) == (0.375, 0.5625)
    assert p_yes_no({" Yes": 0.5, "no": 0.25}) == (0.5, 0.25)  # tokenizer-style leading space
    assert p_yes_no({}) == (0.0, 0.0)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.3"])
def test_p_yes_no_rejects_bad_probability(bad):
    with pytest.raises(ValueError, match="'No'"):
        p_yes_no({"yes": 0.2, "No": bad})


def test_claim_accepted_strictly_prefers_yes():
    assert claim_accepted(0.6, 0.4)
    assert not claim_accepted(0.4, 0.6)
    assert not claim_accepted(0.5, 0.5)


def test_score_is_minus_rejected_claims():
    claims = ["There is a red circle.", "There is a blue star.", "There is a green square."]
    assert score_response(claims, [True, False, False]) == ScoredResponse(-2.0, 3, 2, 0, 3)
    assert score_response([], []) == ScoredResponse(0.0, 0, 0, 0, 0)


def test_repeats_counted_and_optionally_rejected():
    claims = ["There is a red circle.", "there is a  red circle", "There is a blue star.", "There is a red circle!"]
    plain = score_response(claims, [True, True, True, True])
    assert (plain.score, plain.n_rejected, plain.n_repeats) == (0.0, 0, 2)
    strict = score_response(claims, [True, True, True, True], repeat_as_rejected=True)
    assert (strict.score, strict.n_rejected, strict.n_repeats) == (-2.0, 2, 2)
    # a repeat that the labeler already rejected counts once
    both = score_response(claims, [True, False, True, True], repeat_as_rejected=True)
    assert (both.score, both.n_rejected) == (-2.0, 2)


def test_judgement_count_mismatch_is_recorded_not_hidden():
    scored = score_response(["A is B.", "C is D.", "E is F."], [False, True])
    assert (scored.n_claims, scored.n_judged, scored.complete) == (3, 2, False)
    assert scored.score == -1.0
    assert score_response(["A is B."], [True]).complete


def test_score_response_rejects_a_string():
    with pytest.raises(TypeError, match="claims"):
        score_response("There is a red circle.", [True])  # type: ignore[arg-type]
