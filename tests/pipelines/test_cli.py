"""The single-process subcommands through the real console entry point (`pipelines.cli.main`)."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main

pytestmark = pytest.mark.cpu
ROOT = Path(__file__).resolve().parents[2]


def test_data_shapes_describe_and_yesno(tmp_path):
    assert main(["data", "shapes", "--num", "6", "--seed", "3", "--output", str(tmp_path / "d.parquet")]) == 0
    rows = pq.read_table(tmp_path / "d.parquet").to_pylist()
    assert [r["id"] for r in rows] == [f"shapes-3-{i}" for i in range(6)] and all(r["objects"] for r in rows)
    assert main(["data", "shapes", "--num", "4", "--seed", "3", "--kind", "yesno",
                 "--output", str(tmp_path / "y.parquet")]) == 0
    assert sorted(pq.read_table(tmp_path / "y.parquet")["answer"].to_pylist()) == ["no", "no", "yes", "yes"]


def test_generate_and_eval_with_a_model(tiny_llava, tmp_path, capsys):
    data = tmp_path / "d.parquet"
    main(["data", "shapes", "--num", "4", "--seed", "5", "--output", str(data)])
    out = tmp_path / "g.parquet"
    assert main(["generate", "--model", str(tiny_llava), "--data", str(data), "--output", str(out),
                 "--num-samples", "2", "--max-tokens", "6"]) == 0
    rows = pq.read_table(out).to_pylist()
    assert len(rows) == 8 and {r["sample"] for r in rows} == {0, 1}
    assert main(["eval", "--model", str(tiny_llava), "--data", str(data), "--max-tokens", "6",
                 "--output", str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["n"] == 4 and 0 <= metrics["hallucination_rate"] <= 1


def test_eval_responses_in_benchmark_format(capsys):
    fixture = ROOT / "tests" / "eval" / "fixtures" / "objhal.jsonl"
    assert main(["eval", "--responses", str(fixture), "--format", "objhal"]) == 0
    assert "chair_s" in json.loads(capsys.readouterr().out)


def test_run_dry_run_prints_the_plan(capsys):
    assert main(["run", "--config", str(ROOT / "configs" / "shapes.yaml"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "stages:" in out and "DPO" in out and "labeler actors" in out


def test_bad_config_exits_2_naming_the_key(capsys):
    assert main(["run", "--config", str(ROOT / "configs" / "shapes.yaml"), "--dry-run", "train.betta=1"]) == 2
    assert "train.betta: unknown key (did you mean 'beta'?)" in capsys.readouterr().err
