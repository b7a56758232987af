"""The builtin models' cache key: what shapes a model changes it, nothing else does."""
import json

import pytest

from pipelines.base_models import _cache_key
from rlaifv.config import load_config

pytestmark = pytest.mark.cpu


def _key(*overrides, name="shapes-policy"):
    cfg = load_config("configs/shapes.yaml", list(overrides))
    return _cache_key(cfg, name, cfg.policy if name == "shapes-policy" else cfg.labeler)


def test_the_world_shapes_the_key_the_eval_split_does_not():
    assert _key() == _key("world.eval_size=50")
    keys = {_key(f"world.halluc_mode={m}") for m in ("insert", "substitute", "displace")}
    assert len(keys) == 3 and _key() != _key("world.halluc_prob=0.5")
    # the labeler starts from the policy, so a new policy means a new labeler
    assert _key(name="shapes-labeler") != _key("world.halluc_mode=substitute", name="shapes-labeler")


def test_insert_mode_keeps_the_keys_it_had_before_the_option():
    # models cached before world.halluc_mode existed were trained in the insert world at
    # halluc_prob 0.7; these are the keys their cache directories carry
    old = ("world.halluc_mode=insert", "world.halluc_prob=0.7", "policy.sft.clean_steps=0", "policy.sft.steps=3000")
    assert _key(*old) == "0139f99fc42ab694"
    assert _key(*old, name="shapes-labeler") == "061a1b3b0d2aefc9"


def test_clean_steps_shape_the_policy_key_and_zero_keeps_the_old_one():
    assert _key("policy.sft.clean_steps=0") == _key() != _key("policy.sft.clean_steps=500")


def test_insert_steps_shape_the_policy_key_and_zero_keeps_the_old_one():
    displace = ("world.halluc_mode=displace",)
    assert _key(*displace, "policy.sft.insert_steps=0") == _key(*displace) != _key(*displace, "policy.sft.insert_steps=9")


def test_the_policy_stages_draw_their_captions_from_their_world():
    from pipelines.base_models import sft_rows_for

    cfg = load_config("configs/shapes.yaml", ["world.halluc_mode=displace", "world.halluc_prob=1.0",
                                              "policy.sft.train_size=40"])
    words = {stage: sum(len(r["answer"].split()) for r in sft_rows_for(cfg, "shapes-policy", cfg.policy, stage=stage))
             for stage in ("clean", "insert", "sft")}
    # an insert caption names one object more than the clean one; a displace caption as many
    assert words["insert"] > words["clean"] == words["sft"]


def test_stage_logs_join_with_steps_numbered_on(tmp_path):
    from pipelines.base_models import _join_logs

    (tmp_path / "a.jsonl").write_text('{"loss": 2.0, "step": 100}\n{"loss": 1.0, "step": 200}\n')
    (tmp_path / "b.jsonl").write_text('{"loss": 0.5, "step": 100}\n')
    _join_logs([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], tmp_path / "all.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [100, 200, 300] and rows[-1]["loss"] == 0.5
