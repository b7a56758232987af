"""Feedback collection on Ray Data (METHOD.md steps 1-3).

instructions (sharded, validated) -> PolicyActor pool (N candidates each) -> divide step
(rule, or LLM splitter actors) -> LabelerActor pool (p_yes/p_no per claim) -> scores + pairs.
The driver streams the results (`iter_batches`, bounded by Ray Data's backpressure) and writes
each shard's `candidates/` and `pairs_raw/` files the moment the shard is complete. After the
last shard, length balancing runs once over all pairs and writes `pairs.parquet` and
`summary.json`. Re-running on the same directory resumes from the shards already written.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.shards import pending_shards, prepare_instructions, shard_name, write_table_atomic
from rlaifv.config import Config

CANDIDATE_COLUMNS = ["id", "question", "candidates", "candidate_tokens", "claims", "claim_questions", "p_yes",
                     "p_no", "scores", "n_rejected", "n_repeats"]


def claims_stage(batch: pd.DataFrame) -> pd.DataFrame:
    """Rule divide step (the embedded default): claims and their yes/no questions."""
    from actors.common import to_list_column
    from rlaifv.feedback.instruction import rule_claims

    claims, questions = zip(*(rule_claims(list(c)) for c in batch["candidates"])) if len(batch) else ((), ())
    batch = batch.copy()
    batch["claims"] = to_list_column(list(claims), index=batch.index)
    batch["claim_questions"] = to_list_column(list(questions), index=batch.index)
    return batch


def score_stage(batch: pd.DataFrame, *, repeat_as_rejected: bool, max_pairs: int, seed: int,
                require_clean_chosen: bool, require_well_formed: bool) -> pd.DataFrame:
    """Scores (-rejected claims) and the instruction's pairs (before length balancing)."""
    from actors.common import to_list_column
    from rlaifv.feedback.instruction import pairs_for_instruction, score_candidates
    from rlaifv.world.captions import is_well_formed

    scores, rejected, repeats, pairs = [], [], [], []
    for row in batch.itertuples(index=False):
        cands = score_candidates(list(row.candidates), [list(c) for c in row.claims],
                                 [list(p) for p in row.p_yes], [list(p) for p in row.p_no],
                                 repeat_as_rejected=repeat_as_rejected)
        scores.append([c.score for c in cands])
        rejected.append([c.n_rejected for c in cands])
        repeats.append([c.n_repeats for c in cands])
        chosen = pairs_for_instruction(str(row.id), cands, max_pairs=max_pairs, seed=seed,
                                       require_clean_chosen=require_clean_chosen,
                                       well_formed=is_well_formed if require_well_formed else None)
        pairs.append([{"chosen": p.chosen.text, "rejected": p.rejected.text, "chosen_score": p.chosen.score,
                       "rejected_score": p.rejected.score} for p in chosen])
    batch = batch.copy()
    batch["scores"] = to_list_column(scores, index=batch.index)
    batch["n_rejected"] = to_list_column(rejected, index=batch.index)
    batch["n_repeats"] = to_list_column(repeats, index=batch.index)
    batch["pairs"] = to_list_column(pairs, index=batch.index)
    return batch


def _read_shard_files(batch: pa.Table) -> pa.Table:
    # Arrow in, Arrow out: list columns (objects) stay Arrow lists instead of pickled pandas objects
    return pa.concat_tables([pq.read_table(path) for path in batch.column("path").to_pylist()])


def read_instruction_shards(files: list[str]):
    """One block per shard file, so the stages pipeline: Ray Data's parquet reader (datasource
    V2, Ray 2.60) reads small files into one block whatever `override_num_blocks` says, and
    with one block the labeler waited until the policy had sampled every instruction
    (BENCHMARKS.md, collection). A task per file keeps blocks = shards at any size."""
    import ray.data

    paths = ray.data.from_items([{"path": str(f)} for f in files], override_num_blocks=len(files))
    return paths.map_batches(_read_shard_files, batch_size=1, batch_format="pyarrow", num_cpus=0.25)


def build_dataset(cfg: Config, files: list[str], *, policy_model: str, labeler_model: str, seed: int):
    """The lazy Ray Data pipeline over the pending instruction shard files."""
    from ray.data import ActorPoolStrategy

    from actors.labeler import LabelerActor
    from actors.policy import PolicyActor

    c, p, lab = cfg.collect, cfg.policy, cfg.labeler
    retry = {"max_restarts": -1, "max_task_retries": -1}  # a dead actor is replaced, its batch retried
    sampling = {"n": c.num_samples, "temperature": c.temperature, "top_p": c.top_p, "max_tokens": c.max_tokens,
                "repetition_penalty": c.repetition_penalty}
    ds = read_instruction_shards(files)
    ds = ds.map_batches(
        PolicyActor, batch_format="pandas", batch_size=p.batch_size,
        fn_constructor_kwargs=dict(model=policy_model, backend=p.backend, sampling=sampling, seed=seed,
                                   dtype=p.dtype, max_model_len=p.max_model_len, batch_size=p.batch_size,
                                   tensor_parallel_size=p.tensor_parallel_size),
        compute=ActorPoolStrategy(min_size=1, max_size=p.num_actors), num_cpus=p.num_cpus, num_gpus=p.num_gpus,
        **retry)
    if c.splitter == "rule":
        ds = ds.map_batches(claims_stage, batch_format="pandas", num_cpus=0.25)
    else:
        from actors.splitter import ClaimSplitterActor

        ds = ds.map_batches(
            ClaimSplitterActor, batch_format="pandas", batch_size=p.batch_size,
            fn_constructor_kwargs=dict(model=c.splitter_model, backend=p.backend, convert=c.converter == "llm",
                                       dtype=p.dtype, max_model_len=p.max_model_len),
            compute=ActorPoolStrategy(min_size=1, max_size=p.num_actors), num_cpus=p.num_cpus,
            num_gpus=p.num_gpus, **retry)
    ds = ds.map_batches(
        LabelerActor, batch_format="pandas", batch_size=lab.batch_size,
        fn_constructor_kwargs=dict(model=labeler_model, backend=lab.backend, dtype=lab.dtype,
                                   max_model_len=lab.max_model_len, batch_size=lab.batch_size,
                                   tensor_parallel_size=lab.tensor_parallel_size),
        compute=ActorPoolStrategy(min_size=1, max_size=lab.num_actors), num_cpus=lab.num_cpus,
        num_gpus=lab.num_gpus, **retry)
    return ds.map_batches(
        score_stage, batch_format="pandas", num_cpus=0.25,
        fn_kwargs=dict(repeat_as_rejected=c.repeat_as_rejected, max_pairs=c.pairs_per_instruction, seed=seed,
                       require_clean_chosen=c.require_clean_chosen, require_well_formed=c.require_well_formed))


def _write_shard(out: Path, shard: int, rows: pd.DataFrame, origin: dict) -> None:
    name = shard_name(shard)
    extra = [k for k in ("objects",) if k in rows.columns]
    cands = rows[CANDIDATE_COLUMNS + extra]
    write_table_atomic(pa.Table.from_pandas(cands, preserve_index=False), out / "candidates" / name)
    pair_rows = [{"idx": str(r.id), "image": r.image, "question": r.question, **p, **origin,
                  **({"objects": list(r.objects)} if extra else {})}
                 for r in rows.itertuples(index=False) for p in r.pairs]
    write_table_atomic(pa.Table.from_pylist(pair_rows, schema=_pair_schema(extra)), out / "pairs_raw" / name)


def _pair_schema(extra: list[str]) -> pa.Schema:
    fields = [("idx", pa.string()), ("image", pa.binary()), ("question", pa.string()), ("chosen", pa.string()),
              ("rejected", pa.string()), ("chosen_score", pa.float64()), ("rejected_score", pa.float64()),
              ("origin_dataset", pa.string()), ("origin_policy", pa.string()), ("origin_labeler", pa.string())]
    if extra:
        fields.append(("objects", pa.list_(pa.string())))
    return pa.schema(fields)


def collect(cfg: Config, out_dir: str | Path, *, policy_model: str, labeler_model: str, seed: int,
            source: str | None = None, world_rows=None) -> dict:
    """Run (or resume) one collection into `out_dir`; returns the summary."""
    from pipelines.collect_summary import finalize

    out = Path(out_dir).resolve()
    if (out / "summary.json").exists():
        return json.loads((out / "summary.json").read_text())
    manifest = prepare_instructions(out, source=source, world_rows=world_rows, shard_size=cfg.collect.shard_size,
                                    max_pixels=cfg.collect.max_image_pixels, allow_remote=cfg.collect.allow_remote_images)
    pending = pending_shards(out, manifest)
    origin = {"origin_dataset": manifest["source"], "origin_policy": policy_model, "origin_labeler": labeler_model}
    if pending:
        files = [str(out / "instructions" / s["file"]) for s in pending]
        expected = {s["shard"]: s["rows"] for s in pending}
        ds = build_dataset(cfg, files, policy_model=policy_model, labeler_model=labeler_model, seed=seed)
        buffers: dict[int, list[pd.DataFrame]] = {}
        for batch in ds.iter_batches(batch_format="pandas", batch_size=None):
            for shard, part in batch.groupby("shard", sort=False):
                buffers.setdefault(int(shard), []).append(part)
                if sum(len(b) for b in buffers[int(shard)]) == expected[int(shard)]:
                    _write_shard(out, int(shard), pd.concat(buffers.pop(int(shard))), origin)
        if buffers:
            raise RuntimeError(f"collection ended with incomplete shards {sorted(buffers)}; re-run to resume")
    return finalize(out, manifest, cfg)


def main(args) -> int:
    from pipelines.cluster import init_ray
    from rlaifv.config import load_config

    cfg = load_config(args.config, args.overrides)
    source = args.input or cfg.collect.instructions
    world_rows = None
    if source is None:
        from rlaifv.world.datasets import describe_rows

        world_rows = describe_rows(cfg.collect.num_instructions, seed=cfg.run.seed + 1, image_size=cfg.world.image_size)
    policy, labeler = _resolve(cfg, args.output)
    init_ray(cfg)
    summary = collect(cfg, Path(args.output), policy_model=policy, labeler_model=labeler, seed=cfg.run.seed,
                      source=source, world_rows=world_rows)
    print(json.dumps(summary, indent=2))
    return 0


def _resolve(cfg: Config, out_dir: str) -> tuple[str, str]:
    from pipelines.base_models import resolve_model

    return resolve_model(cfg, cfg.policy.model, out_dir), resolve_model(cfg, cfg.labeler.model, out_dir)
