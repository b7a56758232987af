"""Offline best-of-N with the real HF engine on the tiny LLaVA (policy == reference)."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from pipelines.best_of_n import evaluate_best_of_n, format_table
from pipelines.cli import main
from rlaifv.eval.best_of_n import SELECTORS
from rlaifv.world.datasets import describe_rows, write_parquet

pytestmark = pytest.mark.cpu


@pytest.fixture(scope="module")
def describe_parquet(tmp_path_factory):
    path = tmp_path_factory.mktemp("bestofn") / "describe.parquet"
    write_parquet(describe_rows(6, seed=11, image_size=32), path)
    return path


def test_policy_equal_to_reference_makes_self_reward_plain_sampling(tiny_llava, describe_parquet, tmp_path):
    out = tmp_path / "out"
    result = evaluate_best_of_n(tiny_llava, tiny_llava, str(describe_parquet), output_dir=str(out), k=4,
                                ns=(1, 2, 4), beta=0.5, temperature=1.0, max_tokens=6, seed=3)
    rows = result["rows"]
    assert len(rows) == 6 and all(len(r["candidates"]) == 4 for r in rows)
    texts = {c["text"] for r in rows for c in r["candidates"]}
    assert len(texts) > 6  # per-sample seeds: candidates differ
    for r in rows:
        for c in r["candidates"]:
            assert len(c["policy_logps"]) == len(c["ref_logps"]) >= 1
            assert c["self_reward"] == 0.0  # log pi - log pi_ref is exactly 0 for the same model

    curve = result["curve"]
    assert set(curve) == set(SELECTORS) and all(set(by_n) == {1, 2, 4} for by_n in curve.values())
    for n in (1, 2, 4):  # every reward ties, so self_reward keeps candidate 0, like "first"
        assert curve["self_reward"][n] == curve["first"][n]
        assert curve["oracle"][n]["hallucination_rate"] <= curve["first"][n]["hallucination_rate"]

    saved = json.loads((out / "best_of_n.json").read_text())
    assert saved["settings"]["k"] == 4 and saved["settings"]["ns"] == [1, 2, 4] and saved["settings"]["prompts"] == 6
    assert saved["curve"]["first"]["4"] == curve["first"][4]  # JSON keys are strings
    assert len((out / "candidates.jsonl").read_text().splitlines()) == 6
    with Image.open(out / "best_of_n.png") as image:
        assert image.format == "PNG" and image.width > 300
    assert "self_reward" in format_table(curve)

    # the same seeds give the same candidates (deterministic per-row seeds)
    again = evaluate_best_of_n(tiny_llava, tiny_llava, str(describe_parquet), k=2, ns=(1,), beta=0.5,
                               temperature=1.0, max_tokens=6, seed=3)
    assert [[c["text"] for c in r["candidates"]] for r in again["rows"]] == \
        [[c["text"] for c in r["candidates"][:2]] for r in rows]


def test_cli_prints_the_table_and_rejects_n_above_k(tiny_llava, describe_parquet, tmp_path, capsys):
    args = ["bestofn", "--model", str(tiny_llava), "--reference", str(tiny_llava), "--data", str(describe_parquet),
            "--output", str(tmp_path / "cli"), "--k", "2", "--max-tokens", "4"]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "oracle" in table and "coverage" in table  # default ns up to k: 1 and 2
    assert json.loads((tmp_path / "cli" / "best_of_n.json").read_text())["settings"]["ns"] == [1, 2]
    assert main(args + ["--ns", "1,4"]) == 2
    assert "must be <= k=2" in capsys.readouterr().err
