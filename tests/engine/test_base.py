"""Engine-independent helpers of rlaifv/engine/base.py."""
import pytest

from rlaifv.engine.base import is_scorable, sampled_logprobs

pytestmark = pytest.mark.cpu


class _Tokenising:
    """Stands in for an engine's tokeniser: refuses text that spells a special token."""

    def response_token_ids(self, text):
        if "</s>" in text:
            raise ValueError("answer contains reserved special token(s)")
        if not isinstance(text, str):
            raise TypeError("answer must be a str")
        return [1, 2]


def test_is_scorable():
    engine = _Tokenising()
    assert is_scorable(engine, "There is a red circle.")
    assert not is_scorable(engine, "a </s> b")
    assert not is_scorable(engine, None)


def test_sampled_logprobs_are_reused_only_for_the_exact_tokens():
    engine = _Tokenising()  # every scorable text re-tokenises to [1, 2]
    assert sampled_logprobs(engine, "ok", [1, 2], [-0.5, -0.25]) == [-0.5, -0.25]
    assert sampled_logprobs(engine, "ok", [1], [-0.5]) is None  # truncated: no eos, rescored
    assert sampled_logprobs(engine, "ok", [2, 1], [-0.5, -0.25]) is None  # another tokenisation
    assert sampled_logprobs(engine, "ok", [1, 2], [-0.5]) is None  # lengths disagree
    assert sampled_logprobs(engine, "ok", None, None) is None  # nothing sent: score it
    assert sampled_logprobs(engine, "a </s> b", [1, 2], [-0.5, -0.25]) is None


def test_logprobs_or_score_scores_only_the_missing_scorable_rows():
    from rlaifv.engine.base import logprobs_or_score

    class _Scoring(_Tokenising):
        calls = []

        def score(self, prompts, texts):
            self.calls.append(list(texts))
            return [[-1.0, -1.0] for _ in texts]

    engine = _Scoring()
    out = logprobs_or_score(engine, ["p"] * 3, ["a", "b </s>", "c"], [[-0.5, -0.5], None, None])
    assert out == [[-0.5, -0.5], None, [-1.0, -1.0]] and engine.calls == [["c"]]
