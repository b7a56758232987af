"""Collection scaling: end-to-end instructions/s of `pipelines.collect.collect` vs its slowest
engine stage alone, and peak memory at 1k vs 10k instructions (streaming keeps it flat).

For each size N: fresh ShapesWorld describe rows (streamed from a generator) go through the real
Ray Data pipeline (policy pool -> rule claims -> labeler pool -> scores/pairs) on a private
local Ray cluster; a sampler records, every 0.5 s, the driver's RSS and the sum of the RSS of
every process of the cluster (GCS, raylet, Ray workers). Then, outside Ray and after the
cluster is shut down, the same PolicyActor / LabelerActor classes run in this process on the
first `--stage-size` instructions: their instructions/s is the ceiling the pipeline could
reach if the other stages cost nothing. The stages alone run twice: with the threads each
actor has in the pipeline (`--stage-threads`, default 1: a 0.5-CPU actor gets
OMP_NUM_THREADS=1), the like-for-like ceiling, and with every core, the ceiling of this
machine. One tiny random LLaVA serves as policy and labeler
(random weights still write text: fine for throughput). Not part of the test suite.

    .venv/bin/python benchmarks/collect_scaling.py [--sizes 1000 10000] [--samples 8] \\
        [--max-tokens 48] [--backend hf|vllm] [--model DIR] [--stage-size N] [--quick]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    MemorySampler, Timer, announce, cpu_env, format_table, rate, ratio, ru_maxrss_mib, scratch_dir, tiny_model,
    write_result,
)

NAME = "collect_scaling"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="instructions per collection")
    ap.add_argument("--samples", type=int, default=4, help="candidates per instruction")
    ap.add_argument("--max-tokens", type=int, default=32, help="a random model rarely stops early: this is the length")
    ap.add_argument("--backend", choices=["hf", "vllm"], default="hf", help="policy and labeler engines")
    ap.add_argument("--batch-size", type=int, default=64, help="rows per map_batches call (policy and labeler)")
    ap.add_argument("--shard-size", type=int, default=250, help="instructions per output shard")
    ap.add_argument("--num-cpus", type=int, default=None, help="Ray CPUs (default: all cores)")
    ap.add_argument("--stage-size", type=int, default=None, help="instructions for the stage-alone run "
                                                                     "(default: the smallest size)")
    ap.add_argument("--stage-threads", type=int, default=1,
                    help="torch threads of the like-for-like stage-alone run (what each 0.5-CPU actor gets)")
    ap.add_argument("--model", help="policy and labeler model dir (default: a tiny random LLaVA, built here)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--interval", type=float, default=0.5, help="memory sampling period, s")
    ap.add_argument("--keep", action="store_true", help="keep the collection directories")
    ap.add_argument("--quick", action="store_true", help="smoke run: seconds, not figures")
    ap.add_argument("--output-name", default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.samples, args.max_tokens, args.batch_size, args.shard_size = [16, 32], 2, 12, 8, 8
    args.stage_size = args.stage_size or min(args.sizes)
    if min(args.sizes) < 1 or min(args.samples, args.max_tokens, args.batch_size, args.shard_size, args.stage_size) < 1:
        ap.error("--sizes, --samples, --max-tokens, --batch-size, --shard-size and --stage-size must be positive")
    return args


def overrides(args: argparse.Namespace) -> list[str]:
    """Config overrides: one backend for both pools, the benchmark's sizes."""
    return [f"policy.backend={args.backend}", f"labeler.backend={args.backend}",
            f"policy.batch_size={args.batch_size}", f"labeler.batch_size={args.batch_size}",
            f"collect.num_samples={args.samples}", f"collect.max_tokens={args.max_tokens}",
            f"collect.shard_size={args.shard_size}"]


def run_collect(cfg, model: str, n: int, out_dir: Path, args: argparse.Namespace) -> dict:
    """One collection of n fresh instructions, timed, with the memory sampler running."""
    from pipelines.collect import collect
    from rlaifv.world.datasets import describe_rows

    rows = describe_rows(n, seed=args.seed + 1)
    wall_start = time.time()
    with MemorySampler(args.interval) as memory, Timer() as t:
        summary = collect(cfg, out_dir, policy_model=model, labeler_model=model, seed=args.seed, world_rows=rows)
    return {"instructions": n, "seconds": round(t.seconds, 2), "instructions_per_s": rate(n, t.seconds),
            "candidates_per_s": rate(n * args.samples, t.seconds), "pairs": summary.get("pairs"),
            **shard_timing(out_dir, wall_start), **memory.figures(), "driver_ru_maxrss_mib": round(ru_maxrss_mib(), 1)}


def shard_timing(out_dir: Path, wall_start: float) -> dict:
    """Start-up vs steady state from outside: when each candidates shard file was written.

    first_shard_s: start -> first shard on disk (actor start-up + one shard of work);
    steady_instructions_per_s: instructions of shards 2..k over the time between the first
    and the last shard (None with a single shard, or when all shards landed within 1 s: then
    the run was too small to have a steady state).
    """
    import pyarrow.parquet as pq

    files = sorted((out_dir / "candidates").glob("*.parquet"), key=lambda f: f.stat().st_mtime)
    if not files:
        return {"shards": 0, "first_shard_s": None, "steady_instructions_per_s": None}
    times = [f.stat().st_mtime for f in files]
    later_rows = sum(pq.read_metadata(f).num_rows for f in files[1:])
    window = times[-1] - times[0]
    return {"shards": len(files), "first_shard_s": round(times[0] - wall_start, 2),
            "steady_instructions_per_s": rate(later_rows, window) if window >= 1.0 else None}


def run_stages_alone(cfg, model: str, args: argparse.Namespace) -> dict:
    """PolicyActor then LabelerActor in this process (no Ray) on the first stage_size rows."""
    import pandas as pd

    from actors.labeler import LabelerActor
    from actors.policy import PolicyActor
    from pipelines.collect import claims_stage
    from rlaifv.world.datasets import describe_rows

    c, p, lab = cfg.collect, cfg.policy, cfg.labeler
    frame = pd.DataFrame(list(describe_rows(args.stage_size, seed=args.seed + 1)))
    # 0-based index per batch, as Ray Data hands them (the actors' new columns align on the index)
    batches = [frame.iloc[i:i + p.batch_size].reset_index(drop=True) for i in range(0, len(frame), p.batch_size)]
    sampling = {"n": c.num_samples, "temperature": c.temperature, "top_p": c.top_p, "max_tokens": c.max_tokens,
                "repetition_penalty": c.repetition_penalty}
    with Timer() as load:
        policy = PolicyActor(model, p.backend, sampling, args.seed, dtype=p.dtype, max_model_len=p.max_model_len,
                             batch_size=p.batch_size)
    with Timer() as gen:
        generated = [policy(b) for b in batches]
    tokens = int(sum(sum(t) for b in generated for t in b["candidate_tokens"]))
    close = getattr(policy.engine, "close", None)
    if close:
        close()
    claimed = [claims_stage(b) for b in generated]
    questions = sum(len(set(q for qs in row for q in qs)) for b in claimed for row in b["claim_questions"])
    labeler = LabelerActor(model, lab.backend, dtype=lab.dtype, max_model_len=lab.max_model_len,
                           batch_size=lab.batch_size)
    with Timer() as label:
        for b in claimed:
            labeler(b)
    close = getattr(labeler.engine, "close", None)
    if close:
        close()
    n = len(frame)
    return {"instructions": n, "policy_load_s": round(load.seconds, 2),
            "policy_seconds": round(gen.seconds, 2), "policy_instructions_per_s": rate(n, gen.seconds),
            "policy_tokens_per_s": rate(tokens, gen.seconds), "generated_tokens": tokens,
            "labeler_seconds": round(label.seconds, 2), "labeler_instructions_per_s": rate(n, label.seconds),
            "labeled_questions": questions, "labeler_questions_per_s": rate(questions, label.seconds)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    announce(NAME)
    cpu_env()
    import ray

    from pipelines.cluster import init_ray
    from rlaifv.config import load_config

    started = time.perf_counter()
    cfg = load_config(None, overrides(args) + ([f"ray.num_cpus={args.num_cpus}"] if args.num_cpus else []))
    with scratch_dir("rlaifv-bench-collect-", keep=args.keep) as tmp:
        model = args.model or tiny_model(tmp / "tiny_llava")
        runs = []
        for n in args.sizes:  # a fresh cluster per size: no worker left over from the previous size
            with Timer() as ray_start:
                init_ray(cfg)
            from ray.data import DataContext

            DataContext.get_current().enable_progress_bars = False  # one summary line per run is enough here
            print(f"--- collect {n} instructions x {args.samples} samples ({args.backend}); "
                  f"ray up in {ray_start.seconds:.1f}s", flush=True)
            try:
                row = {**run_collect(cfg, model, n, tmp / f"collect_{n}", args),
                       "ray_start_s": round(ray_start.seconds, 1)}
            finally:
                ray.shutdown()
            print(format_table([row], list(row)), flush=True)
            runs.append(row)
        import torch

        all_cores = torch.get_num_threads()
        stages_by_threads = {}
        for threads in dict.fromkeys([args.stage_threads, all_cores]):
            torch.set_num_threads(threads)
            print(f"--- stages alone, outside Ray ({args.stage_size} instructions, {threads} threads)", flush=True)
            stages_by_threads[threads] = run_stages_alone(cfg, model, args)
            print(json.dumps(stages_by_threads[threads], indent=2), flush=True)
        torch.set_num_threads(all_cores)
        stages, all_core_stages = stages_by_threads[args.stage_threads], stages_by_threads[all_cores]
    slowest = min(stages["policy_instructions_per_s"] or 0, stages["labeler_instructions_per_s"] or 0)
    slowest_name = "policy" if slowest == (stages["policy_instructions_per_s"] or 0) else "labeler"
    at_stage_size = next((r for r in runs if r["instructions"] == args.stage_size), runs[0])
    small, large = runs[0], runs[-1]
    figures = {
        "slowest_stage": slowest_name,
        "end_to_end/slowest_stage": ratio(at_stage_size["instructions_per_s"], slowest),
        "end_to_end/policy_stage": ratio(at_stage_size["instructions_per_s"], stages["policy_instructions_per_s"]),
        "steady_state/slowest_stage": ratio(at_stage_size["steady_instructions_per_s"], slowest),
        "end_to_end_largest/slowest_stage": ratio(large["instructions_per_s"], slowest),
        "steady_state_largest/slowest_stage": ratio(large["steady_instructions_per_s"], slowest),
        "end_to_end/slowest_stage_all_cores": ratio(
            at_stage_size["instructions_per_s"],
            min(all_core_stages["policy_instructions_per_s"] or 0, all_core_stages["labeler_instructions_per_s"] or 0)),
        "cluster_peak_rss_large/small": ratio(large["peak_cluster_rss_mib"], small["peak_cluster_rss_mib"]),
        "driver_peak_rss_large/small": ratio(large["peak_driver_rss_mib"], small["peak_driver_rss_mib"]),
        "instructions_large/small": ratio(large["instructions"], small["instructions"]),
    }
    print("\n" + format_table(runs, ["instructions", "seconds", "instructions_per_s", "first_shard_s",
                                     "steady_instructions_per_s", "peak_driver_rss_mib",
                                     "peak_cluster_rss_mib", "peak_ray_workers_rss_mib", "driver_ru_maxrss_mib"]))
    for k, v in figures.items():
        print(f"{k:<32} {v if isinstance(v, str) else (f'{v:.2f}' if v is not None else '-')}")
    name = args.output_name or f"{NAME}_{args.backend}" + ("_quick" if args.quick else "")
    write_result(name, vars(args) | {"model": args.model or "tiny random LLaVA (64 px, patch 16), policy = labeler",
                                     "overrides": overrides(args)},
                 {"collect": runs, "stages_alone": stages, "stages_alone_all_cores": all_core_stages,
                  "stage_threads": {"like_for_like": args.stage_threads, "all_cores": all_cores},
                  "figures": figures, "wall_s": round(time.perf_counter() - started, 1)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
