"""`rlaifv report DIR`: DIR/report/report.html with its PNG plots next to it.

Reads what `rlaifv run` leaves in a run directory (metrics.json, round_k/train/train_log.jsonl,
round_k/collect/{candidates,pairs_raw}/*.parquet and pairs.parquet, eval/test.parquet, base/policy,
final/model). Every section is built on its own: a missing or unreadable piece turns that section
into "not available: <why>", so a report of a half-finished run still renders. The gallery answers
are generated here, greedily, with the transformers engine (the same prompt for both models).
"""
from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq

from rlaifv.report import html as H
from rlaifv.feedback.pairs import word_length
from rlaifv.report import plots as P
from rlaifv.world.metrics import SHAPES_TABLE, extract_mentions, judge_response

RATE_COLUMNS = (("hallucination_rate", "hallucination"), ("strict_hallucination_rate", "strict"),
                ("mention_hallucination_rate", "mention-level"), ("coverage", "coverage"),
                ("repeat_rate", "repeats"), ("well_formed_rate", "well-formed"), ("no_mention_rate", "no mention"))
COLLECT_COLUMNS = (("instructions", "instructions"), ("candidates", "candidates"), ("claims", "claims"),
                   ("claims_rejected", "claims rejected"), ("n_before", "pairs before balancing"),
                   ("pairs", "pairs"), ("length_balance_ratio", "balancing r"),
                   ("mean_chosen_len_after", "chosen words"), ("mean_rejected_len_after", "rejected words"),
                   ("labeler_agreement", "labeler agrees with truth"),
                   ("pairs_chosen_truly_better", "chosen truly better"))
PERCENT_KEYS = ("labeler_agreement", "pairs_chosen_truly_better")
KNOWN_KEYS = {"base", "rounds", "final_model", "seconds", "best_of_n"}


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def read_train_log(path: Path) -> list[dict]:
    """One dict per step; a bad line is an error naming the file and line."""
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not valid JSON ({exc})") from None
        if not isinstance(row, dict) or "loss" not in row:
            raise ValueError(f"{path}:{number}: a step needs a 'loss' field")
        rows.append(row)
    return rows


def round_dirs(run: Path) -> list[tuple[str, Path]]:
    """("round k", DIR/round_k) in round order."""
    found = [(int(m.group(1)), p) for p in run.glob("round_*")
             if p.is_dir() and (m := re.fullmatch(r"round_(\d+)", p.name))]
    return [(f"round {k}", p) for k, p in sorted(found)]


def read_columns(files: list[Path], columns: list[str]) -> dict[str, list]:
    """The named columns of parquet files, concatenated (clear error naming a missing column)."""
    out: dict[str, list] = {c: [] for c in columns}
    for f in files:
        names = pq.read_schema(f).names
        missing = [c for c in columns if c not in names]
        if missing:
            raise ValueError(f"{f}: missing column(s) {missing}")
        table = pq.read_table(f, columns=columns)
        for c in columns:
            out[c] += table.column(c).to_pylist()
    return out


def claim_p_yes(files: list[Path]) -> dict[str, list[float]]:
    """Labeler P(yes) of every claim, grouped by whether its one named object is in the image."""
    groups: dict[str, list[float]] = {"object in image": [], "object not in image": [], "no ground truth": []}
    for f in files:
        has_truth = "objects" in pq.read_schema(f).names
        rows = read_columns([f], ["claims", "p_yes"] + (["objects"] if has_truth else []))
        for i, (claims, p_yes) in enumerate(zip(rows["claims"], rows["p_yes"])):
            truth = rows["objects"][i] if has_truth else None
            for c, (cand_claims, cand_p) in enumerate(zip(claims or [], p_yes or [])):
                if len(cand_claims or []) != len(cand_p or []):
                    raise ValueError(f"{f} row {i} candidate {c}: {len(cand_claims)} claims but {len(cand_p)} p_yes")
                for claim, p in zip(cand_claims or [], cand_p or []):
                    named = extract_mentions(claim) if truth is not None else []
                    group = "no ground truth" if len(named) != 1 else (
                        "object in image" if named[0] in truth else "object not in image")
                    groups[group].append(p)
    return {g: v for g, v in groups.items() if v}


def hallucination_marks(text: str, objects: list[str]) -> list[tuple[int, int, str]]:
    """Spans to <mark>: every mention of a hallucinated object, and repeats of a true one."""
    judged = judge_response(text, objects)
    marks, seen = [], set()
    for m in SHAPES_TABLE.find(text):
        if m.category in judged.hallucinated:
            marks.append((m.start, m.end, ""))
        elif m.category in seen:
            marks.append((m.start, m.end, "repeat"))
        seen.add(m.category)
    return marks


def gallery_answers(model_dir: Path, rows: list[dict], max_tokens: int = 64) -> list[str]:
    """Greedy answers of one model to the gallery rows."""
    import torch
    from PIL import Image

    from rlaifv.engine.base import Prompt, SamplingSpec
    from rlaifv.engine.hf import HFEngine

    engine = HFEngine(str(model_dir), device="cuda" if torch.cuda.is_available() else "cpu", batch_size=len(rows))
    prompts = [Prompt(r["question"], Image.open(io.BytesIO(r["image"])).convert("RGB")) for r in rows]
    out = engine.generate(prompts, SamplingSpec(n=1, temperature=0.0, max_tokens=max_tokens))
    return [c[0].text for c in out]


def _guarded(build: Callable[[], str]) -> str:
    """A section's body, or why it is not available (the report never crashes on one piece)."""
    try:
        return build()
    except Exception as exc:  # noqa: BLE001 - shown in the report instead
        return H.not_available(f"{type(exc).__name__}: {exc}")


def _metrics_row(label: str, m: dict) -> list[str]:
    rates = [H.cell(m.get(k), percent=True) for k, _ in RATE_COLUMNS]
    return [label, *rates, H.cell(m.get("avg_words")), H.cell(m.get("n"))]


def _rates(metrics: dict | None, out: Path) -> str:
    if metrics is None:
        return H.not_available("no metrics.json in the run directory yet")
    stages = ([("base", metrics["base"]["test"])] if "base" in metrics else [])
    stages += [(f"round {r['round']}", r["test"]) for r in metrics.get("rounds", [])]
    stages += [(k, v["test"]) for k, v in metrics.items() if k not in KNOWN_KEYS and isinstance(v, dict)
               and isinstance(v.get("test"), dict) and "hallucination_rate" in v["test"]]
    if not stages:
        return H.not_available("metrics.json holds no evaluated stage yet")
    header = ["stage"] + [name for _, name in RATE_COLUMNS] + ["words", "n"]
    table = H.table(header, [_metrics_row(label, m) for label, m in stages])
    plotted = [(label, m) for label, m in stages if label == "base" or label.startswith("round ")]
    if not plotted:
        return H.not_available("no base or round evaluated yet") + table
    P.plot_round_rates([s for s, _ in plotted], [m for _, m in plotted], out / "rates.png")
    return H.figure("rates.png", "Hallucination rates and coverage on the test split; base = round 0.") + table


def _training(metrics: dict | None, rounds: list[tuple[str, Path]], out: Path) -> str:
    logs = {label: read_train_log(d / "train" / "train_log.jsonl") for label, d in rounds
            if (d / "train" / "train_log.jsonl").exists()}
    logs = {k: v for k, v in logs.items() if v}
    if not logs:
        return H.not_available("no round has a train log yet (round_k/train/train_log.jsonl)")
    P.plot_train_curves(logs, out / "training.png")
    picked = {f"round {r['round']}": r for r in (metrics or {}).get("rounds", [])}
    rows = []
    for label, log in logs.items():
        tail = log[-max(1, len(log) // 10):]
        acc = [r["reward_accuracy"] for r in tail if "reward_accuracy" in r]
        info = picked.get(label, {})
        rows.append([label, str(len(log)), H.cell(log[-1]["loss"]), H.cell(sum(acc) / len(acc) if acc else None),
                     H.cell(info.get("checkpoint")), H.cell(info.get("seconds"))])
    body = H.figure("training.png", "DPO per round: loss, reward accuracy and reward margin per step "
                    "(smoothed; faint lines are the raw steps).")
    header = ["round", "steps", "last loss", "reward accuracy (last 10%)", "checkpoint picked", "round seconds"]
    body += H.table(header, rows)
    selection = [[label, name, H.cell(m.get("strict_hallucination_rate"), True),
                  H.cell(m.get("hallucination_rate"), True),
                  H.cell(m.get("coverage"), True), "yes" if name == info.get("checkpoint") else ""]
                 for label, info in picked.items() for name, m in (info.get("val_all") or {}).items()]
    if selection:
        body += H.paragraph("Checkpoint selection on the val split "
                            "(lowest strict rate keeping >= 90% of base coverage):")
        body += H.table(["round", "checkpoint", "strict", "hallucination", "coverage", "picked"], selection)
    return body


def _pairs(rounds: list[tuple[str, Path]], out: Path) -> str:
    cols = ["chosen", "rejected", "chosen_score", "rejected_score"]
    scores, lengths, summaries = {}, {}, []
    for label, d in rounds:
        balanced = d / "collect" / "pairs.parquet"
        stages = {"before balancing": sorted((d / "collect" / "pairs_raw").glob("*.parquet")),
                  "after balancing": [balanced] if balanced.exists() else []}
        for stage, files in stages.items():
            if files:
                p = read_columns(files, cols)
                lengths.setdefault(label, {})[stage] = ([word_length(t) for t in p["chosen"]],
                                                        [word_length(t) for t in p["rejected"]])
                scores[label] = (p["chosen_score"], p["rejected_score"])  # after balancing wins
        if (d / "collect" / "summary.json").exists():
            s = read_json(d / "collect" / "summary.json")
            summaries.append([label] + [H.cell(s.get(k), percent=k in PERCENT_KEYS) for k, _ in COLLECT_COLUMNS])
    if not scores:
        return H.not_available("no round has pairs yet (round_k/collect/pairs_raw, pairs.parquet)")
    P.plot_pair_scores(scores, out / "pair_scores.png")
    P.plot_pair_lengths(lengths, out / "pair_lengths.png")
    body = H.figure("pair_scores.png", "Scores of the chosen and rejected responses of the training pairs.")
    body += H.figure("pair_lengths.png", "Lengths in words of chosen vs rejected, before and after length balancing.")
    if summaries:
        body += H.table(["round"] + [name for _, name in COLLECT_COLUMNS], summaries)
    return body


def _labeler(rounds: list[tuple[str, Path]], out: Path) -> str:
    p_yes = {label: g for label, d in rounds
             if (g := claim_p_yes(sorted((d / "collect" / "candidates").glob("*.parquet"))))}
    if not p_yes:
        return H.not_available("no labeled claims yet (round_k/collect/candidates/*.parquet)")
    P.plot_p_yes(p_yes, out / "p_yes.png")
    return H.figure("p_yes.png", "Labeler P(yes) per claim, split by ground truth: a good labeler puts claims "
                    "about objects in the image near 1 and the others near 0.")


def _gallery(run: Path, out: Path, size: int, max_tokens: int) -> str:
    test = run / "eval" / "test.parquet"
    if not test.exists():
        return H.not_available("no eval/test.parquet in the run directory")
    rows = pq.read_table(test, columns=["id", "image", "question", "objects"]).slice(0, size).to_pylist()
    if not rows:
        return H.not_available("eval/test.parquet has no rows")
    items = [H.GalleryItem(P.write_upscaled_png(r["image"], out / f"example_{i}.png").name, r["question"],
                           list(r["objects"])) for i, r in enumerate(rows)]
    notes = []
    for label, model in (("base", run / "base" / "policy"), ("final", run / "final" / "model")):
        if not (model / "config.json").exists():
            notes.append(f"{label} answers not available: no model at {model.relative_to(run)}")
            continue
        try:
            answers = gallery_answers(model, rows, max_tokens)
        except Exception as exc:  # noqa: BLE001 - the gallery says why instead of crashing
            notes.append(f"{label} answers not available: generation failed ({type(exc).__name__}: {exc})")
            continue
        for item, r, text in zip(items, rows, answers):
            item.answers_html.append((label, H.marked(text, hallucination_marks(text, list(r["objects"])))))
    intro = H.paragraph("Greedy answers of the base policy and the final model; red = object not in the image, "
                        "yellow = object named again.")
    return intro + "".join(H.not_available(n) for n in notes) + H.gallery(items)


def _best_of_n(metrics: dict | None, out: Path) -> str:
    from pipelines.best_of_n import plot_best_of_n

    entry = (metrics or {}).get("best_of_n")
    if not entry:
        return H.not_available("not run (eval.best_of_n_k = 0), or the run has not finished")
    if "curve" not in entry:
        return H.not_available(f"skipped: {entry.get('skipped', 'unknown reason')}")
    curve = {sel: {int(n): m for n, m in by_n.items()} for sel, by_n in entry["curve"].items()}
    plot_best_of_n(curve, out / "best_of_n.png")
    ns = sorted({n for by_n in curve.values() for n in by_n})
    rows = [[sel] + [H.cell(curve[sel][n]["hallucination_rate"], percent=True) for n in ns] for sel in curve]
    k = entry.get("settings", {}).get("k")
    return (H.figure("best_of_n.png", f"Final model, test split: the pick of N candidates (of K={k}) by each "
                     "selector. self_reward = length-normalised DPO reward; oracle = ground truth (upper bound).")
            + H.table(["selector"] + [f"N={n}" for n in ns], rows))


def _extras(metrics: dict | None) -> str:
    extra = {k: v for k, v in (metrics or {}).items() if k not in KNOWN_KEYS}
    return H.preformatted(json.dumps(extra, indent=2, sort_keys=True)[:20000]) if extra else ""


def write_report(run_dir: str | Path, *, gallery_size: int = 8, max_tokens: int = 64) -> Path:
    """Write DIR/report/report.html (+ PNGs); returns the HTML path."""
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"run directory {run} does not exist")
    out = run / "report"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):  # a plot that is no longer available must not linger
        old.unlink()
    metrics: dict | None = None
    metrics_error = ""
    if (run / "metrics.json").exists():
        try:
            metrics = read_json(run / "metrics.json")
        except ValueError as exc:
            metrics_error = str(exc)
    rounds = round_dirs(run)
    sections = [
        ("rates", "Hallucination per round", H.not_available(metrics_error) if metrics_error
         else _guarded(lambda: _rates(metrics, out))),
        ("training", "DPO training", _guarded(lambda: _training(metrics, rounds, out))),
        ("pairs", "Feedback pairs", _guarded(lambda: _pairs(rounds, out))),
        ("labeler", "Labeler", _guarded(lambda: _labeler(rounds, out))),
        ("examples", "Examples", _guarded(lambda: _gallery(run, out, gallery_size, max_tokens))),
        ("best-of-n", "Best-of-N self-reward", _guarded(lambda: _best_of_n(metrics, out))),
    ]
    if extra := _extras(metrics):
        sections.append(("other", "Other entries of metrics.json", extra))
    meta = [f"run directory: {run.resolve()}", f"rounds: {len(rounds)}",
            f"final model: {(metrics or {}).get('final_model', 'not yet')}",
            f"run time: {H.cell((metrics or {}).get('seconds'))} s",
            f"report written {time.strftime('%Y-%m-%d %H:%M:%S')}"]
    return H.write_page(out / "report.html", H.page("RLAIF-V run report", meta, sections))


def main(args) -> int:
    path = write_report(args.run_dir)
    print(f"report: {path}")
    return 0
