"""`rlaifv bestofn`: offline best-of-N self-reward on a ShapesWorld describe parquet.

For every row: K candidates from the aligned policy (one SamplingSpec, per-row seeds
seed + row index, as `rlaifv eval` samples), each text scored by its reference and by the
policy (the sampler's own log-probs where they are exactly the score, as the serving path's
RewardScorerDeployment does), then the curve of
rlaifv.eval.best_of_n: hallucination metrics of the picks of each selector at each N <= K.
Writes OUTPUT/best_of_n.json (curve, settings), OUTPUT/best_of_n.png and
OUTPUT/candidates.jsonl (every candidate's text and log-probs, to re-select without sampling).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from pipelines.commands import _prompts, iter_parquet_rows
from rlaifv.engine.base import logprobs_or_score, sampled_logprobs
from rlaifv.eval.best_of_n import SELECTORS, best_of_n_curve, hallucinated_mentions, self_reward

DEFAULT_NS = (1, 2, 4, 8, 16, 32)


def default_ns(k: int) -> tuple[int, ...]:
    """The default N's that K candidates allow."""
    return tuple(n for n in DEFAULT_NS if n <= k)


def sample_and_score(policy, reference, data: str, *, k: int, temperature: float, max_tokens: int, seed: int,
                     batch_size: int = 64) -> list[dict]:
    """Per row: {"id", "objects", "candidates": [{"text", "policy_logps", "ref_logps"}] * k}."""
    from rlaifv.engine.base import SamplingSpec

    spec = SamplingSpec(n=k, temperature=temperature, max_tokens=max_tokens, seed=seed)
    rows_out, offset = [], 0
    for rows in iter_parquet_rows(data, batch_size):
        if "objects" not in rows[0]:
            raise ValueError(f"{data} has no 'objects' column: best-of-N needs describe rows "
                             "(rlaifv data shapes --kind describe)")
        prompts = _prompts(rows)
        outs = policy.generate(prompts, spec, seeds=[seed + offset + i for i in range(len(rows))])
        flat_prompts = [p for p, comps in zip(prompts, outs) for _ in comps]
        flat = [c for comps in outs for c in comps]
        texts = [c.text for c in flat]
        own = [sampled_logprobs(policy, c.text, c.token_ids, c.logprobs) for c in flat]
        policy_logps = logprobs_or_score(policy, flat_prompts, texts, own)  # scores truncated/re-tokenised ones
        ref_logps = logprobs_or_score(reference, flat_prompts, texts, [None] * len(texts))
        cands = []
        for text, pol, ref in zip(texts, policy_logps, ref_logps):
            scored = pol is not None and ref is not None  # unscorable by either -> reward -inf
            cands.append({"text": text, "policy_logps": pol if scored else None, "ref_logps": ref if scored else None})
        start = 0
        for row, comps in zip(rows, outs):
            rows_out.append({"id": str(row["id"]), "objects": list(row["objects"]),
                             "candidates": cands[start:start + len(comps)]})
            start += len(comps)
        offset += len(rows)
    return rows_out


def evaluate_best_of_n(policy_dir: str, reference_dir: str, data: str, *, output_dir: str | None = None,
                       k: int = 32, ns: tuple[int, ...] | None = None, beta: float, temperature: float,
                       max_tokens: int, seed: int, backend: str = "hf", selectors: tuple[str, ...] = SELECTORS,
                       batch_size: int = 64) -> dict:
    """{"curve": {selector: {N: metrics}}, "settings": {...}, "rows": sample_and_score's rows,
    each candidate with "self_reward" and "hallucinated_mentions" added}; writes files to
    output_dir when given. ns defaults to the powers of two up to 32 that are <= k."""
    from rlaifv.engine import make_engine

    ns = tuple(ns) if ns is not None else default_ns(k)
    if not ns or max(ns) > k:  # fail before sampling, not after
        raise ValueError(f"every N must be <= k={k}, got ns={list(ns)}")
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number > 0, got {beta}")
    if not Path(data).is_file():
        raise FileNotFoundError(f"data file not found: {data}")
    policy = make_engine(backend, policy_dir)
    reference = make_engine(backend, reference_dir)
    rows = sample_and_score(policy, reference, data, k=k, temperature=temperature, max_tokens=max_tokens,
                            seed=seed, batch_size=batch_size)
    if not rows:
        raise ValueError(f"{data} has no rows")
    curve = best_of_n_curve([r["candidates"] for r in rows], [r["objects"] for r in rows], ns, selectors, beta)
    for row in rows:
        for cand in row["candidates"]:
            cand["self_reward"] = self_reward(cand, beta)
            cand["hallucinated_mentions"] = hallucinated_mentions(cand["text"], row["objects"])
    settings = {"policy": str(policy_dir), "reference": str(reference_dir), "data": str(data), "k": k,
                "ns": list(ns), "beta": beta, "temperature": temperature, "max_tokens": max_tokens, "seed": seed,
                "backend": backend, "selectors": list(selectors), "prompts": len(rows),
                "unscorable": sum(c["policy_logps"] is None for r in rows for c in r["candidates"])}
    result = {"curve": curve, "settings": settings, "rows": rows}
    if output_dir is not None:
        write_outputs(result, output_dir)
    return result


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None  # strict JSON has no -Infinity


def write_outputs(result: dict, output_dir: str) -> Path:
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    # JSON object keys are strings: curve[selector]["4"]
    (out / "best_of_n.json").write_text(json.dumps({"curve": result["curve"], "settings": result["settings"]},
                                                   indent=2, sort_keys=True) + "\n")
    with (out / "candidates.jsonl").open("w") as f:
        for row in result["rows"]:
            cands = [{**c, "self_reward": _finite_or_none(c["self_reward"])} for c in row["candidates"]]
            f.write(json.dumps({**row, "candidates": cands}, allow_nan=False) + "\n")
    plot_best_of_n(result["curve"], out / "best_of_n.png")
    return out


def plot_best_of_n(curve: dict, path: str | Path) -> Path:
    """Hallucination (response-level, strict) and coverage against N (log2 axis), a line per
    selector; the controls (shortest, oracle) dashed. Coverage shows a pick that says less."""
    from rlaifv.report.plots import _grid, _save

    panels = (("hallucination_rate", "response-level hallucination"),
              ("strict_hallucination_rate", "strict (hallucinated or repeated)"),
              ("coverage", "coverage (present objects named)"))
    fig, axes = _grid(len(panels), 3, (4.6, 3.4))
    for ax, (key, title) in zip(axes, panels):
        for selector, by_n in curve.items():
            ns = sorted(by_n)
            ax.plot(ns, [by_n[n][key] * 100 for n in ns], marker="o", label=selector,
                    linestyle="--" if selector in ("shortest", "oracle") else "-")
        ax.set_xscale("log", base=2)
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.set_xlabel("N (candidates per prompt)")
        ax.set_ylabel("% of present objects" if key == "coverage" else "% of responses mentioning objects")
        ax.set_ylim(0, 100)
        ax.set_title(title)
        ax.grid(alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), fontsize=8, loc="outside lower center", ncols=len(curve))
    return _save(fig, path)


TABLE_COLUMNS = (("hallucination_rate", "halluc"), ("strict_hallucination_rate", "strict"),
                 ("repeat_rate", "repeat"), ("coverage", "coverage"))


def format_table(curve: dict) -> str:
    """One line per (N, selector): the rates of its picks, in %."""
    width = max(len(s) for s in curve)
    lines = [f"{'N':>3}  {'selector':<{width}}  " + "  ".join(f"{name:>8}" for _, name in TABLE_COLUMNS)]
    for n in sorted({n for by_n in curve.values() for n in by_n}):
        for selector, by_n in curve.items():
            lines.append(f"{n:>3}  {selector:<{width}}  "
                         + "  ".join(f"{by_n[n][key] * 100:>7.1f}%" for key, _ in TABLE_COLUMNS))
    return "\n".join(lines)


def main(args) -> int:
    result = evaluate_best_of_n(args.model, args.reference, args.data, output_dir=args.output, k=args.k,
                                ns=args.ns, beta=args.beta, temperature=args.temperature,
                                max_tokens=args.max_tokens, seed=args.seed, backend=args.backend)
    print(format_table(result["curve"]))
    print(f"wrote {Path(args.output) / 'best_of_n.json'}, best_of_n.png and candidates.jsonl")
    return 0
