"""The main job end to end: `ray job submit` of `rlaifv run` to a real local head node, then the
same command again resumes (every finished stage skipped)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


pytestmark = [pytest.mark.cpu, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_args(out: Path, small: list[str]) -> list[str]:
    return ["run", "--config", str(ROOT / "configs" / "shapes.yaml"), "--output", str(out), *small,
            "run.rounds=1", "collect.num_instructions=32", "collect.shard_size=16", "train.batch_size=4",
            "collect.require_clean_chosen=false", "collect.require_well_formed=false",
            "policy.sft.clean_steps=60", "policy.sft.steps=120", "policy.sft.train_size=1000",
            "labeler.sft.steps=60", "labeler.sft.train_size=500",
            "eval.best_of_n_k=2"]


@pytest.fixture
def head_node(tmp_path, shapes_models):
    """A real `ray start --head` with its own temp dir and ports (the dashboard agent's default
    port would collide with the test session's own cluster). Stopped by killing the processes
    of its session only: `ray stop` would kill every Ray process on the machine."""
    import psutil

    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    port, dash = _free_port(), _free_port()
    temp = Path("/tmp") / f"rlaifv-head-{port}"
    ports = [f"--dashboard-agent-listen-port={_free_port()}", f"--dashboard-agent-grpc-port={_free_port()}",
             f"--metrics-export-port={_free_port()}", f"--runtime-env-agent-port={_free_port()}"]
    subprocess.run([str(BIN / "ray"), "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=true",
                    f"--dashboard-port={dash}", "--dashboard-host=127.0.0.1", f"--temp-dir={temp}",
                    "--disable-usage-stats", *ports], check=True, env=env, capture_output=True, timeout=120)
    try:
        yield {"address": f"http://127.0.0.1:{dash}", "env": env}
    finally:
        procs = [p for p in psutil.process_iter(["cmdline"]) if str(temp) in " ".join(p.info["cmdline"] or [])]
        for p in procs:
            p.kill()
        psutil.wait_procs(procs, timeout=30)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.timeout(1500)  # two real `ray job submit` runs of the loop
def test_ray_job_submit_runs_the_loop_and_rerun_resumes(head_node, small, shapes_models, tmp_path):
    out = tmp_path / "run"
    env = {**head_node["env"], "RLAIFV_CACHE": os.environ["RLAIFV_CACHE"]}  # builtin models: cache hit
    cmd = [str(BIN / "ray"), "job", "submit", "--address", head_node["address"],
           "--runtime-env-json", json.dumps({"env_vars": {"RLAIFV_CACHE": env["RLAIFV_CACHE"],
                                                          "RAY_AUTH_MODE": "disabled"}}),
           "--", str(BIN / "rlaifv"), *_run_args(out, small)]
    t0 = time.time()
    for _ in range(30):  # the dashboard answers before its job agent is ready: retry only that
        job = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if "No available agent" not in job.stderr + job.stdout:
            break
        time.sleep(3)
    assert job.returncode == 0 and "succeeded" in (job.stdout + job.stderr).lower(), job.stdout[-4000:] + job.stderr[-4000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["round"] for r in metrics["rounds"]] == [1]
    for key in ("hallucination_rate", "strict_hallucination_rate", "coverage", "repeat_rate"):
        assert 0.0 <= metrics["rounds"][0]["test"][key] <= 1.0 and key in metrics["base"]["test"]
    for path in ("base/policy/config.json", "base/labeler/config.json", "round_1/collect/pairs.parquet",
                 "round_1/train/train_log.jsonl", "round_1/model/config.json", "final/model/config.json"):
        assert (out / path).exists(), path
    # best-of-N of the final model: a curve when round 1 kept a DPO checkpoint, else a recorded skip
    bon = metrics["best_of_n"]
    assert set(bon["curve"]["self_reward"]) == {"1", "2"} if "curve" in bon else bon == {"skipped": "no trained round"}
    first = time.time() - t0

    log = out / "round_1" / "train" / "train_log.jsonl"
    stamp = log.stat().st_mtime_ns
    t1 = time.time()
    again = subprocess.run([str(BIN / "rlaifv"), *_run_args(out, small)], env={**env, "RAY_ADDRESS": ""},
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-4000:]
    assert log.stat().st_mtime_ns == stamp  # DPO was not redone
    assert json.loads((out / "metrics.json").read_text())["rounds"][0]["test"] == metrics["rounds"][0]["test"]
    assert time.time() - t1 < first
