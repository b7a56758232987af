"""A small synthetic run directory with the real file names and columns of `rlaifv run`."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


def metrics_of(h: float, cov: float) -> dict:
    return {"hallucination_rate": h, "strict_hallucination_rate": h + 0.05, "mention_hallucination_rate": h / 2,
            "coverage": cov, "repeat_rate": 0.1, "well_formed_rate": 0.9, "avg_words": 11.5,
            "no_mention_rate": 0.0, "n": 64}


def write_metrics(run: Path) -> None:
    rounds = [{"round": k, "checkpoint": "step_4", "test": metrics_of(h, c), "val": metrics_of(h, c),
               "val_all": {"step_2": metrics_of(h + 0.1, c), "step_4": metrics_of(h, c)},
               "collect": {"pairs": 3}, "seconds": 90.0}
              for k, h, c in ((1, 0.3, 0.75), (2, 0.2, 0.8))]
    metrics = {"base": {"test": metrics_of(0.45, 0.7), "val": metrics_of(0.45, 0.7)}, "rounds": rounds,
               "final_model": str(run / "final" / "model"), "seconds": 200.0,
               "control": {"test": metrics_of(0.35, 0.72), "note": "<b>sft only</b>"},
               # as json.dumps leaves pipelines.best_of_n's curve: N keys are strings
               "best_of_n": {"settings": {"k": 4}, "curve": {
                   sel: {str(n): metrics_of(h - 0.05 * i, 0.8) for i, n in enumerate((1, 2, 4))}
                   for sel, h in (("self_reward", 0.3), ("first", 0.32), ("oracle", 0.2))}}}
    (run / "metrics.json").write_text(json.dumps(metrics))


def write_train_log(path: Path, steps: int, offset: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for s in range(1, steps + 1):
        loss = 0.69 - offset - 0.02 * s
        lines.append(json.dumps({"loss": loss, "dpo_loss": loss, "reward_accuracy": min(1.0, 0.5 + 0.04 * s),
                                 "chosen_reward": 0.01 * s, "rejected_reward": -0.01 * s, "reward_margin": 0.02 * s,
                                 "lr": 1e-4, "grad_norm": 1.0, "step": s, "epoch": 0}))
    path.write_text("\n".join(lines) + "\n")


def write_collect(collect: Path) -> None:
    cands = {"id": ["a", "b"], "question": ["Describe the image in detail."] * 2,
             "candidates": [["There is a red circle.", "There is a blue star."], ["There is a green square."]],
             "scores": [[0.0, -1.0], [0.0]],
             "claims": [[["There is a red circle."], ["There is a blue star."]], [["There is a green square."]]],
             "p_yes": [[[0.9], [0.2]], [[0.8]]], "p_no": [[[0.1], [0.7]], [[0.1]]],
             "objects": [["red circle"], ["green square"]]}
    (collect / "candidates").mkdir(parents=True)
    pq.write_table(pa.table(cands), collect / "candidates" / "shard-00000.parquet")
    pairs = {"idx": ["a", "a", "b"], "image": [b"png"] * 3, "question": ["Describe this picture."] * 3,
             "chosen": ["There is a red circle.", "There is a red circle.", "A green square."],
             "rejected": ["There is a blue star and a red circle.", "There is a blue star.", "A red star and more."],
             "chosen_score": [0.0, 0.0, 0.0], "rejected_score": [-1.0, -1.0, -2.0]}
    (collect / "pairs_raw").mkdir(parents=True)
    pq.write_table(pa.table(pairs), collect / "pairs_raw" / "shard-00000.parquet")
    pq.write_table(pa.table(pairs).slice(1, 2), collect / "pairs.parquet")
    (collect / "summary.json").write_text(json.dumps({"instructions": 2, "candidates": 3, "claims": 3, "pairs": 2,
                                                      "n_before": 3, "labeler_agreement": 1.0}))


@pytest.fixture(scope="session")
def tiny_llava_dir(tmp_path_factory) -> Path:
    """A randomly initialised tiny LLaVA checkpoint (stands in for base/policy and final/model)."""
    import torch

    from rlaifv.models.tiny import TinyVLMSpec, build_tiny_llava

    torch.set_num_threads(1)
    return Path(build_tiny_llava(tmp_path_factory.mktemp("tiny") / "llava", TinyVLMSpec(image_size=48)))


def make_run_dir(run: Path, model: Path | None) -> Path:
    from rlaifv.world.datasets import describe_rows, write_parquet

    run.mkdir(parents=True, exist_ok=True)
    write_metrics(run)
    for k in (1, 2):
        write_train_log(run / f"round_{k}" / "train" / "train_log.jsonl", steps=12, offset=0.05 * k)
        write_collect(run / f"round_{k}" / "collect")
    write_parquet(describe_rows(10, seed=7), run / "eval" / "test.parquet")
    if model is not None:
        shutil.copytree(model, run / "base" / "policy")
        shutil.copytree(model, run / "final" / "model")
    return run


@pytest.fixture(scope="session")
def written_report(tmp_path_factory, tiny_llava_dir) -> Path:
    """A full synthetic run directory and its report (written once for the session)."""
    from pipelines.report import write_report

    run = make_run_dir(tmp_path_factory.mktemp("run") / "run", tiny_llava_dir)
    return write_report(run, gallery_size=8, max_tokens=16)


@pytest.fixture
def run_dir_factory():
    """make_run_dir(run, model): the synthetic run directory (model None: no model dirs)."""
    return make_run_dir
