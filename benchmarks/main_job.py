"""The main job end to end: wall time and peak memory of `rlaifv run` on the embedded default.

Runs the real CLI as a child process and samples the RSS of it and every process under it (the
private local Ray cluster: GCS, raylet, Ray Data actors, Ray Train workers). The base models
come from the cache when it holds them (the default); `--retrain` measures a cold start.
Not part of the test suite.

    .venv/bin/python benchmarks/main_job.py [--config configs/shapes.yaml] [--retrain] [key=value ...]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import MemorySampler, Timer, announce, scratch_dir, write_result  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "configs" / "shapes.yaml"))
    ap.add_argument("--retrain", action="store_true", help="train the base models again (cold start)")
    ap.add_argument("--interval", type=float, default=1.0, help="memory sampling period, s")
    ap.add_argument("--keep", action="store_true", help="keep the run directory")
    ap.add_argument("overrides", nargs="*", help="config overrides, key=value")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    announce("main_job")
    with scratch_dir("rlaifv-main-job-", keep=args.keep) as out:
        cmd = [str(Path(sys.executable).parent / "rlaifv"), "run", "--config", args.config, "--output", str(out / "run"),
               *(["--retrain"] if args.retrain else []), *args.overrides]
        with MemorySampler(args.interval) as mem, Timer() as timer:
            proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"rlaifv run failed with exit code {proc.returncode}")
        metrics = json.loads((out / "run" / "metrics.json").read_text())
    results = {
        "seconds": round(timer.seconds, 1),
        "minutes": round(timer.seconds / 60, 2),
        "peak_rss_all_processes_mib": round(mem.peak_tree_mib),  # an upper bound: shared pages counted per process
        "peak_ray_workers_rss_mib": round(mem.peak_workers_mib),
        "peak_processes": mem.peak_processes,
        "base_hallucination": metrics["base"]["test"]["hallucination_rate"],
        "final_hallucination": metrics["rounds"][-1]["test"]["hallucination_rate"],
    }
    print(json.dumps(results, indent=2))
    write_result("main_job" + ("_cold" if args.retrain else ""), vars(args), results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
