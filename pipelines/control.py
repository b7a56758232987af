"""The SFT control of the embedded world: does feedback beat more of the same training?

Spends the DPO rounds' training compute (sequences through forward + backward: 2 per pair per
step) on more SFT of the base policy on its own kind of training data (same world, same
annotation bias, fresh scenes), then evaluates it on the same test split.
"""
from __future__ import annotations

import json
from pathlib import Path

from rlaifv.config import Config


def sft_control(cfg: Config, out: Path, base_policy: str, test_split: str) -> dict:
    from pipelines.base_models import sft_rows_for
    from pipelines.evaluate import evaluate_models
    from pipelines.train import TrainJob, fit
    from rlaifv.world.datasets import write_parquet

    ctl = out / "control"
    done = ctl / "metrics.json"
    if done.exists():
        return json.loads(done.read_text())
    dpo_steps = 0
    for rd in sorted(out.glob("round_*/train/train_log.jsonl")):
        dpo_steps += sum(1 for _ in rd.open())
    sequences = 2 * dpo_steps * cfg.train.batch_size
    sft = cfg.policy.sft
    steps = max(1, sequences // sft.batch_size)
    fresh = dict(vars(sft), seed=sft.seed + 50_000, train_size=max(sft.train_size, sequences))
    sec = type(cfg.policy)(**{**vars(cfg.policy), "sft": type(sft)(**fresh)})
    write_parquet(sft_rows_for(cfg, "shapes-policy", sec), ctl / "sft.parquet")
    job = TrainJob(objective="sft", init_model=base_policy, data=str(ctl / "sft.parquet"),
                   output_dir=str(ctl / "train"), name="sft-control", steps=steps, batch_size=sft.batch_size,
                   lr=cfg.train.lr, warmup_ratio=cfg.train.warmup_ratio, zero_stage=0, dtype="float32",
                   num_workers=1, use_gpu=cfg.train.use_gpu, cpus_per_worker=cfg.train.num_cpus_per_worker,
                   report_every=cfg.train.report_every, seed=cfg.run.seed)
    print(f"SFT control: {steps} steps x {sft.batch_size} = {steps * sft.batch_size} sequences "
          f"(the DPO rounds trained on {sequences})")
    fit(job, storage_path=str(ctl / "ray"))
    result = {"steps": steps, "sequences": steps * sft.batch_size, "dpo_sequences": sequences,
              "test": evaluate_models(cfg, [str(ctl / "train" / "model")], test_split)[0]}
    done.write_text(json.dumps(result, indent=2, sort_keys=True))
    return result
