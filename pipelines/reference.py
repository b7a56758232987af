"""Reference log-probs of a round's pairs: one Ray Data pass with the round's starting model."""
from __future__ import annotations

import shutil
from pathlib import Path

from rlaifv.config import Config


def add_reference_logps(cfg: Config, pairs: str | Path, out_dir: str | Path, reference_model: str) -> Path:
    """pairs parquet -> `out_dir` (parquet files) with ref_chosen_logps / ref_rejected_logps."""
    import ray.data
    from ray.data import ActorPoolStrategy

    from actors.scorer import ReferenceScorerActor

    out, pairs = Path(out_dir).resolve(), Path(pairs).resolve()
    if (out / "_SUCCESS").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)  # a crashed earlier attempt may have left partial files
    p = cfg.policy
    ds = ray.data.read_parquet(str(pairs))
    ds = ds.map_batches(
        ReferenceScorerActor, batch_format="pandas", batch_size=p.batch_size,
        fn_constructor_kwargs=dict(model=reference_model, backend=p.backend, dtype=p.dtype,
                                   max_model_len=p.max_model_len, batch_size=p.batch_size,
                                   tensor_parallel_size=p.tensor_parallel_size),
        compute=ActorPoolStrategy(min_size=1, max_size=p.num_actors), num_cpus=p.num_cpus, num_gpus=p.num_gpus,
        max_restarts=-1, max_task_retries=-1)
    ds.write_parquet(str(out))
    (out / "_SUCCESS").touch()
    return out
