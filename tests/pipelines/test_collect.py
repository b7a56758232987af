"""Feedback collection on a real local Ray cluster with real models (HF backend here; the
vLLM engine is exercised in tests/engine and in test_collect_vllm)."""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import pyarrow.parquet as pq
import pytest

from pipelines.collect import collect
from rlaifv.config import load_config
from rlaifv.world.datasets import describe_rows


pytestmark = [pytest.mark.cpu, pytest.mark.slow]


def _cfg(small, models, *extra):
    return load_config(None, small + [f"policy.model={models['shapes-policy']}",
                                      f"labeler.model={models['shapes-labeler']}", "collect.shard_size=8", *extra])


def _write_jsonl(path, rows):
    import base64

    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps({**r, "image": base64.b64encode(r["image"]).decode()}) + "\n")


def _ids(out):
    return [i for f in sorted((out / "candidates").glob("*.parquet")) for i in pq.read_table(f)["id"].to_pylist()]


def test_collect_outputs_rejects_and_resume(small, shapes_models, tmp_path):
    rows = [{k: r[k] for k in ("id", "image", "question", "objects")} for r in describe_rows(22, seed=77)]
    rows.insert(3, {**rows[0], "id": "empty-q", "question": "  "})
    rows.insert(5, dict(rows[1]))  # duplicate id
    src = tmp_path / "instructions.jsonl"
    _write_jsonl(src, rows)
    cfg = _cfg(small, shapes_models)
    out = tmp_path / "collect"
    kw = dict(policy_model=shapes_models["shapes-policy"], labeler_model=shapes_models["shapes-labeler"], seed=3)
    summary = collect(cfg, out, source=str(src), **kw)

    rejects = pq.read_table(out / "rejects.parquet").to_pylist()
    assert sorted(r["row_index"] for r in rejects) == [3, 5]
    assert any("question" in r["reason"] for r in rejects) and any("duplicate id" in r["reason"] for r in rejects)
    expected = sorted({r["id"] for r in rows} - {"empty-q"})
    assert len(expected) == 22 and sorted(_ids(out)) == expected  # each valid instruction exactly once
    cands = pq.read_table(out / "candidates").to_pylist()
    for c in cands:
        assert len(c["candidates"]) == 4
        assert [len(x) for x in c["claims"]] == [len(x) for x in c["p_yes"]] == [len(x) for x in c["p_no"]]
        assert all(0 <= y + n <= 1 + 1e-6 for ys, ns in zip(c["p_yes"], c["p_no"]) for y, n in zip(ys, ns))
        assert c["scores"] == [-r for r in c["n_rejected"]]
    pairs = pq.read_table(out / "pairs.parquet").to_pylist()
    assert summary["pairs"] == len(pairs) and summary["instructions"] == 22 and summary["instructions_rejected"] == 2
    assert all(p["chosen_score"] >= p["rejected_score"] + 1 and p["chosen"] != p["rejected"] for p in pairs)
    assert all(p["origin_policy"] == shapes_models["shapes-policy"] for p in pairs)

    # resume: lose one shard's outputs and the final files, as a crash would; only it is redone
    mtimes = {f.name: f.stat().st_mtime_ns for f in (out / "candidates").glob("*.parquet")}
    for sub in ("candidates", "pairs_raw"):
        (out / sub / "shard-00001.parquet").unlink()
    (out / "summary.json").unlink()
    (out / "pairs.parquet").unlink()
    again = collect(cfg, out, source=str(src), **kw)
    after = {f.name: f.stat().st_mtime_ns for f in (out / "candidates").glob("*.parquet")}
    assert after["shard-00000.parquet"] == mtimes["shard-00000.parquet"]
    assert after["shard-00002.parquet"] == mtimes["shard-00002.parquet"]
    assert after["shard-00001.parquet"] != mtimes["shard-00001.parquet"]
    assert sorted(_ids(out)) == sorted(set(_ids(out))) and len(_ids(out)) == 22
    assert again["pairs"] == summary["pairs"]  # same seeds: the redone shard gives the same pairs


def _kill_first_actor(name: str, stop: threading.Event, killed: list):
    """SIGKILL the first Ray worker process whose title names the actor class (Ray sets
    "ray::MapWorker(MapBatches(<class>))"), once it has had a moment to take work."""
    import psutil

    while not stop.is_set():
        for proc in psutil.process_iter(["pid", "cmdline"]):
            title = " ".join(proc.info["cmdline"] or [])
            if title.startswith("ray::") and name in title:
                time.sleep(1.0)
                os.kill(proc.info["pid"], signal.SIGKILL)
                killed.append(proc.info["pid"])
                return
        time.sleep(0.1)


@pytest.mark.parametrize("victim", ["PolicyActor", "LabelerActor"])
def test_killed_actor_is_replaced_and_nothing_is_lost(small, shapes_models, tmp_path, victim):
    cfg = _cfg(small, shapes_models, "collect.shard_size=4", "policy.batch_size=4", "labeler.batch_size=4")
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_first_actor, args=(victim, stop, killed), daemon=True)
    killer.start()
    out = tmp_path / "collect"
    try:
        summary = collect(cfg, out, policy_model=shapes_models["shapes-policy"],
                          labeler_model=shapes_models["shapes-labeler"], seed=3,
                          world_rows=describe_rows(24, seed=78))
    finally:
        stop.set()
        killer.join(5)
    assert killed, f"no {victim} process was found to kill"
    ids = _ids(out)
    assert len(ids) == 24 and len(set(ids)) == 24
    assert summary["instructions"] == 24


def test_instruction_shards_are_read_one_block_each(ray_cluster, tmp_path):
    """Blocks are what Ray Data pipelines: with one block for all shards the labeler could not
    start before the policy had finished every instruction."""
    import pyarrow as pa

    from pipelines.collect import read_instruction_shards

    files = []
    for k in range(3):
        files.append(str(tmp_path / f"shard-{k}.parquet"))
        pq.write_table(pa.table({"id": [f"{k}-{i}" for i in range(5)], "shard": [k] * 5}), files[-1])
    ds = read_instruction_shards(files)
    per_block = [sorted(set(b["shard"])) for b in ds.iter_batches(batch_size=None, batch_format="pandas")]
    assert sorted(per_block) == [[0], [1], [2]]
