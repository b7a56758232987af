"""Fixtures for pipeline tests: one real local Ray cluster per session, and the builtin
ShapesWorld models trained (briefly) by the real SFT path on Ray Train."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    import ray

    from pipelines.cluster import worker_env

    env = dict(worker_env(use_gpu=False))
    # a stale lock where torch would JIT-build DeepSpeed's shm all-reduce: a worker killed
    # mid-compile leaves one, and every later deepspeed.initialize used to wait on it forever
    # (a CI run hung so); training must not build that op at all (pipelines/train.py)
    env["TORCH_EXTENSIONS_DIR"] = str(tmp_path_factory.mktemp("torch_extensions"))
    (Path(env["TORCH_EXTENSIONS_DIR"]) / "deepspeed_shm_comm").mkdir()
    (Path(env["TORCH_EXTENSIONS_DIR"]) / "deepspeed_shm_comm" / "lock").touch()
    for k, v in env.items():
        os.environ.setdefault(k, v)
    os.environ["TORCH_EXTENSIONS_DIR"] = env["TORCH_EXTENSIONS_DIR"]  # tests read the planted lock from here
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": env},
             _temp_dir=str(tmp_path_factory.mktemp("ray")))
    from ray.data import DataContext

    DataContext.get_current().execution_options.preserve_order = True
    yield ray
    ray.shutdown()


CONFIG = Path(__file__).resolve().parents[2] / "configs" / "shapes.yaml"
SMALL = ["policy.backend=hf", "labeler.backend=hf", "policy.batch_size=16", "labeler.batch_size=64",
         "collect.num_samples=4", "collect.max_tokens=32", "eval.max_tokens=32", "world.eval_size=16",
         "train.batch_size=8", "train.epochs=1", "train.num_workers=1", "train.num_cpus_per_worker=0.5",
         "train.report_every=2"]


@pytest.fixture(scope="session")
def small():
    """Overrides that shrink the embedded default to test size."""
    return list(SMALL)


@pytest.fixture(scope="session")
def shapes_models(ray_cluster, tmp_path_factory):
    """base/policy and base/labeler from the real builtin SFT path (few steps: they only need
    to write caption-shaped text and yes/no answers, not to be good)."""
    from pipelines.base_models import ensure_base_models
    from rlaifv.config import load_config

    root = tmp_path_factory.mktemp("shapes_models")
    # a developer may point RLAIFV_TEST_CACHE at a directory to reuse the trained models across sessions
    os.environ["RLAIFV_CACHE"] = os.environ.get("RLAIFV_TEST_CACHE") or str(root / "cache")
    # clean_steps: the policy's two-stage SFT path runs for real (clean captions, then biased)
    cfg = load_config(CONFIG, SMALL + ["policy.sft.clean_steps=60", "policy.sft.steps=120",
                                     "policy.sft.train_size=1000", "labeler.sft.steps=60",
                                     "labeler.sft.train_size=500"])
    paths = ensure_base_models(cfg, root / "run")
    return {"run_dir": root / "run", **paths}
