"""Round logic of `rlaifv run` that needs no cluster: a round with too few pairs keeps its start."""
from __future__ import annotations

import pytest

import pipelines.collect
import pipelines.run as run
from rlaifv.config import load_config

pytestmark = pytest.mark.cpu


def test_round_with_too_few_pairs_trains_nothing(tmp_path, monkeypatch, capsys):
    # a stand-in for collection (its real pipeline is tested in test_collect.py): a policy that no
    # longer hallucinates leaves 3 pairs, fewer than one batch
    monkeypatch.setattr(pipelines.collect, "collect", lambda *a, **k: {"pairs": 3})
    cfg = load_config(None, ["train.batch_size=8", "collect.num_instructions=4"])
    ckpts = run._round_jobs(cfg, tmp_path / "round_2", "policy", "reference", "labeler", 2)
    assert ckpts == []
    assert "round 2: only 3 pairs (< train.batch_size 8)" in capsys.readouterr().out
    assert not (tmp_path / "round_2" / "train").exists()
