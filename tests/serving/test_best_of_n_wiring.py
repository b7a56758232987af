"""Best-of-N wiring: scorer rewards from hand-made log-probs -> the response picks the max."""
import math

import pytest

from actors.serve_deployments import candidate_scores, group_by_spec
from pipelines.serve import merge_candidates
from rlaifv.serving.openai_schema import Candidate, ChatRequest, build_chat_response, selection_score

pytestmark = pytest.mark.cpu


def request(n: int) -> ChatRequest:
    return ChatRequest("rlaifv", "q", "data:", "messages[0].content[1].image_url", n, 0.7, 1.0, 8, None)


def test_candidate_scores_hand_values():
    policy = [[-1.0, -1.0], [-0.5, -0.5, -0.5, -0.5], [-2.0]]
    ref = [[-2.0, -4.0], [-1.0, -1.0, -1.0, -1.0], [-1.0]]
    scores = candidate_scores(policy, ref, beta=0.5)
    # log-ratio sums 4, 2, -1 over T = 2, 4, 1 tokens: rewards 0.5*4/2, 0.5*2/4, 0.5*(-1)/1
    assert [s["reward"] for s in scores] == pytest.approx([1.0, 0.25, -0.5])
    assert [s["policy_logp"] for s in scores] == pytest.approx([-2.0, -2.0, -2.0])
    assert [s["reference_logp"] for s in scores] == pytest.approx([-6.0, -4.0, -1.0])
    assert [s["tokens"] for s in scores] == [2, 4, 1]
    with pytest.raises(ValueError, match="reference rows"):
        candidate_scores(policy, ref[:2], beta=0.5)


def test_response_picks_the_highest_reward_first_on_ties():
    sampled = [{"text": t, "completion_tokens": k, "finish_reason": f}
               for t, k, f in (("a", 3, "stop"), ("b", 5, "stop"), ("c", 8, "length"), ("d", 2, "stop"))]
    scores = candidate_scores([[-1.0], [-1.0, -1.0], [-1.0], [-1.0, -1.0]], [[-1.0], [-2.0, -2.0], [-3.0], [-2.0, -2.0]],
                              beta=0.1)  # rewards 0, 0.1, 0.2, 0.1
    body = build_chat_response(request(4), merge_candidates(sampled, scores), prompt_tokens=40, response_id="x",
                               created=7, seed=11)
    assert body["rlaifv"]["chosen_index"] == 2 and body["rlaifv"]["n"] == 4 and body["rlaifv"]["seed"] == 11
    assert body["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "c"},
                                "finish_reason": "length", "logprobs": None}]
    assert body["usage"] == {"prompt_tokens": 40, "completion_tokens": 18, "total_tokens": 58}
    assert [c["reward"] for c in body["rlaifv"]["candidates"]] == pytest.approx([0.0, 0.1, 0.2, 0.1])
    assert body["object"] == "chat.completion" and body["model"] == "rlaifv" and body["created"] == 7
    tie = [Candidate(t, 0.5, -1.0, -2.0, 2, 2, "stop") for t in "xyz"]
    assert build_chat_response(request(3), tie, 1, "i", 0, 0)["rlaifv"]["chosen_index"] == 0


def test_policy_loglik_selector_picks_the_most_likely_answer_per_token():
    # "a": reward 1.0 but mean log-prob -3; "b": reward 0.1, mean log-prob -0.5; "c" unscorable
    cands = [Candidate("a", 1.0, -6.0, -8.0, 2, 2, "stop"), Candidate("b", 0.1, -2.0, -2.4, 4, 4, "stop"),
             Candidate("c", -math.inf, math.nan, math.nan, 0, 3, "length")]
    by_reward = build_chat_response(request(3), cands, 1, "i", 0, 0)
    by_loglik = build_chat_response(request(3), cands, 1, "i", 0, 0, selector="policy_loglik")
    assert (by_reward["rlaifv"]["chosen_index"], by_reward["rlaifv"]["selector"]) == (0, "self_reward")
    assert (by_loglik["rlaifv"]["chosen_index"], by_loglik["rlaifv"]["selector"]) == (1, "policy_loglik")
    assert by_loglik["choices"][0]["message"]["content"] == "b"
    assert selection_score(cands[1], "policy_loglik") == pytest.approx(-0.5)
    assert selection_score(cands[2], "policy_loglik") == -math.inf
    with pytest.raises(ValueError, match="unknown selector 'oracle'"):
        build_chat_response(request(3), cands, 1, "i", 0, 0, selector="oracle")


def test_unscorable_candidate_is_never_chosen_and_reports_null():
    cands = [Candidate("bad", -math.inf, math.nan, math.nan, 0, 4, "length"),
             Candidate("ok", -3.0, -1.0, 2.0, 3, 3, "stop")]
    body = build_chat_response(request(2), cands, 1, "i", 0, 0)
    assert body["rlaifv"]["chosen_index"] == 1
    assert body["rlaifv"]["candidates"][0] == {"text": "bad", "reward": None, "policy_logp": None,
                                               "reference_logp": None, "tokens": 0}
    with pytest.raises(ValueError, match="candidates for n=3"):
        build_chat_response(request(3), cands, 1, "i", 0, 0)
    with pytest.raises(ValueError, match="2 samples but 1 scores"):
        merge_candidates([{}, {}], [{}])


def test_group_by_spec_batches_equal_settings_only():
    a = {"n": 4, "temperature": 0.7, "top_p": 1.0, "max_tokens": 8}
    b = {**a, "temperature": 1.0}
    groups = group_by_spec([a, b, dict(a), {**a, "n": 2}, b])
    assert list(groups.values()) == [[0, 2], [1, 4], [3]]
