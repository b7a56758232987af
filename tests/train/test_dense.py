"""RLHF-V dense DPO: token diff, weights and weighted sequence log-probs, on hand-made diffs."""
import math

import pytest
import torch

from rlaifv.train.dense import changed_token_mask, dense_sequence_logps, dense_weights, place_weights
from rlaifv.train.losses import sequence_logps

pytestmark = pytest.mark.cpu
torch.set_num_threads(1)


def test_one_word_correction_marks_only_that_token():
    # "there is a red circle and a blue star" -> "there is a green circle and a blue star"
    rejected = [1, 2, 3, 10, 4, 5, 6, 7, 8]
    chosen = [1, 2, 3, 11, 4, 5, 6, 7, 8]
    chosen_changed, rejected_changed = changed_token_mask(chosen, rejected)
    assert chosen_changed == [False, False, False, True, False, False, False, False, False]
    assert rejected_changed == [False, False, False, True, False, False, False, False, False]


def test_short_matching_blocks_count_as_changed():
    # common blocks: [1, 2, 3] (3 tokens) and [7, 8] (2 tokens, below min_block 3)
    rejected = [1, 2, 3, 4, 5, 7, 8]
    chosen = [1, 2, 3, 9, 7, 8, 6]
    chosen_changed, rejected_changed = changed_token_mask(chosen, rejected, min_block=3)
    assert rejected_changed == [False, False, False, True, True, True, True]
    assert chosen_changed == [False, False, False, True, True, True, True]
    chosen_changed, rejected_changed = changed_token_mask(chosen, rejected, min_block=2)
    assert rejected_changed == [False, False, False, True, True, False, False]
    assert chosen_changed == [False, False, False, True, False, False, True]


def test_insertion_deletion_and_edge_cases():
    # chosen deletes a hallucinated segment [20, 21] and appends a token
    rejected = [1, 2, 3, 20, 21, 4, 5, 6]
    chosen = [1, 2, 3, 4, 5, 6, 9]
    chosen_changed, rejected_changed = changed_token_mask(chosen, rejected)
    assert rejected_changed == [False, False, False, True, True, False, False, False]
    assert chosen_changed == [False] * 6 + [True]
    assert changed_token_mask([], [1, 2]) == ([], [True, True])
    same = [5, 6, 7, 8]
    assert changed_token_mask(same, same) == ([False] * 4, [False] * 4)
    assert changed_token_mask([1, 2], [1, 2]) == ([True, True], [True, True])  # a 2-token match is too short
    with pytest.raises(ValueError, match="min_block"):
        changed_token_mask([1], [1], min_block=0)


def test_no_autojunk_on_long_repetitive_sequences():
    # difflib's autojunk treats tokens filling > 1% of a >= 200-token sequence as junk: then
    # nothing here would match and every token would count as changed
    rejected = [1, 2] + [7, 8] * 120 + [3]
    chosen = [4] + [7, 8] * 120 + [5]
    chosen_changed, rejected_changed = changed_token_mask(chosen, rejected)
    assert chosen_changed == [True] + [False] * 240 + [True]
    assert rejected_changed == [True, True] + [False] * 240 + [True]


def test_dense_weights_and_placement():
    assert dense_weights([False, True, True, False], gamma=5.0) == [1.0, 5.0, 5.0, 1.0]
    with pytest.raises(ValueError, match="gamma"):
        dense_weights([True], gamma=0)
    assert place_weights([5.0, 1.0], total_len=5, response_start=2) == [1.0, 1.0, 5.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="does not fit"):
        place_weights([5.0, 1.0], total_len=3, response_start=2)


def test_dense_sequence_logps_weighted_and_normalized():
    # 4 positions, V = 2; labels: prompt token, then response tokens 1, 0, 1
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0], [0.0, math.log(3.0)], [0.0, 0.0]]])
    labels = torch.tensor([[-100, 1, 0, 1]])
    # per-token log-probs: log 1/2, log 3/4, log 3/4; the middle token was changed
    weights = torch.tensor([place_weights(dense_weights([False, True, False], 5.0), 4, 1)])
    expected = math.log(0.5) + 5 * math.log(0.75) + math.log(0.75)
    logps, counts = dense_sequence_logps(logits, labels, weights)
    assert logps.item() == pytest.approx(expected, abs=1e-6) and counts.tolist() == [3]
    normed, _ = dense_sequence_logps(logits, labels, weights, normalize=True)
    assert normed.item() == pytest.approx(expected / 7.0, abs=1e-6)
    plain, _ = dense_sequence_logps(logits, labels, torch.ones(1, 4))
    assert plain.item() == pytest.approx(sequence_logps(logits, labels)[0].item(), abs=1e-7)
