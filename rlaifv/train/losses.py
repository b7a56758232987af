"""DPO, SFT and sequence log-prob maths (METHOD.md step 4); pure torch, no model code.

Log-probs are summed over the response tokens (RLAIF-V uses summed, not averaged, log-probs).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_same_shape(**tensors: torch.Tensor) -> None:
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"log-prob tensors must have one shape, got {shapes}")


def sigmoid_dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pair `-log sigmoid(beta * [(pc - rc) - (pr - rr)])` and the implicit rewards
    `beta * (logp - ref)` of chosen and rejected (detached: they are for logging)."""
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta!r}")
    _check_same_shape(
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
        ref_chosen_logps=ref_chosen_logps,
        ref_rejected_logps=ref_rejected_logps,
    )
    chosen_logratios = policy_chosen_logps - ref_chosen_logps
    rejected_logratios = policy_rejected_logps - ref_rejected_logps
    losses = -F.logsigmoid(beta * (chosen_logratios - rejected_logratios))
    return losses, (beta * chosen_logratios).detach(), (beta * rejected_logratios).detach()


def sft_loss(chosen_logps_sum: torch.Tensor, chosen_token_counts: torch.Tensor) -> torch.Tensor:
    """Mean NLL per token over the whole batch (sum of log-probs / sum of token counts)."""
    _check_same_shape(chosen_logps_sum=chosen_logps_sum, chosen_token_counts=chosen_token_counts)
    total = chosen_token_counts.sum()
    if total <= 0:
        raise ValueError("chosen_token_counts sum to 0: no response tokens to train on")
    return -chosen_logps_sum.sum() / total.to(chosen_logps_sum.dtype)


def token_logps(
    logits: torch.Tensor, labels: torch.Tensor, mask_value: int = -100
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-prob of each label and its mask, shifted the HF way: position t-1 predicts
    label t, so both outputs have length T-1. Computed in float32 row by row (bf16-safe)."""
    if logits.dim() != 3 or labels.dim() != 2 or logits.shape[:2] != labels.shape:
        raise ValueError(
            f"logits must be [B, T, V] and labels [B, T]; got {tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    shifted_logits = logits[:, :-1, :]
    shifted_labels = labels[:, 1:]
    mask = shifted_labels != mask_value
    safe_labels = shifted_labels.masked_fill(~mask, 0)
    if bool(((safe_labels < 0) | (safe_labels >= logits.shape[-1])).any()):
        raise ValueError(f"labels hold ids outside [0, {logits.shape[-1]}) that are not mask_value {mask_value}")
    rows = []
    for row_logits, row_labels in zip(shifted_logits, safe_labels):
        row_logits = row_logits.float()
        picked = row_logits.gather(-1, row_labels.unsqueeze(-1)).squeeze(-1)
        rows.append(picked - torch.logsumexp(row_logits, dim=-1))
    per_token = torch.stack(rows) if rows else shifted_logits.new_zeros(shifted_labels.shape, dtype=torch.float32)
    return torch.where(mask, per_token, torch.zeros_like(per_token)), mask


def sequence_logps(
    logits: torch.Tensor,
    labels: torch.Tensor,
    mask_value: int = -100,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed log-prob of the labelled tokens per row, number of labelled tokens per row).

    `labels` are aligned to the inputs (HF convention; -100 = not scored). `weights`, if
    given, has the labels' shape and scales each token's log-prob (dense DPO).
    """
    per_token, mask = token_logps(logits, labels, mask_value)
    if weights is not None:
        if weights.shape != labels.shape:
            raise ValueError(f"weights must have the labels' shape {tuple(labels.shape)}, got {tuple(weights.shape)}")
        per_token = per_token * weights[:, 1:].to(per_token.dtype)
    return per_token.sum(dim=-1), mask.sum(dim=-1)
