"""RLHF-V dense DPO: tokens that a correction changed weigh gamma, the rest weigh 1.

The chosen text is a corrected copy of the rejected one; a token diff (matching blocks of at
least `min_block` tokens count as unchanged) finds the corrected segments on both sides, and
`logp(y) = sum_t w_t * logp_t` (optionally / sum_t w_t) feeds the usual sigmoid DPO loss.
"""
from __future__ import annotations

from difflib import SequenceMatcher
from typing import Sequence

import torch

from rlaifv.train.losses import sequence_logps


def changed_token_mask(
    chosen_ids: Sequence[int], rejected_ids: Sequence[int], min_block: int = 3
) -> tuple[list[bool], list[bool]]:
    """(chosen_changed, rejected_changed): True for every token outside a matching block of
    >= min_block tokens (diff of rejected -> chosen, difflib without the autojunk heuristic)."""
    if not isinstance(min_block, int) or min_block < 1:
        raise ValueError(f"min_block must be an int >= 1, got {min_block!r}")
    rejected, chosen = list(rejected_ids), list(chosen_ids)
    chosen_changed = [True] * len(chosen)
    rejected_changed = [True] * len(rejected)
    matcher = SequenceMatcher(None, rejected, chosen, autojunk=False)
    for block in matcher.get_matching_blocks():
        if block.size >= min_block:
            rejected_changed[block.a : block.a + block.size] = [False] * block.size
            chosen_changed[block.b : block.b + block.size] = [False] * block.size
    return chosen_changed, rejected_changed


def dense_weights(changed: Sequence[bool], gamma: float) -> list[float]:
    """gamma on changed tokens, 1.0 elsewhere (paper: gamma 5; maintained recipe: 1.1)."""
    if not gamma > 0:
        raise ValueError(f"gamma must be > 0, got {gamma!r}")
    return [float(gamma) if flag else 1.0 for flag in changed]


def place_weights(response_weights: Sequence[float], total_len: int, response_start: int) -> list[float]:
    """A row of `total_len` weights: the response's weights from `response_start`, 1.0
    elsewhere (prompt and padding are masked by the labels anyway)."""
    end = response_start + len(response_weights)
    if response_start < 0 or end > total_len:
        raise ValueError(f"response [{response_start}, {end}) does not fit in a row of {total_len} tokens")
    row = [1.0] * total_len
    row[response_start:end] = [float(w) for w in response_weights]
    return row


def dense_sequence_logps(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    *,
    mask_value: int = -100,
    normalize: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(weighted summed log-prob per row, token count per row); with `normalize` the sum is
    divided by the sum of the weights of the labelled tokens."""
    logps, counts = sequence_logps(logits, labels, mask_value=mask_value, weights=weights)
    if normalize:
        mask = labels[:, 1:] != mask_value
        weight_sums = (weights[:, 1:].to(logps.dtype) * mask).sum(dim=-1)
        logps = logps / weight_sums.clamp(min=1e-12)
    return logps, counts
