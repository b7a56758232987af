"""cluster.yaml passes Ray's own cluster-config validation (the schema `ray up` applies)."""
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.cpu
ROOT = Path(__file__).resolve().parents[1]


def _validate(config: dict) -> dict:
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(config)
    validate_config(prepared)
    return prepared


def test_cluster_yaml_is_a_valid_autoscaling_gpu_cluster():
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    prepared = _validate(config)
    gpu = prepared["available_node_types"]["gpu_worker"]
    assert prepared["provider"]["type"] == "aws"
    assert gpu["min_workers"] == 0 < gpu["max_workers"]  # scales from zero
    assert any(".[gpu]" in cmd for cmd in prepared["setup_commands"])


def test_ray_validation_rejects_a_broken_cluster_yaml():
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    config["available_node_types"]["gpu_worker"]["min_workers"] = "two"
    with pytest.raises(Exception, match="min_workers"):
        _validate(config)
