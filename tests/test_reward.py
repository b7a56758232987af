"""Self-feedback reward for best-of-N, on hand-made log-probs."""
import math

import pytest

from rlaifv.reward import best_of_n, length_normalized_reward, summed_reward

pytestmark = pytest.mark.cpu


def test_length_normalized_reward_hand_value():
    policy, ref = [-1.0, -2.0, -0.5], [-1.5, -1.0, -1.0]  # log-ratios 0.5, -1.0, 0.5: sum 0
    assert length_normalized_reward(policy, ref, beta=0.1) == 0.0
    assert length_normalized_reward([-1.0, -1.0], [-2.0, -4.0], beta=0.5) == pytest.approx(0.5 / 2 * 4.0)
    assert length_normalized_reward([], [], beta=0.1) == -math.inf


def test_summed_reward_hand_value_and_why_normalisation_matters():
    short, long_ = ([-1.0], [-2.0]), ([-1.0] * 4, [-1.5] * 4)
    assert summed_reward(*short, beta=0.1) == pytest.approx(0.1)
    assert summed_reward(*long_, beta=0.1) == pytest.approx(0.2)
    # per token the short answer gains more: the normalised reward prefers it, the sum does not
    assert length_normalized_reward(*short, beta=0.1) == pytest.approx(0.1)
    assert length_normalized_reward(*long_, beta=0.1) == pytest.approx(0.05)
    assert summed_reward([], [], beta=0.1) == 0.0


def test_reward_bad_input():
    with pytest.raises(ValueError, match="same tokens"):
        length_normalized_reward([-1.0], [-1.0, -2.0], beta=0.1)
    with pytest.raises(ValueError, match="beta"):
        summed_reward([-1.0], [-1.0], beta=0)
    with pytest.raises(ValueError, match=r"ref_logps\[1\]"):
        length_normalized_reward([-1.0, -1.0], [-1.0, float("nan")], beta=0.1)


def test_best_of_n_argmax_first_on_ties():
    assert best_of_n([0.1, 0.3, -0.2]) == 1
    assert best_of_n([0.3, 0.1, 0.3]) == 0
    assert best_of_n([-math.inf, -1.0, -1.0]) == 1
    assert best_of_n([-math.inf, -math.inf]) == 0
    with pytest.raises(ValueError, match="empty"):
        best_of_n([])
    with pytest.raises(ValueError, match=r"rewards\[1\]"):
        best_of_n([0.0, float("nan")])
