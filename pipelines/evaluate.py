"""Evaluate models on held-out ShapesWorld splits, as Ray tasks (GPU-placed on clusters)."""
from __future__ import annotations

from pathlib import Path

from rlaifv.config import Config


def eval_splits(cfg: Config, out_dir: Path) -> dict[str, str]:
    """`val` picks checkpoints, `test` reports numbers; neither is used for training or collection."""
    from rlaifv.world.datasets import describe_rows, write_parquet

    paths = {}
    for split, seed in (("test", cfg.world.eval_seed), ("val", cfg.world.eval_seed + 1)):
        path = out_dir / "eval" / f"{split}.parquet"
        if not path.exists():
            write_parquet(describe_rows(cfg.world.eval_size, seed, image_size=cfg.world.image_size), path)
        paths[split] = str(path)
    return paths


def _evaluate(model: str, data: str, backend: str, dtype: str, temperature: float, num_samples: int,
              max_tokens: int, seed: int, batch_size: int) -> dict:
    from actors.common import engine_options, set_actor_threads
    from pipelines.commands import evaluate_model
    from rlaifv.engine import make_engine

    set_actor_threads()
    engine = make_engine(backend, model, **engine_options(backend, dtype, 512, batch_size))
    return evaluate_model(engine, data, temperature=temperature, num_samples=num_samples, max_tokens=max_tokens,
                          seed=seed)


def evaluate_models(cfg: Config, models: list[str], data: str) -> list[dict]:
    """Metrics of each model on `data`, in parallel Ray tasks (same seeds for every model)."""
    import ray

    task = ray.remote(_evaluate).options(num_cpus=cfg.policy.num_cpus, num_gpus=cfg.policy.num_gpus, max_retries=2)
    e = cfg.eval
    refs = [task.remote(m, data, cfg.policy.backend, cfg.policy.dtype, e.temperature, e.num_samples, e.max_tokens,
                        cfg.run.seed, cfg.policy.batch_size) for m in models]
    return ray.get(refs)


def pick_best(metrics: list[dict], base: dict) -> int:
    """Checkpoint with the lowest strict hallucination rate (a repeat counts as an error) among
    those keeping >= 90% of the base coverage; else the one with the best coverage."""
    ok = [i for i, m in enumerate(metrics) if m["coverage"] >= 0.9 * base["coverage"]]
    if not ok:
        return max(range(len(metrics)), key=lambda i: metrics[i]["coverage"])
    return min(ok, key=lambda i: (metrics[i]["strict_hallucination_rate"], metrics[i]["hallucination_rate"]))
