"""`rlaifv train`: DPO on a pairs file (ours, RLAIF-V-Dataset or RLHF-V-Dataset layout)."""
from __future__ import annotations

import json
from pathlib import Path

from rlaifv.config import Config


def dpo_job(cfg: Config, *, policy: str, pairs: str, out_dir: Path, name: str, seed: int, live_reference: str = ""):
    from pipelines.train import TrainJob

    t = cfg.train
    return TrainJob(objective="dpo", init_model=policy, data=pairs, output_dir=str(out_dir), name=name,
                    epochs=t.epochs, batch_size=t.batch_size, lr=t.lr, weight_decay=t.weight_decay,
                    warmup_ratio=t.warmup_ratio, zero_stage=t.zero_stage, dtype=t.dtype, num_workers=t.num_workers,
                    use_gpu=t.use_gpu, cpus_per_worker=t.num_cpus_per_worker, beta=t.beta, sft_weight=t.sft_weight,
                    dense_gamma=t.dense_gamma if t.loss == "dense" else 0.0, dense_normalize=t.dense_normalize,
                    freeze_vision=t.freeze_vision, checkpoints=t.epochs * t.checkpoints_per_epoch,
                    max_failures=t.max_failures, report_every=t.report_every, seed=seed,
                    reference_model=live_reference)


def train_command(args) -> int:
    import pyarrow.parquet as pq

    from pipelines.base_models import resolve_model
    from pipelines.cluster import init_ray
    from pipelines.reference import add_reference_logps
    from pipelines.train import fit
    from rlaifv.config import load_config
    from rlaifv.train.batching import to_pair_layout

    cfg = load_config(args.config, args.overrides)
    out = Path(args.output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    policy = resolve_model(cfg, cfg.policy.model, out)
    init_ray(cfg)
    pairs = Path(args.pairs).resolve()
    if not pairs.exists():
        raise FileNotFoundError(f"--pairs: {pairs} not found")
    reference = resolve_model(cfg, cfg.reference.model, out) if cfg.reference.model else policy
    live = ""
    if "ref_chosen_logps" not in pq.read_schema(pairs if pairs.is_file() else next(pairs.glob("*.parquet"))).names:
        pairs = to_pair_layout(pairs, out / "pairs.parquet")
        if cfg.train.precompute_reference:
            pairs = add_reference_logps(cfg, pairs, out / "reference", reference)
        else:
            live = reference
    metrics = fit(dpo_job(cfg, policy=policy, pairs=str(pairs), out_dir=out / "train", name="dpo",
                          seed=cfg.run.seed, live_reference=live), storage_path=str(out / "ray"))
    print(json.dumps(metrics, indent=2))
    print(f"model: {out / 'train' / 'model'}")
    return 0
