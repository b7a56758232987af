"""One forward pass + loss for each objective (SFT, DPO, dense DPO), shared by every trainer.

Pure torch: the Ray Train workers (pipelines/train.py) and plain loops in tests call these.
"""
from __future__ import annotations

import torch

from rlaifv.train.losses import sequence_logps, sigmoid_dpo_loss

# Keys of a collated batch that the HF model's forward takes; the rest are ours.
MODEL_INPUT_KEYS = ("input_ids", "attention_mask", "pixel_values", "image_grid_thw", "image_sizes")


def model_inputs(batch: dict) -> dict:
    return {k: batch[k] for k in MODEL_INPUT_KEYS if k in batch}


def sft_forward(model, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean token NLL on the answer tokens (labels == -100 elsewhere)."""
    logits = model(**model_inputs(batch)).logits
    logps, counts = sequence_logps(logits.float(), batch["labels"])
    loss = -logps.sum() / counts.sum().clamp(min=1)
    return loss, {"loss": loss.item()}


@torch.no_grad()
def reference_logps(ref_model, batch: dict) -> torch.Tensor:
    """A live reference's (weighted) log-probs of every row, for runs that do not precompute them."""
    logits = ref_model(**model_inputs(batch)).logits.float()
    logps, _ = sequence_logps(logits, batch["labels"], weights=batch.get("weights"))
    return logps.double()


def dpo_forward(model, batch: dict, *, beta: float, sft_weight: float = 0.0,
                normalize: bool = False) -> tuple[torch.Tensor, dict[str, float]]:
    """Sigmoid DPO on one concatenated forward of [chosen; rejected].

    `batch["ref_logps"]` holds the reference model's (weighted) log-probs of the same rows,
    precomputed once per round, so no reference forward happens here. With `weights` in the
    batch (RLHF-V dense DPO) changed tokens count gamma times.
    """
    logits = model(**model_inputs(batch)).logits.float()
    weights = batch.get("weights")
    logps, counts = sequence_logps(logits, batch["labels"], weights=weights)
    if normalize and weights is not None:
        logps = logps / batch["weight_sums"].clamp(min=1e-6)
    n = logps.shape[0] // 2
    ref = batch["ref_logps"].to(logps.dtype)
    losses, chosen_r, rejected_r = sigmoid_dpo_loss(logps[:n], logps[n:], ref[:n], ref[n:], beta)
    loss = losses.mean()
    metrics = {
        "dpo_loss": loss.item(),
        "reward_accuracy": (chosen_r > rejected_r).float().mean().item(),
        "chosen_reward": chosen_r.mean().item(),
        "rejected_reward": rejected_r.mean().item(),
        "reward_margin": (chosen_r - rejected_r).mean().item(),
    }
    if sft_weight > 0:
        # plain (unweighted) NLL of the chosen answer keeps it fluent: METHOD.md's optional SFT term
        plain = logps[:n] if weights is None else sequence_logps(logits[:n], batch["labels"][:n])[0]
        nll = -(plain.sum() / counts[:n].sum().clamp(min=1))
        loss = loss + sft_weight * nll
        metrics["sft_loss"] = nll.item()
    metrics["loss"] = loss.item()
    return loss, metrics
