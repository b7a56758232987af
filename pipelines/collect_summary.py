"""End of a collection: length balancing over all pairs, `pairs.parquet`, `summary.json`."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.shards import write_table_atomic
from rlaifv.config import Config


def _pairs_of(out: Path, manifest: dict):
    from rlaifv.feedback.pairs import Candidate, Pair

    def cand(text: str, score: float) -> Candidate:
        return Candidate(text=text, score=score, n_claims=0, n_judged=0, n_rejected=0, n_repeats=0, sample_index=0)

    pairs = []
    for s in manifest["shards"]:
        t = pq.read_table(out / "pairs_raw" / s["file"], columns=["chosen", "rejected", "chosen_score", "rejected_score"])
        for row in t.to_pylist():
            pairs.append(Pair(cand(row["chosen"], row["chosen_score"]), cand(row["rejected"], row["rejected_score"]),
                              row["chosen_score"] - row["rejected_score"]))
    return pairs


def finalize(out: Path, manifest: dict, cfg: Config) -> dict:
    """Balance lengths once over the round's pairs and write the final outputs."""
    import pyarrow as pa

    from rlaifv.feedback.pairs import length_balance, pair_stats

    pairs = _pairs_of(out, manifest)
    kept, ratio = length_balance(pairs) if cfg.collect.length_balance else (pairs, 1.0)
    kept_ids = {id(p) for p in kept}
    keep_mask = [id(p) in kept_ids for p in pairs]
    tables, offset = [], 0
    for s in manifest["shards"]:
        t = pq.read_table(out / "pairs_raw" / s["file"])
        mask = pa.array(keep_mask[offset:offset + t.num_rows], type=pa.bool_())
        offset += t.num_rows
        tables.append(t.filter(mask))
    final = pa.concat_tables(tables) if tables else pa.table({})
    write_table_atomic(final, out / "pairs.parquet")
    stats = pair_stats(pairs, kept, ratio)
    summary = {
        "instructions_read": manifest["rows_read"],
        "instructions_rejected": manifest["rows_rejected"],
        "instructions": sum(s["rows"] for s in manifest["shards"]),
        "shards": len(manifest["shards"]),
        "length_balance_ratio": ratio,
        **{k: _finite(v) for k, v in stats.__dict__.items()},
        "pairs": len(kept),
        **candidate_stats(out, manifest, cfg.collect.repeat_as_rejected),
    }
    summary["pairs_per_instruction"] = len(kept) / max(summary["instructions"], 1)
    if kept and "objects" in final.column_names:
        summary.update(pair_truth(final.select(["chosen", "rejected", "objects"]).to_pylist(),
                                  cfg.collect.repeat_as_rejected))
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    print(f"collection: {summary['instructions']} instructions, {summary['candidates']} candidates, "
          f"{summary['claims']} claims, {summary['pairs']} pairs "
          f"(length balancing r={ratio:.2f}: {stats.n_before} -> {stats.n_after}), "
          f"rejected rows: {summary['instructions_rejected']}")
    return summary


def _finite(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def candidate_stats(out: Path, manifest: dict, repeat_as_rejected: bool) -> dict:
    """Counts over all candidates; with ground truth (ShapesWorld), the labeler's agreement."""
    from rlaifv.world.metrics import extract_mentions

    n_cand = n_claims = n_rejected = agree = judged = 0
    for s in manifest["shards"]:
        for row in pq.read_table(out / "candidates" / s["file"]).to_pylist():
            n_cand += len(row["candidates"])
            for claims, p_yes, p_no in zip(row["claims"], row["p_yes"], row["p_no"]):
                n_claims += len(claims)
                n_rejected += sum(y <= n for y, n in zip(p_yes, p_no))
                if row.get("objects") is None:
                    continue
                for claim, y, n in zip(claims, p_yes, p_no):
                    mentioned = extract_mentions(claim)
                    if len(mentioned) == 1:
                        judged += 1
                        agree += (mentioned[0] in row["objects"]) == (y > n)
    stats = {"candidates": n_cand, "claims": n_claims, "claims_rejected": n_rejected}
    if judged:
        stats["labeler_agreement"] = agree / judged
        stats["labeler_claims_checked"] = judged
    return stats


def pair_truth(rows: list[dict], repeat_as_rejected: bool) -> dict:
    """ShapesWorld ground truth: does the chosen answer really hallucinate less?"""
    from rlaifv.world.metrics import judge_response

    def errors(text: str, objects) -> int:
        j = judge_response(text, objects)
        return len(j.hallucinated) + (len(j.repeated) if repeat_as_rejected else 0)

    better = not_worse = 0
    for r in rows:
        ec, er = errors(r["chosen"], r["objects"]), errors(r["rejected"], r["objects"])
        better += ec < er
        not_worse += ec <= er
    return {"pairs_chosen_truly_better": better / len(rows), "pairs_chosen_not_worse": not_worse / len(rows)}
