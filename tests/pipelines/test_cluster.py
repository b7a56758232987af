"""pipelines/cluster.py: what every worker of a private local cluster gets."""
import logging

import pytest

from pipelines.cluster import DASHBOARDLESS_NOISE, quiet_dashboardless_worker, worker_env

pytestmark = pytest.mark.cpu


def test_cpu_workers_get_the_cpu_accelerator_and_offline_hub():
    env = worker_env(use_gpu=False)
    assert env["DS_ACCELERATOR"] == "cpu" and env["HF_HUB_OFFLINE"] in ("0", "1")
    assert "DS_ACCELERATOR" not in worker_env(use_gpu=True)


def test_setup_hook_silences_only_the_state_api_poller():
    # the hook is named by its import path in the runtime env: it must stay importable there
    noisy = logging.getLogger(DASHBOARDLESS_NOISE[0])
    other = logging.getLogger("ray.train.v2._internal.execution.controller.controller")
    before = (noisy.level, other.level)
    try:
        quiet_dashboardless_worker()
        assert noisy.getEffectiveLevel() == logging.ERROR
        assert other.level == before[1]
    finally:
        noisy.setLevel(before[0])
