"""Best-of-N selectors and curve on hand-made candidates (log-probs and texts chosen by hand)."""
import math

import pytest

from rlaifv.eval.best_of_n import (SELECTORS, best_of_n_curve, selector_scores, hallucinated_mentions,
                                   policy_loglik, self_reward, self_reward_sum)
from rlaifv.world.metrics import response_metrics

pytestmark = pytest.mark.cpu

TRUTH = ["red circle", "blue square"]


def cand(text, policy, ref):
    return {"text": text, "policy_logps": policy, "ref_logps": ref}


# texts: 0 hallucinates (green triangle), 1 is correct and long, 2 is correct and short
CANDIDATES = [
    cand("A red circle and a green triangle.", [-1.0, -1.0], [-1.0, -1.0]),  # reward 0
    # long, small per-token gain: sum 4 * 0.5 = 2.0, mean 0.5; policy mean -0.5
    cand("A red circle and a blue square.", [-0.5, -0.5, -0.5, -0.5], [-1.0, -1.0, -1.0, -1.0]),
    # short, large per-token gain: sum 1.5, mean 1.5; policy mean -1.5
    cand("A red circle.", [-1.5], [-3.0]),
]


def picks(selector, records=CANDIDATES, objects=TRUTH, beta=1.0):
    scores = selector_scores(records, objects, selector, beta)
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def test_length_normalisation_differs_from_the_sum():
    assert self_reward(CANDIDATES[1], 1.0) == pytest.approx(0.5)
    assert self_reward(CANDIDATES[2], 1.0) == pytest.approx(1.5)
    assert self_reward_sum(CANDIDATES[1], 1.0) == pytest.approx(2.0)
    assert self_reward_sum(CANDIDATES[2], 1.0) == pytest.approx(1.5)
    assert picks("self_reward") == 2 and picks("self_reward_sum") == 1
    assert self_reward(CANDIDATES[1], 0.5) == pytest.approx(0.25)  # beta scales, never reorders


def test_policy_loglik_ignores_the_reference_and_first_is_candidate_0():
    assert policy_loglik(CANDIDATES[1], 1.0) == pytest.approx(-0.5)
    assert picks("policy_loglik") == 1
    assert picks("first") == 0


def test_shortest_is_the_length_only_control():
    assert picks("shortest") == 2  # fewest words, whatever the log-probs say
    same = [cand("A red circle.", [], []), cand("A blue star.", [], [])]
    assert picks("shortest", same) == 0  # ties go to the first


def test_oracle_uses_the_ground_truth():
    assert [hallucinated_mentions(c["text"], TRUTH) for c in CANDIDATES] == [1, 0, 0]
    assert picks("oracle") == 1  # ties (1 and 2) go to the first
    # with other ground truth the same texts rank differently
    assert picks("oracle", objects=["green triangle", "blue square"]) == 0
    # repeats count: two mentions of an absent object are worse than one
    two = [cand("A green triangle and a green triangle.", [], []), cand("A green triangle.", [], [])]
    assert [hallucinated_mentions(c["text"], TRUTH) for c in two] == [2, 1] and picks("oracle", two) == 1


def test_unscorable_candidates_are_never_picked_by_a_reward():
    records = [cand("", None, None), CANDIDATES[0]]
    assert self_reward(records[0], 1.0) == -math.inf and policy_loglik(records[0], 1.0) == -math.inf
    assert all(picks(s, records) == 1 for s in ("self_reward", "self_reward_sum", "policy_loglik"))
    assert self_reward(cand("x", [], []), 1.0) == -math.inf  # no tokens, as reward.length_normalized_reward


def test_curve_metrics_are_those_of_the_picks():
    other = [cand("A blue square.", [-1.0], [-1.0]),
             cand("A yellow star and a blue square.", [-0.1, -0.1], [-1.0, -1.0]),
             cand("A blue square and a blue square.", [-2.0], [-1.0])]
    objects = [TRUTH, ["blue square"]]
    curve = best_of_n_curve([CANDIDATES, other], objects, ns=[1, 2, 3], beta=0.5)
    assert set(curve) == set(SELECTORS) and all(set(by_n) == {1, 2, 3} for by_n in curve.values())
    assert curve["self_reward"][3] == response_metrics([CANDIDATES[2]["text"], other[1]["text"]], objects)
    assert curve["self_reward_sum"][3] == response_metrics([CANDIDATES[1]["text"], other[1]["text"]], objects)
    assert curve["oracle"][3] == response_metrics([CANDIDATES[1]["text"], other[0]["text"]], objects)
    assert curve["oracle"][3]["hallucination_rate"] == 0.0
    # best of the first 2: the correct long answer (0.25 > 0) and the yellow-star one (0.45 > 0)
    assert curve["self_reward"][2] == response_metrics([CANDIDATES[1]["text"], other[1]["text"]], objects)
    assert curve["self_reward"][2]["hallucination_rate"] == 0.5
    for selector in SELECTORS:  # N=1 is plain sampling for every selector
        assert curve[selector][1] == curve["first"][1]
        assert curve["first"][3] == curve["first"][1]


def test_input_errors():
    with pytest.raises(ValueError, match="larger than the candidates"):
        best_of_n_curve([CANDIDATES], [TRUTH], ns=[4])
    with pytest.raises(ValueError, match="unknown selector"):
        best_of_n_curve([CANDIDATES], [TRUTH], ns=[1], selectors=["self_reward", "majority"])
    with pytest.raises(ValueError, match="unknown selector"):
        selector_scores(CANDIDATES, TRUTH, "majority", 1.0)
    with pytest.raises(ValueError, match="at least one prompt"):
        best_of_n_curve([], [], ns=[1])
    with pytest.raises(ValueError, match="prompt 0 has no candidates"):
        best_of_n_curve([[]], [TRUTH], ns=[1])
    with pytest.raises(ValueError, match="ground-truth object lists"):
        best_of_n_curve([CANDIDATES], [TRUTH, TRUTH], ns=[1])
    with pytest.raises(ValueError, match="ns is empty"):
        best_of_n_curve([CANDIDATES], [TRUTH], ns=[])
    with pytest.raises(ValueError, match="int >= 1"):
        best_of_n_curve([CANDIDATES], [TRUTH], ns=[0])
    with pytest.raises(ValueError, match="beta"):
        best_of_n_curve([CANDIDATES], [TRUTH], ns=[1], beta=0)
    with pytest.raises(ValueError, match="same tokens"):  # policy and reference must align token by token
        best_of_n_curve([[cand("A red circle.", [-1.0, -1.0], [-1.0])]], [TRUTH], ns=[1], selectors=["self_reward"])
