"""DPO training throughput: our trainer (`pipelines.train.fit`: Ray Train + DeepSpeed) with 1 and 2
workers vs TRL's `DPOTrainer`, and precomputed vs live reference log-probs, on one tiny VLM,
one set of pairs, one machine.

Start-up and steady state are reported apart, measured from outside the trainer: a thread
watches `OUT/train_log.jsonl` (one line per step, written by rank 0) and timestamps every
new line. start-up = fit() called -> first step logged (worker group, imports, model load,
DeepSpeed init, first batch); steady steps/s = steps after the first 10% over the time they
took; teardown = last step -> fit() returned (final checkpoint, model save, shutdown). TRL is
timed the same way through a step-end callback (start-up = model load -> first step).
Pairs are ShapesWorld describe rows: chosen = the true caption, rejected = the caption with one
object swapped. Our workers get 0.5 CPU each (Ray then sets 1 torch thread); TRL runs in this
process with --threads (default 1). Not part of the test suite.

    .venv/bin/python benchmarks/dpo_throughput.py [--steps 200] [--batch-size 16] [--pairs 256] \\
        [--workers 1 2] [--live-workers 1 2] [--zero-stage 2] [--skip-trl] [--model DIR] [--quick]
"""
from __future__ import annotations

import argparse
import io
import math
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    Timer, announce, cpu_env, format_table, rate, ratio, scratch_dir, set_threads, tiny_model, write_result,
)

NAME = "dpo_throughput"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=200, help="optimizer steps per run (steady state must dominate)")
    ap.add_argument("--batch-size", type=int, default=16, help="pairs per optimizer step, over all workers")
    ap.add_argument("--pairs", type=int, default=256, help="distinct pairs (epochs repeat them)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="our trainer, precomputed reference")
    ap.add_argument("--live-workers", type=int, nargs="*", default=None,
                    help="our trainer, live reference model (default: same as --workers)")
    ap.add_argument("--cpus-per-worker", type=float, default=0.5)
    ap.add_argument("--zero-stage", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--report-every", type=int, default=10, help="TrainJob.report_every (ray.train.report period)")
    ap.add_argument("--skip-trl", action="store_true")
    ap.add_argument("--model", help="policy (= reference) model dir (default: a tiny random LLaVA, built here)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of this process (TRL, reference pass)")
    ap.add_argument("--num-cpus", type=int, default=None, help="Ray CPUs (default: all cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: seconds, not figures")
    ap.add_argument("--output-name", default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.batch_size, args.pairs, args.live_workers = 12, 4, 16, [1]
    if args.live_workers is None:
        args.live_workers = list(args.workers)
    if min(args.steps, args.batch_size, args.pairs) < 1 or min(args.workers + args.live_workers, default=1) < 1:
        ap.error("--steps, --batch-size, --pairs and worker counts must be positive")
    if args.steps < 5:
        ap.error("--steps must be >= 5 (the first 10% are warm-up, at least one step)")
    for w in set(args.workers + args.live_workers):
        if args.batch_size % w or args.batch_size // w * w > args.pairs:
            ap.error(f"--batch-size {args.batch_size} must split evenly over {w} workers and fit in --pairs")
    return args


def write_pairs(path: Path, num: int, seed: int) -> Path:
    """chosen = true caption, rejected = the caption with its first object swapped."""
    from rlaifv.world.datasets import describe_rows, write_parquet

    rows = []
    for r in describe_rows(num, seed=seed):
        first = r["objects"][0]
        swap = "purple star" if first != "purple star" else "red circle"
        rows.append({"idx": r["id"], "image": r["image"], "question": r["question"], "chosen": r["caption"],
                     "rejected": r["caption"].replace(first, swap, 1)})
    write_parquet(rows, path)
    return path


class StepWatcher:
    """Timestamps lines appended to a file (polled every `interval` s in a thread)."""

    def __init__(self, path: Path, interval: float = 0.02):
        self.path, self.interval = path, interval
        self.events: list[tuple[float, int]] = []  # (perf_counter, lines so far)
        self._lines, self._offset = 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="step-watcher", daemon=True)

    def poll(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        self._offset += len(chunk)
        new = chunk.count(b"\n")
        if new:
            self._lines += new
            self.events.append((time.perf_counter(), self._lines))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def __enter__(self) -> "StepWatcher":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()


def step_figures(start: float, end: float, events: list[tuple[float, int]], steps: int, batch: int) -> dict:
    """Start-up, steady-state and teardown figures from (time, steps done) observations."""
    if not events:
        return {"startup_s": None, "steady_steps_per_s": None, "steady_pairs_per_s": None, "teardown_s": None,
                "steps_seen": 0}
    warm = max(1, math.ceil(0.1 * steps))
    t0, n0 = next(((t, n) for t, n in events if n >= warm), events[0])
    t1, n1 = events[-1]
    steady = rate(n1 - n0, t1 - t0) if n1 > n0 else None
    return {"startup_s": round(events[0][0] - start, 2), "steady_steps_per_s": steady,
            "steady_pairs_per_s": steady * batch if steady else None, "teardown_s": round(end - t1, 2),
            "steps_seen": n1, "steady_window_steps": n1 - n0}


def run_ours(model: str, data: str, out: Path, workers: int, live: bool, args: argparse.Namespace) -> dict:
    from pipelines.train import TrainJob, fit

    job = TrainJob(objective="dpo", init_model=model, data=data, output_dir=str(out / "train"),
                   name=f"bench-w{workers}-{'live' if live else 'pre'}", steps=args.steps, batch_size=args.batch_size,
                   lr=args.lr, beta=args.beta, zero_stage=args.zero_stage, dtype="float32", num_workers=workers,
                   cpus_per_worker=args.cpus_per_worker, checkpoints=1, report_every=args.report_every,
                   max_failures=0, seed=args.seed, reference_model=model if live else "",
                   # DeepSpeed's WarmupCosineLR rejects 0 warm-up steps: keep at least one on short runs
                   warmup_ratio=max(0.05, 1.0 / args.steps))
    start = time.perf_counter()
    with StepWatcher(out / "train" / "train_log.jsonl") as watcher:
        fit(job, storage_path=str(out / "ray"))
    end = time.perf_counter()
    return {"run": f"ours w{workers} {'live' if live else 'precomputed'}",
            "framework": "rlaifv (Ray Train + DeepSpeed)",
            "workers": workers, "reference": "live" if live else "precomputed", "steps": args.steps,
            "fit_s": round(end - start, 2), "overall_pairs_per_s": rate(args.steps * args.batch_size, end - start),
            **step_figures(start, end, watcher.events, args.steps, args.batch_size)}


def trl_dataset(pairs: Path, processor):
    """TRL's vision preference layout: images (list of PIL), prompt, chosen, rejected (plain text)."""
    import pyarrow.parquet as pq
    from datasets import Dataset
    from PIL import Image

    from rlaifv.models.chat import prompt_text, response_text

    rows = pq.read_table(pairs).to_pylist()
    return Dataset.from_list([{"images": [Image.open(io.BytesIO(r["image"])).convert("RGB")],
                               "prompt": prompt_text(processor, r["question"]),
                               "chosen": response_text(r["chosen"]), "rejected": response_text(r["rejected"])}
                              for r in rows])


def run_trl(model_path: str, pairs: Path, out: Path, args: argparse.Namespace) -> dict:
    """TRL DPOTrainer (live reference: TRL copies the model; it cannot precompute for VLMs)."""
    from transformers import TrainerCallback
    from trl import DPOConfig, DPOTrainer

    from rlaifv.models.checkpoint import load_model

    events: list[tuple[float, int]] = []

    class Steps(TrainerCallback):
        def on_step_end(self, _args, state, control, **kw):
            events.append((time.perf_counter(), state.global_step))

    start = time.perf_counter()
    model, processor = load_model(model_path)
    config = DPOConfig(output_dir=str(out / "trl"), per_device_train_batch_size=args.batch_size, max_steps=args.steps,
                       learning_rate=args.lr, beta=args.beta, loss_type=["sigmoid"], bf16=False, use_cpu=True,
                       gradient_checkpointing=False, report_to="none", save_strategy="no", logging_steps=10**9,
                       disable_tqdm=True, dataloader_num_workers=0, max_length=None, lr_scheduler_type="cosine",
                       warmup_steps=0.05, weight_decay=0.0, seed=args.seed)
    trainer = DPOTrainer(model=model, args=config, train_dataset=trl_dataset(pairs, processor),
                         processing_class=processor, callbacks=[Steps()])
    trainer.train()
    end = time.perf_counter()
    return {"run": "trl", "framework": "TRL DPOTrainer", "workers": 1, "reference": "live (TRL copy)",
            "steps": args.steps, "fit_s": round(end - start, 2),
            "overall_pairs_per_s": rate(args.steps * args.batch_size, end - start),
            **step_figures(start, end, events, args.steps, args.batch_size)}


def ratios(runs: list[dict], workers: list[int]) -> dict[str, float | None]:
    steady = {r["run"]: r["steady_pairs_per_s"] for r in runs}
    out = {}
    for w in workers:
        out[f"ours w{w} precomputed / trl"] = ratio(steady.get(f"ours w{w} precomputed"), steady.get("trl"))
        out[f"ours w{w} live / trl"] = ratio(steady.get(f"ours w{w} live"), steady.get("trl"))
        out[f"ours w{w}: precomputed / live"] = ratio(steady.get(f"ours w{w} precomputed"),
                                                      steady.get(f"ours w{w} live"))
        if w != 1:
            out[f"ours w{w} / w1 (precomputed)"] = ratio(steady.get(f"ours w{w} precomputed"),
                                                         steady.get("ours w1 precomputed"))
    return {k: v for k, v in out.items() if v is not None}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    announce(NAME)
    cpu_env()
    set_threads(args.threads)
    started = time.perf_counter()
    runs, errors, extra = [], {}, {}
    with scratch_dir("rlaifv-bench-dpo-") as tmp:
        model = args.model or tiny_model(tmp / "tiny_llava")
        pairs = write_pairs(tmp / "pairs.parquet", args.pairs, seed=args.seed + 91)
        if not args.skip_trl:  # first, before the Ray cluster exists (nothing else on the cores)
            print("--- TRL DPOTrainer", flush=True)
            try:
                runs.append(run_trl(model, pairs, tmp / "trl", args))
                print(format_table(runs[-1:], list(runs[-1])), flush=True)
            except Exception as exc:
                errors["trl"] = f"TRL could not train this model: {type(exc).__name__}: {exc}"
                print(errors["trl"], flush=True)
        import ray

        from pipelines.cluster import init_ray
        from pipelines.reference import add_reference_logps
        from rlaifv.config import load_config

        cfg = load_config(None, ["policy.backend=hf", f"policy.batch_size={min(64, args.pairs)}"]
                          + ([f"ray.num_cpus={args.num_cpus}"] if args.num_cpus else []))
        init_ray(cfg)
        try:
            with Timer() as ref:
                ref_dir = add_reference_logps(cfg, pairs, tmp / "reference", model)
            extra["reference_precompute_s"] = round(ref.seconds, 2)
            print(f"reference log-probs of {args.pairs} pairs precomputed in {ref.seconds:.1f}s", flush=True)
            plan = [(w, False) for w in args.workers] + [(w, True) for w in args.live_workers]
            for workers, live in plan:
                label = f"ours w{workers} {'live' if live else 'precomputed'}"
                print(f"--- {label}", flush=True)
                try:
                    runs.append(run_ours(model, str(pairs if live else ref_dir), tmp / label.replace(" ", "_"),
                                         workers, live, args))
                    print(format_table(runs[-1:], list(runs[-1])), flush=True)
                except Exception as exc:
                    errors[label] = f"{type(exc).__name__}: {exc}"
                    print(f"{label} FAILED: {errors[label]}", flush=True)
        finally:
            ray.shutdown()
    columns = ["run", "steps", "fit_s", "startup_s", "steady_steps_per_s", "steady_pairs_per_s", "teardown_s",
               "overall_pairs_per_s"]
    print("\n" + format_table(runs, columns))
    table = ratios(runs, sorted(set(args.workers + args.live_workers)))
    for k, v in table.items():
        print(f"{k:<36} {v:.2f}x")
    if "reference_precompute_s" in extra:
        print(f"reference precompute (once per round): {extra['reference_precompute_s']}s for {args.pairs} pairs")
    name = args.output_name or (NAME + ("_quick" if args.quick else ""))
    write_result(name, vars(args) | {"model": args.model or "tiny random LLaVA (64 px, patch 16)"},
                 {"runs": runs, "ratios": table, "errors": errors, **extra,
                  "wall_s": round(time.perf_counter() - started, 1)})
    return 1 if errors and not runs else 0


if __name__ == "__main__":
    sys.exit(main())
