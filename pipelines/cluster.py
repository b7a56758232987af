"""Connect to (or start) the Ray cluster a command runs on, with the environment every worker needs."""
from __future__ import annotations

import os
import tempfile

from rlaifv.config import Config


def worker_env(use_gpu: bool) -> dict[str, str]:
    """Environment for every Ray worker (actors, train workers, replicas)."""
    env = {
        "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
        "TOKENIZERS_PARALLELISM": "false",
        "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": os.environ.get("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2"),
    }
    if not use_gpu:
        # DeepSpeed otherwise probes for CUDA; vLLM-CPU defaults that keep it small and unpinned
        env.update({"DS_ACCELERATOR": "cpu", "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
                    "VLLM_CPU_OMP_THREADS_BIND": "nobind", "VLLM_ENABLE_V1_MULTIPROCESSING": "0"})
    return env


def init_ray(cfg: Config):
    """`ray.init` for a run: the configured address, or a private local cluster."""
    import ray

    if ray.is_initialized():
        return ray
    use_gpu = bool(cfg.train.use_gpu or cfg.policy.num_gpus or cfg.labeler.num_gpus)
    for k, v in worker_env(use_gpu).items():
        os.environ.setdefault(k, v)  # the driver process runs engines too (e.g. evaluation)
    runtime_env = {"env_vars": worker_env(use_gpu)}
    address = cfg.ray.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=True)
    else:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # private local cluster, loopback only
        runtime_env["worker_process_setup_hook"] = "pipelines.cluster.quiet_dashboardless_worker"
        ray.init(num_cpus=cfg.ray.num_cpus, include_dashboard=False, runtime_env=runtime_env,
                 _temp_dir=tempfile.mkdtemp(prefix="rlaifv-ray-"))
    _quiet_data_context()
    return ray


# Ray Train's PlacementGroupCleaner asks the State API (served by the dashboard) every second
# whether the train controller lives; without a dashboard each ask fails with a warning, ~900
# lines in one `rlaifv run`. Its only job, removing a dead controller's placement group, is moot
# on a private cluster that ends with the run.
DASHBOARDLESS_NOISE = ("ray.train.v2._internal.execution.controller.placement_group_cleaner",)


def quiet_dashboardless_worker() -> None:
    """worker_process_setup_hook of the private local cluster (no dashboard)."""
    import logging

    for name in DASHBOARDLESS_NOISE:
        logging.getLogger(name).setLevel(logging.ERROR)


def _quiet_data_context() -> None:
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.execution_options.preserve_order = True  # deterministic outputs and resume
