"""DeepSpeed config for our trainers, from the few knobs a run config exposes."""
from __future__ import annotations


def deepspeed_config(
    *,
    micro_batch_per_worker: int,
    grad_accum: int,
    lr: float,
    weight_decay: float,
    total_steps: int,
    warmup_ratio: float,
    zero_stage: int,
    dtype: str,
    on_gpu: bool,
    grad_clip: float = 1.0,
) -> dict:
    warmup = max(1, int(round(total_steps * warmup_ratio)))  # DeepSpeed rejects 0
    cfg = {
        "train_micro_batch_size_per_gpu": micro_batch_per_worker,
        "gradient_accumulation_steps": grad_accum,
        "gradient_clipping": grad_clip,
        # torch_adam: the fused CPU/GPU Adam ops would need a compile step on every machine
        "optimizer": {
            "type": "AdamW",
            "params": {"lr": lr, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": weight_decay, "torch_adam": True},
        },
        # cosine decay after linear warmup, as in the authors' recipe
        "scheduler": {
            "type": "WarmupCosineLR",
            "params": {"total_num_steps": max(total_steps, 1), "warmup_num_steps": warmup,
                       "warmup_type": "linear", "cos_min_ratio": 0.0},
        },
        "zero_optimization": {"stage": zero_stage},
        "steps_per_print": 10**9,  # our own progress bar and metrics replace DeepSpeed's prints
        "wall_clock_breakdown": False,
    }
    if dtype == "bfloat16":
        cfg["bf16"] = {"enabled": True}
    if not on_gpu and zero_stage > 0:
        # CPU tensors have no pinned/overlapped comm streams to exploit
        cfg["zero_optimization"].update({"overlap_comm": False, "contiguous_gradients": False})
    return cfg
