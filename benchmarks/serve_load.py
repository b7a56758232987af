"""Load test of the best-of-N endpoint: C concurrent clients for D seconds, best-of-1 vs best-of-8.

Starts the app itself on a private local Ray cluster (tiny random LLaVAs are built unless
--model/--reference are given), warms it up, then for each N runs the closed-loop clients and
prints requests/s, candidates/s, p50/p99 latency and errors; writes everything as JSON.
Not part of the test suite. On a 2-core machine the clients share the cores with the server,
so absolute numbers are a floor; compare N=1 with N=8 on one machine.

    .venv/bin/python benchmarks/serve_load.py [--clients 16] [--duration 60] [--n 1 8] \\
        [--model DIR --reference DIR] [--backend hf|vllm] [--output serve_load.json]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import io
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds per N")
    ap.add_argument("--n", type=int, nargs="+", default=[1, 8], help="best-of values to compare")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--model", help="aligned model dir (default: a tiny random LLaVA, built)")
    ap.add_argument("--reference", help="reference model dir (default: a second tiny LLaVA, built)")
    ap.add_argument("--backend", choices=["hf", "vllm"], default="hf")
    ap.add_argument("--num-cpus", type=int, default=None, help="Ray CPUs (default: all cores)")
    ap.add_argument("--warmup", type=int, default=4, help="requests per N before timing")
    ap.add_argument("--output", default="serve_load.json")
    args = ap.parse_args(argv)
    if args.clients < 1 or args.duration <= 0 or min(args.n) < 1 or args.max_tokens < 1:
        ap.error("--clients, --duration, --n and --max-tokens must be positive")
    if bool(args.model) != bool(args.reference):
        ap.error("give both --model and --reference, or neither (tiny models are then built)")
    return args


def image_data_url() -> str:
    from PIL import Image

    image = Image.new("RGB", (48, 48), (255, 255, 255))
    image.paste((30, 60, 220), (8, 8, 28, 28))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def summarize(latencies: list[float], errors: dict[str, int], elapsed: float, n: int) -> dict:
    lat = sorted(latencies)
    return {"n": n, "requests": len(lat), "errors": sum(errors.values()), "error_kinds": errors,
            "elapsed_s": elapsed, "requests_per_s": len(lat) / elapsed, "candidates_per_s": n * len(lat) / elapsed,
            "p50_s": percentile(lat, 50), "p99_s": percentile(lat, 99), "mean_s": sum(lat) / len(lat) if lat else None}


async def load(url: str, payload: dict, clients: int, duration: float) -> tuple[list[float], dict[str, int], float]:
    """Closed loop: each client sends its next request when the previous one returns."""
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    start = time.perf_counter()
    deadline = start + duration

    async def client(http: httpx.AsyncClient, k: int) -> None:
        i = 0
        while time.perf_counter() < deadline:
            body = {**payload, "seed": k * 1_000_003 + i}
            t0 = time.perf_counter()
            try:
                r = await http.post(url, json=body)
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            i += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        await asyncio.gather(*(client(http, k) for k in range(clients)))
    return latencies, errors, time.perf_counter() - start


def build_models(root: Path) -> tuple[str, str]:
    from rlaifv.models.tiny import build_tiny_llava

    return str(build_tiny_llava(root / "aligned", seed=0)), str(build_tiny_llava(root / "reference", seed=1))


def main(argv=None) -> int:
    args = parse_args(argv)
    import httpx
    import ray
    from ray import serve

    from pipelines.cluster import init_ray
    from pipelines.serve import build_app
    from rlaifv.config.schema import Config, ServeSection

    os.environ.pop("RLAIFV_API_KEY", None)  # local, loopback-only benchmark
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = Path(tempfile.mkdtemp(prefix="rlaifv-serve-load-"))
    model, reference = (args.model, args.reference) if args.model else build_models(workdir)
    cfg = Config()
    cfg = dataclasses.replace(
        cfg, ray=dataclasses.replace(cfg.ray, address=None, num_cpus=args.num_cpus),
        policy=dataclasses.replace(cfg.policy, model=model, backend=args.backend),
        serve=ServeSection(max_n=max(args.n), default_n=1, max_tokens=args.max_tokens))
    t0 = time.perf_counter()
    init_ray(cfg)
    results: dict = {}
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port},
                    logging_config={"enable_access_log": False, "log_level": "WARNING"})
        serve.run(build_app(cfg, model, reference), name="rlaifv", route_prefix="/")
        startup = time.perf_counter() - t0
        print(f"app up in {startup:.1f}s on port {port} (backend {args.backend})")
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        messages = [{"role": "user", "content": [{"type": "text", "text": "Describe the image."},
                                                 {"type": "image_url", "image_url": {"url": image_data_url()}}]}]
        for n in args.n:
            payload = {"model": "rlaifv", "messages": messages, "n": n, "max_tokens": args.max_tokens,
                       "temperature": 0.7}
            for i in range(args.warmup):
                r = httpx.post(url, json={**payload, "seed": 10**9 + i}, timeout=300)
                r.raise_for_status()
            latencies, errors, elapsed = asyncio.run(load(url, payload, args.clients, args.duration))
            results[f"best_of_{n}"] = row = summarize(latencies, errors, elapsed, n)
            p50, p99 = row["p50_s"] or float("nan"), row["p99_s"] or float("nan")
            print(f"best-of-{n:<3d} {row['requests_per_s']:7.2f} req/s  {row['candidates_per_s']:7.1f} cand/s  "
                  f"p50 {p50:6.2f}s  p99 {p99:6.2f}s  requests {row['requests']}  errors {row['errors']}")
    finally:
        serve.shutdown()
        ray.shutdown()
        if not args.model:
            shutil.rmtree(workdir, ignore_errors=True)
    out = {"clients": args.clients, "duration_s": args.duration, "max_tokens": args.max_tokens,
           "backend": args.backend, "model": model, "reference": reference, "cpus": os.cpu_count(),
           "startup_s": startup, "results": results}
    Path(args.output).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
