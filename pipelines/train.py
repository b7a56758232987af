"""Ray Train + DeepSpeed trainer for every objective (SFT of the base models, DPO, dense DPO).

The driver builds a `TrainJob`, Ray Train starts `num_workers` workers, each runs DeepSpeed
(ZeRO stage, dtype from the job) over its shard of a parquet of examples or pairs. Rank 0 shows a
progress bar, logs every step to `OUT/train_log.jsonl`, saves HF checkpoints under
`OUT/checkpoints/step_N` and the final model under `OUT/model`. A worker that dies resumes from
the last DeepSpeed checkpoint and skips the batches already consumed (same step count).
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

# V2 polls workers every 2 s by default, which dominates small steps (PLATFORM_NOTES.md).
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")


@dataclass
class TrainJob:
    objective: str  # "sft" | "dpo"
    init_model: str
    data: str
    output_dir: str
    name: str
    steps: int = 0  # 0: epochs x steps per epoch
    epochs: int = 1
    batch_size: int = 32  # global, per optimizer step
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    zero_stage: int = 1
    dtype: str = "float32"
    num_workers: int = 1
    use_gpu: bool = False
    cpus_per_worker: float = 0.5
    beta: float = 0.1
    sft_weight: float = 0.0
    dense_gamma: float = 0.0  # > 0: RLHF-V dense DPO weights
    dense_normalize: bool = False
    freeze_vision: bool = False
    checkpoints: int = 1  # HF checkpoints over the run (evenly spaced, the last at the end)
    max_failures: int = 1
    report_every: int = 10
    seed: int = 0
    reference_model: str = ""  # set: a live reference model instead of precomputed log-probs
    fail_at_step: int = 0  # fault injection for tests: the first attempt dies at this step


def _worker_loop(cfg: dict) -> None:
    import deepspeed
    import ray.train
    import torch
    from torch.utils.data import DataLoader, DistributedSampler
    from tqdm import tqdm

    from rlaifv.models.checkpoint import load_model, save_model
    from rlaifv.train.batching import PairDataset, SFTDataset, collate_dpo, collate_sft
    from rlaifv.train.ds_config import deepspeed_config
    from rlaifv.train.steps import dpo_forward, reference_logps, sft_forward

    job = TrainJob(**cfg)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    if not job.use_gpu:
        torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    torch.manual_seed(job.seed)
    model, processor = load_model(job.init_model)
    if job.freeze_vision:
        for name, p in model.named_parameters():
            if "vision" in name or "visual" in name:
                p.requires_grad_(False)
    if job.objective == "sft":
        dataset, collate = SFTDataset(job.data), lambda rows: collate_sft(rows, processor)
    else:
        dataset = PairDataset(job.data)
        collate = lambda rows: collate_dpo(rows, processor, gamma=job.dense_gamma)  # noqa: E731
    per_worker = max(1, job.batch_size // world)
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=job.seed, drop_last=True)
    loader = DataLoader(dataset, batch_size=per_worker, sampler=sampler, collate_fn=collate, drop_last=True)
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise ValueError(f"{job.data}: {len(dataset)} rows are fewer than one batch of {job.batch_size}")
    total = job.steps or job.epochs * steps_per_epoch
    ds_cfg = deepspeed_config(micro_batch_per_worker=per_worker, grad_accum=1, lr=job.lr,
                              weight_decay=job.weight_decay, total_steps=total, warmup_ratio=job.warmup_ratio,
                              zero_stage=job.zero_stage, dtype=job.dtype, on_gpu=job.use_gpu)
    _skip_shm_comm_build()
    engine, _, _, scheduler = deepspeed.initialize(
        model=model, model_parameters=[p for p in model.parameters() if p.requires_grad], config=ds_cfg)
    device = engine.device
    ref_model = None
    if job.reference_model:  # live reference: one extra forward per step (the comparison case)
        ref_model = load_model(job.reference_model)[0].to(device)
        ref_model.requires_grad_(False)

    start = 0
    ckpt = ray.train.get_checkpoint()
    if ckpt:
        with ckpt.as_directory() as d:
            engine.load_checkpoint(d)  # the tag is read from the "latest" file each save writes
            start = json.loads((Path(d) / "state.json").read_text())["step"]
    out = Path(job.output_dir)
    log_path = out / "train_log.jsonl"
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        _truncate_log(log_path, start)
    ckpt_steps = {round(total * (i + 1) / job.checkpoints) for i in range(job.checkpoints)}

    bar = tqdm(total=total, initial=start, desc=f"{job.name} {job.objective}", disable=rank != 0,
               mininterval=2.0, dynamic_ncols=True)
    step, epoch = 0, 0
    while step < total:
        sampler.set_epoch(epoch)
        for batch in loader:
            if step < start:  # resume: the sampler replays the same order; skip consumed batches
                step += 1
                if step >= total:
                    break
                continue
            if job.fail_at_step and step == job.fail_at_step and not (out / ".failed_once").exists():
                (out / ".failed_once").touch()
                raise RuntimeError(f"fail_at_step={step}: injected worker failure")
            batch = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in batch.items()}
            if ref_model is not None:
                batch["ref_logps"] = reference_logps(ref_model, batch)
            if job.objective == "sft":
                loss, metrics = sft_forward(engine, batch)
            else:
                loss, metrics = dpo_forward(engine, batch, beta=job.beta, sft_weight=job.sft_weight,
                                            normalize=job.dense_normalize)
            engine.backward(loss)
            engine.step()
            step += 1
            metrics.update(step=step, epoch=epoch, lr=scheduler.get_last_lr()[0],
                           grad_norm=float(engine.get_global_grad_norm() or 0.0))
            if rank == 0:
                with log_path.open("a") as f:
                    f.write(json.dumps(metrics) + "\n")
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['loss']:.3f}", refresh=False)
            if step in ckpt_steps:
                _checkpoint(engine, processor, out, step, metrics, rank, save_model)
            elif step % job.report_every == 0:
                ray.train.report(metrics)
            if step >= total:
                break
        epoch += 1
    bar.close()
    if rank == 0:
        save_model(engine.module, processor, out / "model")


def _checkpoint(engine, processor, out: Path, step: int, metrics: dict, rank: int, save_model) -> None:
    import ray.train
    from ray.train import Checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        engine.save_checkpoint(tmp, tag=f"step_{step}")  # every rank writes its shard
        if rank == 0:
            (Path(tmp) / "state.json").write_text(json.dumps({"step": step}))
            save_model(engine.module, processor, out / "checkpoints" / f"step_{step}")
        ray.train.report(metrics, checkpoint=Checkpoint.from_directory(tmp))


def _truncate_log(path: Path, keep_below: int) -> None:
    """After a resume, drop log lines of steps that will be redone."""
    if not path.exists():
        return
    lines = [ln for ln in path.read_text().splitlines() if ln and json.loads(ln)["step"] <= keep_below]
    path.write_text("".join(ln + "\n" for ln in lines))


def _skip_shm_comm_build() -> None:
    """DeepSpeed's comm backend JIT-compiles its shared-memory all-reduce (deepspeed_shm_comm)
    at initialize; only inference_all_reduce uses it, training never does. The compile took
    ~50 s on a fresh machine, and a worker killed mid-compile leaves torch's lock file behind,
    on which every later initialize waits forever (a CI run hung there). Marking the op
    incompatible makes build_shm_op return None; training all-reduces through torch.distributed."""
    import deepspeed.ops

    compatible = getattr(deepspeed.ops, "__compatible_ops__", None)  # checked by build_shm_op (0.19)
    if isinstance(compatible, dict):
        compatible["deepspeed_shm_comm"] = False


def fit(job: TrainJob, storage_path: str) -> dict:
    """Run `job` on the connected Ray cluster; returns the last reported metrics."""
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    resources = {"CPU": job.cpus_per_worker}
    if job.use_gpu:
        resources["GPU"] = 1
    job = dataclasses.replace(job, init_model=_absolute(job.init_model), data=_absolute(job.data),
                              output_dir=str(Path(job.output_dir).resolve()),
                              reference_model=_absolute(job.reference_model) if job.reference_model else "")
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config=dataclasses.asdict(job),
        scaling_config=ScalingConfig(num_workers=job.num_workers, use_gpu=job.use_gpu, resources_per_worker=resources),
        torch_config=TorchConfig(backend="nccl" if job.use_gpu else "gloo"),
        run_config=RunConfig(name=job.name, storage_path=os.path.abspath(storage_path),
                             failure_config=FailureConfig(max_failures=job.max_failures)),
    )
    result = trainer.fit()
    if result.error:
        raise result.error
    return dict(result.metrics or {})


def _absolute(path: str) -> str:
    """Workers do not share the driver's working directory."""
    return str(Path(path).resolve()) if Path(path).exists() else path


def main(args) -> int:
    from pipelines.dpo_job import train_command

    return train_command(args)
