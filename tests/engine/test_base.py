"""Engine-independent helpers of rlaifv/engine/base.py."""
import pytest

from rlaifv.engine.base import is_scorable

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
