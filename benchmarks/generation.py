"""Generation throughput: our vLLM backend (eager and compiled) vs our HF backend vs plain
`transformers` `model.generate`, at batch 1, 16 and 64, on the same ShapesWorld describe prompts.

Every backend samples (temperature 0.7, top_p 1, the same max new tokens) over the same
prompt list, cut into calls of `batch` prompts; tokens/s counts generated tokens (up to and
including eos). Ratios vLLM/HF-engine and HF-engine/plain-generate are taken per batch size
within this one run. A backend that fails (e.g. no compiler for the compiled vLLM graph) is
recorded with its error and the others still run. Not part of the test suite.

    .venv/bin/python benchmarks/generation.py [--batches 1 16 64] [--num-prompts 128] \\
        [--max-tokens 64] [--backends vllm-eager vllm-compiled hf-engine hf-generate] \\
        [--model DIR] [--threads 1] [--quick]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    Timer, announce, cpu_env, describe_prompts, format_table, rate, ratio, scratch_dir, set_threads, tiny_model,
    write_result,
)

NAME = "generation"
BACKENDS = ("hf-generate", "hf-engine", "vllm-eager", "vllm-compiled")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64], help="prompts per call")
    ap.add_argument("--num-prompts", type=int, default=128, help="prompts per batch size (same list for all)")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    ap.add_argument("--model", help="model dir (default: a tiny random LLaVA, 64x64 images, built here)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads in this process")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: seconds, not figures")
    ap.add_argument("--output-name", default=None, help="results/<name>.json (default: generation[_quick])")
    args = ap.parse_args(argv)
    if args.quick:
        args.batches, args.num_prompts, args.max_tokens = [1, 4], 8, 12
    if min(args.batches) < 1 or args.num_prompts < 1 or args.max_tokens < 1:
        ap.error("--batches, --num-prompts and --max-tokens must be positive")
    if args.num_prompts < max(args.batches):
        ap.error(f"--num-prompts ({args.num_prompts}) must be >= the largest batch ({max(args.batches)})")
    return args


class PlainGenerate:
    """`model.generate(do_sample=True)` on the same left-padded inputs our HF engine builds."""

    def __init__(self, model_path: str):
        from rlaifv.models.chat import tokenizer_of
        from rlaifv.models.checkpoint import load_model

        self.model, self.processor = load_model(model_path)
        self.tokenizer = tokenizer_of(self.processor)

    def generate_tokens(self, prompts: list, max_tokens: int, temperature: float, seed: int) -> int:
        import torch

        from rlaifv.engine.hf import collate
        from rlaifv.models.chat import prompt_inputs

        rows = [prompt_inputs(self.processor, p.question, p.image) for p in prompts]
        batch = collate(rows, self.tokenizer.pad_token_id, left=True)
        torch.manual_seed(seed)
        with torch.inference_mode():
            seqs = self.model.generate(**batch, do_sample=True, temperature=temperature, top_p=1.0, top_k=0,
                                       max_new_tokens=max_tokens, eos_token_id=self.tokenizer.eos_token_id,
                                       pad_token_id=self.tokenizer.pad_token_id)
        new = seqs[:, batch["input_ids"].shape[1]:].tolist()
        eos = self.tokenizer.eos_token_id
        return sum(ids.index(eos) + 1 if eos in ids else len(ids) for ids in new)

    def close(self) -> None:
        self.model = None


class EngineGenerate:
    """One of our engines (HFEngine / VLLMEngine) behind the same call."""

    def __init__(self, backend: str, model_path: str, max_batch: int):
        from rlaifv.engine import make_engine

        if backend == "hf-engine":
            self.engine = make_engine("hf", model_path, batch_size=max_batch)
        else:
            self.engine = make_engine("vllm", model_path, enforce_eager=backend == "vllm-eager")

    def generate_tokens(self, prompts: list, max_tokens: int, temperature: float, seed: int) -> int:
        from rlaifv.engine.base import SamplingSpec

        spec = SamplingSpec(n=1, temperature=temperature, max_tokens=max_tokens, seed=seed)
        return sum(len(c.token_ids) for cs in self.engine.generate(prompts, spec) for c in cs)

    def close(self) -> None:
        if hasattr(self.engine, "close"):
            self.engine.close()


def run_backend(backend: str, model: str, prompts: list, args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """Load one backend, warm it up, then time every batch size over the same prompts."""
    import torch

    with Timer() as load:
        runner = PlainGenerate(model) if backend == "hf-generate" else EngineGenerate(backend, model, max(args.batches))
        runner.generate_tokens(prompts[:1], 2, args.temperature, seed=10**6)  # warm-up (vLLM: already done too)
    info = {"backend": backend, "load_s": round(load.seconds, 2), "torch_threads": torch.get_num_threads()}
    rows = []
    try:
        for batch in args.batches:
            tokens, calls = 0, 0
            with Timer() as t:
                for start in range(0, len(prompts), batch):
                    tokens += runner.generate_tokens(prompts[start:start + batch], args.max_tokens, args.temperature,
                                                     seed=args.seed + start)
                    calls += 1
            row = {"backend": backend, "batch": batch, "prompts": len(prompts), "calls": calls, "tokens": tokens,
                   "seconds": round(t.seconds, 3), "tokens_per_s": rate(tokens, t.seconds)}
            print(format_table([row], list(row)), flush=True)
            rows.append(row)
    finally:
        runner.close()
    return info, rows


def ratios(rows: list[dict], batches: list[int]) -> dict[str, dict[str, float | None]]:
    """Per batch: each vLLM variant over the HF engine, and the HF engine over plain generate."""
    tps = {(r["backend"], r["batch"]): r["tokens_per_s"] for r in rows}
    out: dict[str, dict[str, float | None]] = {}
    for b in batches:
        out[str(b)] = {
            "vllm-eager/hf-engine": ratio(tps.get(("vllm-eager", b)), tps.get(("hf-engine", b))),
            "vllm-compiled/hf-engine": ratio(tps.get(("vllm-compiled", b)), tps.get(("hf-engine", b))),
            "vllm-compiled/vllm-eager": ratio(tps.get(("vllm-compiled", b)), tps.get(("vllm-eager", b))),
            "hf-engine/hf-generate": ratio(tps.get(("hf-engine", b)), tps.get(("hf-generate", b))),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    announce(NAME)
    cpu_env()
    set_threads(args.threads)
    started = time.perf_counter()
    with scratch_dir("rlaifv-bench-gen-") as tmp:
        model = args.model or tiny_model(tmp / "tiny_llava")
        prompts = describe_prompts(args.num_prompts, seed=args.seed)
        infos, rows, errors = [], [], {}
        for backend in args.backends:
            print(f"--- {backend}", flush=True)
            try:
                info, backend_rows = run_backend(backend, model, prompts, args)
            except Exception as exc:  # keep the other backends' figures; say why this one failed
                errors[backend] = f"{type(exc).__name__}: {exc}"
                print(f"{backend} FAILED: {errors[backend]}", flush=True)
                continue
            infos.append(info)
            rows.extend(backend_rows)
    print("\n" + format_table(rows, ["backend", "batch", "tokens", "seconds", "tokens_per_s"]))
    table = ratios(rows, args.batches)
    for b, r in table.items():
        print(f"batch {b:>3}: " + "  ".join(f"{k} {v:.2f}x" if v is not None else f"{k} -" for k, v in r.items()))
    name = args.output_name or (NAME + ("_quick" if args.quick else ""))
    write_result(name, vars(args) | {"model": args.model or "tiny random LLaVA (64 px, patch 16)"},
                 {"backends": infos, "rows": rows, "ratios": table, "errors": errors,
                  "wall_s": round(time.perf_counter() - started, 1)})
    return 1 if errors and not rows else 0


if __name__ == "__main__":
    sys.exit(main())
