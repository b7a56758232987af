"""The run report's plots: one function per plot, plain data in, one PNG file out.

Why `matplotlib.figure.Figure` and not pyplot: a bare Figure renders with the Agg canvas, keeps
no global state and never opens a window, so a report can be written from any process
(a Ray driver, a test) without touching the caller's matplotlib backend.
"""
from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure
from PIL import Image

RATE_SERIES = (  # (metrics key, legend label, line style)
    ("hallucination_rate", "response-level hallucination", "-"),
    ("strict_hallucination_rate", "strict (hallucinated or repeated)", "-"),
    ("mention_hallucination_rate", "mention-level hallucination", "-"),
    ("coverage", "coverage (recall of true objects)", "--"),
)
CHOSEN, REJECTED = "#2a9d55", "#d1495b"
DPI = 100


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI)
    return path


def _grid(n: int, cols: int, panel: tuple[float, float]) -> tuple[Figure, list]:
    """A figure of n panels, `cols` wide, constrained layout; returns the flat axes list."""
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(panel[0] * cols, panel[1] * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _check_numbers(values: Sequence[float], where: str) -> list[float]:
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{where}[{i}] must be a finite number, got {v!r}")
        out.append(float(v))
    return out


def _bins(values: Sequence[float], count: int = 20) -> list[float] | int:
    """Unit-wide bins centred on integers when every value is whole (scores, word counts)."""
    if values and all(float(v).is_integer() for v in values):
        lo, hi = int(min(values)), int(max(values))
        step = max(1, math.ceil((hi - lo + 1) / 40))
        return [lo - 0.5 + k * step for k in range((hi - lo) // step + 2)]
    return count


def plot_round_rates(labels: Sequence[str], metrics: Sequence[Mapping[str, float]], path: str | Path) -> Path:
    """Hallucination rates (response, strict, mention level) and coverage per stage (base = 0)."""
    if not labels or len(labels) != len(metrics):
        raise ValueError(f"plot_round_rates: {len(labels)} labels for {len(metrics)} metrics (need >= 1, equal)")
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    xs = list(range(len(labels)))
    for key, name, style in RATE_SERIES:
        ys = []
        for label, m in zip(labels, metrics):
            if key not in m:
                raise ValueError(f"plot_round_rates: metrics of {label!r} lack {key!r}")
            ys.append(_check_numbers([m[key]], f"{label}.{key}")[0] * 100)
        ax.plot(xs, ys, style, marker="o", label=name)
    ax.set_xticks(xs, list(labels))
    ax.set_ylabel("% of test responses / objects")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    fig.legend(fontsize=8, loc="outside lower center", ncols=2)
    ax.set_title("Test split per round (lower hallucination, higher coverage is better)")
    return _save(fig, path)


def _smooth(values: list[float], window: int) -> list[float]:
    """Trailing moving average (the first points average what exists)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_train_curves(logs: Mapping[str, Sequence[Mapping[str, float]]], path: str | Path) -> Path:
    """Loss, reward accuracy and reward margin against step, one line per round's train log."""
    if not logs:
        raise ValueError("plot_train_curves: no train logs")
    panels = (("loss", "loss"), ("reward_accuracy", "reward accuracy"), ("reward_margin", "reward margin"))
    fig, axes = _grid(len(panels), 3, (4.0, 3.2))
    handles = {}
    for label, rows in logs.items():
        if not rows:
            raise ValueError(f"plot_train_curves: train log of {label!r} is empty")
        steps = [r.get("step", i + 1) for i, r in enumerate(rows)]
        for ax, (key, _) in zip(axes, panels):
            if not all(key in r for r in rows):
                continue
            ys = _check_numbers([r[key] for r in rows], f"{label}.{key}")
            window = max(1, len(ys) // 20)
            (line,) = ax.plot(steps, _smooth(ys, window), label=label)
            handles.setdefault(label, line)
            if window > 1:
                ax.plot(steps, ys, color=line.get_color(), alpha=0.25, linewidth=0.8)
    for ax, (key, name) in zip(axes, panels):
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if key == "reward_accuracy":
            ax.set_ylim(-0.02, 1.02)
        if not ax.get_lines():
            ax.text(0.5, 0.5, f"no {key} logged", ha="center", va="center", transform=ax.transAxes)
    # one figure legend (a per-axes loc="best" is slow on thousands of steps)
    fig.legend(list(handles.values()), list(handles), fontsize=8, loc="outside lower center",
               ncols=min(len(handles), 6))
    return _save(fig, path)


def _hist_pair(ax, chosen: list[float], rejected: list[float], names: tuple[str, str]) -> None:
    """Side-by-side bars per bin, the mean of each series in the legend."""
    series = [(v, n, c) for v, n, c in ((chosen, names[0], CHOSEN), (rejected, names[1], REJECTED)) if v]
    if not series:
        ax.text(0.5, 0.5, "no pairs", ha="center", va="center", transform=ax.transAxes)
        return
    labels = [f"{n} (n={len(v)}, mean {sum(v) / len(v):.2f})" for v, n, _ in series]
    ax.hist([v for v, _, _ in series], bins=_bins(chosen + rejected), color=[c for _, _, c in series], label=labels)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def plot_pair_scores(scores: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: str | Path) -> Path:
    """Histograms of chosen vs rejected response scores (-rejected claims), one panel per round."""
    if not scores:
        raise ValueError("plot_pair_scores: no pairs")
    fig, axes = _grid(len(scores), 3, (4.0, 3.0))
    for ax, (label, (chosen, rejected)) in zip(axes, scores.items()):
        _hist_pair(ax, _check_numbers(chosen, f"{label}.chosen_score"),
                   _check_numbers(rejected, f"{label}.rejected_score"), ("chosen", "rejected"))
        ax.set_title(label)
        ax.set_xlabel("score (-rejected claims)")
        ax.set_ylabel("pairs")
    return _save(fig, path)


def plot_pair_lengths(lengths: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]],
                      path: str | Path) -> Path:
    """Word lengths of chosen vs rejected, before and after length balancing (a row per round).

    lengths[round] = {"before balancing": (chosen, rejected), "after balancing": (chosen, rejected)};
    a stage may be missing.
    """
    if not lengths:
        raise ValueError("plot_pair_lengths: no pairs")
    stages = list(dict.fromkeys(stage for per_round in lengths.values() for stage in per_round))
    fig, axes = _grid(len(lengths) * len(stages), len(stages), (4.6, 2.8))
    for r, (label, per_round) in enumerate(lengths.items()):
        for s, stage in enumerate(stages):
            ax = axes[r * len(stages) + s]
            ax.set_title(f"{label}: {stage}", fontsize=10)
            if stage not in per_round:
                ax.text(0.5, 0.5, "not available", ha="center", va="center", transform=ax.transAxes)
                continue
            chosen, rejected = per_round[stage]
            _hist_pair(ax, _check_numbers(chosen, f"{label}.{stage}.chosen"),
                       _check_numbers(rejected, f"{label}.{stage}.rejected"), ("chosen", "rejected"))
            ax.set_xlabel("words")
    return _save(fig, path)


def plot_p_yes(p_yes: Mapping[str, Mapping[str, Sequence[float]]], path: str | Path) -> Path:
    """Labeler P(yes) histograms per round, one series per ground-truth group of claims
    (e.g. "object in image" / "object not in image" / "no ground truth")."""
    if not p_yes:
        raise ValueError("plot_p_yes: no labeled claims")
    colors = {"object in image": CHOSEN, "object not in image": REJECTED}
    fig, axes = _grid(len(p_yes), 3, (4.0, 3.0))
    bins = [k / 20 for k in range(21)]
    for ax, (label, groups) in zip(axes, p_yes.items()):
        for group, values in groups.items():
            values = _check_numbers(values, f"{label}.{group}")
            if values:
                ax.hist(values, bins=bins, alpha=0.55, color=colors.get(group, "#577590"),
                        label=f"{group} (n={len(values)})")
        ax.set_title(label)
        ax.set_xlabel("labeler P(yes) of the claim's question")
        ax.set_ylabel("claims")
        ax.set_xlim(0, 1)
        ax.grid(alpha=0.3)
        if ax.patches:
            ax.legend(fontsize=7)
    return _save(fig, path)


def write_upscaled_png(png: bytes, path: str | Path, size: int = 192) -> Path:
    """Decode an image and save it `size` px wide with nearest-neighbour upscaling (crisp pixels)."""
    if not isinstance(png, (bytes, bytearray)) or not png:
        raise ValueError(f"write_upscaled_png: image must be non-empty bytes, got {type(png).__name__}")
    with Image.open(io.BytesIO(png)) as image:
        image = image.convert("RGB")
        height = max(1, round(image.height * size / image.width))
        resample = Image.Resampling.NEAREST if image.width <= size else Image.Resampling.LANCZOS
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        image.resize((size, height), resample).save(path, format="PNG")
    return path
