"""Config loading: every problem named by key, before any work starts."""
from pathlib import Path

import pytest

from rlaifv.config import ConfigError, load_config

pytestmark = pytest.mark.cpu


def _errors(*overrides, path=None):
    with pytest.raises(ConfigError) as exc:
        load_config(path, list(overrides))
    return str(exc.value)


def test_defaults_and_overrides():
    cfg = load_config(None, ["train.beta=0.5", "policy.num_cpus=0.25", "collect.instructions="])
    assert cfg.train.beta == 0.5 and isinstance(cfg.train.beta, float)
    assert cfg.policy.num_cpus == 0.25
    assert cfg.policy.model == "builtin:shapes-policy"  # overriding a sibling keeps the section's default
    assert cfg.collect.instructions is None


def test_exponent_floats_without_a_dot_are_floats():
    # YAML 1.1 (PyYAML) reads 1e-5 as a string; an lr written that way must still load
    cfg = load_config(None, ["train.lr=1e-5", "train.beta=5E-1"])
    assert cfg.train.lr == 1e-5 and cfg.train.beta == 0.5


def test_clean_steps_are_for_the_policy_only():
    msg = _errors("labeler.sft.clean_steps=100", "policy.sft.clean_steps=-1")
    assert "labeler.sft.clean_steps: only the policy has biased captions" in msg
    assert "policy.sft.clean_steps: must be >= 0, got -1" in msg


def test_insert_steps_need_another_world_and_the_policy():
    msg = _errors("policy.sft.insert_steps=100", "labeler.sft.insert_steps=5", "policy.sft.steps=0")
    assert "policy.sft.insert_steps: world.halluc_mode is insert already" in msg
    assert "labeler.sft.insert_steps: only the policy has biased captions" in msg
    assert "policy.sft.steps: must be >= 1, got 0" in msg
    load_config("configs/shapes_displace.yaml")  # the config that uses them is valid


def test_unknown_key_suggests_the_close_one():
    msg = _errors("train.bta=1")
    assert "train.bta: unknown key (did you mean 'beta'?)" in msg


def test_wrong_types_and_choices_are_all_reported():
    msg = _errors("train.lr=abc", "policy.backend=tgi", "run.rounds=2.5", "serve.selector=oracle")
    assert "train.lr: expected float, got str 'abc'" in msg
    assert "policy.backend: 'tgi' is not one of 'vllm', 'hf'" in msg
    assert "serve.selector: 'oracle' is not one of 'self_reward', 'policy_loglik'" in msg
    assert "run.rounds: expected int" in msg
    assert "world.halluc_mode: 'swap' is not one of 'insert', 'substitute', 'displace'" in _errors("world.halluc_mode=swap")


def test_missing_config_file(tmp_path):
    msg = _errors(path=tmp_path / "nope.yaml")
    assert "config file not found" in msg and "nope.yaml" in msg


def test_missing_model_and_data_paths(tmp_path):
    msg = _errors(f"policy.model={tmp_path}/no-model", f"collect.instructions={tmp_path}/x.parquet")
    assert "policy.model: model directory" in msg and "not found" in msg
    assert "collect.instructions: file" in msg


def test_hub_ids_and_builtins_are_accepted():
    cfg = load_config(None, ["labeler.model=llava-hf/llava-1.5-7b-hf"])
    assert cfg.labeler.model == "llava-hf/llava-1.5-7b-hf"
    assert "unknown builtin model" in _errors("policy.model=builtin:nope")


def test_impossible_resources_on_the_local_cluster():
    msg = _errors("ray.num_cpus=2", "policy.num_cpus=2")
    assert "policy: actors would hold every CPU (2)" in msg
    msg = _errors("ray.num_cpus=2", "train.num_workers=2", "train.num_cpus_per_worker=1")
    assert "must stay below the local cluster's 2 CPUs" in msg


def test_llm_splitter_needs_a_model():
    assert "collect.splitter_model: required" in _errors("collect.splitter=llm")


def test_add_layers_needs_a_trained_init():
    assert "labeler.sft.add_layers: only grows a trained model" in _errors("labeler.sft.add_layers=2", "labeler.sft.init=scratch")
    assert "policy.sft.add_layers: must be >= 0, got -1" in _errors("policy.sft.add_layers=-1")
    assert load_config(None, ["labeler.sft.add_layers=2", "labeler.sft.init=policy"]).labeler.sft.add_layers == 2


def test_best_of_n_k_is_bounded():
    assert "eval.best_of_n_k: must be within [0, serve.max_n=32]" in _errors("eval.best_of_n_k=64")
    assert load_config(None, ["eval.best_of_n_k=16"]).eval.best_of_n_k == 16


def test_bad_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    assert "not valid YAML" in _errors(path=bad)
    bad.write_text("- a\n- b\n")
    assert "top level must be a mapping" in _errors(path=bad)


@pytest.mark.parametrize("name", ["shapes", "shapes_paper", "llava15_7b", "qwen2vl_7b"])
def test_shipped_configs_load(name, tmp_path):
    inst = tmp_path / "instructions.parquet"
    inst.write_bytes(b"")
    cfg = load_config(Path(__file__).parents[2] / "configs" / f"{name}.yaml", [f"collect.instructions={inst}"] if not name.startswith("shapes") else [])
    assert cfg.run.rounds >= 1
