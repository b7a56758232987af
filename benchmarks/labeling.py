"""Labeling throughput: yes/no questions per second through `engine.answer_probs`.

The same questions (Q per ShapesWorld image, as the labeler sees the claims of one
instruction) are sent three ways:
- per_question: one question per call;
- per_image: all questions of one image in one call, consecutive (shared image prefix);
- per_batch: the questions of `--images-per-call` images in one call (what LabelerActor does).
Engines: vLLM with enable_prefix_caching on, vLLM with it off, and the HF engine. Caches are
reset between modes so no mode profits from an earlier one. Every mode must give the same
probabilities (checked: max |p - p_first_mode|). Not part of the test suite.

    .venv/bin/python benchmarks/labeling.py [--images 64] [--questions-per-image 8] \\
        [--images-per-call 8] [--engines vllm-prefix vllm-noprefix hf] [--enforce-eager] \\
        [--model DIR] [--threads 1] [--quick]
"""
from __future__ import annotations

import argparse
import io
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    Timer, announce, cpu_env, format_table, rate, ratio, scratch_dir, set_threads, tiny_model, write_result,
)

NAME = "labeling"
ENGINES = ("vllm-prefix", "vllm-noprefix", "hf")
MODES = ("per_question", "per_image", "per_batch")
WORDS = ("yes", "Yes", "no", "No")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--questions-per-image", type=int, default=8)
    ap.add_argument("--images-per-call", type=int, default=8, help="per_batch mode")
    ap.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    ap.add_argument("--enforce-eager", action="store_true", help="vLLM without torch.compile (default: compiled)")
    ap.add_argument("--block-size", type=int, default=None,
                    help="vLLM KV block size (default: vLLM's, 128 on CPU). The prefix cache reuses whole blocks "
                         "only, so a shared image prefix shorter than one block never hits")
    ap.add_argument("--hf-batch-size", type=int, default=64, help="HFEngine forward batch")
    ap.add_argument("--model", help="labeler model dir (default: a tiny random LLaVA, 64x64 images, built here)")
    ap.add_argument("--patch-size", type=int, default=16,
                    help="tiny model only: 16 -> 16 image tokens, 8 -> 64 (a prefix long enough to fill KV blocks)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: seconds, not figures")
    ap.add_argument("--output-name", default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.images, args.questions_per_image, args.images_per_call = 6, 4, 3
    if min(args.images, args.questions_per_image, args.images_per_call, args.hf_batch_size) < 1:
        ap.error("--images, --questions-per-image, --images-per-call and --hf-batch-size must be positive")
    from rlaifv.world.vocab import OBJECTS

    if args.questions_per_image > len(OBJECTS):
        ap.error(f"--questions-per-image must be <= {len(OBJECTS)} (distinct objects to ask about)")
    return args


def question_groups(num_images: int, per_image: int, seed: int) -> list[list]:
    """Per image, `per_image` distinct yes/no Prompts (present objects first, then absent ones)."""
    from PIL import Image

    from rlaifv.engine.base import Prompt
    from rlaifv.world.datasets import describe_rows
    from rlaifv.world.vocab import OBJECTS, YESNO_TEMPLATE

    groups = []
    for i, row in enumerate(describe_rows(num_images, seed=seed)):
        image = Image.open(io.BytesIO(row["image"])).convert("RGB")
        present = list(dict.fromkeys(row["objects"]))
        absent = [o for o in OBJECTS if o not in present]
        random.Random(f"{seed}:{i}").shuffle(absent)
        objects = (present + absent)[:per_image]
        groups.append([Prompt(YESNO_TEMPLATE.format(obj=o), image) for o in objects])
    return groups


def calls_for(mode: str, groups: list[list], images_per_call: int) -> list[list]:
    """The prompt lists one mode sends, in order (always image by image, question by question)."""
    if mode == "per_question":
        return [[p] for g in groups for p in g]
    if mode == "per_image":
        return [list(g) for g in groups]
    if mode == "per_batch":
        return [[p for g in groups[i:i + images_per_call] for p in g] for i in range(0, len(groups), images_per_call)]
    raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")


def make(engine: str, model: str, args: argparse.Namespace):
    from rlaifv.engine import make_engine

    if engine == "hf":
        return make_engine("hf", model, batch_size=args.hf_batch_size)
    extra = {"block_size": args.block_size} if args.block_size else {}
    return make_engine("vllm", model, enable_prefix_caching=engine == "vllm-prefix",
                       enforce_eager=args.enforce_eager, disable_log_stats=False, **extra)


def block_size(engine) -> int | None:
    llm = getattr(engine, "llm", None)
    return llm.llm_engine.vllm_config.cache_config.block_size if llm is not None else None


def reset_caches(engine) -> None:
    """Forget cached prefixes and processed images, so each mode starts cold."""
    llm = getattr(engine, "llm", None)
    if llm is not None:
        llm.reset_prefix_cache()
        llm.reset_mm_cache()


def prefix_counters(engine) -> dict[str, float]:
    """vLLM's prefix-cache query/hit token counters (empty for HF or when stats are off)."""
    llm = getattr(engine, "llm", None)
    if llm is None:
        return {}
    try:
        metrics = llm.get_metrics()
    except Exception:  # stats disabled or API moved: the timing still stands
        return {}
    return {m.name: float(m.value) for m in metrics
            if m.name in ("vllm:prefix_cache_queries", "vllm:prefix_cache_hits") and hasattr(m, "value")}


def run_engine(name: str, model: str, groups: list[list], args: argparse.Namespace,
               reference: list[dict] | None) -> tuple[dict, list[dict], list[dict]]:
    with Timer() as load:
        engine = make(name, model, args)
        engine.answer_probs(groups[0][:1], WORDS)  # warm-up
    info = {"engine": name, "load_s": round(load.seconds, 2), "block_size": block_size(engine)}
    rows, first = [], reference
    try:
        for mode in MODES:
            reset_caches(engine)
            calls = calls_for(mode, groups, args.images_per_call)
            before = prefix_counters(engine)
            probs: list[dict] = []
            with Timer() as t:
                for prompts in calls:
                    probs.extend(engine.answer_probs(prompts, WORDS))
            after = prefix_counters(engine)
            first = first or probs
            diff = max(abs(p[w] - q[w]) for p, q in zip(probs, first) for w in WORDS)
            row = {"engine": name, "mode": mode, "questions": len(probs), "calls": len(calls),
                   "seconds": round(t.seconds, 3), "questions_per_s": rate(len(probs), t.seconds),
                   "max_abs_diff": diff}
            queries = after.get("vllm:prefix_cache_queries", 0) - before.get("vllm:prefix_cache_queries", 0)
            if queries:
                row["prefix_hit_rate"] = (after["vllm:prefix_cache_hits"] - before["vllm:prefix_cache_hits"]) / queries
            print(format_table([row], list(row)), flush=True)
            rows.append(row)
    finally:
        if hasattr(engine, "close"):
            engine.close()
    return info, rows, first


def ratios(rows: list[dict]) -> dict[str, float | None]:
    qps = {(r["engine"], r["mode"]): r["questions_per_s"] for r in rows}
    out: dict[str, float | None] = {}
    for engine in ENGINES:
        for mode in ("per_image", "per_batch"):
            out[f"{engine}: {mode}/per_question"] = ratio(qps.get((engine, mode)), qps.get((engine, "per_question")))
    for mode in MODES:
        for other in ("vllm-noprefix", "hf"):
            out[f"{mode}: vllm-prefix/{other}"] = ratio(qps.get(("vllm-prefix", mode)), qps.get((other, mode)))
    return {k: v for k, v in out.items() if v is not None}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    announce(NAME)
    cpu_env()
    set_threads(args.threads)
    started = time.perf_counter()
    with scratch_dir("rlaifv-bench-label-") as tmp:
        model = args.model or tiny_model(tmp / "tiny_llava", patch_size=args.patch_size)
        groups = question_groups(args.images, args.questions_per_image, args.seed)
        infos, rows, errors, reference = [], [], {}, None
        for name in args.engines:
            print(f"--- {name}", flush=True)
            try:
                info, engine_rows, reference = run_engine(name, model, groups, args, reference)
            except Exception as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
                print(f"{name} FAILED: {errors[name]}", flush=True)
                continue
            infos.append(info)
            rows.extend(engine_rows)
    print("\n" + format_table(rows, ["engine", "mode", "questions", "calls", "seconds", "questions_per_s",
                                     "prefix_hit_rate", "max_abs_diff"]))
    table = ratios(rows)
    for k, v in table.items():
        print(f"{k:<40} {v:.2f}x")
    worst = max((r["max_abs_diff"] for r in rows), default=0.0)
    hits = [r["prefix_hit_rate"] for r in rows if "prefix_hit_rate" in r]
    if hits and max(hits) == 0:
        print("NOTE: no prefix-cache hits: the shared image prefix is shorter than one KV block "
              f"(block size {[i['block_size'] for i in infos if i['block_size']]}); try --patch-size 8 --block-size 32")
    if worst > 1e-3:
        print(f"WARNING: modes/engines disagree on probabilities by up to {worst:.2e}")
    name = args.output_name or (NAME + ("_quick" if args.quick else ""))
    write_result(name, vars(args) | {"model": args.model or f"tiny random LLaVA (64 px, patch {args.patch_size})"},
                 {"engines": infos, "rows": rows, "ratios": table, "errors": errors, "max_abs_diff": worst,
                  "wall_s": round(time.perf_counter() - started, 1)})
    return 1 if errors and not rows else 0


if __name__ == "__main__":
    sys.exit(main())
